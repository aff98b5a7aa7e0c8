// A typed face on node:events, so `client.on('breaker', …)` checks its listener's argument.
import { EventEmitter } from 'node:events';

export class TypedEmitter<E extends object> {
  readonly #ee = new EventEmitter();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof E & string>(event: K, listener: (payload: E[K]) => void): () => void {
    this.#ee.on(event, listener);
    return () => this.off(event, listener);
  }

  off<K extends keyof E & string>(event: K, listener: (payload: E[K]) => void): void {
    this.#ee.off(event, listener);
  }

  emit<K extends keyof E & string>(event: K, payload: E[K]): void {
    // A listener's bug must not break the call that emitted (e.g. a breaker transition).
    try {
      this.#ee.emit(event, payload);
    } catch {
      /* listener errors are the listener's business */
    }
  }

  removeAllListeners(): void {
    this.#ee.removeAllListeners();
  }
}
