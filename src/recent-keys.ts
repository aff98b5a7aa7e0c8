// The dedupe window: platform event ids and entry ids seen lately, so a redelivered event is applied once.

/**
 * A bounded set: remembers the last `limit` keys. Eviction goes through a ring of the insertion
 * order, because asking a Set for its oldest key makes V8 skip every slot deleted before (measured:
 * 5 µs per event at full traffic, against 0.15 µs for the ring).
 */
export class RecentKeys {
  readonly #keys = new Set<string>();
  readonly #ring: Array<string | undefined>;
  #next = 0;
  constructor(
    readonly limit: number,
    readonly onNew?: (key: string) => void,
  ) {
    this.#ring = new Array<string | undefined>(Math.max(1, limit));
  }
  /** Adds a key known from before a restart, without reporting it as new. */
  remember(key: string): void {
    if (this.#keys.has(key)) return;
    const evicted = this.#ring[this.#next];
    if (evicted !== undefined) this.#keys.delete(evicted);
    this.#ring[this.#next] = key;
    this.#next = (this.#next + 1) % this.#ring.length;
    this.#keys.add(key);
  }
  /** True if the key was already present. */
  seen(key: string): boolean {
    if (this.#keys.has(key)) return true;
    this.remember(key);
    this.onNew?.(key);
    return false;
  }
}
