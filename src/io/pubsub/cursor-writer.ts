// Writes the replay cursor to the store without queueing a write per event: at most one save is
// in flight, and the next one carries whatever cursor is newest by then. A failed save is reported
// and retried with the next advance (or at flush); the cursor in memory is never held back by it.
import type { CursorStore } from '../store/cursor.js';
import { hexToReplayId } from './replay-id.js';

export interface CursorWriter {
  /** Note a new cursor (hex replay id); saved soon. */
  advance(replayId: string): void;
  /** Resolves once the newest cursor is saved (or the save failed and was reported). */
  flush(): Promise<void>;
  readonly saved: string | undefined;
}

export function createCursorWriter(store: CursorStore, topic: string, onError: (err: unknown) => void): CursorWriter {
  let latest: string | undefined;
  let saved: string | undefined;
  let writing: Promise<void> | undefined;

  async function drain(): Promise<void> {
    while (latest !== undefined && latest !== saved) {
      const value = latest;
      try {
        await store.save(topic, hexToReplayId(value));
        saved = value;
      } catch (err) {
        onError(err);
        return;
      }
    }
  }

  function start(): Promise<void> {
    writing ??= drain().finally(() => {
      writing = undefined;
    });
    return writing;
  }

  return {
    advance(replayId) {
      latest = replayId;
      void start();
    },
    async flush() {
      if (writing) await writing;
      if (latest !== saved) await start();
    },
    get saved() {
      return saved;
    },
  };
}
