import { fromCallback } from 'xstate';

export interface TimerInput {
  /** Absolute time (ms since the epoch) at which the event is sent. */
  at: number;
  event: string;
}

/**
 * A timer fed an absolute time rather than a delay. XState does not re-arm pending `after`
 * transitions when an actor is restored from a snapshot (xstate#5331), but it does restart invoked
 * callback actors — so a restored actor re-arms this with whatever time is left, or fires at once.
 * It reads the global clock, which tests replace with fake timers.
 */
export const absoluteTimer = fromCallback<{ type: string }, TimerInput>(({ input, sendBack }) => {
  const handle = setTimeout(() => sendBack({ type: input.event }), Math.max(0, input.at - Date.now()));
  return () => clearTimeout(handle);
});
