// A probe, not one of the benchmarks: the floor of the engine's shape on the dispatch benchmark's
// typical conversation at 4 chat exchanges (the figure issue #13 judges at 0.5×).
//
// Both variants get the same steps (bench/workload.ts typicalTraffic, 2,000 conversations live at
// once, each phase's calls drained before the next) and do the same common work per step: the
// switchboard's own parser on the wire payload, a Map lookup of the session, chat entries handed to
// a listener, calls answered at once on a microtask. Only the session and routing logic differs:
//   - minimal XState: one root actor per session (a 15-field context) and one child actor per
//     routing request (a 19-field context), with the fewest states, events and assigns this
//     conversation needs — no guards, dedupe, step runner, journal, timers, logs or invariants;
//   - by hand: the same updates on plain mutable objects.
// The engine's own ratio on the same traffic is section 1's "4 exchanges" row (docs/benchmarks.md).
//
//   npx tsx --expose-gc bench/probe-shape.ts      (node --expose-gc --import tsx bench/probe-shape.ts)
import { assign, createActor, sendTo, setup, spawnChild, stopChild, type AnyActorRef } from 'xstate';
import { parsePlatformEvent } from '../src/domain/parse.js';
import { fixed, mmm, stats } from './lib.js';
import { typicalTraffic, type Script, type Step, type Traffic } from './workload.js';

const N = 2_000;
const ROUNDS = 7;

type Ctx = Record<string, unknown>;
/** A context of `fields` keys, the rest filler, as wide as the engine's. */
function padded(fields: number, own: Ctx): Ctx {
  const ctx: Ctx = { ...own };
  for (let i = Object.keys(own).length; i < fields; i++) ctx[`f${i}`] = i;
  return ctx;
}

/** The calls, answered at once on a microtask; counted so a phase can be drained. */
class Port {
  inFlight = 0;
  constructor(readonly script: Script) {}
  call<T>(answer: () => T, then: (out: T) => void): void {
    this.inFlight += 1;
    Promise.resolve().then(() => {
      this.inFlight -= 1;
      then(answer());
    });
  }
  async drain(): Promise<void> {
    while (this.inFlight > 0) await new Promise((r) => setImmediate(r));
  }
}

/** The work both variants share for a platform event: the switchboard's own parser. */
function parsed(step: Extract<Step, { kind: 'event' }>) {
  const result = parsePlatformEvent(step.event);
  if (!result.ok) throw new Error('probe: unparsable step');
  return result.value;
}

interface Engine {
  step(step: Step): void;
  port: Port;
  messages: number;
  /** Conferences accepted by their rep: every conversation's, or the probe is wrong. */
  routed: number;
}

// ---- minimal XState ----

