// The default embedded store: LMDB (lmdb-js). Chosen because it needs no server, is crash-safe by
// design (copy-on-write B-tree, a commit is durable or absent — no recovery step, no corrupt half
// writes), has real multi-key transactions, and installs from the npm registry alone (its native
// builds ship as per-platform npm packages; nothing is compiled or downloaded at install).
//
// Around it: a lock file (one process per store, lock.ts), a check of the data file before it is
// mapped (check.ts), keys of bounded size (keys.ts), and every raw LMDB or file-system error turned
// into a typed SwitchboardError.
import { mkdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { StoreAccessError, StoreCommitError, StoreCorruptError, SwitchboardError } from '../../domain/errors.js';
import { acquireStoreLock, type StoreLock } from './lock.js';
import { checkDataFile, writeMarker } from './check.js';
import { isDigestKey, storeKey } from './keys.js';
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

const ERRNO: Record<number, string> = { 1: 'EPERM', 2: 'ENOENT', 13: 'EACCES', 20: 'ENOTDIR', 21: 'EISDIR', 28: 'ENOSPC', 30: 'EROFS', 122: 'EDQUOT' };
const ACCESS_HINT: Record<string, string> = {
  ENOTDIR: 'the path (or a folder on it) is a file, not a directory: give a directory for the store',
  EISDIR: 'a directory stands where a database file should be',
  EACCES: 'permission denied: the directory and its files must be readable and writable by this process',
  EPERM: 'operation not permitted: check the permissions and attributes (chattr) of the directory and its files',
  EROFS: 'the file system is read-only: put the store on a writable volume',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is exhausted',
};
const CORRUPTION = /MDB_(CORRUPTED|PAGE_NOTFOUND|INVALID|VERSION_MISMATCH|PANIC|BAD_TXN)/;

function sysCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; errno?: unknown; message?: unknown };
  if (typeof e?.code === 'string' && e.code.startsWith('E')) return e.code;
  if (typeof e?.code === 'number') return ERRNO[e.code];
  return undefined;
}

