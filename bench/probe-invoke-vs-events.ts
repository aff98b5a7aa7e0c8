// A probe, not one of the six benchmarks: what would the routing chart save by running its calls
// through one long-lived I/O child (answers arriving as events) instead of invoking one actor per
// call? Three ways to make four calls in a row, each answered at once, 5,000 at a time, in the
// same process:
//   - invoke per call: a state per call, each invoking a fromEffect actor (what src/machines/routing.ts did
//     until its calls became actions answered by events);
//   - I/O child + events: one invoked child per run; each state sends it the call and waits for an
//     event carrying the step;
//   - plain async: the same four awaited promises and context updates, no XState (the floor).
// The contexts have 19 fields, like a routing request's at most (src/machines/routing.ts,
// RoutingContext); the I/O-child way runs once more with 25, as the routing context had until
// 2026-12-06: XState copies the context with Object.assign({}, context, update), and on Node 20 an
// object built that way with 20 keys or more is in dictionary mode.
//
//   npx tsx bench/probe-invoke-vs-events.ts
import { assign, createActor, fromCallback, sendTo, setup, spawnChild, stopChild, type ActorLogic, type AnyStateMachine, type NonReducibleUnknown, type PromiseActorLogic, type PromiseSnapshot } from 'xstate';
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
const contextOf = (fields: number) => (): Ctx => Object.assign({}, Object.fromEntries(Array.from({ length: fields - 1 }, (_, i) => [`f${i}`, i])), { step: 0 });
const context = contextOf(19);

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
const viaEventsWith = (context: () => Ctx) => setup({ types: { context: {} as Ctx }, actors: { io } }).createMachine({
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
const viaEvents = viaEventsWith(context);
const viaEvents25 = viaEventsWith(contextOf(25));

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

const results: Record<string, number[]> = { 'invoke per call': [], 'I/O child + events': [], 'plain async': [], 'I/O child, 25 fields': [] };
for (let r = -1; r < ROUNDS; r++) {
  const a = await runMachine(perCall);
  const b = await runMachine(viaEvents);
  const c = await runPlain();
  const d = await runMachine(viaEvents25);
  if (r < 0) continue;
  results['invoke per call']!.push(a);
  results['I/O child + events']!.push(b);
  results['plain async']!.push(c);
  results['I/O child, 25 fields']!.push(d);
}
console.log(`four calls in a row, ${N.toLocaleString('en-US')} at a time, ${ROUNDS} rounds (µs per run of four calls, min / median / max):`);
for (const [name, xs] of Object.entries(results)) console.log(`  ${name.padEnd(20)} ${mmm(stats(xs), (n) => fixed(n, 1))}`);
const saved = stats(results['invoke per call']!.map((x, i) => x - results['I/O child + events']![i]!));
console.log(`  saved by the I/O child: ${fixed(saved.median, 1)} µs per four calls (median; ${fixed(saved.median / 4, 1)} µs per call)`);

// XState's unit prices, in a tight loop on one warm actor (no other actors alive, so little GC):
// what one handled event costs by the work its transition does, and what an actor's life costs.
// A conversation's figure in the dispatch benchmark is well above the sum of these: there, 2,000
// sessions are alive at once and their snapshots outlive the young generation (docs/benchmarks.md,
// "Why the ratio targets are missed").
{
  const K = 100_000;
  const base = setup({ types: { context: {} as Ctx } });
  const bump = assign(({ context }: { context: Ctx }) => ({ step: (context.step ?? 0) + 1 }));
  const perEvent = (m: AnyStateMachine): number => {
    const a = createActor(m).start();
    let us = 0;
    for (let r = 0; r < 3; r++) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < K; i++) a.send({ type: 'E' });
      us = Number(process.hrtime.bigint() - t0) / 1e3 / K;
    }
    return us;
  };
  const child = base.createMachine({ context, initial: 'a', states: { a: { on: { E: 'b' } }, b: { type: 'final' } } } as never) as unknown as AnyStateMachine;
  const parent = setup({ types: { context: {} as Ctx }, actors: { child } }).createMachine({
    context,
    on: {
      SPAWN: { actions: [bump, spawnChild('child', { id: 'c0' })] },
      POKE: { actions: sendTo('c0', { type: 'E' }) },
      'xstate.done.actor.*': { actions: [bump, stopChild('c0')] },
    },
  } as never) as unknown as AnyStateMachine;
  const life = (run: () => void): number => {
    let us = 0;
    for (let r = 0; r < 3; r++) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < K / 2; i++) run();
      us = Number(process.hrtime.bigint() - t0) / 1e3 / (K / 2);
    }
    return us;
  };
  const p = createActor(parent).start();
  const rows: Array<[string, number]> = [
    ['an event with no action', perEvent(base.createMachine({ context, on: { E: {} } } as never) as unknown as AnyStateMachine)],
    ['an event with one assign', perEvent(base.createMachine({ context, on: { E: { actions: bump } } } as never) as unknown as AnyStateMachine)],
    ['an event that changes state, one assign', perEvent(base.createMachine({ context, initial: 'a', states: { a: { on: { E: { target: 'b', actions: bump } } }, b: { on: { E: { target: 'a', actions: bump } } } } } as never) as unknown as AnyStateMachine)],
    ['a root actor: created, started, one event to its final state', life(() => createActor(child).start().send({ type: 'E' }))],
    ['a child: spawned, one event to its final state, done event, stopped', life(() => {
      p.send({ type: 'SPAWN' });
      p.send({ type: 'POKE' });
    })],
  ];
  console.log(`XState's unit prices (19-field context, ${K.toLocaleString('en-US')} in a tight loop, third of three rounds):`);
  for (const [name, us] of rows) console.log(`  ${name.padEnd(68)} ${fixed(us, 2)} µs`);
}