function xstateEngine(script: Script): Engine {
  const port = new Port(script);
  const byWorkItem = new Map<string, AnyActorRef>();
  const sessions = new Map<string, AnyActorRef>();
  const engine: Engine = { port, messages: 0, routed: 0, step };

  const routing = setup({
    types: { context: {} as Ctx, input: {} as { routingId: string; conv: string } },
    actions: {
      route: ({ self }) => port.call(() => ({ psrId: '0JR' }), (output) => self.send({ type: 'route.ok', output })),
      pick: ({ self, context }) => port.call(() => script.picks.get(context.conv as string), (output) => self.send({ type: 'pick.ok', output })),
      offer: ({ self, context }) => port.call(() => script.workIds.get(context.routingId as string), (output) => self.send({ type: 'offer.ok', output })),
      report: ({ self }) => port.call(() => undefined, () => self.send({ type: 'report.ok' })),
    },
  }).createMachine({
    context: ({ input }) => padded(19, { routingId: input.routingId, conv: input.conv, routeOpen: false, reported: false, offeredTo: [] }),
    initial: 'creatingRoute',
    states: {
      creatingRoute: { entry: [assign({ routeOpen: true }), 'route'], on: { 'route.ok': { target: 'picking', actions: assign({ psrId: ({ event }) => (event as unknown as { output: { psrId: string } }).output.psrId }) } } },
      picking: { entry: 'pick', on: { 'pick.ok': { target: 'offering', actions: assign({ offerUserId: ({ event }) => (event as unknown as { output: string }).output }) } } },
      offering: {
        entry: 'offer',
        on: {
          'offer.ok': {
            target: 'reporting',
            actions: [
              assign(({ context, event }) => ({ workId: (event as unknown as { output: string }).output, offeredTo: [...(context.offeredTo as string[]), context.offerUserId as string] })),
              // The session learns the AgentWork id (the engine's routing.offered).
              ({ context, self }) => byWorkItem.set(context.workId as string, self._parent!),
            ],
          },
        },
      },
      reporting: { entry: [assign({ reported: true }), 'report'], on: { 'report.ok': 'awaiting' } },
      awaiting: { on: { REP_ACCEPTED: { target: 'routed', actions: assign({ routeOpen: false, acceptedBy: ({ context }) => context.offerUserId }) } } },
      routed: { type: 'final' },
    },
    output: ({ context }) => ({ routingId: context.routingId, acceptedBy: context.acceptedBy }),
  });

  const session = setup({
    types: { context: {} as Ctx, input: {} as { conv: string } },
    actors: { routing },
  }).createMachine({
    context: ({ input }) => padded(15, { conv: input.conv, reps: {}, routings: {}, status: undefined }),
    initial: 'active',
    on: {
      PC: {
        actions: assign({
          reps: ({ context, event }) => {
            const reps = { ...(context.reps as Ctx) };
            const e = event as unknown as { userId: string; add: boolean };
            if (e.add) reps[e.userId] = { userId: e.userId, joinedAt: Date.now() };
            else delete reps[e.userId];
            return reps;
          },
        }),
      },
      RR: {
        actions: [
          assign({ routings: ({ context, event }) => ({ ...(context.routings as Ctx), [(event as unknown as { id: string }).id]: { startedAt: Date.now() } }) }),
          spawnChild('routing', { id: 'routing:0', input: ({ context, event }) => ({ routingId: (event as unknown as { id: string }).id, conv: context.conv as string }) }),
        ],
      },
      AW: { actions: sendTo('routing:0', { type: 'REP_ACCEPTED' }) },
      'xstate.done.actor.*': {
        actions: [
          assign({ routings: {} }),
          stopChild('routing:0'),
          ({ event }) => void ((event as unknown as { output?: { acceptedBy?: string } }).output?.acceptedBy && (engine.routed += 1)),
        ],
      },
    },
    states: {
      active: { on: { STATUS: [{ guard: ({ event }) => (event as unknown as { ended: boolean }).ended, target: 'ended' }, { actions: assign({ status: 'Active' }) }] } },
      ended: { type: 'final' },
    },
  });

  function step(s: Step): void {
    if (s.kind === 'agentWork') {
      byWorkItem.get(s.event.workId)?.send({ type: 'AW' });
      return;
    }
    const e = parsed(s);
    const conv = e.conversationIdentifier;
    let actor = sessions.get(conv);
    switch (e.kind) {
      case 'SessionStatusChanged':
        if (!actor) {
          actor = createActor(session, { input: { conv } });
          actor.subscribe({ complete: () => sessions.delete(conv) });
          actor.start();
          sessions.set(conv, actor);
        }
        actor.send({ type: 'STATUS', ended: e.sessionStatus === 'Ended' });
        break;
      case 'ParticipantChanged':
        for (const c of e.entries) actor!.send({ type: 'PC', userId: c.participant.subject, add: c.operation === 'add' });
        break;
      case 'RoutingRequested':
        actor!.send({ type: 'RR', id: e.routingEventId });
        break;
      case 'RoutingResult':
        break;
      default:
        engine.messages += 1;
    }
  }
  return engine;
}

// ---- by hand ----

