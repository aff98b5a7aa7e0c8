// The fleet's store: PostgreSQL through node-postgres. One database serves many orgs (every row
// carries its org id) and many hosts; each commit is one transaction, and once a store is fenced
// with its org's lease epoch, a commit writes only while that epoch is still the lease's.
//
// Snapshots and journal outputs are stored as `bytea` holding JSON text rather than as `jsonb`:
// jsonb refuses `\u0000` and lone surrogates, which a chat message in a snapshot may well contain,
// and the store never queries inside a snapshot, so jsonb's parsing on every write would buy nothing.
// What must be queried (ids, saved/ended times, journal times) has its own columns.
import pg from 'pg';
import type { Logger } from '../log.js';
import { createLogger } from '../log.js';
import { ConfigError, FencedError } from '../../domain/errors.js';
import type { EffectRecord, PersistedSession, SessionStore, StoreCommit } from './session-store.js';
import { checkId, digest, inTransaction, txLimits, migrate, quoteSchema, storeError } from './postgres-schema.js';

export interface PostgresStoreOptions {
  /** A pool the app owns (shared by every org's store on a host); `close()` leaves it open. */
  pool?: pg.Pool;
  /** Or a connection string: the store then creates, configures and closes its own pool. */
  connectionString?: string;
  /** The Salesforce org this store's rows belong to. */
  orgId: string;
  /** Postgres schema of the tables (default `switchboard`); created if missing. */
  schema?: string;
  /** Server-side limit on each statement, lock waits included (default 15 s). */
  statementTimeoutMs?: number;
  /**
   * The server ends a transaction left idle this long between two statements (default 2 s), so a
   * host frozen mid-commit cannot hold its lease row, and with it a takeover, for longer.
   */
  idleInTransactionTimeoutMs?: number;
  /** Size of the pool the store creates from `connectionString` (default 10). */
  maxConnections?: number;
  logger?: Logger;
}

export interface PostgresSessionStore extends SessionStore {
  readonly orgId: string;
  /** The lease epoch commits are fenced with, or undefined while unfenced. */
  readonly epoch: number | undefined;
  /**
   * From now on every commit (and prune) first checks, in its own transaction, that the org's lease
   * row is at this epoch, holding the row `FOR KEY SHARE` until it commits (a takeover, which
   * changes the epoch, waits for that); otherwise it writes nothing
   * and throws `FencedError` (`SB_FENCED`). `undefined` turns the check off (single-host use).
   */
  fence(epoch: number | undefined): void;
  /**
   * Resolves while the lease is still at the fenced epoch (at once when unfenced); throws
   * `FencedError` otherwise. For a call that has no write-ahead record of its own.
   */
  checkLease(): Promise<void>;
  /**
   * Deletes these rows of the fleet's inbox in the next commit, in its transaction: the inputs they
   * hold were applied to the engine whose changes that commit writes, so an input is removed exactly
   * when its effect is durable. Resolves once that commit is; a refused commit rejects.
   */
  consumeInbox(ids: readonly number[]): Promise<void>;
  /** Commits the inbox deletions still waiting, on their own when no engine commit carried them. */
  flushInbox(): Promise<void>;
}

/** Dedupe keys kept per org; pruning trims the log to this tail (the window reads far fewer). */
const SEEN_KEPT = 100_000;

const DEFAULT_STATEMENT_TIMEOUT_MS = 15_000;

interface SessionRow {
  conversation_id: string;
  schema_version: number;
  chart_hash: string;
  saved_at: number;
  ended_at: number | null;
  snapshot: Buffer;
}

interface EffectRow {
  state: EffectRecord['state'];
  at: number;
  output: Buffer | null;
}

