export type { CursorStore, MemoryCursorStore } from './cursor.js';
export { createMemoryCursorStore } from './cursor.js';
export { createFileCursorStore } from './file-cursor.js';
