// The default embedded store: LMDB (lmdb-js). Chosen because it needs no server, is crash-safe by
// design (copy-on-write B-tree, a commit is durable or absent — no recovery step, no corrupt half
// writes), has real multi-key transactions, and installs from the npm registry alone (its native
// builds ship as per-platform npm packages; nothing is compiled or downloaded at install).
import { open, type Database, type RootDatabase } from 'lmdb';
import type { EffectRecord, PersistedSession, SessionStore, StoreCommit } from './session-store.js';

export interface LmdbStoreOptions {
  /** Directory of the database files (created if missing). */
  path: string;
  /**
   * Flush to disk on every commit (default true). Off trades the last commits before a power loss
   * for throughput; a process crash loses nothing either way.
   */
  sync?: boolean;
}

export function openLmdbSessionStore(options: LmdbStoreOptions): SessionStore {
  const root: RootDatabase = open({ path: options.path, compression: false, noSync: options.sync === false });
  const sessions: Database<PersistedSession, string> = root.openDB({ name: 'sessions' });
  const cursors: Database<Buffer, string> = root.openDB({ name: 'cursors', encoding: 'binary' });
  const effects: Database<EffectRecord, string> = root.openDB({ name: 'effects' });
  // Dedupe keys by a monotonically increasing sequence, so the newest can be read back in order.
  const seen: Database<string, number> = root.openDB({ name: 'seen', keyEncoding: 'uint32' });
  let seq = 0;
  for (const key of seen.getKeys({ reverse: true, limit: 1 })) seq = Number(key);

  return {
    async loadSessions() {
      return [...sessions.getRange()].map((e) => e.value);
    },
    async loadCursor(topic) {
      const v = cursors.get(topic);
      return v ? Buffer.from(v) : undefined;
    },
    async loadSeen(limit) {
      const out: string[] = [];
      for (const { value } of seen.getRange({ reverse: true, limit })) out.push(value);
      return out.reverse();
    },
    commit(batch: StoreCommit) {
      return root.transaction(() => {
        for (const s of batch.sessions ?? []) sessions.put(s.conversationIdentifier, s);
        for (const id of batch.removed ?? []) sessions.remove(id);
        if (batch.cursor) cursors.put(batch.cursor.topic, batch.cursor.replayId);
        for (const key of batch.seen ?? []) seen.put(++seq, key);
        for (const [key, record] of batch.effects ?? []) effects.put(key, record);
      }) as Promise<void>;
    },
    async effect(key) {
      return effects.get(key);
    },
    async pruneEffects(olderThan) {
      let n = 0;
      await root.transaction(() => {
        for (const { key, value } of effects.getRange()) {
          if (value.at < olderThan) {
            effects.remove(key);
            n += 1;
          }
        }
        // The dedupe log only needs its recent tail.
        for (const key of seen.getKeys({ end: Math.max(0, seq - 100_000) })) seen.remove(key);
      });
      return n;
    },
    async close() {
      await root.close();
    },
  };
}
