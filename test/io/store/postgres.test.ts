// What the Postgres store adds to the contract: many orgs in one database, migrations that race
// safely, fencing, and transactions that hold when the database refuses a statement.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SwitchboardError } from '../../../src/domain/errors.js';
import { SCHEMA_VERSION } from '../../../src/io/store/postgres-schema.js';
import { openPostgresSessionStore, type PostgresSessionStore } from '../../../src/io/store/postgres-store.js';
import type { PersistedSession } from '../../../src/io/store/session-store.js';
import { createTestDatabase, type TestDatabase } from '../../support/postgres.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

const session = (id: string, text: string): PersistedSession => ({
  conversationIdentifier: id,
  schemaVersion: 1,
  chartHash: 'h',
  savedAt: 1,
  snapshot: { value: 'active', context: { text } },
});

let orgs = 0;
const nextOrg = () => `00D${String(++orgs).padStart(12, '0')}`;

async function everything(store: PostgresSessionStore, topic = 't', step = 'k') {
  return {
    sessions: (await store.loadSessions()).map((s) => s.conversationIdentifier).sort(),
    cursor: await store.loadCursor(topic),
    seen: await store.loadSeen(100),
    effect: await store.effect(step),
  };
}

const nothing = { sessions: [], cursor: undefined, seen: [], effect: undefined };

function codeOf(err: unknown): string | undefined {
  return err instanceof SwitchboardError ? err.code : undefined;
}

