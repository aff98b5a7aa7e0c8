// The fleet's inbox on a real Postgres, with a stand-in engine: inputs written by one host are
// applied by the owner's runner once, deleted only by a commit of the owner's fenced store, left for
// the next owner when that commit is refused; answers to forwarded calls come back with their code.
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createInbox, type Inbox, type InboxInput, type InboxRunner } from '../../src/fleet/inbox.js';
import { createLeaseManager } from '../../src/fleet/lease.js';
import { openPostgresSessionStore } from '../../src/io/store/postgres-store.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { until } from './rig.js';

let db: TestDatabase;
const inboxes: Inbox[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  for (const i of inboxes) await i.stop();
  await db.drop();
});

async function owner(orgId: string, apply: (input: InboxInput) => unknown, pollMs = 100) {
  const pool = db.pool({ max: 4 });
  const leases = createLeaseManager({ pool, hostId: `owner-${orgId}`, ttlMs: 60_000 });
  await leases.start();
  const lease = (await leases.acquire(orgId))!;
  const store = await openPostgresSessionStore({ pool, orgId });
  store.fence(lease.epoch);
  const applied: InboxInput[] = [];
  const runner: InboxRunner = {
    epoch: lease.epoch,
    store,
    started: Promise.resolve(),
    apply: (input) => {
      applied.push(input);
      return apply(input) as never;
    },
    // The stand-in engine has nothing of its own to commit: the rows go with flushInbox.
    flush: async () => undefined,
  };
  let live = true;
  const inbox = createInbox({ pool, connection: { connectionString: db.url }, log: pino({ level: 'silent' }), owned: () => (live ? [orgId] : []), runnerOf: (id) => (live && id === orgId ? runner : undefined), onFree: () => {}, pollMs });
  inboxes.push(inbox);
  await inbox.start();
  return { inbox, applied, leases, stopOwning: () => (live = false) };
}

async function sender(): Promise<Inbox> {
  const inbox = createInbox({ pool: db.pool({ max: 2 }), connection: { connectionString: db.url }, log: pino({ level: 'silent' }), owned: () => [], runnerOf: () => undefined, onFree: () => {} });
  inboxes.push(inbox);
  await inbox.start();
  return inbox;
}

const rows = async (orgId: string) => (await db.sql<{ n: number }>('SELECT count(*)::int AS n FROM switchboard.inbox WHERE org_id = $1', [orgId]))[0]!.n;

it('applies each forwarded agent-work event once and deletes it with a commit of the owner', async () => {
  const orgId = '00DINBOX0000001';
  const o = await owner(orgId, () => ({ ok: true, kind: 'AgentWork' }));
  const s = await sender();
  for (let i = 0; i < 25; i++) await s.put(orgId, { kind: 'agentWork', event: { n: i } });
  await until('all applied', async () => o.applied.length >= 25 && (await rows(orgId)) === 0);
  await new Promise((r) => setTimeout(r, 300)); // polls and wake-ups in between find nothing more
  expect(o.applied.map((x) => (x as { event: { n: number } }).event.n)).toEqual([...Array(25).keys()]);
});

it('leaves the rows for the next owner when the lease moved on', async () => {
  const orgId = '00DINBOX0000002';
  const o = await owner(orgId, () => ({ ok: true, kind: 'AgentWork' }));
  await db.sql('UPDATE switchboard.leases SET owner = $2, epoch = epoch + 1 WHERE org_id = $1', [orgId, 'new-owner']);
  const s = await sender();
  await s.put(orgId, { kind: 'agentWork', event: { n: 1 } });
  await until('applied by the stale owner', () => o.applied.length >= 1);
  await new Promise((r) => setTimeout(r, 300));
  // Its deleting commit was refused: the input is still there for the org's owner.
  expect(await rows(orgId)).toBe(1);
  o.stopOwning();
});

it('returns the owner\'s answer to a forwarded call, and its error with its code', async () => {
  const orgId = '00DINBOX0000003';
  await owner(orgId, (input) => {
    const req = (input as Extract<InboxInput, { kind: 'startConversation' }>).request;
    if (req.text === 'boom') throw new Error('the owner failed');
    if (req.text === 'limit') throw Object.assign(new Error('full'), { code: 'SB_LIMIT' });
    return Promise.resolve({ conversationIdentifier: `conv-of-${req.from}` });
  });
  const s = await sender();
  const ask = (text: string) => s.ask(orgId, { kind: 'startConversation', request: { to: 'chan', from: 'eu-1', text } }, 10_000);
  await expect(ask('hello')).resolves.toEqual({ conversationIdentifier: 'conv-of-eu-1' });
  await expect(ask('boom')).rejects.toMatchObject({ code: 'SB_FORWARD_FAILED', orgId });
  await expect(ask('limit')).rejects.toMatchObject({ code: 'SB_LIMIT', name: 'ForwardedError' });
  expect(await rows(orgId)).toBe(0);
  expect((await db.sql<{ n: number }>('SELECT count(*)::int AS n FROM switchboard.replies'))[0]!.n).toBe(0);
});

it('gives up on a forwarded call no owner answers, leaving it in the inbox', async () => {
  const orgId = '00DINBOX0000004';
  const s = await sender();
  await expect(s.ask(orgId, { kind: 'startConversation', request: { to: 'chan', from: 'eu', text: 'hi' } }, 300)).rejects.toMatchObject({ code: 'SB_FORWARD_TIMEOUT', orgId });
  expect(await rows(orgId)).toBe(1);
});

it('listens again after its connection drops, and drains what came meanwhile', async () => {
  const orgId = '00DINBOX0000005';
  // No poll to fall back on: only the listener can bring the input in.
  const o = await owner(orgId, () => ({ ok: true, kind: 'AgentWork' }), 600_000);
  const s = await sender();
  await s.put(orgId, { kind: 'agentWork', event: { n: 0 } });
  await until('the first applied', () => o.applied.length === 1);
  // Every LISTEN connection of the database dropped (a failover, a proxy restart): wake-ups sent
  // before the owner listens again are lost, so it must look at its inbox once reconnected.
  await db.sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'`);
  await s.put(orgId, { kind: 'agentWork', event: { n: 1 } });
  await until('the second applied', async () => o.applied.length === 2 && (await rows(orgId)) === 0, 10_000);
});

it('an engine halted mid-batch leaves the whole batch for the next owner, this host included', async () => {
  const orgId = '00DINBOX0000006';
  let calls = 0;
  // The second input meets a halted engine (SB_STOPPED): the first one's effect was never committed.
  // Both wait before the owner starts, so its first drain takes them in one batch.
  const s = await sender();
  await s.put(orgId, { kind: 'agentWork', event: { n: 0 } });
  await s.put(orgId, { kind: 'agentWork', event: { n: 1 } });
  const o = await owner(orgId, () => (++calls === 2 ? { ok: false, error: { code: 'SB_STOPPED' } } : { ok: true, kind: 'AgentWork' }));
  // Owning the org again (the poll stands for the next drain), the host applies both.
  await until('both applied and removed', async () => (await rows(orgId)) === 0, 5_000);
  expect(o.applied.map((x) => (x as { event: { n: number } }).event.n)).toEqual([0, 1, 0, 1]);
});
