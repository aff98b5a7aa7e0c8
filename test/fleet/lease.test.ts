// Leases and fencing on a real Postgres: two (or three) lease managers share one database, as hosts
// of a fleet would. TTLs are short; assertions wait for states in the database, not for times.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SwitchboardError } from '../../src/domain/errors.js';
import { createLeaseManager, type LeaseManager, type LeaseManagerOptions, type LostLease } from '../../src/fleet/lease.js';
import { inTransaction, migrate, txLimits } from '../../src/io/store/postgres-schema.js';
import { openPostgresSessionStore, type PostgresSessionStore } from '../../src/io/store/postgres-store.js';
import type { PersistedSession } from '../../src/io/store/session-store.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  // The schema exists before any test, so a test can add its triggers first.
  await migrate(db.pool({ max: 1 }), undefined, txLimits(5_000));
});
afterAll(() => db.drop());

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

let orgs = 0;
const nextOrg = () => `00D${String(++orgs).padStart(12, '0')}`;

function manager(hostId: string, options: Partial<LeaseManagerOptions> = {}): LeaseManager {
  const m = createLeaseManager({ pool: db.pool({ max: 3 }), hostId, ttlMs: 60_000, ...options });
  cleanups.push(() => m.stop());
  return m;
}

async function store(orgId: string, epoch: number): Promise<PostgresSessionStore> {
  const s = await openPostgresSessionStore({ pool: db.pool({ max: 2 }), orgId });
  s.fence(epoch);
  cleanups.push(() => s.close());
  return s;
}

const session = (id: string): PersistedSession => ({ conversationIdentifier: id, schemaVersion: 1, chartHash: 'h', savedAt: 1, snapshot: { value: 'active' } });

/** Waits until the org's lease has run out on the database's clock. */
async function untilExpired(orgId: string): Promise<void> {
  await expect
    .poll(async () => (await db.sql<{ expired: boolean }>('SELECT expires_at < now() AS expired FROM switchboard.leases WHERE org_id = $1', [orgId]))[0]?.expired, { timeout: 10_000, interval: 20 })
    .toBe(true);
}

function codeOf(err: unknown): string | undefined {
  return err instanceof SwitchboardError ? err.code : undefined;
}

