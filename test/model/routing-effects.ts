// Controllable fake effects for replaying chart paths on a real routing actor: every call the chart
// makes is recorded and left pending until the replay answers it with the chart's own answer event
// (`route.ok`, `offer.failed`…); every timer is recorded instead of run.
import { routingMachine, type RoutingCall, type RoutingStep, type RoutingTimer } from '../../src/machines/routing.js';
import { callOf, timerOf } from '../../src/machines/routing.js';

export interface EffectCall {
  step: RoutingStep;
  input: any;
  outcome?: 'done' | 'error';
  output?: unknown;
}

export function controllableEffects() {
  const calls: EffectCall[] = [];
  /** The call the actor waits for (it makes one at a time). */
  let pending: EffectCall | undefined;
  const timers: Array<{ timer: RoutingTimer; event: string; at: number }> = [];

  const logic = routingMachine.provide({
    actions: {
      notifyOffered: () => {},
      call: ({ context }, params) => {
        const c: RoutingCall = callOf(params.call, context);
        pending = { step: c.step, input: c.input };
        calls.push(pending);
      },
      arm: ({ context }, params) => {
        const t = timerOf(params.timer, context);
        timers.push({ timer: params.timer, event: t.event, at: t.at });
      },
      disarm: () => {},
    },
  });

  return {
    logic,
    calls,
    timers,
    get pending() {
      return pending;
    },
    /** Marks the pending call answered; false if the actor waits for no call of this step. */
    settle(step: string, how: 'done' | 'error', value: unknown): boolean {
      if (!pending || pending.step !== step) return false;
      pending.outcome = how;
      if (how === 'done') pending.output = value;
      pending = undefined;
      return true;
    },
  };
}
