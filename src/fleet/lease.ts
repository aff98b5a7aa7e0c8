// Org leases on PostgreSQL: which host owns which org, under which epoch. A lease row per org
// (org_id, owner, epoch, expires_at); acquiring a free or expired org bumps its epoch, and a store
// fenced with that epoch (PostgresSessionStore.fence) writes only while the lease is still at it.
//
// Expiry is judged by the database's clock alone (`now()` in every statement): hosts' clocks
// disagree, the database's is one. The host's own monotonic clock is used only to give a lease up
// early — when renewals have failed for a whole TTL it reports the lease lost, since another host
// may already hold it — never to claim or extend one.
//
// Renewal is not what keeps a stale host from writing: a pause (GC, SIGSTOP) can outlast the TTL
// between a renewal and a write. Fencing does that; leases only decide who should be working.
//
// But renewal must not be starved by the host's own engines, or a busy host loses its orgs for
// nothing. Heartbeats and renewals run on a connection of their own, out of the pool the stores
// queue on, and a renewal changes no key column of the lease row, so it does not wait for the
// commits that hold that row FOR KEY SHARE while they check their epoch (postgres-store.ts).
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { ConfigError } from '../domain/errors.js';
import { createLogger, type Logger } from '../io/log.js';
import { checkId, inTransaction, txLimits, migrate, quoteSchema, storeError } from '../io/store/postgres-schema.js';

export interface LeaseManagerOptions {
  /** The host's pool (shared with its stores). The manager never closes it. */
  pool: pg.Pool;
  /**
   * Where heartbeats and renewals run, so that the engines' commits queued on `pool` cannot delay
   * them past the TTL. Default: one connection of the manager's own, made with `pool`'s settings
   * when it starts and closed when it stops. A pool given here is the caller's (never closed).
   */
  renewalPool?: pg.Pool;
  /** Stable, unique per running process (e.g. hostname + pid). Two live processes must not share one. */
  hostId: string;
  /** How long a lease and a heartbeat last without renewal, on the database's clock (default 15 s). */
  ttlMs?: number;
  /** Renewal period once started (default a third of the TTL, so two renewals may fail in a row). */
  renewEveryMs?: number;
  /** Postgres schema shared with the stores (default `switchboard`). */
  schema?: string;
  /** Server-side limit per statement (default 5 s: a renewal stuck longer is as good as failed). */
  statementTimeoutMs?: number;
  /** The server ends a transaction of this manager left idle this long (default 2 s); see the store's option. */
  idleInTransactionTimeoutMs?: number;
  logger?: Logger;
}

export interface Lease {
  orgId: string;
  /** Strictly greater than every epoch the org had before: fence the org's store with it. */
  epoch: number;
}

export interface LostLease extends Lease {
  /**
   * `taken`: a renewal found the row at another owner or epoch (another host took over or the row
   * was released). `expired`: no renewal succeeded within the TTL, so another host may own it now.
   */
  reason: 'taken' | 'expired';
}

export interface LeaseEvents {
  acquired: Lease;
  /** Stop the org's engine now: its store is, or soon will be, fenced. */
  lost: LostLease;
  released: Lease;
}

export interface LeaseManager {
  readonly hostId: string;
  /** Creates the schema if needed, writes the heartbeat and starts renewing every `renewEveryMs`. */
  start(): Promise<void>;
  /** Takes the org if it is free, expired, or left by an earlier process of this host id; else undefined. */
  acquire(orgId: string): Promise<Lease | undefined>;
  /** Renews the heartbeat and every lease held; a lease the database no longer grants is reported `lost`. */
  renew(): Promise<void>;
  /**
   * Hands the org back so another host takes it at once. Call it after the org's engine drained
   * and committed: the next owner's epoch fences whatever this host writes afterwards.
   */
  release(orgId: string): Promise<void>;
  /**
   * A fenced commit (`SB_FENCED`) proves the lease gone before the next renewal would: report it
   * here and the lease is dropped and reported `lost` (reason `taken`) if it is still held at that epoch.
   */
  fenced(orgId: string, epoch: number): void;
  owned(): Lease[];
  /** The epoch held for the org, or undefined. */
  epochOf(orgId: string): number | undefined;
  /**
   * Whether this host still holds the org at `epoch` on its own clock: false once the lease's TTL
   * has run since its last grant, even before a renewal noticed (the process may just have been
   * paused). Synchronous: asked before every Interaction call.
   */
  holds(orgId: string, epoch: number): boolean;
  /** Hosts whose heartbeat has not expired (this one included once started). */
  liveHosts(): Promise<number>;
  /** ceil(orgs / live hosts): how many orgs this host should own at most. */
  fairShare(orgCount: number): Promise<number>;
  /** Acquires orgs of the list that are free, up to this host's fair share of it. Returns what it took. */
  balance(orgIds: readonly string[]): Promise<Lease[]>;
  /**
   * The first step of a graceful stop: removes this host's heartbeat and writes no more, so the
   * other hosts' fair share no longer counts it and they can take every org it is about to hand
   * over, while the leases it still holds keep being renewed until released. It cannot acquire
   * from then on. Idempotent; `stop()` does it too.
   */
  depart(): Promise<void>;
  /** Stops renewing, releases every lease and removes the heartbeat. Drain the engines first. */
  stop(): Promise<void>;
  on<E extends keyof LeaseEvents>(event: E, listener: (e: LeaseEvents[E]) => void): () => void;
}

