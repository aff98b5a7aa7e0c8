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
import { DEFAULT_ROUTING, FALLBACK_QUEUE, QUEUE, startE2E, waitFor } from '../e2e/fixture.js';
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