describe('leases', () => {
  it('gives an org to exactly one of two hosts asking at once', async () => {
    const a = manager('host-a');
    const b = manager('host-b');
    for (let i = 0; i < 5; i++) {
      const orgId = nextOrg();
      const [la, lb] = await Promise.all([a.acquire(orgId), b.acquire(orgId)]);
      expect([la, lb].filter(Boolean)).toHaveLength(1);
      const owner = la ? a : b;
      const other = la ? b : a;
      expect(owner.epochOf(orgId)).toBe((la ?? lb)!.epoch);
      expect(other.epochOf(orgId)).toBeUndefined();
      expect(await other.acquire(orgId)).toBeUndefined();
      const row = await db.sql('SELECT owner, epoch::int FROM switchboard.leases WHERE org_id = $1', [orgId]);
      expect(row).toEqual([{ owner: owner.hostId, epoch: 1 }]);
    }
  });

  it('renewal extends the lease on the database clock, so nobody else can take it', async () => {
    const a = manager('host-a', { ttlMs: 2_000 });
    const b = manager('host-b');
    const orgId = nextOrg();
    await a.acquire(orgId);
    const expiry = async () => (await db.sql<{ e: Date }>('SELECT expires_at AS e FROM switchboard.leases WHERE org_id = $1', [orgId]))[0]!.e.getTime();
    const first = await expiry();
    await expect.poll(async () => (await a.renew(), await expiry()), { timeout: 5_000, interval: 20 }).toBeGreaterThan(first);
    expect(await b.acquire(orgId)).toBeUndefined();
    expect(a.owned()).toEqual([{ orgId, epoch: 1 }]);
  });

  it('lets another host take an expired lease with a higher epoch; the old owner learns it lost', async () => {
    const a = manager('host-a', { ttlMs: 200, renewEveryMs: 100 });
    const b = manager('host-b');
    const orgId = nextOrg();
    const lost: LostLease[] = [];
    a.on('lost', (e) => lost.push(e));
    const first = (await a.acquire(orgId))!;
    // Host a never renews (its timer is not started): a stalled host.
    await untilExpired(orgId);
    const second = await b.acquire(orgId);
    expect(second!.epoch).toBeGreaterThan(first.epoch);
    await a.renew();
    expect(lost).toEqual([{ orgId, epoch: first.epoch, reason: 'taken' }]);
    expect(a.owned()).toEqual([]);
    expect(b.owned()).toEqual([second]);
  });

  it("refuses the old owner's commits after a takeover, and takes the new owner's", async () => {
    const a = manager('host-a', { ttlMs: 200, renewEveryMs: 100 });
    const b = manager('host-b');
    const orgId = nextOrg();
    const la = (await a.acquire(orgId))!;
    const storeA = await store(orgId, la.epoch);
    await storeA.commit({ sessions: [session('before')] });
    await untilExpired(orgId);
    const lb = (await b.acquire(orgId))!;
    const storeB = await store(orgId, lb.epoch);

    // Host a has not noticed anything: it still believes it owns the org.
    expect(a.epochOf(orgId)).toBe(la.epoch);
    const err = await storeA.commit({ sessions: [session('stale')], removed: ['before'], effects: [['c/r/route', { state: 'started', at: 1 }]] }).catch((e: unknown) => e);
    expect(codeOf(err)).toBe('SB_FENCED');
    expect(err).toMatchObject({ epoch: la.epoch, currentEpoch: lb.epoch });

    // The fenced commit is proof enough: host a gives the lease up without waiting for a renewal.
    const lost: LostLease[] = [];
    a.on('lost', (e) => lost.push(e));
    a.fenced(orgId, (err as { epoch: number }).epoch);
    expect(lost).toEqual([{ orgId, epoch: la.epoch, reason: 'taken' }]);
    expect(a.owned()).toEqual([]);
    // A report about an epoch no longer held changes nothing.
    b.fenced(orgId, la.epoch);
    expect(b.owned()).toEqual([lb]);

    await storeB.commit({ sessions: [session('after')] });
    expect((await storeB.loadSessions()).map((x) => x.conversationIdentifier).sort()).toEqual(['after', 'before']);
    expect(await storeB.effect('c/r/route')).toBeUndefined();
  });

  it('a commit already past its fence check finishes before a takeover, and the next one is refused', async () => {
    // Host a's commit is paused mid-transaction, after it read the lease FOR SHARE and before it
    // commits (a trigger waits on an advisory lock the test holds), while its lease runs out.
    await db.sql(`CREATE OR REPLACE FUNCTION switchboard.pause_slow() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.conversation_id = 'slow' THEN PERFORM pg_advisory_xact_lock(4242); END IF; RETURN NEW; END $$`);
    await db.sql('CREATE OR REPLACE TRIGGER pause_slow BEFORE INSERT ON switchboard.sessions FOR EACH ROW EXECUTE FUNCTION switchboard.pause_slow()');
    cleanups.push(() => db.sql('DROP TRIGGER IF EXISTS pause_slow ON switchboard.sessions'));
    const gate = await db.pool({ max: 1 }).connect();
    cleanups.push(async () => gate.release());
    await gate.query('SELECT pg_advisory_lock(4242)');

    const a = manager('host-a', { ttlMs: 200, renewEveryMs: 100 });
    const b = manager('host-b');
    const orgId = nextOrg();
    const la = (await a.acquire(orgId))!;
    const storeA = await store(orgId, la.epoch);
    const order: string[] = [];
    const paused = storeA.commit({ sessions: [session('slow')] });
    const waiting = async (query: string) =>
      (await db.sql<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type IN ('Lock') AND query LIKE $1`, [query]))[0]!.n;
    await expect.poll(() => waiting('%INSERT INTO "switchboard".sessions%'), { timeout: 10_000, interval: 20 }).toBe(1);
    await untilExpired(orgId);

    // The takeover must wait for the paused commit: its UPDATE of the lease row queues behind FOR SHARE.
    const takeover = b.acquire(orgId).then((lease) => (order.push('b acquired'), lease));
    await expect.poll(() => waiting('%UPDATE "switchboard".leases SET owner%'), { timeout: 10_000, interval: 20 }).toBe(1);
    expect(order).toEqual([]);

    await gate.query('SELECT pg_advisory_unlock(4242)');
    // Host a's commit went through: it checked its epoch while it still held the lease. (Which
    // promise settles first on this side is up to the sockets; the database ordered them.)
    await paused;
    const lb = (await takeover)!;
    expect(lb.epoch).toBeGreaterThan(la.epoch);

    // Resumed, host a tries again: refused, nothing written.
    expect(codeOf(await storeA.commit({ sessions: [session('resumed')] }).catch((e: unknown) => e))).toBe('SB_FENCED');
    expect((await storeA.loadSessions()).map((x) => x.conversationIdentifier)).toEqual(['slow']);
  });

  it('a host frozen between two statements of a commit holds up a takeover only until the server ends its transaction', async () => {
    const a = manager('host-a', { ttlMs: 200, renewEveryMs: 100 });
    const b = manager('host-b');
    const orgId = nextOrg();
    const la = (await a.acquire(orgId))!;
    // Host a's commit took its lease row FOR SHARE, then its process froze: the server sees the
    // session idle in transaction, holding the lock.
    let frozen!: () => void;
    const fenced = new Promise<void>((r) => (frozen = r));
    let thaw!: () => void;
    const thawed = new Promise<void>((r) => (thaw = r));
    const commit = inTransaction(db.pool({ max: 1 }), txLimits(15_000, 300), async (client) => {
      await client.query('SELECT epoch FROM switchboard.leases WHERE org_id = $1 FOR SHARE', [orgId]);
      frozen();
      await thawed;
      await client.query('INSERT INTO switchboard.seen (org_id, key) VALUES ($1, $2)', [orgId, 'from-the-frozen-host']);
    });
    const outcome = commit.then(() => 'committed', (err: unknown) => `failed: ${(err as Error).message}`);
    await fenced;
    await untilExpired(orgId);
    const lb = await b.acquire(orgId);
    expect(lb!.epoch).toBeGreaterThan(la.epoch);
    thaw();
    expect(await outcome).toMatch(/^failed/);
    expect(await db.sql('SELECT key FROM switchboard.seen WHERE org_id = $1', [orgId])).toEqual([]);
  });

  it('holds() answers on this host\'s clock: false once the TTL has run since the last grant, before any renewal noticed', async () => {
    // Not started, so nothing renews: what a paused process finds when it resumes.
    const a = manager('host-a', { ttlMs: 300 });
    const orgId = nextOrg();
    const la = (await a.acquire(orgId))!;
    expect(a.holds(orgId, la.epoch)).toBe(true);
    expect(a.holds(orgId, la.epoch + 1)).toBe(false);
    await new Promise((r) => setTimeout(r, 350));
    expect(a.epochOf(orgId)).toBe(la.epoch); // no renewal has run to say it is lost…
    expect(a.holds(orgId, la.epoch)).toBe(false); // …but no call may leave on it any more
  });

  it('release hands the org over at once, without waiting for the TTL', async () => {
    const a = manager('host-a'); // 60 s TTL
    const b = manager('host-b');
    const orgId = nextOrg();
    const released: unknown[] = [];
    a.on('released', (e) => released.push(e));
    const la = (await a.acquire(orgId))!;
    expect(await b.acquire(orgId)).toBeUndefined();
    await a.release(orgId);
    expect(released).toEqual([la]);
    expect(a.owned()).toEqual([]);
    const lb = await b.acquire(orgId);
    expect(lb!.epoch).toBe(la.epoch + 1);
    // And the old epoch is fenced: whatever a's store still had queued is refused.
    const storeA = await store(orgId, la.epoch);
    expect(codeOf(await storeA.commit({ seen: ['late'] }).catch((e: unknown) => e))).toBe('SB_FENCED');
  });

  it('reports a lease lost once renewals have failed for a whole TTL', async () => {
    const pool = db.pool({ max: 2 });
    const renewalPool = db.pool({ max: 1 });
    const a = createLeaseManager({ pool, renewalPool, hostId: 'host-a', ttlMs: 300, renewEveryMs: 50 });
    const lost: LostLease[] = [];
    a.on('lost', (e) => lost.push(e));
    await a.start();
    const orgId = nextOrg();
    const la = (await a.acquire(orgId))!;
    // The database becomes unreachable for this host: every renewal now fails.
    await Promise.all([pool.end(), renewalPool.end()]);
    await expect.poll(() => lost, { timeout: 10_000, interval: 20 }).toEqual([{ orgId, epoch: la.epoch, reason: 'expired' }]);
    expect(a.owned()).toEqual([]);
    await a.stop().catch(() => undefined);
  });

  it("keeps its leases renewed while the host's pool is saturated by commits holding the lease row", async () => {
    // The fleet benchmark's failure: every connection of the host's pool busy in a fenced commit
    // (each holding the org's lease row share-locked by its fence check) and more commits queued
    // for the pool. Here the commits stall on a session row the test holds locked, for longer than
    // the TTL; the renewals must still go through, so the lease is neither lost nor expired.
    const pool = db.pool({ max: 4 });
    const ttlMs = 1_500;
    const a = createLeaseManager({ pool, hostId: 'busy-host', ttlMs, renewEveryMs: 500 });
    cleanups.push(() => a.stop());
    const lost: LostLease[] = [];
    a.on('lost', (e) => lost.push(e));
    await a.start();
    const orgId = nextOrg();
    const la = (await a.acquire(orgId))!;
    const storeA = await openPostgresSessionStore({ pool, orgId });
    storeA.fence(la.epoch);
    cleanups.push(() => storeA.close());
    await storeA.commit({ sessions: [session('contended')] });

    const gate = await db.pool({ max: 1 }).connect();
    let gateOpen = true;
    const openGate = async () => {
      if (!gateOpen) return;
      gateOpen = false;
      await gate.query('ROLLBACK').catch(() => undefined);
      gate.release();
    };
    cleanups.push(openGate);
    await gate.query('BEGIN');
    await gate.query('SELECT 1 FROM switchboard.sessions WHERE org_id = $1 FOR UPDATE', [orgId]);
    // Twice the pool: four commits hold every connection (and the lease row), four wait for one.
    const commits = Array.from({ length: 8 }, () => storeA.commit({ sessions: [session('contended')] }).then(() => 'committed', (err: unknown) => `failed: ${(err as Error).message}`));
    const stalled = async () =>
      (await db.sql<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO "switchboard".sessions%'`))[0]!.n;
    await expect.poll(stalled, { timeout: 10_000, interval: 20 }).toBe(4);
    expect(pool.waitingCount).toBeGreaterThan(0);

    // Three TTLs with the pool saturated: renewals must keep landing all along.
    const until = Date.now() + 3 * ttlMs;
    while (Date.now() < until) {
      await new Promise((r) => setTimeout(r, 250));
      expect(lost).toEqual([]);
    }
    const [row] = await db.sql<{ live: boolean; epoch: number }>('SELECT expires_at > now() AS live, epoch::int FROM switchboard.leases WHERE org_id = $1', [orgId]);
    expect(row).toEqual({ live: true, epoch: la.epoch });
    expect(a.owned()).toEqual([la]);
    expect(await stalled()).toBe(4);

    await openGate();
    expect(await Promise.all(commits)).toEqual(Array(8).fill('committed'));
    expect(lost).toEqual([]);
  });

  it("a commit's fence lock lets a renewal through but holds up any change of the epoch, even a plain UPDATE", async () => {
    // What fencing relies on since schema version 3: the fence check takes the lease row FOR KEY
    // SHARE, and the epoch is a key column (a unique index), so an UPDATE that moves it — this
    // library's acquire, an older host's, an operator's — waits for the commit; one that changes
    // only the expiry does not.
    const a = manager('host-a');
    const orgId = nextOrg();
    const la = (await a.acquire(orgId))!;
    const pool = db.pool({ max: 2 });
    const commit = await pool.connect();
    cleanups.push(async () => {
      await commit.query('ROLLBACK').catch(() => undefined);
      commit.release();
    });
    await commit.query('BEGIN');
    expect((await commit.query('SELECT epoch::int FROM switchboard.leases WHERE org_id = $1 FOR KEY SHARE', [orgId])).rows).toEqual([{ epoch: la.epoch }]);
    const other = async (sql: string) =>
      inTransaction(pool, txLimits(500), (c) => c.query(sql, [orgId])).then(
        () => 'done',
        (err: unknown) => (err as { code?: string }).code ?? String(err),
      );
    expect(await other("UPDATE switchboard.leases SET expires_at = now() + interval '1 minute' WHERE org_id = $1")).toBe('done');
    // 57014: cancelled by the statement timeout while waiting for the commit's lock.
    expect(await other("UPDATE switchboard.leases SET owner = 'old-host', epoch = epoch + 1 WHERE org_id = $1")).toBe('57014');
    await commit.query('COMMIT');
    expect(await other("UPDATE switchboard.leases SET owner = 'old-host', epoch = epoch + 1 WHERE org_id = $1")).toBe('done');
  });

  it('lets a restarted process with the same host id take its org back under a new epoch', async () => {
    const orgId = nextOrg();
    const before = manager('host-a');
    const la = (await before.acquire(orgId))!;
    const after = manager('host-a');
    const again = await after.acquire(orgId);
    expect(again!.epoch).toBe(la.epoch + 1);
  });
});

