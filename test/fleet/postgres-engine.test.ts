// One switchboard on the Postgres store, against the sandbox: it routes and restarts as on LMDB,
// and once its org's lease epoch moves on, its next step is refused by the store, the switchboard
// halts and no further Interaction Service call leaves for that org.
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FencedError } from '../../src/domain/errors.js';
import { createLeaseManager } from '../../src/fleet/lease.js';
import { openPostgresSessionStore } from '../../src/io/store/postgres-store.js';
import { createMemorySessionStore, type SessionStore } from '../../src/io/store/session-store.js';
import { createSwitchboard, type SwitchboardEvents } from '../../src/switchboard.js';
import { CHANNEL, DEFAULT_ROUTING, FALLBACK_QUEUE, INITIAL_QUEUE, QUEUE, startE2E, waitFor, type E2E } from '../e2e/fixture.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

it('routes on Postgres, and a restarted switchboard restores its sessions from it and routes on', async () => {
  const store = { postgres: db.url, orgId: '00DPGENGINE0001' };
  const e2e = await startE2E({ store });
  try {
    const { conv, rep } = await e2e.converse();
    expect(rep).toBeDefined();
    const rows = await db.sql<{ n: number }>('SELECT count(*)::int AS n FROM switchboard.sessions WHERE org_id = $1 AND conversation_id = $2', [store.orgId, conv]);
    expect(rows[0]!.n).toBe(1);
    await e2e.sb.stop({ drainMs: 1_000 });

    const wiring = e2e.sandbox.switchboardOptions();
    const sb = createSwitchboard({ ...wiring, directory: e2e.sb.directory, routing: { ...DEFAULT_ROUTING, fallbackQueueId: FALLBACK_QUEUE }, store, logger: pino({ level: 'silent' }) });
    const finished: Array<SwitchboardEvents['routing.finished']> = [];
    sb.on('routing.finished', (f) => finished.push(f));
    e2e.sandbox.onAgentWork((e) => sb.agentWork(e));
    await sb.start();
    try {
      expect(sb.session(conv)?.reps.map((r) => r.userId)).toEqual([rep]);
      expect(sb.stats().store?.restored).toBeGreaterThanOrEqual(1);
      const id = e2e.request(conv, 'Transfer', { queueId: QUEUE });
      const done = await waitFor('the transfer after the restart', () => finished.find((f) => f.output.routingId === id));
      expect(done.output.outcome).toBe('routed');
      expect(e2e.sandbox.org.audit()).toMatchObject({ unreported: [], reportedTwice: [] });
    } finally {
      await sb.stop({ drainMs: 1_000 });
    }
  } finally {
    await e2e.sandbox.stop();
  }
});

it('once the lease epoch moves on, the next step is refused, the switchboard halts and no call leaves', async () => {
  const orgId = '00DPGENGINE0002';
  const pool = db.pool({ max: 4 });
  const leases = createLeaseManager({ pool, hostId: 'engine-host', ttlMs: 60_000 });
  await leases.start();
  const lease = await leases.acquire(orgId);
  const store = await openPostgresSessionStore({ pool, orgId });
  store.fence(lease!.epoch);
  const e2e = await startE2E({ store });
  const fenced: Array<SwitchboardEvents['fenced']> = [];
  e2e.sb.on('fenced', (e) => fenced.push(e));
  try {
    const { conv } = await e2e.converse();
    await e2e.quiesce();

    // Another host takes the org over (its acquire bumps the epoch, as after an expiry).
    await db.sql('UPDATE switchboard.leases SET owner = $2, epoch = epoch + 1 WHERE org_id = $1', [orgId, 'other-host']);
    const mark = e2e.mark();
    const id = e2e.request(conv, 'Transfer', { queueId: QUEUE });
    await waitFor('the refused commit', () => fenced[0]);
    expect(fenced[0]!.error).toBeInstanceOf(FencedError);
    expect(fenced[0]!.error).toMatchObject({ code: 'SB_FENCED', orgId, epoch: lease!.epoch, currentEpoch: lease!.epoch + 1 });

    // Give a call that was about to leave the time to show up: none does.
    await new Promise((r) => setTimeout(r, 300));
    expect(e2e.sandbox.http.records.slice(mark).filter((r) => r.orgCalled).map((r) => r.endpoint)).toEqual([]);
    expect(e2e.sandbox.org.requests.get(id)?.reported ?? 0).toBe(0);
    // Halted: input is refused, a new conversation is not opened.
    expect(e2e.sb.agentWork({ workId: '0Bz000000000001', workItemId: '0Mw000000000001', workEvent: 'ACCEPTED' })).toMatchObject({ ok: false });
    await expect(e2e.sb.startConversation({ to: 'x', from: 'y', text: 'hi' })).rejects.toMatchObject({ code: 'SB_STOPPED' });
    expect(e2e.sandbox.http.records.slice(mark).filter((r) => r.orgCalled)).toEqual([]);
  } finally {
    await e2e.stop();
    await leases.stop().catch(() => undefined);
  }
});

