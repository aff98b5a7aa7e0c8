// The fleet's failover suite: host processes (real SIGKILL, SIGSTOP, SIGCONT) on one Postgres, one
// sandbox org per fleet org, invariants read from each org's own records.
//
// - crash: 3 hosts, 6 orgs, >= 100 concurrent conferences; one host SIGKILLed at a seeded moment;
//   the others take its orgs within the lease TTL and every org's invariants hold (exactly one
//   timely routingResult per request, no PSR left, no AgentWork left offered, no step reaching the
//   org twice). Agent-work events are relayed to random live hosts throughout, so many are
//   forwarded, some while their org has no owner: all are applied (no offer left hanging).
// - graceful handoff: a host stopped while conferences are in flight: zero failed requests.
// - fencing: a host frozen past its lease, its org taken over, then resumed: it makes no further
//   Interaction Service call for that org and reports the org lost.
//
// FLEET_SEEDS=1,2,3 runs the crash scenario once per seed (the kill's moment and victim, the relay's
// choices); FLEET_LOG=debug shows the hosts' logs.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mulberry32 } from '../../src/sandbox/faults.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { allOwned, spawnHost, type Host } from './hosts.js';
import { IGNORE_QUEUE } from '../e2e/fixture.js';
import { QUEUE, callsOf, expectOrgInvariants, settle, startOrgs, startRequest, until, type RigOrg } from './rig.js';

const WINDOW_MS = 8_000;
const TTL_MS = 1_500;
const SEEDS = (process.env.FLEET_SEEDS ?? '1').split(',').map((s) => Number(s.trim()) >>> 0);

let db: TestDatabase;
const hosts: Host[] = [];
const sandboxes: RigOrg[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  for (const h of hosts) {
    if (h.child.exitCode === null) {
      h.child.kill('SIGCONT');
      h.child.kill('SIGKILL');
    }
  }
  for (const o of sandboxes) await o.sandbox.stop();
  await db.drop();
});

async function fleetOf(n: number, orgs: RigOrg[], tag: string): Promise<Host[]> {
  const wires = orgs.map((o) => o.wire);
  const out = await Promise.all(Array.from({ length: n }, (_, i) => spawnHost(`${tag}-h${i + 1}`, { pgUrl: db.url, orgs: wires, ttlMs: TTL_MS, windowMs: WINDOW_MS })));
  hosts.push(...out);
  return out;
}

const pick = <T>(xs: T[], r: () => number): T => xs[Math.floor(r() * xs.length)]!;

/** New conversations through random live hosts (forwarded when not the owner); each gets its rep. */
async function converse(orgs: RigOrg[], fleet: Host[], perOrg: number, r: () => number): Promise<Array<{ org: RigOrg; conv: string }>> {
  const convs: Array<{ org: RigOrg; conv: string }> = [];
  await Promise.all(
    orgs.map(async (org) => {
      for (let i = 0; i < perOrg; i++) {
        const res = await pick(fleet.filter((h) => h.alive), r).startConversation(org.orgId, startRequest());
        expect(res.conv, `startConversation failed: ${res.code} ${res.message}`).toBeDefined();
        convs.push({ org, conv: res.conv! });
      }
    }),
  );
  await until('a rep in every conversation', () => convs.every(({ org, conv }) => (org.sandbox.org.conversations.get(conv)?.participants.size ?? 0) >= 1), 30_000);
  return convs;
}

/** Agent-work events relayed to random live hosts, as a load balancer would; each noted with its time. */
function relayAt(orgs: RigOrg[], fleet: Host[], r: () => number): Array<{ orgId: string; at: number }> {
  const relayed: Array<{ orgId: string; at: number }> = [];
  for (const org of orgs) {
    org.sandbox.onAgentWork((event) => {
      relayed.push({ orgId: org.orgId, at: Date.now() });
      pick(fleet.filter((h) => h.alive), r).send({ type: 'agentWork', orgId: org.orgId, event });
    });
  }
  return relayed;
}