describe('fair share', () => {
  it('splits orgs across live hosts and picks up a stopped host’s share', async () => {
    const list = Array.from({ length: 5 }, nextOrg);
    const a = manager('share-a');
    const b = manager('share-b');
    await a.start();
    await b.start();
    expect(await a.liveHosts()).toBe(2);
    expect(await a.fairShare(list.length)).toBe(3);
    expect(await a.balance(list)).toHaveLength(3);
    expect(await b.balance(list)).toHaveLength(2);
    expect(new Set([...a.owned(), ...b.owned()].map((l) => l.orgId))).toEqual(new Set(list));

    await a.stop();
    expect(codeOf(await a.acquire(nextOrg()).catch((e: unknown) => e))).toBe('SB_CONFIG');
    expect(await b.liveHosts()).toBe(1);
    await b.balance(list);
    expect(b.owned().map((l) => l.orgId).sort()).toEqual([...list].sort());
  });

  it('a departing host stops counting at once, keeps renewing what it still holds, and takes nothing more', async () => {
    const list = Array.from({ length: 4 }, nextOrg);
    const a = manager('depart-a', { ttlMs: 1_500, renewEveryMs: 300 });
    const b = manager('depart-b');
    await a.start();
    await b.start();
    expect(await a.balance(list)).toHaveLength(2);
    const held = a.owned();
    const lost: LostLease[] = [];
    a.on('lost', (e) => lost.push(e));
    await a.depart();
    // The others' share no longer counts host a, before it has released anything.
    expect(await b.liveHosts()).toBe(1);
    expect(await b.fairShare(list.length)).toBe(4);
    expect(await a.acquire(list.find((id) => !held.some((l) => l.orgId === id))!)).toBeUndefined();
    // Its leases outlive their TTL while it drains: renewed, and its heartbeat not written again.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(lost).toEqual([]);
    expect(a.owned()).toEqual(held);
    expect(await b.liveHosts()).toBe(1);
    expect(await b.balance(list)).toHaveLength(2);
    await a.stop();
    await b.balance(list);
    expect(b.owned()).toHaveLength(4);
  });

  it('stops counting a host once its heartbeat expires', async () => {
    const here = manager('live-host');
    await here.start();
    const pool = db.pool({ max: 1 });
    const renewalPool = db.pool({ max: 1 });
    const silent = createLeaseManager({ pool, renewalPool, hostId: 'silent-host', ttlMs: 200, renewEveryMs: 100 });
    await silent.start();
    expect(await here.liveHosts()).toBe(2);
    // The silent host loses its database (or freezes): its heartbeat is no longer renewed.
    await Promise.all([pool.end(), renewalPool.end()]);
    await expect.poll(() => here.liveHosts(), { timeout: 10_000, interval: 20 }).toBe(1);
    expect(await here.fairShare(4)).toBe(4);
    await silent.stop().catch(() => undefined);
  });

  it('refuses a renewal period that is not below the TTL', () => {
    expect(() => createLeaseManager({ pool: db.pool(), hostId: 'h', ttlMs: 100, renewEveryMs: 100 })).toThrow(expect.objectContaining({ code: 'SB_CONFIG' }));
    expect(() => createLeaseManager({ pool: db.pool(), hostId: '', ttlMs: 100 })).toThrow(expect.objectContaining({ code: 'SB_CONFIG' }));
  });
});
