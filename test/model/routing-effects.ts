// Controllable fake effects for replaying chart paths on a real routing actor: every invoked effect
// becomes a pending promise the replay settles by hand, and every timer is recorded instead of run.
import { fromCallback, fromPromise } from 'xstate';
import { routingMachine } from '../../src/machines/routing.js';

export interface EffectCall {
  /** The invoke id (e.g. `reportFailure`), which is also the actor's id. */
  id: string;
  src: string;
  input: any;
  outcome?: 'done' | 'error';
  output?: unknown;
}

interface Pending {
  call: EffectCall;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export const EFFECT_SRCS = [
  'patchConsent',
  'createRoute',
  'pickRep',
  'createAgentWork',
  'reportRoutingResult',
  'cancelAgentWork',
  'clearRoute',
  'routeExternally',
] as const;

export function controllableEffects() {
  const calls: EffectCall[] = [];
  const pending = new Map<string, Pending>();
  const timers: Array<{ id: string; event: string; at: number }> = [];

  const actors: Record<string, unknown> = {
    timer: fromCallback(({ input, self }) => {
      timers.push({ id: self.id, ...(input as { event: string; at: number }) });
    }),
  };
  for (const src of EFFECT_SRCS) {
    actors[src] = fromPromise(({ input, self }) => {
      const call: EffectCall = { id: self.id, src, input };
      calls.push(call);
      return new Promise((resolve, reject) => pending.set(self.id, { call, resolve, reject }));
    });
  }

  const logic = routingMachine.provide({ actors: actors as never, actions: { notifyOffered: () => {} } });

  return {
    logic,
    calls,
    timers,
    pending,
    settle(id: string, how: 'done' | 'error', value: unknown): boolean {
      const p = pending.get(id);
      if (!p) return false;
      pending.delete(id);
      p.call.outcome = how;
      if (how === 'done') {
        p.call.output = value;
        p.resolve(value);
      } else p.reject(value);
      return true;
    },
  };
}

/** Let settled promises deliver their done/error events to the actor. */
export async function drainMicrotasks(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}
