// A cursor store in a local directory: the embedded default that survives a restart without a
// server. One small file per topic, replaced atomically (write a temp file, fsync, rename), so a
// crash leaves either the old cursor or the new one, never a torn write.
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { CursorStore } from './cursor.js';

/** `/event/ns__Conversation__e` → `event_ns__Conversation__e.replay`: a safe file name per topic. */
function fileFor(dir: string, topic: string): string {
  return join(dir, `${topic.replace(/^\/+/, '').replace(/[^A-Za-z0-9_.-]/g, '_')}.replay`);
}

export function createFileCursorStore(dir: string): CursorStore {
  let ready: Promise<unknown> | undefined;
  const ensureDir = () => (ready ??= mkdir(dir, { recursive: true }));
  return {
    async load(topic) {
      try {
        const buf = await readFile(fileFor(dir, topic));
        return buf.length > 0 ? buf : undefined;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
    },
    async save(topic, replayId) {
      await ensureDir();
      const target = fileFor(dir, topic);
      const temp = `${target}.${process.pid}.tmp`;
      const handle = await open(temp, 'w');
      try {
        await handle.writeFile(replayId);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, target);
    },
  };
}
