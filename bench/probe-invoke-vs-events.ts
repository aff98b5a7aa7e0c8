// A probe, not one of the six benchmarks: what would the routing chart save by running its calls
// through one long-lived I/O child (answers arriving as events) instead of invoking one actor per
// call? Three ways to make four calls in a row, each answered at once, 5,000 at a time, in the
// same process:
//   - invoke per call: a state per call, each invoking a fromEffect actor (what src/machines/routing.ts did
//     until its calls became actions answered by events);
//   - I/O child + events: one invoked child per run; each state sends it the call and waits for an
//     event carrying the step;
//   - plain async: the same four awaited promises and context updates, no XState (the floor).
// The contexts have 25 fields, like a routing request's.
//
//   npx tsx bench/probe-invoke-vs-events.ts
import { assign, createActor, fromCallback, sendTo, setup, type ActorLogic, type AnyStateMachine, type NonReducibleUnknown, type PromiseActorLogic, type PromiseSnapshot } from 'xstate';
import { fixed, mmm, stats } from './lib.js';

// The effect actor the routing chart invoked per call (a lighter fromPromise).
const RESOLVE = 'switchboard.effect.resolve';
const REJECT = 'switchboard.effect.reject';
/** XState's own stop event, sent to a child when its invoking state is exited. */
const STOP = 'xstate.stop';

type EffectEvent = { type: typeof RESOLVE; data: unknown } | { type: typeof REJECT; data: unknown } | { type: string };

/**
 * An effect: `run(input)` is called when the actor starts — again after a restore if it had not
 * answered, exactly like an invoked fromPromise — and its answer ends the actor (done or error).
 * An answer that arrives after the actor was stopped (its state exited) is dropped.
 */
function fromEffect<O, I = NonReducibleUnknown>(run: (input: I) => PromiseLike<O> | O): PromiseActorLogic<O, I> {
  const logic: ActorLogic<PromiseSnapshot<O, I>, EffectEvent, I> = {
    config: run,
    transition: (state, event) => {
      if (state.status !== 'active') return state;
      if (event.type === RESOLVE) return { ...state, status: 'done', output: (event as { data: O }).data, input: undefined };
      if (event.type === REJECT) return { ...state, status: 'error', error: (event as { data: unknown }).data, input: undefined };
      if (event.type === STOP) return { ...state, status: 'stopped', input: undefined };
      return state;
    },
    start: (state, { self }) => {
      if (state.status !== 'active') return;
      let answer: PromiseLike<O> | O;
      try {
        answer = run(state.input as I);
      } catch (err) {
        answer = Promise.reject(err);
      }
      Promise.resolve(answer).then(
        (data) => {
          if (self.getSnapshot().status === 'active') self.send({ type: RESOLVE, data });
        },
        (data: unknown) => {
          if (self.getSnapshot().status === 'active') self.send({ type: REJECT, data });
        },
      );
    },
    getInitialSnapshot: (_scope, input) => ({ status: 'active', output: undefined, error: undefined, input }),
    getPersistedSnapshot: (snapshot) => snapshot,
    restoreSnapshot: (snapshot) => snapshot as PromiseSnapshot<O, I>,
  };
  return logic as unknown as PromiseActorLogic<O, I>;
}


const STEPS = [1, 2, 3, 4] as const;
const N = 5_000;
const ROUNDS = 7;

type Ctx = Record<string, number>;
const context = (): Ctx => Object.assign({}, Object.fromEntries(Array.from({ length: 24 }, (_, i) => [`f${i}`, i])), { step: 0 });

const perCall = setup({ types: { context: {} as Ctx }, actors: { call: fromEffect(async (x: number) => x) } }).createMachine({
  context,
  initial: 's1',
  states: {
    ...Object.fromEntries(
      STEPS.map((i) => [`s${i}`, { invoke: { id: `c${i}`, src: 'call', input: () => i, onDone: { target: i < 4 ? `s${i + 1}` : 'done', actions: assign({ step: i }) } } }]),
    ),
    done: { type: 'final' },
  },
} as never) as unknown as AnyStateMachine;

const io = fromCallback<{ type: string; step?: number }>(({ sendBack, receive }) => {
  receive((e) => void Promise.resolve(e.step).then((step) => sendBack({ type: 'io.done', step })));
});
const viaEvents = setup({ types: { context: {} as Ctx }, actors: { io } }).createMachine({
  context,
  initial: 'working',
  states: {
    working: {
      invoke: { id: 'io', src: 'io' },
      initial: 's1',
      states: Object.fromEntries(
        STEPS.map((i) => [
          `s${i}`,
          {
            entry: sendTo('io', { type: 'call', step: i }),
            on: { 'io.done': { guard: ({ event }: { event: { step?: number } }) => event.step === i, target: i < 4 ? `s${i + 1}` : '#done', actions: assign({ step: i }) } },
          },
        ]),
      ),
    },
    done: { id: 'done', type: 'final' },
  },
} as never) as unknown as AnyStateMachine;

async function plain(): Promise<Ctx> {
  let ctx = context();
  for (const i of STEPS) {
    const step = await Promise.resolve(i);
    ctx = Object.assign({}, ctx, { step });
  }
  return ctx;
}

const drain = async () => {
  for (let k = 0; k < 20; k++) await new Promise((r) => setImmediate(r));
};

async function runMachine(machine: AnyStateMachine): Promise<number> {
  const t0 = process.hrtime.bigint();
  const actors = Array.from({ length: N }, () => createActor(machine).start());
  await drain();
  const us = Number(process.hrtime.bigint() - t0) / 1e3 / N;
  if (actors.some((a) => a.getSnapshot().status !== 'done')) throw new Error('probe: a run did not finish');
  return us;
}

async function runPlain(): Promise<number> {
  const t0 = process.hrtime.bigint();
  const all = await Promise.all(Array.from({ length: N }, plain));
  const us = Number(process.hrtime.bigint() - t0) / 1e3 / N;
  if (all.some((c) => c.step !== 4)) throw new Error('probe: a plain run did not finish');
  return us;
}

const results: Record<string, number[]> = { 'invoke per call': [], 'I/O child + events': [], 'plain async': [] };
for (let r = -1; r < ROUNDS; r++) {
  const a = await runMachine(perCall);
  const b = await runMachine(viaEvents);
  const c = await runPlain();
  if (r < 0) continue;
  results['invoke per call']!.push(a);
  results['I/O child + events']!.push(b);
  results['plain async']!.push(c);
}
console.log(`four calls in a row, ${N.toLocaleString('en-US')} at a time, ${ROUNDS} rounds (µs per run of four calls, min / median / max):`);
for (const [name, xs] of Object.entries(results)) console.log(`  ${name.padEnd(20)} ${mmm(stats(xs), (n) => fixed(n, 1))}`);
const saved = stats(results['invoke per call']!.map((x, i) => x - results['I/O child + events']![i]!));
console.log(`  saved by the I/O child: ${fixed(saved.median, 1)} µs per four calls (median; ${fixed(saved.median / 4, 1)} µs per call)`);