it('a fenced store refuses startConversation before POST /interactions leaves', async () => {
  const orgId = '00DPGENGINE0003';
  const pool = db.pool({ max: 4 });
  const leases = createLeaseManager({ pool, hostId: 'engine-host-3', ttlMs: 60_000 });
  await leases.start();
  const lease = await leases.acquire(orgId);
  const store = await openPostgresSessionStore({ pool, orgId });
  store.fence(lease!.epoch);
  const e2e = await startE2E({ store });
  try {
    await db.sql('UPDATE switchboard.leases SET owner = $2, epoch = epoch + 1 WHERE org_id = $1', [orgId, 'other-host']);
    const mark = e2e.mark();
    await expect(e2e.sb.startConversation({ to: 'chan', from: 'someone', text: 'hi' })).rejects.toMatchObject({ code: 'SB_FENCED' });
    expect(e2e.sandbox.http.records.slice(mark).filter((r) => r.endpoint === 'POST /interactions')).toEqual([]);
  } finally {
    await e2e.stop();
    await leases.stop().catch(() => undefined);
  }
});

it('halt() stops a step whose write-ahead commit is under way from leaving, even on an unfenced store', async () => {
  // A store whose commits take a while: halt() lands between a step's journal commit and its call.
  const inner = createMemorySessionStore();
  let slow = false;
  const store: SessionStore = {
    ...inner,
    commit: async (batch) => {
      if (slow) await new Promise((r) => setTimeout(r, 300));
      return inner.commit(batch);
    },
  };
  const e2e = await startE2E({ store });
  try {
    const { conv } = await e2e.converse();
    await e2e.quiesce();
    slow = true;
    const mark = e2e.mark();
    e2e.request(conv, 'Transfer', { queueId: QUEUE });
    await waitFor('the step waiting for its commit', () => e2e.sb.stats().inFlightEffects > 0);
    await e2e.sb.halt();
    await new Promise((r) => setTimeout(r, 600));
    expect(e2e.sandbox.http.records.slice(mark).filter((r) => r.orgCalled).map((r) => r.endpoint)).toEqual([]);
  } finally {
    await e2e.stop();
  }
});

// startConversation answers only for a conversation whose session (its initial routing started) is
// committed under the lease, or rejects with a typed error the app or the fleet's forwarder retries
// on the org's next owner. What it must never do: resolve while the session is lost — as it did when
// the lease went while POST /interactions was on its way (fleet benchmark: 13 of 800 answered
// conversations without a session, 0 failures reported).
async function fencedEngine(orgId: string, hostId: string) {
  const pool = db.pool({ max: 4 });
  const leases = createLeaseManager({ pool, hostId, ttlMs: 60_000 });
  await leases.start();
  const lease = (await leases.acquire(orgId))!;
  const store = await openPostgresSessionStore({ pool, orgId });
  store.fence(lease.epoch);
  const e2e = await startE2E({ store });
  return { pool, leases, lease, e2e };
}

/** A new conversation whose POST /interactions the org applies at once and answers `answerMs` later. */
function slowStart(e2e: E2E, answerMs: number) {
  e2e.sandbox.faults.answerLatency('POST /interactions', answerMs);
  const from = `enduser-${Math.random().toString(36).slice(2, 10)}`;
  const outcome = e2e.sb.startConversation({ to: CHANNEL, from, text: 'Hello', target: { kind: 'queue', queueId: INITIAL_QUEUE } }).then(
    (value) => ({ value }),
    (error: unknown) => ({ error: error as { code?: string } }),
  );
  const opened = () => waitFor('the conversation opened by the org', () => [...e2e.sandbox.org.conversations.values()].find((c) => c.endUserClientId === from)?.conversationIdentifier);
  return { outcome, opened };
}