/** Any failure at open or on a read, as a typed error. */
function openError(path: string, err: unknown): SwitchboardError {
  if (err instanceof SwitchboardError) return err;
  const code = sysCode(err);
  if (code && ACCESS_HINT[code]) return new StoreAccessError(path, ACCESS_HINT[code]!, code, { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  if (CORRUPTION.test(message)) return new StoreCorruptError(path, `LMDB reports ${message}`, { cause: err });
  return new StoreAccessError(path, `cannot open the database: ${message}`, code, { cause: err });
}

function commitError(path: string, err: unknown, entry: string | undefined): SwitchboardError {
  if (err instanceof SwitchboardError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (CORRUPTION.test(message)) return new StoreCorruptError(path, `LMDB reports ${message} while committing`, { cause: err });
  const code = sysCode(err);
  return new StoreCommitError(code && ACCESS_HINT[code] ? `${ACCESS_HINT[code]} (${code})` : message, { cause: err, ...(entry ? { entry } : {}) });
}

function prepareDirectory(path: string): void {
  try {
    mkdirSync(path, { recursive: true });
  } catch (err) {
    // mkdir -p on an existing file says EEXIST: it is the not-a-directory case.
    const code = sysCode(err) === 'EEXIST' ? 'ENOTDIR' : sysCode(err);
    throw new StoreAccessError(path, code && ACCESS_HINT[code] ? ACCESS_HINT[code]! : `cannot create the directory (${String(err)})`, code, { cause: err });
  }
  if (!statSync(path).isDirectory()) throw new StoreAccessError(path, ACCESS_HINT.ENOTDIR!, 'ENOTDIR');
}

/** A journal record as stored: under a digest key it also carries its step key. */
type StoredEffect = EffectRecord & { key?: string };

/**
 * Opens (or creates) the store in `options.path`. Throws SB_STORE_LOCKED when another process has
 * it open, SB_STORE_CORRUPT when its data file is damaged or missing, SB_STORE_ACCESS when the
 * directory cannot be used; in every case nothing was changed.
 */
export function openLmdbSessionStore(options: LmdbStoreOptions): SessionStore {
  const path = resolve(options.path);
  prepareDirectory(path);
  const lock: StoreLock = acquireStoreLock(path);
  let root: RootDatabase | undefined;
  let sessions: Database<PersistedSession, string>;
  let cursors: Database<Buffer, string>;
  let effects: Database<StoredEffect, string>;
  let seen: Database<string, number>;
  // Dedupe keys by a monotonically increasing sequence, so the newest can be read back in order.
  // The lock makes this process the only writer, so the counter read here stays true.
  let seq = 0;
  try {
    const state = checkDataFile(path);
    root = open({ path, compression: false, noSync: options.sync === false });
    sessions = root.openDB({ name: 'sessions' });
    cursors = root.openDB({ name: 'cursors', encoding: 'binary' });
    effects = root.openDB({ name: 'effects' });
    seen = root.openDB({ name: 'seen', keyEncoding: 'uint32' });
    for (const key of seen.getKeys({ reverse: true, limit: 1 })) seq = Number(key);
    if (state.needsMarker) writeMarker(path);
  } catch (err) {
    const typed = openError(path, err);
    // Closing a half-open environment must not hide why it failed.
    void root?.close().catch(() => {});
    lock.release();
    throw typed;
  }
  const db = root;
  let closed: Promise<void> | undefined;

  function read<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      const code = sysCode(err);
      if (err instanceof SwitchboardError || (code && ACCESS_HINT[code])) throw openError(path, err);
      // Anything else a read meets is a record that does not decode: damaged data.
      throw new StoreCorruptError(path, `a stored record cannot be read (${err instanceof Error ? err.message : String(err)})`, { cause: err });
    }
  }

  /**
   * One commit, all or nothing. lmdb-js's `transaction()` does not abort when its callback throws:
   * what was put before the throw is committed with the rest of its write batch. A child
   * transaction is aborted on a throw, so a batch that fails half way leaves nothing behind.
   */
  async function atomically(fn: (at: (entry: string) => void) => void): Promise<void> {
    if (closed) throw new StoreCommitError('the store is closed');
    // Which entry was being written when the store refused: a value that cannot be written names
    // its conversation in the error, instead of leaving the operator to guess.
    let entry: string | undefined;
    try {
      await db.childTransaction(() => fn((e) => (entry = e)));
    } catch (err) {
      throw commitError(path, err, entry);
    }
  }

  return {
    async loadSessions() {
      return read(() => [...sessions.getRange()].map((e) => e.value));
    },
    async loadCursor(topic) {
      const v = read(() => cursors.get(storeKey(topic)));
      return v ? Buffer.from(v) : undefined;
    },
    async loadSeen(limit) {
      const out: string[] = [];
      read(() => {
        for (const { value } of seen.getRange({ reverse: true, limit })) out.push(value);
      });
      return out.reverse();
    },
    commit(batch: StoreCommit) {
      return atomically((at) => {
        let n = seq;
        for (const s of batch.sessions ?? []) {
          at(`session ${s.conversationIdentifier}`);
          sessions.put(storeKey(s.conversationIdentifier), s);
        }
        at('removals');
        for (const id of batch.removed ?? []) sessions.remove(storeKey(id));
        at('the cursor');
        if (batch.cursor) cursors.put(storeKey(batch.cursor.topic), batch.cursor.replayId);
        at('seen keys');
        for (const key of batch.seen ?? []) seen.put(++n, key);
        for (const [key, record] of batch.effects ?? []) {
          at(`journal record ${key}`);
          const k = storeKey(key);
          effects.put(k, isDigestKey(k) ? { ...record, key } : record);
        }
        // Only a callback that ran to its end may move the counter; an aborted one left no rows.
        seq = n;
      });
    },
    async effect(key) {
      const v = read(() => effects.get(storeKey(key)));
      if (!v) return undefined;
      if (v.key === undefined) return v;
      const { key: _stepKey, ...record } = v;
      return record;
    },
    async pruneEffects(olderThan) {
      let n = 0;
      await atomically(() => {
        n = 0;
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
    close() {
      closed ??= db.close().finally(() => lock.release());
      return closed;
    },
  };
}
