// The store port for what must survive a crash: session snapshots, the replay cursor, the dedupe
// window and the effect journal. One commit writes a batch of snapshots together with the cursor
// that covers the events behind them, so after a crash the sessions and the position in the stream
// always agree. A Postgres or Redis implementation fills the same interface for several instances
// (see docs/operations.md).

export interface PersistedSession {
  conversationIdentifier: string;
  /** Version of the persisted layout; bumped when it changes incompatibly. */
  schemaVersion: number;
  /** Hash of the session and routing charts the snapshot was taken from. */
  chartHash: string;
  savedAt: number;
  /** Set once the session ended; the record is kept for the retention period, then purged. */
  endedAt?: number;
  /** XState's persisted snapshot of the session actor (routing children included). */
  snapshot: unknown;
}

/** One step's fate: 'started' is written before the call goes out, 'done' after it answered. */
export interface EffectRecord {
  state: 'started' | 'done';
  at: number;
  output?: unknown;
}

export interface StoreCommit {
  sessions?: PersistedSession[];
  /** Conversations whose records are deleted. */
  removed?: string[];
  cursor?: { topic: string; replayId: Buffer };
  /** Event and entry keys newly seen, for dedupe after a restart. */
  seen?: string[];
  /** Effect journal records written in the same transaction (step key → record). */
  effects?: Array<[string, EffectRecord]>;
}

export interface SessionStore {
  loadSessions(): Promise<PersistedSession[]>;
  loadCursor(topic: string): Promise<Buffer | undefined>;
  /** The most recent `limit` dedupe keys, oldest first. */
  loadSeen(limit: number): Promise<string[]>;
  /**
   * Atomic: every part of the commit is durable, or none is — also when one entry is refused half
   * way. Ids of any length must work (a store with a key limit keys long ids by a digest, keys.ts).
   * Every implementation passes test/io/store/contract.ts.
   */
  commit(batch: StoreCommit): Promise<void>;
  effect(key: string): Promise<EffectRecord | undefined>;
  /** Drop journal entries older than this time. */
  pruneEffects(olderThan: number): Promise<number>;
  close(): Promise<void>;
}

export interface MemorySessionStore extends SessionStore {
  readonly commits: number;
}

/** Keeps everything in this process: tests, and apps that accept losing state on restart. */
export function createMemorySessionStore(): MemorySessionStore {
  const sessions = new Map<string, PersistedSession>();
  const cursors = new Map<string, Buffer>();
  const effects = new Map<string, EffectRecord>();
  const seen: string[] = [];
  let commits = 0;
  // Structured copies, so callers can never share mutable state with what is "on disk".
  const copy = <T>(v: T): T => structuredClone(v);
  return {
    get commits() {
      return commits;
    },
    async loadSessions() {
      return [...sessions.values()].map(copy);
    },
    async loadCursor(topic) {
      const c = cursors.get(topic);
      return c ? Buffer.from(c) : undefined;
    },
    async loadSeen(limit) {
      return seen.slice(-limit);
    },
    async commit(batch) {
      // Every copy is made before anything is applied: a value that cannot be copied fails the
      // commit with nothing of its batch applied, as the contract asks.
      const putSessions = (batch.sessions ?? []).map((s) => [s.conversationIdentifier, copy(s)] as const);
      const putEffects = (batch.effects ?? []).map(([key, record]) => [key, copy(record)] as const);
      const cursor = batch.cursor ? ([batch.cursor.topic, Buffer.from(batch.cursor.replayId)] as const) : undefined;
      const newSeen = [...(batch.seen ?? [])];
      commits += 1;
      for (const [id, s] of putSessions) sessions.set(id, s);
      for (const id of batch.removed ?? []) sessions.delete(id);
      if (cursor) cursors.set(cursor[0], cursor[1]);
      seen.push(...newSeen);
      for (const [key, record] of putEffects) effects.set(key, record);
    },
    async effect(key) {
      const e = effects.get(key);
      return e ? copy(e) : undefined;
    },
    async pruneEffects(olderThan) {
      let n = 0;
      for (const [k, e] of effects) if (e.at < olderThan && effects.delete(k)) n += 1;
      return n;
    },
    async close() {},
  };
}