describe('postgres store: migrations', () => {
  it('lets many hosts open a fresh database at once; one schema version results', async () => {
    const schema = 'race_fresh';
    const opens = Array.from({ length: 8 }, (_, i) => openPostgresSessionStore({ connectionString: db.url, orgId: `org${i}`, schema, maxConnections: 1 }));
    const results = await Promise.allSettled(opens);
    const stores = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    try {
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
      expect(await db.sql(`SELECT version FROM ${schema}.schema_version`)).toEqual([{ version: SCHEMA_VERSION }]);
      // Each store works on the schema the race left behind.
      await Promise.all(stores.map((s, i) => s.commit({ sessions: [session(`c${i}`, 'x')] })));
      expect((await db.sql(`SELECT count(*)::int AS n FROM ${schema}.sessions`))[0]).toEqual({ n: 8 });
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('refuses a database migrated by a newer library', async () => {
    const schema = 'from_the_future';
    await (await openPostgresSessionStore({ connectionString: db.url, orgId: 'o', schema })).close();
    await db.sql(`UPDATE ${schema}.schema_version SET version = $1`, [SCHEMA_VERSION + 1]);
    const err = await openPostgresSessionStore({ connectionString: db.url, orgId: 'o', schema }).catch((e: unknown) => e);
    expect(codeOf(err)).toBe('SB_STORE_SCHEMA');
    expect(String(err)).toMatch(/upgrade Switchboard/);
  });

  it('refuses a schema name that is not a plain identifier', async () => {
    const err = await openPostgresSessionStore({ connectionString: db.url, orgId: 'o', schema: 'x"; DROP TABLE y; --' }).catch((e: unknown) => e);
    expect(codeOf(err)).toBe('SB_CONFIG');
  });
});

describe('postgres store: one database, many orgs', () => {
  it('keeps each org to its own sessions, cursor, dedupe keys and journal', async () => {
    const pool = db.pool();
    const a = await openPostgresSessionStore({ pool, orgId: nextOrg() });
    const b = await openPostgresSessionStore({ pool, orgId: nextOrg() });
    await a.commit({ sessions: [session('same', 'A')], cursor: { topic: 't', replayId: Buffer.from('A') }, seen: ['a1'], effects: [['k', { state: 'done', at: 1 }]] });
    await b.commit({ sessions: [session('same', 'B'), session('only-b', 'B')], cursor: { topic: 't', replayId: Buffer.from('B') }, seen: ['b1', 'b2'], effects: [['k', { state: 'started', at: 100 }]] });

    expect(await a.loadSessions()).toEqual([session('same', 'A')]);
    expect((await b.loadSessions()).map((s) => s.snapshot)).toEqual([{ value: 'active', context: { text: 'B' } }, { value: 'active', context: { text: 'B' } }]);
    expect(await a.loadCursor('t')).toEqual(Buffer.from('A'));
    expect(await a.loadSeen(10)).toEqual(['a1']);
    expect(await b.loadSeen(10)).toEqual(['b1', 'b2']);
    // Pruning and removing in one org leaves the other's rows alone.
    expect(await a.pruneEffects(50)).toBe(1);
    expect(await b.effect('k')).toEqual({ state: 'started', at: 100 });
    await b.commit({ removed: ['same'] });
    expect(await a.loadSessions()).toEqual([session('same', 'A')]);
    // A store closed over a shared pool leaves the pool to its owner.
    await a.close();
    expect(await b.loadSeen(1)).toEqual(['b2']);
    await b.close();
  });

  it('keeps the last write of an id repeated in one batch', async () => {
    const store = await openPostgresSessionStore({ connectionString: db.url, orgId: nextOrg() });
    await store.commit({
      sessions: [session('c', 'first'), session('c', 'last')],
      effects: [
        ['k', { state: 'started', at: 1 }],
        ['k', { state: 'done', at: 2 }],
      ],
    });
    expect(await store.loadSessions()).toEqual([session('c', 'last')]);
    expect(await store.effect('k')).toEqual({ state: 'done', at: 2 });
    await store.close();
  });
});

describe('postgres store: transactions', () => {
  it('rolls back the whole commit when a statement fails midway', async () => {
    // A trigger refuses one journal key: the effects are written last, after sessions, cursor and
    // dedupe keys, so everything before them must vanish with the transaction.
    const store = await openPostgresSessionStore({ connectionString: db.url, orgId: nextOrg() });
    await db.sql(`CREATE OR REPLACE FUNCTION switchboard.refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.step_key = 'boom' THEN RAISE EXCEPTION 'refused by test trigger'; END IF; RETURN NEW; END $$`);
    await db.sql('CREATE OR REPLACE TRIGGER refuse_boom BEFORE INSERT ON switchboard.effects FOR EACH ROW EXECUTE FUNCTION switchboard.refuse_boom()');
    try {
      const err = await store
        .commit({ sessions: [session('c', 'x')], removed: ['nobody'], cursor: { topic: 't', replayId: Buffer.from([1]) }, seen: ['e1'], effects: [['ok', { state: 'done', at: 1 }], ['boom', { state: 'started', at: 1 }]] })
        .catch((e: unknown) => e);
      expect(codeOf(err)).toBe('SB_STORE');
      expect(String(err)).toMatch(/refused by test trigger/);
      expect(await everything(store, 't', 'ok')).toEqual(nothing);
      // The connection went back to the pool clean: the next commit is its own transaction.
      await store.commit({ seen: ['e2'] });
      expect(await store.loadSeen(10)).toEqual(['e2']);
    } finally {
      await db.sql('DROP TRIGGER IF EXISTS refuse_boom ON switchboard.effects');
      await store.close();
    }
  });

  it('tells a COMMIT the server refused (rolled back) from one whose connection died (in doubt)', async () => {
    const store = await openPostgresSessionStore({ connectionString: db.url, orgId: nextOrg() });
    // Deferred constraint triggers run at COMMIT: one refuses, one kills its own backend.
    await db.sql(`CREATE OR REPLACE FUNCTION switchboard.at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.key = 'refuse-at-commit' THEN RAISE EXCEPTION 'refused at commit'; END IF;
        IF NEW.key = 'die-at-commit' THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
        RETURN NEW;
      END $$`);
    await db.sql('DROP TRIGGER IF EXISTS at_commit ON switchboard.seen');
    await db.sql('CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT ON switchboard.seen DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION switchboard.at_commit()');
    try {
      const refused = await store.commit({ sessions: [session('c', 'x')], seen: ['refuse-at-commit'] }).catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: 'SB_STORE', inDoubt: false });
      expect(await everything(store)).toEqual(nothing);

      const died = await store.commit({ sessions: [session('c', 'x')], seen: ['die-at-commit'] }).catch((e: unknown) => e);
      expect(died).toMatchObject({ code: 'SB_STORE', inDoubt: true });
      expect(String(died)).toMatch(/may or may not have been applied/);
      // The pool replaced the dead connection.
      await store.commit({ seen: ['next'] });
      expect(await store.loadSeen(1)).toEqual(['next']);
    } finally {
      await db.sql('DROP TRIGGER IF EXISTS at_commit ON switchboard.seen');
      await store.close();
    }
  });

  it('gives up on a commit stuck behind a lock after statementTimeoutMs, writing nothing', async () => {
    const orgId = nextOrg();
    // A caller's pool with no statement_timeout of its own: the store's limit must still hold.
    const store = await openPostgresSessionStore({ pool: db.pool(), orgId, statementTimeoutMs: 300 });
    await db.sql(`INSERT INTO switchboard.leases (org_id, owner, epoch) VALUES ($1, 'h', 1)`, [orgId]);
    store.fence(1);
    // Another session holds the lease row for update and never lets go while the commit waits.
    const holder = db.pool({ max: 1 });
    const client = await holder.connect();
    await client.query('BEGIN');
    await client.query('SELECT 1 FROM switchboard.leases WHERE org_id = $1 FOR UPDATE', [orgId]);
    try {
      const err = await store.commit({ sessions: [session('c', 'x')], seen: ['e'] }).catch((e: unknown) => e);
      expect(codeOf(err)).toBe('SB_STORE');
      expect((err as { sqlState?: string }).sqlState).toBe('57014');
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
    expect(await everything(store)).toEqual(nothing);
    await store.close();
  });
  it("bounds a read on a caller's pool by statementTimeoutMs too", async () => {
    const store = await openPostgresSessionStore({ pool: db.pool(), orgId: nextOrg(), statementTimeoutMs: 300 });
    // A migration or a VACUUM FULL elsewhere holds the table: reads queue behind it.
    const holder = await db.pool({ max: 1 }).connect();
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE switchboard.sessions IN ACCESS EXCLUSIVE MODE');
    try {
      const err = await store.loadSessions().catch((e: unknown) => e);
      expect(codeOf(err)).toBe('SB_STORE');
      expect((err as { sqlState?: string }).sqlState).toBe('57014');
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    expect(await store.loadSessions()).toEqual([]);
    await store.close();
  });

  it('refuses a statement timeout that is not a positive integer', async () => {
    const err = await openPostgresSessionStore({ pool: db.pool(), orgId: 'o', statementTimeoutMs: 1.5 }).catch((e: unknown) => e);
    expect(codeOf(err)).toBe('SB_CONFIG');
  });
});

describe('postgres store: fencing', () => {
  it('refuses every write once the lease moved past the fenced epoch, and writes nothing', async () => {
    const orgId = nextOrg();
    const store = await openPostgresSessionStore({ connectionString: db.url, orgId });
    const batch = { sessions: [session('c', 'x')], cursor: { topic: 't', replayId: Buffer.from([1]) }, seen: ['e'], effects: [['k', { state: 'started' as const, at: 1 }]] as Array<[string, { state: 'started'; at: number }]> };

    store.fence(3);
    // No lease row at all: nobody granted epoch 3.
    const noLease = await store.commit(batch).catch((e: unknown) => e);
    expect(codeOf(noLease)).toBe('SB_FENCED');
    expect(noLease).toMatchObject({ orgId, epoch: 3, currentEpoch: undefined });

    await db.sql(`INSERT INTO switchboard.leases (org_id, owner, epoch) VALUES ($1, 'me', 3)`, [orgId]);
    await store.commit(batch);
    expect((await everything(store)).sessions).toEqual(['c']);

    // Another host takes over.
    await db.sql(`UPDATE switchboard.leases SET owner = 'other', epoch = epoch + 1 WHERE org_id = $1`, [orgId]);
    const stale = await store.commit({ sessions: [session('late', 'x')], removed: ['c'], cursor: { topic: 't', replayId: Buffer.from([2]) }, seen: ['late'], effects: [['k', { state: 'done', at: 2 }]] }).catch((e: unknown) => e);
    expect(codeOf(stale)).toBe('SB_FENCED');
    expect(stale).toMatchObject({ epoch: 3, currentEpoch: 4 });
    expect(codeOf(await store.pruneEffects(Number.MAX_SAFE_INTEGER).catch((e: unknown) => e))).toBe('SB_FENCED');
    expect(await everything(store)).toEqual({ sessions: ['c'], cursor: Buffer.from([1]), seen: ['e'], effect: { state: 'started', at: 1 } });

    // Unfenced again (single-host use), the same store writes.
    store.fence(undefined);
    await store.commit({ seen: ['free'] });
    expect(await store.loadSeen(1)).toEqual(['free']);
    expect(() => store.fence(0)).toThrow(expect.objectContaining({ code: 'SB_CONFIG' }));
    await store.close();
  });
});

describe('postgres store: connections', () => {
  it('survives its idle connections being killed, logging without the password', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, new Writable({ write: (chunk: Buffer, _e, done) => void (lines.push(chunk.toString()), done()) }));
    const store = await openPostgresSessionStore({ connectionString: db.url, orgId: nextOrg(), logger });
    await store.commit({ seen: ['before'] });
    // Kill the store's idle backends from outside, as a failover or an admin would. Without a
    // handler on the pool, the idle client's 'error' is unhandled and takes the process down.
    await db.sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'switchboard' AND datname = current_database()`);
    await expect.poll(() => lines.length, { timeout: 5_000 }).toBeGreaterThan(0);
    expect(lines.join('')).toMatch(/idle postgres connection failed/);
    expect(lines.join('')).not.toContain(new URL(db.url).password);
    await store.commit({ seen: ['after'] });
    expect(await store.loadSeen(2)).toEqual(['before', 'after']);
    await store.close();
  });

  it('reports a refused login as SB_STORE without the password', async () => {
    const url = new URL(db.url);
    url.password = 'not-the-password-xyz';
    const err = await openPostgresSessionStore({ connectionString: url.toString(), orgId: 'o' }).catch((e: unknown) => e);
    expect(codeOf(err)).toBe('SB_STORE');
    expect(String(err)).not.toContain('not-the-password-xyz');
  });

  it('answers SB_STORE once closed', async () => {
    const store = await openPostgresSessionStore({ connectionString: db.url, orgId: nextOrg() });
    await store.close();
    expect(codeOf(await store.commit({ seen: ['x'] }).catch((e: unknown) => e))).toBe('SB_STORE');
    expect(codeOf(await store.loadSessions().catch((e: unknown) => e))).toBe('SB_STORE');
  });
});
