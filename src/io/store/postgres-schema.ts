// The Postgres schema shared by the session store and the fleet's leases, and the migrations that
// create it. Both open through `migrate()`, so whichever a host opens first lays out everything the
// other needs (a fenced commit reads the lease table; a lease manager may start before any store).
import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { ConfigError, StoreError, StoreSchemaError } from '../../domain/errors.js';

export const DEFAULT_SCHEMA = 'switchboard';

/**
 * Key of the transaction-level advisory lock every migration runs under. Advisory locks are scoped to
 * a database, so hosts sharing a database serialize their migrations and nothing else waits on it.
 * The value is arbitrary but fixed forever: hosts of different library versions must agree on it.
 */
export const MIGRATION_LOCK_KEY = 0x5342_4d49_4752n; // 'SBMIGR'

/** Statements of one schema version, `$S` standing for the quoted schema name. Each one idempotent. */
const MIGRATIONS: ReadonlyArray<readonly string[]> = [
  // 1: sessions, replay cursors, dedupe keys, the effect journal, leases and live hosts.
  [
    // Primary keys hold a sha-256 of the caller's id, never the id itself: a btree entry is capped
    // near 2.7 kB and a conversation id or step key can be 10 kB. The id is kept in its own column.
    `CREATE TABLE IF NOT EXISTS $S.sessions (
       org_id text NOT NULL,
       id_hash bytea NOT NULL,
       conversation_id text NOT NULL,
       schema_version integer NOT NULL,
       chart_hash text NOT NULL,
       -- Epoch milliseconds as the engine's numbers: float8 holds any JS number exactly.
       saved_at double precision NOT NULL,
       ended_at double precision,
       snapshot bytea NOT NULL,
       PRIMARY KEY (org_id, id_hash))`,
    `CREATE TABLE IF NOT EXISTS $S.cursors (
       org_id text NOT NULL,
       topic_hash bytea NOT NULL,
       topic text NOT NULL,
       replay_id bytea NOT NULL,
       PRIMARY KEY (org_id, topic_hash))`,
    `CREATE TABLE IF NOT EXISTS $S.seen (
       org_id text NOT NULL,
       seq bigint GENERATED ALWAYS AS IDENTITY,
       key text NOT NULL,
       PRIMARY KEY (org_id, seq))`,
    `CREATE TABLE IF NOT EXISTS $S.effects (
       org_id text NOT NULL,
       key_hash bytea NOT NULL,
       step_key text NOT NULL,
       state text NOT NULL,
       at double precision NOT NULL,
       output bytea,
       PRIMARY KEY (org_id, key_hash))`,
    `CREATE INDEX IF NOT EXISTS effects_org_at ON $S.effects (org_id, at)`,
    `CREATE TABLE IF NOT EXISTS $S.leases (
       org_id text PRIMARY KEY,
       owner text,
       epoch bigint NOT NULL DEFAULT 0,
       expires_at timestamptz,
       acquired_at timestamptz)`,
    `CREATE TABLE IF NOT EXISTS $S.hosts (
       host_id text PRIMARY KEY,
       started_at timestamptz NOT NULL DEFAULT now(),
       expires_at timestamptz NOT NULL)`,
  ],
  // 2: the fleet's inbox (inputs that reached a host not owning their org) and its replies.
  [
    `CREATE TABLE IF NOT EXISTS $S.inbox (
       id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
       org_id text NOT NULL,
       kind text NOT NULL,
       -- JSON text, as snapshots: the input comes from outside and may hold anything.
       payload bytea NOT NULL,
       reply_id text,
       created_at timestamptz NOT NULL DEFAULT now())`,
    `CREATE INDEX IF NOT EXISTS inbox_org ON $S.inbox (org_id, id)`,
    `CREATE TABLE IF NOT EXISTS $S.replies (
       reply_id text PRIMARY KEY,
       org_id text NOT NULL,
       result bytea NOT NULL,
       created_at timestamptz NOT NULL DEFAULT now())`,
  ],
  // 3: the lease's epoch becomes a key column, so fencing can lock the row FOR KEY SHARE. A unique
  // index makes its columns "key" columns for row locks: an UPDATE that changes the epoch then
  // takes the row FOR UPDATE and waits for every commit holding it FOR KEY SHARE (fencing holds,
  // also for a host of an older version, whose acquire is a plain UPDATE), while a renewal, which
  // changes only expires_at, no longer waits for those commits (it starved behind them under load).
  [`CREATE UNIQUE INDEX IF NOT EXISTS leases_org_epoch ON $S.leases (org_id, epoch)`],
];

/** The schema version this library writes and reads. */
export const SCHEMA_VERSION = MIGRATIONS.length;

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * The schema name, checked and quoted. Identifiers cannot be query parameters, so this is the one
 * value spliced into SQL text: only a plain lower-case identifier gets through.
 */
export function quoteSchema(schema: string | undefined): string {
  const name = schema ?? DEFAULT_SCHEMA;
  if (!SCHEMA_NAME.test(name)) {
    throw new ConfigError(`postgres schema ${JSON.stringify(name).slice(0, 80)} is not a plain identifier: use lower-case letters, digits and _ (at most 63)`);
  }
  return `"${name}"`;
}

/** An org or host id: carried in every row, so it must be short and printable. */
export function checkId(what: string, id: string): void {
  if (typeof id !== 'string' || id.length === 0 || id.length > 255 || id.includes('\u0000')) {
    throw new ConfigError(`${what} must be a non-empty string of at most 255 characters without NUL`);
  }
}

