// The app's listeners: what the engine tells the app (messages, routing outcomes, participants,
// refusals, breaker and subscription changes). A listener that throws is logged and the engine
// carries on: an app's bug must not break the engine's own bookkeeping.
import type { Logger } from 'pino';
import { checkListener } from '../public-input.js';
import { SWITCHBOARD_EVENTS, type SwitchboardEvents } from './types.js';

type Listener = (e: never) => void;

export class AppEvents {
  readonly #listeners = new Map<string, Set<Listener>>();
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  on<K extends keyof SwitchboardEvents>(event: K, listener: (e: SwitchboardEvents[K]) => void): () => void {
    checkListener(event, listener, SWITCHBOARD_EVENTS);
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener as Listener);
    return () => set.delete(listener as Listener);
  }

  emit<K extends keyof SwitchboardEvents>(event: K, payload: SwitchboardEvents[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of set) {
      try {
        (listener as (e: SwitchboardEvents[K]) => void)(payload);
      } catch (err) {
        this.#log.error({ err, event }, 'a switchboard listener threw');
      }
    }
  }
}
