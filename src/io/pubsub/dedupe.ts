// Remembers the last N event ids so a replay after a reconnect (or a duplicate delivery, pozil#52)
// reaches the handler once. Bounded: memory stays flat on a stream that runs for months.

export class RecentIds {
  readonly #ids = new Set<string>();
  constructor(readonly limit: number) {}

  /** Records `id`; true if it was already among the last `limit` ids. */
  seen(id: string): boolean {
    if (this.#ids.has(id)) return true;
    this.#ids.add(id);
    if (this.#ids.size > this.limit) this.#ids.delete(this.#ids.values().next().value as string);
    return false;
  }

  get size(): number {
    return this.#ids.size;
  }
}