function plainEngine(script: Script): Engine {
  const port = new Port(script);
  type Routing = Ctx & { routingId: string; conv: string; state: string };
  type Session = { conv: string; reps: Ctx; routings: Ctx; status?: string; routing?: Routing };
  const sessions = new Map<string, Session>();
  const byWorkItem = new Map<string, Session>();
  const engine: Engine = { port, messages: 0, routed: 0, step };

  function start(s: Session, routingId: string): void {
    const r = padded(19, { routingId, conv: s.conv, state: 'creatingRoute', routeOpen: true, reported: false, offeredTo: [] }) as Routing;
    s.routing = r;
    s.routings[routingId] = { startedAt: Date.now() };
    port.call(() => ({ psrId: '0JR' }), (out) => {
      r.psrId = out.psrId;
      r.state = 'picking';
      port.call(() => script.picks.get(r.conv), (rep) => {
        r.offerUserId = rep;
        r.state = 'offering';
        port.call(() => script.workIds.get(r.routingId), (workId) => {
          r.workId = workId;
          (r.offeredTo as string[]).push(rep!);
          byWorkItem.set(workId!, s);
          r.state = 'reporting';
          r.reported = true;
          port.call(() => undefined, () => {
            r.state = 'awaiting';
          });
        });
      });
    });
  }

  function step(st: Step): void {
    if (st.kind === 'agentWork') {
      const s = byWorkItem.get(st.event.workId);
      const r = s?.routing;
      if (s && r) {
        r.state = 'routed';
        r.routeOpen = false;
        r.acceptedBy = r.offerUserId;
        if (r.acceptedBy) engine.routed += 1;
        s.routing = undefined;
        s.routings = {};
      }
      return;
    }
    const e = parsed(st);
    const conv = e.conversationIdentifier;
    let s = sessions.get(conv);
    switch (e.kind) {
      case 'SessionStatusChanged':
        if (!s) sessions.set(conv, (s = { conv, reps: {}, routings: {} }));
        if (e.sessionStatus === 'Ended') sessions.delete(conv);
        else s.status = 'Active';
        break;
      case 'ParticipantChanged':
        for (const c of e.entries) {
          if (c.operation === 'add') s!.reps[c.participant.subject] = { userId: c.participant.subject, joinedAt: Date.now() };
          else delete s!.reps[c.participant.subject];
        }
        break;
      case 'RoutingRequested':
        start(s!, e.routingEventId);
        break;
      case 'RoutingResult':
        break;
      default:
        engine.messages += 1;
    }
  }
  return engine;
}

async function run(make: (script: Script) => Engine, traffic: Traffic): Promise<number> {
  const engine = make(traffic.script);
  (globalThis as { gc?: () => void }).gc?.();
  const t0 = process.hrtime.bigint();
  for (const phase of traffic.phases) {
    for (const step of phase) engine.step(step);
    await engine.port.drain();
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (engine.messages === 0) throw new Error('probe: no chat entry reached the listener');
  if (engine.routed !== N) throw new Error(`probe: ${engine.routed} of ${N} conferences routed`);
  return traffic.steps / s;
}

const rates = { xstate: [] as number[], plain: [] as number[], ratio: [] as number[] };
for (let r = -2; r < ROUNDS; r++) {
  const traffic = typicalTraffic(N, 11 + r, `shape${r + 2}`, 4);
  const x = await run(xstateEngine, traffic);
  const p = await run(plainEngine, typicalTraffic(N, 11 + r, `plain${r + 2}`, 4));
  if (r < 0) continue;
  rates.xstate.push(x);
  rates.plain.push(p);
  rates.ratio.push(x / p);
}
const k = (n: number) => `${fixed(n / 1000, 1)}k`;
console.log(`the typical conversation at 4 exchanges, ${N.toLocaleString('en-US')} live at once, ${ROUNDS} rounds (steps/s, min / median / max):`);
console.log(`  minimal XState shape   ${mmm(stats(rates.xstate), k)}`);
console.log(`  by hand                ${mmm(stats(rates.plain), k)}`);
console.log(`  ratio (per round)      ${mmm(stats(rates.ratio), (n) => `${fixed(n, 2)}×`)}`);