for (const seed of SEEDS) {
  it(`crash and graceful handoff: 3 hosts, 6 orgs, ${18 * 6} concurrent conferences, a host SIGKILLed (seed ${seed})`, { timeout: 120_000 }, async () => {
    const r = mulberry32(seed || 1);
    const orgs = await startOrgs(6, `C${seed % 100}`.padEnd(3, 'X'), WINDOW_MS);
    sandboxes.push(...orgs);
    const orgIds = orgs.map((o) => o.orgId);
    const fleet = await fleetOf(3, orgs, `s${seed}`);
    await until('every org owned once', () => allOwned(fleet, orgIds), 30_000);
    const relayed = relayAt(orgs, fleet, r);
    const convs = await converse(orgs, fleet, 18, r);

    // Round 1: a conference for every conversation, and a host killed while they are in flight:
    // right after the k-th offer (seeded) of its orgs reached the org, so reps answer offers of
    // orgs that have no owner for a while — those agent-work events wait in the inbox.
    const victim = pick(fleet.filter((h) => h.owned.size > 0), r);
    const victimOrgs = [...victim.owned];
    const offersBefore = orgs.filter((o) => victimOrgs.includes(o.orgId)).reduce((n, o) => n + o.sandbox.http.records.filter((x) => x.endpoint === 'POST /agentWork').length, 0);
    const k = 1 + Math.floor(r() * 20);
    const round1 = convs.map(({ org, conv }) => ({ org, conv, id: org.sandbox.org.requestRouting(conv, 'Conference', { queueId: QUEUE }) }));
    await until(`offer #${k} of the victim's orgs`, () => orgs.filter((o) => victimOrgs.includes(o.orgId)).reduce((n, o) => n + o.sandbox.http.records.filter((x) => x.endpoint === 'POST /agentWork').length, 0) >= offersBefore + k, 20_000);
    victim.kill('SIGKILL');
    const killedAt = Date.now();
    await until('the victim\'s orgs taken over', () => allOwned(fleet, orgIds), 20_000);
    const takenAt = Date.now();
    await settle(orgs);
    for (const o of orgs) expectOrgInvariants(o, `${o.orgId} after the crash (seed ${seed}, ${victim.hostId} owned ${victimOrgs.join(' ')})`);
    expect(round1.every(({ org, id }) => org.sandbox.org.requests.get(id)!.reported === 1)).toBe(true);
    // Agent-work events for the victim's orgs arrived while nobody owned them; all were applied (no
    // offer is left offered, above) by the orgs' next owners.
    expect(relayed.filter((x) => victimOrgs.includes(x.orgId) && x.at >= killedAt && x.at <= takenAt).length, 'agent-work events relayed during the takeover').toBeGreaterThan(0);

    // Round 2: conferences in flight while a host is stopped gracefully: none fails.
    const round2 = convs.map(({ org, conv }) => ({ org, conv, id: org.sandbox.org.requestRouting(conv, 'Conference', { queueId: QUEUE }) }));
    const leaving = fleet.find((h) => h.alive && h.owned.size > 0)!;
    await leaving.stop();
    await until('the stopped host\'s orgs taken', () => allOwned(fleet, orgIds), 20_000);
    await settle(orgs);
    for (const o of orgs) {
      const open = o.sandbox.org.audit().openPsrs[0];
      const conv = open?.slice(0, open.indexOf(':'));
      expectOrgInvariants(o, `${o.orgId} after the handoff (seed ${seed}${conv ? `; calls of ${conv}: ${callsOf(o, conv).join(', ')}` : ''})`);
    }
    for (const { org, conv, id } of round2) {
      expect(org.sandbox.org.requests.get(id)!.timedOut, `request ${id} timed out`).toBe(false);
      const results = org.sandbox.http.records.filter(
        (x) => x.endpoint === 'POST /routingResult' && x.orgCalled && (x.body as { conversationIdentifier: string }).conversationIdentifier === conv && (x.body as { routingType?: string }).routingType === 'Conference',
      );
      // Round 1's result, then round 2's: both successful. One per step: a report in doubt when its
      // host was killed is repeated by the next owner with the same RequestId (the org's own
      // accounting, in expectOrgInvariants, holds every request answered exactly once).
      const steps = [...new Map(results.map((x) => [x.requestId, x])).values()];
      expect(steps.map((x) => (x.body as { success: boolean }).success), `conference results of ${conv}`).toEqual([true, true]);
    }
    // Every forwarded input was applied and removed.
    await until('the inbox drained', async () => (await db.sql<{ n: number }>('SELECT count(*)::int AS n FROM switchboard.inbox'))[0]!.n === 0, 10_000);
    for (const h of fleet) if (h.alive) h.kill('SIGKILL');
  });
}

it('a host frozen past its lease, taken over, then resumed makes no further call for the org', { timeout: 60_000 }, async () => {
  const [org] = await startOrgs(1, 'FZ', WINDOW_MS);
  sandboxes.push(org!);
  const [x] = await fleetOf(1, [org!], 'frozen');
  await until('x owns the org', () => x!.owned.has(org!.orgId), 20_000);
  org!.sandbox.onAgentWork((event) => x!.send({ type: 'agentWork', orgId: org!.orgId, event }));
  const res = await x!.startConversation(org!.orgId, startRequest());
  const conv = res.conv!;
  await until('a rep', () => (org!.sandbox.org.conversations.get(conv)?.participants.size ?? 0) >= 1);

  // Work the frozen host would carry on with: offers nobody answers, each followed by a cancel.
  org!.sandbox.org.requestRouting(conv, 'Conference', { queueId: IGNORE_QUEUE });
  await until('the first offer', () => org!.sandbox.http.records.some((r) => r.endpoint === 'POST /agentWork' && r.orgCalled && (r.body as { workItemId?: string }).workItemId !== undefined && org!.sandbox.http.records.filter((q) => q.endpoint === 'POST /agentWork').length >= 2));
  x!.kill('SIGSTOP');
  const [y] = await fleetOf(1, [org!], 'taker');
  org!.sandbox.onAgentWork((event) => y!.send({ type: 'agentWork', orgId: org!.orgId, event }));
  await until('y takes the org over', () => y!.owned.has(org!.orgId), 20_000);

  const resumedAt = Date.now();
  x!.kill('SIGCONT');
  await until('x reports the org lost', () => x!.messages.some((m) => m.type === 'org.lost' && m.orgId === org!.orgId), 20_000);
  // Its offer timers were due while it was frozen: given time, it would have called by now.
  await new Promise((res) => setTimeout(res, 1_000));
  expect(await x!.callsSince(resumedAt)).toEqual([]);
  await settle([org!]);
  expectOrgInvariants(org!);
  for (const h of [x!, y!]) h.kill('SIGKILL');
});
