// The replay cursor port: where the Pub/Sub intake keeps the replay id of the last event whose
// predecessors are all handled, per topic. Replay ids are opaque bytes and are stored as such.
// A Postgres or Redis implementation lets several instances, or a restarted one, resume there.

export interface CursorStore {
  load(topic: string): Promise<Buffer | undefined>;
  save(topic: string, replayId: Buffer): Promise<void>;
}

export interface MemoryCursorStore extends CursorStore {
  /** What is stored now, by topic (copies). */
  snapshot(): Record<string, Buffer>;
  /** How many saves reached the store. */
  readonly saves: number;
}

/** Keeps cursors in this process only: tests, demos, and apps that accept replaying from their preset after a restart. */
export function createMemoryCursorStore(initial: Record<string, Buffer> = {}): MemoryCursorStore {
  const cursors = new Map<string, Buffer>(Object.entries(initial).map(([k, v]) => [k, Buffer.from(v)]));
  let saves = 0;
  return {
    async load(topic) {
      const v = cursors.get(topic);
      return v ? Buffer.from(v) : undefined;
    },
    async save(topic, replayId) {
      saves += 1;
      cursors.set(topic, Buffer.from(replayId));
    },
    snapshot() {
      return Object.fromEntries([...cursors].map(([k, v]) => [k, Buffer.from(v)]));
    },
    get saves() {
      return saves;
    },
  };
}