const DEFAULT_TTL_MS = 15_000;
const DEFAULT_STATEMENT_TIMEOUT_MS = 5_000;

/**
 * The connection settings of a pool, for a connection of the manager's own. node-postgres keeps the
 * password (and an ssl key) as non-enumerable properties of `pool.options`: copied by name.
 */
function settingsOf(pool: pg.Pool): pg.PoolConfig {
  const o = (pool as unknown as { options?: pg.PoolConfig }).options ?? {};
  return { ...o, ...(o.password !== undefined ? { password: o.password } : {}) };
}

interface Held {
  epoch: number;
  /** Monotonic time until which this host may assume the lease, from the start of the last grant. */
  validUntil: number;
}

export function createLeaseManager(options: LeaseManagerOptions): LeaseManager {
  checkId('hostId', options.hostId);
  const s = quoteSchema(options.schema);
  const ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
  const renewEveryMs = options.renewEveryMs ?? Math.max(1, Math.floor(ttlMs / 3));
  if (!(Number.isInteger(ttlMs) && ttlMs > 0)) throw new ConfigError(`lease ttlMs must be a positive integer, got ${ttlMs}`);
  if (!(Number.isInteger(renewEveryMs) && renewEveryMs > 0 && renewEveryMs < ttlMs)) {
    throw new ConfigError(`lease renewEveryMs (${renewEveryMs}) must be a positive integer below ttlMs (${ttlMs}), or leases expire between renewals`);
  }
  const { pool, hostId } = options;
  const limits = txLimits(options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS, options.idleInTransactionTimeoutMs);
  const log = (options.logger ?? createLogger({ level: 'silent' })).child({ component: 'leases', hostId });
  /** Heartbeats and renewals: never queued behind the engines' commits on `pool`. */
  let renewalPool: pg.Pool | undefined = options.renewalPool;
  const ownRenewalPool = !options.renewalPool;
  const renewals = (): pg.Pool => {
    if (!renewalPool) {
      renewalPool = new pg.Pool({
        ...settingsOf(pool),
        max: 1,
        min: 0,
        // Kept open: a renewal must not wait for a new connection every few seconds.
        idleTimeoutMillis: 0,
        // …but an idle one does not keep the process alive.
        allowExitOnIdle: true,
        // A connect that hangs counts as a failed renewal; the next one tries again.
        connectionTimeoutMillis: Math.min(ttlMs, 10_000),
        application_name: `switchboard-leases ${hostId}`.slice(0, 63),
      });
      renewalPool.on('error', (err) => log.warn({ err: { message: err.message } }, 'lease connection failed; renewals reconnect'));
    }
    return renewalPool;
  };
  const held = new Map<string, Held>();
  const listeners: { [E in keyof LeaseEvents]: Set<(e: LeaseEvents[E]) => void> } = { acquired: new Set(), lost: new Set(), released: new Set() };
  let schemaReady: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let renewing: Promise<void> | undefined;
  let stopped = false;
  /** Leaving (depart() or stop()): no heartbeat any more, no new lease. */
  let departing: Promise<void> | undefined;

  function emit<E extends keyof LeaseEvents>(event: E, e: LeaseEvents[E]): void {
    for (const listener of listeners[event]) {
      try {
        listener(e);
      } catch (err) {
        // A listener's bug must not stop the renewal of the other orgs.
        log.error({ err, event, orgId: e.orgId }, 'lease listener threw');
      }
    }
  }

  const ready = () => (schemaReady ??= migrate(pool, options.schema, limits).catch((err: unknown) => {
    schemaReady = undefined;
    throw err;
  }));

  /** One short transaction: it carries the statement timeout even on a pool configured without one. */
  async function query<R extends pg.QueryResultRow>(operation: string, text: string, values: unknown[], on: pg.Pool = pool): Promise<pg.QueryResult<R>> {
    await ready();
    try {
      return await inTransaction(on, limits, (client) => client.query<R>(text, values));
    } catch (err) {
      throw storeError(`${operation} (host ${hostId})`, err);
    }
  }

  function drop(orgId: string, epoch: number, reason: LostLease['reason']): void {
    const h = held.get(orgId);
    if (!h || h.epoch !== epoch) return;
    held.delete(orgId);
    log.warn({ orgId, epoch, reason }, 'lease lost');
    emit('lost', { orgId, epoch, reason });
  }

  /** Gives up leases whose grant is older than the TTL: the database may have handed them on. */
  function expireLocally(): void {
    const now = performance.now();
    for (const [orgId, h] of [...held]) if (now >= h.validUntil) drop(orgId, h.epoch, 'expired');
  }

  async function heartbeat(): Promise<void> {
    await query(
      'writing the heartbeat',
      `INSERT INTO ${s}.hosts (host_id, expires_at) VALUES ($1, now() + $2 * interval '1 millisecond')
       ON CONFLICT (host_id) DO UPDATE SET expires_at = EXCLUDED.expires_at`,
      [hostId, ttlMs],
      renewals(),
    );
  }

  async function renewOnce(): Promise<void> {
    const sentAt = performance.now();
    // A departing host is no longer counted live: its heartbeat must not come back.
    if (!departing) await heartbeat();
    const snapshot = [...held].map(([orgId, h]) => ({ orgId, epoch: h.epoch }));
    if (!snapshot.length) return;
    const renewed = await query<{ org_id: string }>(
      'renewing leases',
      `UPDATE ${s}.leases AS l SET expires_at = now() + $2 * interval '1 millisecond'
       FROM unnest($3::text[], $4::bigint[]) AS mine(org_id, epoch)
       WHERE l.org_id = mine.org_id AND l.epoch = mine.epoch AND l.owner = $1
       RETURNING l.org_id`,
      [hostId, ttlMs, snapshot.map((x) => x.orgId), snapshot.map((x) => x.epoch)],
      renewals(),
    );
    const kept = new Set(renewed.rows.map((r) => r.org_id));
    for (const { orgId, epoch } of snapshot) {
      const h = held.get(orgId);
      if (!h || h.epoch !== epoch) continue; // released or re-acquired meanwhile
      if (kept.has(orgId)) h.validUntil = sentAt + ttlMs;
      else drop(orgId, epoch, 'taken');
    }
  }

  const manager: LeaseManager = {
    hostId,

    async start() {
      if (stopped) throw new ConfigError('a stopped lease manager cannot start again: create a new one');
      await ready();
      await heartbeat();
      // Hosts named by hostname + pid leave a row per process; forget the long dead ones.
      await query('forgetting dead hosts', `DELETE FROM ${s}.hosts WHERE expires_at < now() - interval '1 day'`, []);
      if (timer) return;
      timer = setInterval(() => {
        expireLocally();
        // One renewal at a time: a slow database must not stack them up.
        if (!renewing) {
          renewing = renewOnce()
            .catch((err: unknown) => log.warn({ err: { message: (err as Error).message, code: (err as { code?: string }).code } }, 'lease renewal failed'))
            .finally(() => {
              renewing = undefined;
              expireLocally();
            });
        }
      }, renewEveryMs);
      timer.unref();
    },

    async acquire(orgId) {
      checkId('orgId', orgId);
      // Nothing would renew it: a lease taken now would only expire under an engine that runs on.
      if (stopped) throw new ConfigError('the lease manager is stopped: create a new one to acquire leases');
      // Leaving: whatever it took now it would have to hand over again at once.
      if (departing) return undefined;
      const mine = held.get(orgId);
      if (mine) return { orgId, epoch: mine.epoch };
      const sentAt = performance.now();
      // No conflict target: two hosts creating the row at once collide on the primary key and on
      // the (org_id, epoch) index alike, and either way the row exists.
      await query('creating the lease row', `INSERT INTO ${s}.leases (org_id) VALUES ($1) ON CONFLICT DO NOTHING`, [orgId]);
      // Free, expired, or held by an earlier process with this host id (restarted before its lease
      // ran out): the epoch goes up either way, fencing whoever wrote under the old one. The row is
      // locked FOR UPDATE first, which waits for every commit holding it FOR KEY SHARE (so the new
      // epoch lands after the old owner's last write); changing the epoch, a key column, would wait
      // for them too. Only a row this host may take is locked: asking for a held org holds up nobody.
      const won = await query<{ epoch: string }>(
        'acquiring a lease',
        `WITH free AS (
           SELECT org_id FROM ${s}.leases
           WHERE org_id = $1 AND (owner IS NULL OR owner = $2 OR expires_at IS NULL OR expires_at < now())
           FOR UPDATE)
         UPDATE ${s}.leases SET owner = $2, epoch = leases.epoch + 1, expires_at = now() + $3 * interval '1 millisecond', acquired_at = now()
         FROM free WHERE leases.org_id = free.org_id
         RETURNING leases.epoch`,
        [orgId, hostId, ttlMs],
      );
      const row = won.rows[0];
      if (!row) return undefined;
      const lease = { orgId, epoch: Number(row.epoch) };
      held.set(orgId, { epoch: lease.epoch, validUntil: sentAt + ttlMs });
      log.info(lease, 'lease acquired');
      emit('acquired', lease);
      return lease;
    },

    async renew() {
      // Stopped: nothing is held, and a heartbeat now would count a departed host as live again.
      if (stopped) return;
      // Join a renewal already running rather than racing it.
      if (renewing) return renewing;
      renewing = renewOnce().finally(() => {
        renewing = undefined;
      });
      return renewing;
    },

    async release(orgId) {
      const h = held.get(orgId);
      if (!h) return;
      held.delete(orgId);
      // Epoch kept: the next acquire bumps it, which fences anything this host still tries to write.
      await query('releasing a lease', `UPDATE ${s}.leases SET owner = NULL, expires_at = NULL WHERE org_id = $1 AND owner = $2 AND epoch = $3`, [orgId, hostId, h.epoch]);
      log.info({ orgId, epoch: h.epoch }, 'lease released');
      emit('released', { orgId, epoch: h.epoch });
    },

    fenced(orgId, epoch) {
      drop(orgId, epoch, 'taken');
    },

    owned() {
      return [...held].map(([orgId, h]) => ({ orgId, epoch: h.epoch }));
    },

    epochOf(orgId) {
      return held.get(orgId)?.epoch;
    },

    holds(orgId, epoch) {
      const h = held.get(orgId);
      return h !== undefined && h.epoch === epoch && performance.now() < h.validUntil;
    },

    async liveHosts() {
      const r = await query<{ n: number }>('counting live hosts', `SELECT count(*)::int AS n FROM ${s}.hosts WHERE expires_at > now()`, []);
      return r.rows[0]?.n ?? 0;
    },

    async fairShare(orgCount) {
      return Math.ceil(orgCount / Math.max(1, await manager.liveHosts()));
    },

    async balance(orgIds) {
      const share = await manager.fairShare(orgIds.length);
      const taken: Lease[] = [];
      for (const orgId of orgIds) {
        if (held.size >= share) break;
        if (held.has(orgId)) continue;
        const lease = await manager.acquire(orgId);
        if (lease) taken.push(lease);
      }
      return taken;
    },

    depart() {
      departing ??= (async () => {
        // A renewal already past its heartbeat check would write the row again after the delete.
        await renewing?.catch(() => undefined);
        await query('removing the heartbeat', `DELETE FROM ${s}.hosts WHERE host_id = $1`, [hostId], renewals());
        log.info('departing: heartbeat removed, handing orgs over');
      })();
      return departing;
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      if (timer) clearInterval(timer);
      timer = undefined;
      await renewing?.catch(() => undefined);
      const failures: unknown[] = [];
      // Departure first: the other hosts no longer count this one when the releases wake them.
      let notDeparted: unknown;
      await manager.depart().catch((err: unknown) => (notDeparted = err));
      for (const orgId of [...held.keys()]) await manager.release(orgId).catch((err: unknown) => failures.push(err));
      if (notDeparted !== undefined) {
        // One more try; else the heartbeat runs out with its TTL.
        await query('removing the heartbeat', `DELETE FROM ${s}.hosts WHERE host_id = $1`, [hostId], renewals()).catch(() => failures.push(notDeparted));
      }
      if (ownRenewalPool) await renewalPool?.end().catch(() => undefined);
      // Whatever could not be released runs out with its TTL; say so rather than hide it.
      if (failures.length) throw failures[0];
    },

    on(event, listener) {
      listeners[event].add(listener);
      return () => void listeners[event].delete(listener);
    },
  };
  return manager;
}
