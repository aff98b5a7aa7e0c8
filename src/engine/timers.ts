// The engine's one timer: every deadline, offer timeout, repick and answer grace of every routing
// request is an entry in one min-heap, served by a single setTimeout armed for the earliest entry.
// The charts keep the absolute times in their contexts (so a restore re-arms them); this only
// delivers the event when its time comes. An actor per timer cost more than the call it timed.
import type { AnyActorRef } from 'xstate';

interface Entry {
  at: number;
  /** Whose timer it is: a routing actor (sent `event`), or any key of a callback timer. */
  key: object | string;
  name: string;
  event?: string;
  fn?: ((key: object | string) => void) | undefined;
  /** Disarmed (or replaced) before it fired: skipped when it reaches the top. */
  cancelled: boolean;
}

/** What a disarmed entry points to instead of its actor. */
const RELEASED = {};

export class Timers {
  #heap: Entry[] = [];
  /** The live entry of each actor's named timer. */
  readonly #byRef = new Map<object | string, Map<string, Entry>>();
  #handle: ReturnType<typeof setTimeout> | undefined;
  /** When the armed setTimeout fires (Infinity when none is armed). */
  #handleAt = Infinity;
  #stopped = false;
  /** Entries in the heap that were disarmed before they fired. */
  #cancelledInHeap = 0;

  /** Timers armed and not yet fired or disarmed. */
  get size(): number {
    let n = 0;
    for (const m of this.#byRef.values()) n += m.size;
    return n;
  }

  /** Entries in the heap, disarmed ones not yet dropped included (for tests and stats). */
  get heapSize(): number {
    return this.#heap.length;
  }

  /**
   * Sends `event` to `ref` at `at` (ms since the epoch), replacing the actor's timer of that name.
   * One already due is sent now: a restored actor learns of a deadline that passed while the engine
   * was down before the answer of any call resumed alongside.
   */
  arm(ref: AnyActorRef, name: string, at: number, event: string): void {
    this.#add({ at, key: ref, name, event, cancelled: false });
  }

  /** Calls `fn(key)` at `at` (now, if that has passed), replacing the timer of that name under `key`. */
  call(key: object | string, name: string, at: number, fn: (key: object | string) => void): void {
    this.#add({ at, key, name, fn, cancelled: false });
  }

  #add(entry: Entry): void {
    this.disarm(entry.key, entry.name);
    if (this.#stopped) return;
    if (entry.at <= Date.now()) {
      this.#deliver(entry);
      return;
    }
    let mine = this.#byRef.get(entry.key);
    if (!mine) this.#byRef.set(entry.key, (mine = new Map()));
    mine.set(entry.name, entry);
    this.#push(entry);
    if (entry.at < this.#handleAt) this.#schedule(entry.at);
  }

  #deliver(e: Entry): void {
    if (e.fn) e.fn(e.key);
    else {
      const ref = e.key as AnyActorRef;
      if (ref.getSnapshot().status === 'active') ref.send({ type: e.event! });
    }
  }

  disarm(ref: object | string, name: string): void {
    const mine = this.#byRef.get(ref);
    const entry = mine?.get(name);
    if (!entry) return;
    this.#cancel(entry);
    mine!.delete(name);
    if (mine!.size === 0) this.#byRef.delete(ref);
  }

  #cancel(e: Entry): void {
    e.cancelled = true;
    // A disarmed entry waits in the heap until its time or the next rebuild: it must not keep its
    // actor (and so a stopped session's whole actor tree) alive meanwhile.
    e.key = RELEASED;
    e.fn = undefined;
    this.#cancelledInHeap += 1;
    // Most offers are answered long before their timeout: without this the heap would hold every
    // disarmed timer until its time, so it is rebuilt once they are the majority.
    if (this.#cancelledInHeap > 1_024 && this.#cancelledInHeap * 2 > this.#heap.length) {
      const live = this.#heap.filter((x) => !x.cancelled);
      this.#heap = [];
      this.#cancelledInHeap = 0;
      for (const x of live) this.#push(x);
    }
  }

  /** Drops every timer of an actor (it stopped without leaving its states, e.g. its session stopped or slept). */
  forget(ref: object | string): void {
    const mine = this.#byRef.get(ref);
    if (!mine) return;
    for (const e of mine.values()) this.#cancel(e);
    this.#byRef.delete(ref);
  }

  /** No timer fires from now on (the engine stopped or halted). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#handle);
    this.#handle = undefined;
    this.#handleAt = Infinity;
    this.#heap = [];
    this.#cancelledInHeap = 0;
    this.#byRef.clear();
  }

  #schedule(at: number): void {
    clearTimeout(this.#handle);
    this.#handleAt = at;
    this.#handle = setTimeout(() => this.#fire(), Math.max(0, at - Date.now()));
    // The engine's own life is held by its stream and server, not by a pending timeout.
    this.#handle.unref?.();
  }

  #fire(): void {
    this.#handle = undefined;
    this.#handleAt = Infinity;
    const now = Date.now();
    const due: Entry[] = [];
    while (this.#heap.length && this.#heap[0]!.at <= now) {
      const e = this.#pop()!;
      if (e.cancelled) {
        this.#cancelledInHeap -= 1;
        continue;
      }
      const mine = this.#byRef.get(e.key);
      if (mine?.get(e.name) === e) {
        mine.delete(e.name);
        if (mine.size === 0) this.#byRef.delete(e.key);
      }
      due.push(e);
    }
    // Dropped cancelled entries from the top so the next wake-up is for a live one.
    while (this.#heap.length && this.#heap[0]!.cancelled) {
      this.#pop();
      this.#cancelledInHeap -= 1;
    }
    if (this.#heap.length) this.#schedule(this.#heap[0]!.at);
    for (const e of due) this.#deliver(e);
  }

  #push(e: Entry): void {
    const h = this.#heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.at <= e.at) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
  }

  #pop(): Entry | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (!h.length || !last) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && h[r]!.at < h[l]!.at ? r : l;
      if (h[c]!.at >= last.at) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
    return top;
  }
}