it('a start whose store is fenced while POST /interactions is on its way rejects SB_FENCED, rather than answer for a routing never committed', async () => {
  const orgId = '00DPGENGINE0004';
  const { leases, e2e } = await fencedEngine(orgId, 'engine-host-4');
  const fenced: Array<SwitchboardEvents['fenced']> = [];
  e2e.sb.on('fenced', (e) => fenced.push(e));
  try {
    const { conv: other } = await e2e.converse();
    await e2e.quiesce();
    const { outcome, opened } = slowStart(e2e, 600);
    const conv = await opened();
    // Meanwhile another host takes the org, and a step of another conversation meets the fence.
    await db.sql('UPDATE switchboard.leases SET owner = $2, epoch = epoch + 1 WHERE org_id = $1', [orgId, 'other-host']);
    e2e.request(other, 'Transfer', { queueId: QUEUE });
    await waitFor('the refused commit', () => fenced[0]);

    // Its initial routing can no longer be committed (the epoch moved): the start must say so. (The
    // org's stream may have brought the conversation's session in already, before the fence: a
    // session without the routing the start asked for, which nobody would ever start.)
    expect(await outcome).toMatchObject({ error: { code: 'SB_FENCED' } });
    // And the halted switchboard did not start that session after all.
    expect(e2e.sb.session(conv)).toBeUndefined();
    expect(e2e.sb.sessions()).toEqual([]);
  } finally {
    await e2e.stop();
    await leases.stop().catch(() => undefined);
  }
});

it('a start whose engine halts (its lease lost) while POST /interactions is on its way rejects, and the halted engine starts nothing', async () => {
  const orgId = '00DPGENGINE0005';
  const { pool, leases, lease, e2e } = await fencedEngine(orgId, 'engine-host-5');
  let next: ReturnType<typeof createSwitchboard> | undefined;
  try {
    await e2e.converse();
    await e2e.quiesce();
    const { outcome, opened } = slowStart(e2e, 600);
    const conv = await opened();
    // The lease ran out on this host's clock (renewals failed): the fleet halts the engine. Nobody
    // has taken the org yet, so the lease row is still at this engine's epoch.
    await e2e.sb.halt();
    const result = await outcome;
    // A halted switchboard holds no session, and commits nothing more.
    expect(e2e.sb.sessions()).toEqual([]);
    await new Promise((r) => setTimeout(r, 500));

    // The next owner takes the org and restores what was committed.
    await db.sql('UPDATE switchboard.leases SET owner = $2, epoch = epoch + 1 WHERE org_id = $1', [orgId, 'next-host']);
    const store = await openPostgresSessionStore({ pool, orgId });
    store.fence(lease.epoch + 1);
    const wiring = e2e.sandbox.switchboardOptions();
    next = createSwitchboard({ ...wiring, directory: e2e.sb.directory, routing: { ...DEFAULT_ROUTING, fallbackQueueId: FALLBACK_QUEUE }, store, logger: pino({ level: 'silent' }) });
    e2e.sandbox.onAgentWork((e) => next!.agentWork(e));
    const mark = e2e.mark();
    await next.start();
    if ('value' in result) {
      // Answered: then its session, initial routing included, must be the next owner's, and routed by it.
      expect(next.session(conv), 'an answered start whose session the next owner does not have').toBeDefined();
      await waitFor('POST /route of the answered conversation', () => e2e.records(conv, { since: mark }).find((r) => r.endpoint === 'POST /route'), 10_000);
    } else {
      // Refused with a typed error: the caller (the fleet's forwarder) retries on the next owner.
      expect(['SB_STOPPED', 'SB_FENCED']).toContain(result.error.code);
    }
  } finally {
    await next?.stop({ drainMs: 500 }).catch(() => undefined);
    await e2e.stop();
    await leases.stop().catch(() => undefined);
  }
});
