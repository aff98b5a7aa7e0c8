// The absolute-time timer the subscription machine invokes. (The routing machine has no timer or
// effect actors any more: its calls leave from actions and its timers live in the engine's one
// timer, src/engine/timers.ts.)
import type { ActorLogic, ActorSystem, AnyActorRef } from 'xstate';

/** XState's own stop event, sent to a child when its invoking state is exited. */
const STOP = 'xstate.stop';

export interface TimerInput {
  /** Absolute time (ms since the epoch) at which the event is sent. */
  at: number;
  event: string;
}

export type TimerSnapshot = { status: 'active' | 'done' | 'stopped' | 'error'; output: undefined; error: undefined; input: TimerInput };

/** Armed timers by actor: the handle must not live in the snapshot, which is persisted. */
const armed = new WeakMap<AnyActorRef, ReturnType<typeof setTimeout>>();

/**
 * A timer fed an absolute time rather than a delay. XState does not re-arm pending `after`
 * transitions when an actor is restored from a snapshot (xstate#5331), but it does restart invoked
 * actors — so a restored actor re-arms this with whatever time is left, or fires at once. It reads
 * the global clock, which tests replace with fake timers.
 */
// ActorSystem<any> is what XState itself calls AnyActorSystem (not exported by name).
export const absoluteTimer: ActorLogic<TimerSnapshot, { type: string }, TimerInput, ActorSystem<any>> = {
  transition: (state, event, { self }) => {
    if (event.type !== STOP || state.status !== 'active') return state;
    clearTimeout(armed.get(self));
    armed.delete(self);
    return { ...state, status: 'stopped' };
  },
  start: (state, { self }) => {
    if (state.status !== 'active') return;
    const { event, at } = state.input;
    if (at <= Date.now()) {
      // Already due (a restored actor whose time passed while the engine was down): tell the parent
      // now, so it learns of it before the answer of any call restarted alongside, not after.
      self._parent?.send({ type: event });
      return;
    }
    armed.set(
      self,
      setTimeout(() => {
        armed.delete(self);
        if (self.getSnapshot().status === 'active') self._parent?.send({ type: event });
      }, Math.max(0, at - Date.now())),
    );
  },
  getInitialSnapshot: (_scope, input) => ({ status: 'active', output: undefined, error: undefined, input }),
  getPersistedSnapshot: (snapshot) => snapshot,
  restoreSnapshot: (snapshot) => snapshot as TimerSnapshot,
};