export async function openPostgresSessionStore(options: PostgresStoreOptions): Promise<PostgresSessionStore> {
  checkId('orgId', options.orgId);
  const s = quoteSchema(options.schema);
  const orgId = options.orgId;
  const limits = txLimits(options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS, options.idleInTransactionTimeoutMs);
  const log = (options.logger ?? createLogger({ level: 'silent' })).child({ component: 'postgres-store', orgId });
  if ((options.pool === undefined) === (options.connectionString === undefined)) {
    throw new ConfigError('openPostgresSessionStore needs exactly one of `pool` or `connectionString`');
  }
  const ownPool = options.pool === undefined;
  const pool =
    options.pool ??
    new pg.Pool({
      connectionString: options.connectionString,
      max: options.maxConnections ?? 10,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: 10_000,
      statement_timeout: limits.statementTimeoutMs,
      idle_in_transaction_session_timeout: limits.idleInTransactionTimeoutMs,
      application_name: 'switchboard',
    });
  if (ownPool) {
    // An idle client whose connection drops emits 'error' on the pool; unhandled, it would kill the
    // app. The pool discards that client and the next query connects afresh, so logging is enough.
    pool.on('error', (err) => log.warn({ err: { message: err.message, code: (err as { code?: string }).code } }, 'idle postgres connection failed'));
  }
  try {
    await migrate(pool, options.schema, limits);
  } catch (err) {
    if (ownPool) await pool.end().catch(() => undefined);
    throw err;
  }

  let epoch: number | undefined;
  let closed = false;
  /** Inbox rows to delete with the next commit, and who waits for that commit. */
  let inboxIds: number[] = [];
  let inboxWaiters: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];

  const live = (operation: string) => {
    if (closed) throw storeError(operation, new Error('the store is closed'));
  };

  async function read<R extends pg.QueryResultRow>(operation: string, text: string, values: unknown[]): Promise<R[]> {
    live(operation);
    try {
      // The store's own pool has statement_timeout on every connection; a caller's pool may not, so
      // there a read runs in a transaction that sets it.
      if (ownPool) return (await pool.query<R>(text, values)).rows;
      return (await inTransaction(pool, limits, (client) => client.query<R>(text, values))).rows;
    } catch (err) {
      throw storeError(operation, err);
    }
  }

  /** A write transaction, fenced when an epoch is set. */
  async function write<T>(operation: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    live(operation);
    try {
      return await inTransaction(pool, limits, async (client) => {
        if (epoch !== undefined) {
          // FOR KEY SHARE: the epoch is a key column (a unique index, schema version 3), so an
          // UPDATE that changes it — a takeover — takes the row FOR UPDATE and waits until this
          // transaction ends (the lease manager's acquire also locks the row FOR UPDATE first):
          // the epoch cannot move between this check and our writes becoming visible. A renewal
          // changes no key column and does not wait for us, so commits cannot starve it.
          const lease = await client.query<{ epoch: string }>(`SELECT epoch FROM ${s}.leases WHERE org_id = $1 FOR KEY SHARE`, [orgId]);
          const current = lease.rows[0] ? Number(lease.rows[0].epoch) : undefined;
          if (current !== epoch) throw new FencedError(orgId, epoch, current);
        }
        return work(client);
      });
    } catch (err) {
      if (err instanceof FencedError) throw err;
      throw storeError(`${operation} (org ${orgId})`, err);
    }
  }

  const store: PostgresSessionStore = {
    orgId,
    get epoch() {
      return epoch;
    },
    fence(next) {
      if (next !== undefined && !(Number.isSafeInteger(next) && next > 0)) {
        throw new ConfigError(`fence(epoch): the epoch must be a positive integer (a lease's), got ${String(next)}`);
      }
      epoch = next;
    },

    async checkLease() {
      if (epoch === undefined) return;
      await write('checking the lease', async () => undefined);
    },

    async loadSessions() {
      const rows = await read<SessionRow>(
        'loading sessions',
        `SELECT conversation_id, schema_version, chart_hash, saved_at, ended_at, snapshot FROM ${s}.sessions WHERE org_id = $1`,
        [orgId],
      );
      return rows.map((r) => {
        const session: PersistedSession = {
          conversationIdentifier: r.conversation_id,
          schemaVersion: r.schema_version,
          chartHash: r.chart_hash,
          savedAt: r.saved_at,
          snapshot: JSON.parse(r.snapshot.toString('utf8')) as unknown,
        };
        if (r.ended_at !== null) session.endedAt = r.ended_at;
        return session;
      });
    },

    async loadCursor(topic) {
      const rows = await read<{ replay_id: Buffer }>('loading the cursor', `SELECT replay_id FROM ${s}.cursors WHERE org_id = $1 AND topic_hash = $2`, [orgId, digest(topic)]);
      return rows[0]?.replay_id;
    },

    async loadSeen(limit) {
      if (limit <= 0) return [];
      const rows = await read<{ key: string }>('loading dedupe keys', `SELECT key FROM ${s}.seen WHERE org_id = $1 ORDER BY seq DESC LIMIT $2`, [orgId, Math.floor(limit)]);
      return rows.map((r) => r.key).reverse();
    },

    async commit(batch: StoreCommit) {
      // One row per id and statement: ON CONFLICT DO UPDATE refuses to touch a row twice, and the
      // last write of an id in a batch is the one that counts.
      const sessions = [...new Map((batch.sessions ?? []).map((x) => [x.conversationIdentifier, x])).values()];
      const effects = [...new Map(batch.effects ?? []).entries()];
      const removed = batch.removed ?? [];
      const seen = batch.seen ?? [];
      // Serialise before the transaction opens: a snapshot that cannot become JSON fails here,
      // holding no connection and no lock.
      const snapshots = sessions.map((x) => Buffer.from(JSON.stringify(x.snapshot), 'utf8'));
      const outputs = effects.map(([, r]) => (r.output === undefined ? null : Buffer.from(JSON.stringify(r.output), 'utf8')));
      const consumed = inboxIds;
      const waiters = inboxWaiters;
      inboxIds = [];
      inboxWaiters = [];
      try {
        await commitTx(consumed, sessions, snapshots, removed, seen, effects, outputs, batch);
      } catch (err) {
        if (err instanceof FencedError) for (const w of waiters) w.reject(err);
        else {
          // Not written: the deletions ride with the next commit, as the engine's changes do.
          inboxIds = [...consumed, ...inboxIds];
          inboxWaiters = [...waiters, ...inboxWaiters];
        }
        throw err;
      }
      for (const w of waiters) w.resolve();
    },

    consumeInbox(ids) {
      if (!ids.length) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        inboxIds.push(...ids);
        inboxWaiters.push({ resolve, reject });
      });
    },

    async flushInbox() {
      if (inboxIds.length) await store.commit({});
    },

    async effect(key) {
      const rows = await read<EffectRow>('reading the effect journal', `SELECT state, at, output FROM ${s}.effects WHERE org_id = $1 AND key_hash = $2`, [orgId, digest(key)]);
      const row = rows[0];
      if (!row) return undefined;
      const record: EffectRecord = { state: row.state, at: row.at };
      if (row.output !== null) record.output = JSON.parse(row.output.toString('utf8')) as unknown;
      return record;
    },

    async pruneEffects(olderThan) {
      return write('pruning the effect journal', async (client) => {
        const pruned = await client.query(`DELETE FROM ${s}.effects WHERE org_id = $1 AND at < $2`, [orgId, olderThan]);
        await client.query(
          `DELETE FROM ${s}.seen WHERE org_id = $1 AND seq <= (SELECT seq FROM ${s}.seen WHERE org_id = $1 ORDER BY seq DESC OFFSET $2 LIMIT 1)`,
          [orgId, SEEN_KEPT],
        );
        return pruned.rowCount ?? 0;
      });
    },

    async close() {
      if (closed) return;
      closed = true;
      if (ownPool) await pool.end();
    },
  };
  return store;


  async function commitTx(
    consumed: number[],
    sessions: PersistedSession[],
    snapshots: Buffer[],
    removed: string[],
    seen: string[],
    effects: Array<[string, EffectRecord]>,
    outputs: Array<Buffer | null>,
    batch: StoreCommit,
  ): Promise<void> {
    await write('commit', async (client) => {
      if (consumed.length) {
        await client.query(`DELETE FROM ${s}.inbox WHERE org_id = $1 AND id = ANY($2::bigint[])`, [orgId, consumed]);
      }
      if (sessions.length) {
        await client.query(
          `INSERT INTO ${s}.sessions (org_id, id_hash, conversation_id, schema_version, chart_hash, saved_at, ended_at, snapshot)
           SELECT $1::text, * FROM unnest($2::bytea[], $3::text[], $4::integer[], $5::text[], $6::float8[], $7::float8[], $8::bytea[])
           ON CONFLICT (org_id, id_hash) DO UPDATE SET
             schema_version = EXCLUDED.schema_version, chart_hash = EXCLUDED.chart_hash,
             saved_at = EXCLUDED.saved_at, ended_at = EXCLUDED.ended_at, snapshot = EXCLUDED.snapshot`,
          [
            orgId,
            sessions.map((x) => digest(x.conversationIdentifier)),
            sessions.map((x) => x.conversationIdentifier),
            sessions.map((x) => x.schemaVersion),
            sessions.map((x) => x.chartHash),
            sessions.map((x) => x.savedAt),
            sessions.map((x) => x.endedAt ?? null),
            snapshots,
          ],
        );
      }
      if (removed.length) {
        await client.query(`DELETE FROM ${s}.sessions WHERE org_id = $1 AND id_hash = ANY($2::bytea[])`, [orgId, removed.map(digest)]);
      }
      if (batch.cursor) {
        await client.query(
          `INSERT INTO ${s}.cursors (org_id, topic_hash, topic, replay_id) VALUES ($1, $2, $3, $4)
           ON CONFLICT (org_id, topic_hash) DO UPDATE SET replay_id = EXCLUDED.replay_id`,
          [orgId, digest(batch.cursor.topic), batch.cursor.topic, batch.cursor.replayId],
        );
      }
      if (seen.length) {
        // The identity is drawn in the order rows are produced, so ORDER BY keeps the batch's order.
        await client.query(`INSERT INTO ${s}.seen (org_id, key) SELECT $1::text, k FROM unnest($2::text[]) WITH ORDINALITY AS t(k, n) ORDER BY n`, [orgId, seen]);
      }
      if (effects.length) {
        await client.query(
          `INSERT INTO ${s}.effects (org_id, key_hash, step_key, state, at, output)
           SELECT $1::text, * FROM unnest($2::bytea[], $3::text[], $4::text[], $5::float8[], $6::bytea[])
           ON CONFLICT (org_id, key_hash) DO UPDATE SET state = EXCLUDED.state, at = EXCLUDED.at, output = EXCLUDED.output`,
          [orgId, effects.map(([k]) => digest(k)), effects.map(([k]) => k), effects.map(([, r]) => r.state), effects.map(([, r]) => r.at), outputs],
        );
      }
    });
  }
}
