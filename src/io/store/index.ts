export type { CursorStore, MemoryCursorStore } from './cursor.js';
export { createMemoryCursorStore } from './cursor.js';
export { createFileCursorStore } from './file-cursor.js';
export {
  createMemorySessionStore,
  type SessionStore,
  type MemorySessionStore,
  type PersistedSession,
  type EffectRecord,
  type StoreCommit,
} from './session-store.js';
export { openLmdbSessionStore, type LmdbStoreOptions } from './lmdb-store.js';
export { openPostgresSessionStore, type PostgresStoreOptions, type PostgresSessionStore } from './postgres-store.js';