/**
 * Server-side limits every transaction of the store and the leases sets for itself, so they hold on
 * a caller's pool configured without them.
 */
export interface TxLimits {
  /** A statement running (or waiting for a lock) longer is cancelled. */
  statementTimeoutMs: number;
  /**
   * A transaction left idle longer (its host frozen or partitioned between two statements) is ended
   * by the server, releasing its locks: otherwise a frozen host holding its lease row FOR KEY SHARE
   * would block the takeover for as long as it stays frozen.
   */
  idleInTransactionTimeoutMs: number;
}

export const DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT_MS = 2_000;

/** Checks the limits: positive integers, the only numbers spliced into SQL text. */
export function txLimits(statementTimeoutMs: number, idleInTransactionTimeoutMs = DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT_MS): TxLimits {
  for (const [name, ms] of [['statementTimeoutMs', statementTimeoutMs], ['idleInTransactionTimeoutMs', idleInTransactionTimeoutMs]] as const) {
    if (!(Number.isSafeInteger(ms) && ms > 0)) throw new ConfigError(`${name} must be a positive integer, got ${String(ms)}`);
  }
  return { statementTimeoutMs, idleInTransactionTimeoutMs };
}

/** The bounded key of an id of any length. */
export function digest(id: string): Buffer {
  return createHash('sha256').update(id, 'utf8').digest();
}

/** SQLSTATE of a pg error, if it is one. */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** Marks a failure of the COMMIT itself: the transaction may or may not have been applied. */
class CommitInDoubt extends Error {
  constructor(readonly original: unknown) {
    super(original instanceof Error ? original.message : String(original));
  }
}

export function storeError(operation: string, err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  if (err instanceof CommitInDoubt) return new StoreError(operation, err.original, sqlState(err.original), true);
  return new StoreError(operation, err, sqlState(err));
}

/** Runs `work` in one transaction on one pooled client, rolling back on any failure. */
export async function inTransaction<T>(pool: Pool, limits: TxLimits, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // While a client is checked out the pool does not listen for its errors: a connection lost
  // mid-transaction would emit an unhandled 'error' and kill the process. The failure also
  // rejects the pending query, which is where it is handled.
  const swallow = () => {};
  client.on('error', swallow);
  let broken = false;
  try {
    // One round trip: a simple query may carry several statements but no parameters, and the
    // numbers were checked by txLimits().
    const { statementTimeoutMs, idleInTransactionTimeoutMs } = txLimits(limits.statementTimeoutMs, limits.idleInTransactionTimeoutMs);
    await client.query(`BEGIN; SET LOCAL statement_timeout = ${statementTimeoutMs}; SET LOCAL idle_in_transaction_session_timeout = ${idleInTransactionTimeoutMs}`);
    const result = await work(client);
    try {
      await client.query('COMMIT');
    } catch (err) {
      // An ERROR answer (a deferred constraint, a serialization failure) means rolled back. A lost
      // connection or a FATAL means the server may have committed first: nobody can tell from here.
      throw (err as { severity?: string }).severity === 'ERROR' ? err : new CommitInDoubt(err);
    }
    return result;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch {
      // The connection itself failed: do not hand it back to the pool.
      broken = true;
    }
    throw err;
  } finally {
    client.off('error', swallow);
    client.release(broken);
  }
}

/**
 * Creates or upgrades the schema. Safe when many hosts start at once: the work runs under one
 * transaction-level advisory lock and every statement is idempotent, so the losers of the race find
 * the schema current and change nothing. Refuses a database migrated by a newer library.
 */
export async function migrate(pool: Pool, schema: string | undefined, limits: TxLimits): Promise<void> {
  const s = quoteSchema(schema);
  const name = schema ?? DEFAULT_SCHEMA;
  // Fast path: a current schema needs no lock (a fleet opens one store per org).
  const current = await readVersion(pool, s).catch(() => undefined);
  if (current === SCHEMA_VERSION) return;
  if (current !== undefined && current > SCHEMA_VERSION) throw new StoreSchemaError(name, current, SCHEMA_VERSION);
  try {
    await inTransaction(pool, limits, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
      // CREATE SCHEMA IF NOT EXISTS still demands CREATE on the database; a role that was handed an
      // existing schema may lack it, so look first.
      const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [name]);
      if (exists.rowCount === 0) await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${s}.schema_version (
           singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
           version integer NOT NULL)`,
      );
      const row = await client.query<{ version: number }>(`SELECT version FROM ${s}.schema_version`);
      const at = row.rows[0]?.version ?? 0;
      if (at > SCHEMA_VERSION) throw new StoreSchemaError(name, at, SCHEMA_VERSION);
      for (let v = at + 1; v <= SCHEMA_VERSION; v++) {
        for (const statement of MIGRATIONS[v - 1]!) await client.query(statement.replaceAll('$S', s));
      }
      await client.query(
        `INSERT INTO ${s}.schema_version (singleton, version) VALUES (true, $1)
         ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version`,
        [SCHEMA_VERSION],
      );
    });
  } catch (err) {
    if (err instanceof StoreSchemaError) throw err;
    throw storeError(`migrating schema ${name}`, err);
  }
}

async function readVersion(pool: Pool, s: string): Promise<number | undefined> {
  const found = await pool.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [`${s}.schema_version`]);
  if (!found.rows[0]?.t) return undefined;
  const row = await pool.query<{ version: number }>(`SELECT version FROM ${s}.schema_version`);
  return row.rows[0]?.version;
}
