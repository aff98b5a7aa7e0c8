// Which store an engine writes to, from its `store` option: an LMDB directory, a Postgres database
// (a connection string or the app's pool), or any SessionStore. Whatever it is, a commit refused with
// SB_FENCED is reported to the engine once and every later commit is refused at once: a fenced
// store never becomes writable again for this engine (its org's lease moved on), so nothing is
// gained by asking the database again, and a retry loop must not keep a halted engine busy.
import type pg from 'pg';
import { ConfigError, FencedError } from '../domain/errors.js';
import type { Logger } from '../io/log.js';
import { openLmdbSessionStore, openPostgresSessionStore, type SessionStore } from '../io/store/index.js';

/** `store: { postgres }`: the Postgres store for a single switchboard, or one an app wires itself. */
export interface PostgresStoreChoice {
  /** A connection string (the store makes and closes its own pool) or the app's `pg.Pool` (left open). */
  postgres: string | pg.Pool;
  /** The org the rows belong to. Default: `org.orgId`. */
  orgId?: string;
  /** Postgres schema of the tables (default `switchboard`). */
  schema?: string;
}

export type StoreOption = SessionStore | { path: string; sync?: boolean } | PostgresStoreChoice;

export interface EngineStore {
  store: SessionStore;
  /** Whether the engine opened it (and so closes it on stop). */
  owned: boolean;
  /**
   * Resolves when the store may still write for this engine (a fenced store checks its lease; any
   * other store always may). Used before a call that has no journal record of its own.
   */
  checkWritable(): Promise<void>;
}

interface Fenceable {
  checkLease?: () => Promise<void>;
}

function lazy(open: () => Promise<SessionStore & Fenceable>): SessionStore & Fenceable {
  let opening: Promise<SessionStore & Fenceable> | undefined;
  const get = () => (opening ??= open());
  return {
    loadSessions: async () => (await get()).loadSessions(),
    loadCursor: async (topic) => (await get()).loadCursor(topic),
    loadSeen: async (limit) => (await get()).loadSeen(limit),
    commit: async (batch) => (await get()).commit(batch),
    effect: async (key) => (await get()).effect(key),
    pruneEffects: async (olderThan) => (await get()).pruneEffects(olderThan),
    checkLease: async () => (await get()).checkLease?.(),
    async close() {
      if (!opening) return;
      const store = await opening.catch(() => undefined);
      await store?.close();
    },
  };
}

export function engineStoreFrom(option: StoreOption | undefined, orgId: string | undefined, log: Logger, onFenced: (err: FencedError) => void): EngineStore | undefined {
  if (!option) return undefined;
  let store: SessionStore & Fenceable;
  let owned = true;
  if ('path' in option) {
    store = openLmdbSessionStore(option);
  } else if ('postgres' in option) {
    const storeOrgId = option.orgId ?? orgId;
    if (!storeOrgId) throw new ConfigError('store.postgres needs the org its rows belong to: set store.orgId or org.orgId');
    const { postgres } = option;
    if (typeof postgres !== 'string' && !(postgres && typeof (postgres as pg.Pool).connect === 'function')) {
      throw new ConfigError('store.postgres must be a connection string or a pg.Pool');
    }
    // createSwitchboard is synchronous and the store's schema check is not: it opens on first use
    // (start()), where a failure rejects start() with its own error.
    store = lazy(() =>
      openPostgresSessionStore({
        ...(typeof postgres === 'string' ? { connectionString: postgres } : { pool: postgres }),
        orgId: storeOrgId,
        ...(option.schema !== undefined ? { schema: option.schema } : {}),
        logger: log,
      }),
    );
  } else {
    store = option as SessionStore & Fenceable;
    owned = false;
  }
  let refused: FencedError | undefined;
  const watch = async <T>(work: () => Promise<T>): Promise<T> => {
    if (refused) throw refused;
    try {
      return await work();
    } catch (err) {
      if (err instanceof FencedError && !refused) {
        refused = err;
        onFenced(err);
      }
      throw err;
    }
  };
  const watched: SessionStore = {
    loadSessions: () => store.loadSessions(),
    loadCursor: (topic) => store.loadCursor(topic),
    loadSeen: (limit) => store.loadSeen(limit),
    effect: (key) => store.effect(key),
    commit: (batch) => watch(() => store.commit(batch)),
    pruneEffects: (olderThan) => watch(() => store.pruneEffects(olderThan)),
    close: () => store.close(),
  };
  return {
    store: watched,
    owned,
    checkWritable: () => watch(async () => store.checkLease?.()),
  };
}
