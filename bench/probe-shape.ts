// A probe, not one of the benchmarks: the floors the engine's shape and its charts set on the
// figures issue #13 judges — dispatch on the typical conversation at 4 chat exchanges (0.5×) and on
// the routing-heavy one (0.3×), and the heap of an awake session with one pending conference (6 KiB).
//
// The variants get the same steps (bench/workload.ts, 2,000 conversations live at once, each
// phase's calls drained before the next) and do the same common work per step: the switchboard's
// own parser on the wire payload, a Map lookup of the session, chat entries handed to a listener,
// calls answered at once on a microtask. Only the session and routing logic differs:
//   - minimal XState: one root actor per session (a 15-field context) and one child actor per
//     routing request (a 19-field context), with the fewest states, events and assigns the
//     conversation needs — no guards, dedupe, step runner, journal, timers or logs. A request to a
//     named rep starts at its offer, one through a queue at POST /route (two machines, so neither
//     pays a deciding step); a request refused at the cap sends its failed routingResult and keeps
//     nothing;
//   - the engine's charts: src/machines' session and routing charts as they are, driven by the
//     thinnest engine (calls answered on a microtask, timers a Map entry, nothing else);
//   - by hand: the same updates on plain mutable objects.
// In the same rounds run the dispatch benchmark's two engines (section 1): the switchboard and the
// hand-written baseline with its plumbing (dedupe, call tracking, RequestIds, directory, logs).
// Per round, baseline ÷ (baseline + charts − by hand) is the ratio an engine with these charts and
// no cost of its own would reach: the floor the charts set. The same with the minimal shape.
// Every run starts as section 1's do: a forced GC, then 40 ms for V8 to finish sweeping, so no
// engine pays for the garbage of the one before it.
//
//   node --expose-gc --import tsx bench/probe-shape.ts                    both mixes, then the heap
//   node --expose-gc --import tsx bench/probe-shape.ts --heap             the heap only
//   node --expose-gc --import tsx bench/probe-shape.ts --routing-heavy    the routing-heavy mix only
//   … --reused    each variant's traffic built once and fed to every round, as section 1 does
//                 (by default a fresh traffic per run, as events off the wire always are)
import { assign, createActor, sendTo, setup, spawnChild, stopChild, type AnyActorRef } from 'xstate';
import { parsePlatformEvent } from '../src/domain/parse.js';
import { settingsFrom } from '../src/engine/options.js';
import { callOf, routingMachine, type RoutingCall } from '../src/machines/routing.js';
import { sessionMachine, type SessionEmitted } from '../src/machines/session.js';
import { fixed, forceGc, mmm, rng, sleep, stats } from './lib.js';
import { createEngine, cycleTraffic, idleSessionEvents, lifecycleTraffic, newScript, play, typicalTraffic, type Script, type Step, type Traffic } from './workload.js';

const N = 2_000;
const ROUNDS = 7;
const REUSED = process.argv.includes('--reused');

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
  /** Routing actors waiting for their rep's answer (the engine's charts only). */
  awaiting?: () => number;
}

// ---- minimal XState ----

function xstateEngine(script: Script): Engine {
  const port = new Port(script);
  const byWorkItem = new Map<string, AnyActorRef>();
  const sessions = new Map<string, AnyActorRef>();
  const engine: Engine = { port, messages: 0, routed: 0, step };

  // A conference through a queue starts at POST /route, one to a named rep at POST /agentWork: two
  // machines, so neither pays a deciding state's eventless step.
  const routingFrom = (initial: 'creatingRoute' | 'offering') =>
    setup({
      types: { context: {} as Ctx, input: {} as { routingId: string; conv: string; userId?: string } },
      actions: {
        route: ({ self }) => port.call(() => ({ psrId: '0JR' }), (output) => self.send({ type: 'route.ok', output })),
        pick: ({ self, context }) => port.call(() => script.picks.get(context.conv as string), (output) => self.send({ type: 'pick.ok', output })),
        offer: ({ self, context }) => port.call(() => script.workIds.get(context.routingId as string), (output) => self.send({ type: 'offer.ok', output })),
        report: ({ self }) => port.call(() => undefined, () => self.send({ type: 'report.ok' })),
      },
    }).createMachine({
      context: ({ input }) => padded(19, { routingId: input.routingId, conv: input.conv, routeOpen: false, reported: false, offeredTo: [], offerUserId: input.userId }),
      initial,
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
  const CAP = 3;
  type RR = { id: string; userId?: string };
  const seats = (context: Ctx) => Object.keys(context.reps as Ctx).length + Object.keys(context.routings as Ctx).length;
  const childInput = ({ context, event }: { context: Ctx; event: unknown }) => ({ routingId: (event as RR).id, conv: context.conv as string, userId: (event as RR).userId });

  const session = setup({
    types: { context: {} as Ctx, input: {} as { conv: string } },
    actors: { queued: routingFrom('creatingRoute'), direct: routingFrom('offering') },
    actions: { addRouting: assign({ routings: ({ context, event }) => ({ ...(context.routings as Ctx), [(event as unknown as RR).id]: { startedAt: Date.now() } }) }) },
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
      RR: [
        {
          // Refused at once at the participant cap: its one failed routingResult, no child and no answer kept.
          guard: ({ context }) => seats(context) >= CAP,
          actions: () => port.call(() => undefined, () => undefined),
        },
        {
          guard: ({ event }) => (event as unknown as RR).userId !== undefined,
          actions: ['addRouting', spawnChild('direct', { id: 'routing:0', input: childInput })],
        },
        { actions: ['addRouting', spawnChild('queued', { id: 'routing:0', input: childInput })] },
      ],
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
        actor!.send({ type: 'RR', id: e.routingEventId, ...(e.target.kind === 'rep' ? { userId: e.target.userId } : {}) });
        break;
      case 'RoutingResult':
        break;
      default:
        engine.messages += 1;
    }
  }
  return engine;
}

// ---- the engine's own charts, driven by the thinnest engine ----

/**
 * The switchboard's session and routing charts as they are (every state, guard, assign and emit),
 * with the probe's common work around them and nothing of the engine's: calls answered on a
 * microtask with no step runner, timers a Map entry, no dedupe, registry, journal, logs or metrics.
 * What it costs above the minimal shape is what the charts themselves cost; what the engine costs
 * above it is the engine's own work.
 */
function chartsEngine(script: Script): Engine {
  const port = new Port(script);
  const sessions = new Map<string, AnyActorRef>();
  const byWorkItem = new Map<string, AnyActorRef>();
  const timers = new Map<AnyActorRef, Map<string, number>>();
  const engine: Engine = {
    port,
    messages: 0,
    routed: 0,
    step,
    awaiting: () => [...sessions.values()].filter((a) => Object.values(a.getSnapshot().children as Record<string, AnyActorRef>).some((c) => c.getSnapshot().matches({ working: 'awaitingAcceptance' }))).length,
  };
  const settings = settingsFrom({ maxParticipantsOverride: 3, fallbackQueueId: '00G5g000001TIER' });
  let seq = 0;

  function answer(call: RoutingCall): unknown {
    switch (call.step) {
      case 'route':
        return { psrId: `0JR${++seq}` };
      case 'pick':
        return script.picks.get(call.input.conversationIdentifier);
      case 'offer':
        return { agentWorkId: script.workIds.get(call.input.request.routingContext?.routingCorrelationId ?? '') };
      default:
        return undefined;
    }
  }
  const routing = routingMachine.provide({
    actions: {
      call: ({ context, self }, params) => {
        const call = callOf(params.call, context);
        port.call(() => answer(call), (output) => {
          if (self.getSnapshot().status === 'active') self.send({ type: `${call.step}.ok`, output } as never);
        });
      },
      arm: ({ self }, params) => {
        let mine = timers.get(self);
        if (!mine) timers.set(self, (mine = new Map()));
        mine.set(params.timer, 0);
      },
      disarm: ({ self }, params) => void timers.get(self)?.delete(params.timer),
    },
  });
  const machine = sessionMachine.provide({
    actors: { routing },
    // A request refused at once: its failed routingResult, answered on a microtask.
    actions: { reportRefusal: ({ self }, params) => port.call(() => undefined, () => self.send({ type: 'refusal.reported', routingId: params.routingId })) },
  });

  function step(st: Step): void {
    if (st.kind === 'agentWork') {
      // Found by the 15-character MessagingSession id, as the engine finds it: the relay sends 18.
      byWorkItem.get(st.event.workItemId.slice(0, 15))?.send({ type: 'AGENT_WORK', event: st.event });
      return;
    }
    const e = parsed(st);
    const conv = e.conversationIdentifier;
    let actor = sessions.get(conv);
    switch (e.kind) {
      case 'SessionStatusChanged': {
        if (!actor) {
          // Made with the status it was made for, as the engine's intake does: nothing left to tell it.
          const workItemId = e.sessionId?.slice(0, 15);
          const a = createActor(machine, { input: { conversationIdentifier: conv, settings, channelAddressIdentifier: e.channelAddressIdentifier, status: e.sessionStatus, ...(workItemId ? { workItemId } : {}) } });
          a.on('*', (emitted) => {
            const ev = emitted as SessionEmitted;
            if (ev.type === 'routing.finished' && ev.output.outcome === 'routed') engine.routed += 1;
          });
          a.subscribe({ complete: () => sessions.delete(conv) });
          a.start();
          sessions.set(conv, (actor = a));
          if (workItemId) byWorkItem.set(workItemId, a);
          break;
        }
        actor.send({ type: 'SESSION_STATUS_CHANGED', entry: e });
        break;
      }
      case 'ParticipantChanged':
        actor!.send({ type: 'PARTICIPANT_CHANGED', entry: e });
        break;
      case 'RoutingRequested':
        actor!.send({ type: 'ROUTING_REQUESTED', request: e, receivedAt: Date.now() });
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
  const CAP = 3;

  function offer(s: Session, r: Routing, rep: string | undefined): void {
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
  }

  function start(s: Session, routingId: string, repTarget: string | undefined): void {
    // Refused at the participant cap: one failed routingResult, no routing.
    if (Object.keys(s.reps).length >= CAP) {
      port.call(() => undefined, () => undefined);
      return;
    }
    const r = padded(19, { routingId, conv: s.conv, state: 'creatingRoute', routeOpen: false, reported: false, offeredTo: [] }) as Routing;
    s.routing = r;
    s.routings[routingId] = { startedAt: Date.now() };
    if (repTarget) {
      offer(s, r, repTarget);
      return;
    }
    r.routeOpen = true;
    port.call(() => ({ psrId: '0JR' }), (out) => {
      r.psrId = out.psrId;
      r.state = 'picking';
      port.call(() => script.picks.get(r.conv), (rep) => offer(s, r, rep));
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
        start(s!, e.routingEventId, e.target.kind === 'rep' ? e.target.userId : undefined);
        break;
      case 'RoutingResult':
        break;
      default:
        engine.messages += 1;
    }
  }
  return engine;
}

/** Section 1's start of a run: a forced GC, then time for V8's concurrent sweeping to finish. */
async function settle(): Promise<void> {
  await forceGc(1);
  await sleep(40);
}

async function run(make: (script: Script) => Engine, traffic: Traffic): Promise<number> {
  const engine = make(traffic.script);
  await settle();
  const t0 = process.hrtime.bigint();
  for (const phase of traffic.phases) {
    for (const step of phase) engine.step(step);
    await engine.port.drain();
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (engine.messages === 0) throw new Error('probe: no chat entry reached the listener');
  if (engine.routed < N) throw new Error(`probe: ${engine.routed} of ${N} conferences routed`);
  return traffic.steps / s;
}

/** The dispatch benchmark's own engines (section 1): the switchboard, and the hand-written baseline with its plumbing. */
async function runBenchEngine(kind: 'xstate' | 'baseline', traffic: Traffic): Promise<number> {
  const env = createEngine(kind, { script: traffic.script });
  await settle();
  const t0 = process.hrtime.bigint();
  await play(env.engine, traffic, () => process.hrtime.bigint());
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (env.engine.stats().sessions !== 0) throw new Error(`probe: the ${kind} engine left sessions behind`);
  await env.engine.stop();
  return traffic.steps / s;
}

const us = (rate: number, traffic: Traffic) => (traffic.steps / N / rate) * 1e6;
const med = (xs: number[]) => stats(xs).median;

/**
 * One mix: every variant per round, alternating. Per conversation, the charts' own cost is the
 * charts variant less by hand; added to the benchmark's baseline (which carries the plumbing every
 * engine needs: dedupe, call tracking, RequestIds, the directory, logs), it gives the ratio an
 * engine with these charts and no cost of its own would reach — the floor the charts set.
 */
async function mix(name: string, make: (seed: number, prefix: string) => Traffic, variants: { shape: boolean; plain: boolean }) {
  const r = { shape: [] as number[], charts: [] as number[], plain: [] as number[], engine: [] as number[], baseline: [] as number[], floor: [] as number[], shapeFloor: [] as number[], ratio: [] as number[] };
  let steps = 0;
  // --reused: each variant's traffic is built once and fed to every round, as section 1 does.
  const built = new Map<string, Traffic>();
  const once = (tag: string) => built.get(tag) ?? built.set(tag, make(11, `${tag}r`)).get(tag)!;
  for (let round = -2; round < ROUNDS; round++) {
    const t = (tag: string) => (REUSED ? once(tag) : make(11 + round, `${tag}${round + 2}`));
    const shape = variants.shape ? await run(xstateEngine, t('shape')) : 0;
    const charts = await run(chartsEngine, t('chart'));
    const plain = variants.plain ? await run(plainEngine, t('plain')) : 0;
    const ta = t('sb');
    const engine = await runBenchEngine('xstate', ta);
    const baseline = await runBenchEngine('baseline', t('base'));
    steps = ta.steps / N;
    if (round < 0) continue;
    r.shape.push(shape);
    r.charts.push(charts);
    r.plain.push(plain);
    r.engine.push(engine);
    r.baseline.push(baseline);
    r.ratio.push(engine / baseline);
    if (variants.plain) {
      const b = us(baseline, ta);
      r.floor.push(b / (b + us(charts, ta) - us(plain, ta)));
      if (variants.shape) r.shapeFloor.push(b / (b + us(shape, ta) - us(plain, ta)));
    }
  }
  const k = (n: number) => `${fixed(n / 1000, 1)}k`;
  const perConv = (xs: number[]) => `${fixed((steps / med(xs)) * 1e6, 0)} µs per conversation`;
  console.log(`${name}: ${steps} steps per conversation, ${N.toLocaleString('en-US')} live at once, ${ROUNDS} rounds (steps/s, min / median / max)`);
  if (variants.shape) console.log(`  minimal XState shape          ${mmm(stats(r.shape), k)}   ${perConv(r.shape)}`);
  console.log(`  the engine's charts, no engine ${mmm(stats(r.charts), k)}   ${perConv(r.charts)}`);
  if (variants.plain) console.log(`  by hand                       ${mmm(stats(r.plain), k)}   ${perConv(r.plain)}`);
  console.log(`  the switchboard               ${mmm(stats(r.engine), k)}   ${perConv(r.engine)}`);
  console.log(`  the benchmark's baseline      ${mmm(stats(r.baseline), k)}   ${perConv(r.baseline)}`);
  const x = (n: number) => `${fixed(n, 2)}×`;
  if (variants.shape) {
    console.log(`  minimal shape ÷ by hand (per round)            ${mmm(stats(r.shape.map((v, i) => v / r.plain[i]!)), x)}`);
    console.log(`  the shape's floor on the baseline (per round)  ${mmm(stats(r.shapeFloor), x)}`);
  }
  if (variants.plain) {
    console.log(`  charts ÷ by hand (per round)                   ${mmm(stats(r.charts.map((v, i) => v / r.plain[i]!)), x)}`);
    console.log(`  the charts' floor on the baseline (per round)  ${mmm(stats(r.floor), x)}`);
  }
  console.log(`  switchboard ÷ baseline (per round)             ${mmm(stats(r.ratio), x)}`);
}

// ---- the heap an awake session with one pending conference needs ----

const MEM_N = 10_000;

function heapUsed(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('probe: run with --expose-gc');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Heap per session of `make()`, each kept live, measured after a forced GC (bytes). */
async function heapPer(make: (i: number) => unknown, settle: () => Promise<void> = async () => undefined): Promise<number> {
  const keep: unknown[] = [];
  const before = heapUsed();
  for (let i = 0; i < MEM_N; i++) keep.push(make(i));
  await settle();
  const after = heapUsed();
  if (keep.length !== MEM_N) throw new Error('probe: lost sessions');
  return (after - before) / MEM_N;
}

/**
 * The floor of the heap figure, awake: a session actor with one routing child waiting for
 * its rep, in XState's minimal form (a 15-field context, a 19-field child, one state each), with
 * the engine's own charts (the child in awaitingAcceptance), and by hand (two plain objects).
 */
async function heapFloor(): Promise<void> {
  const child = setup({ types: { context: {} as Ctx, input: {} as { routingId: string } } }).createMachine({
    context: ({ input }) => padded(19, { routingId: input.routingId, offeredTo: [] }),
    initial: 'awaiting',
    states: { awaiting: { on: { REP_ACCEPTED: 'routed' } }, routed: { type: 'final' } },
  });
  const root = setup({ types: { context: {} as Ctx, input: {} as { conv: string } }, actors: { child } }).createMachine({
    context: ({ input }) => padded(15, { conv: input.conv, reps: {}, routings: [] }),
    initial: 'active',
    states: { active: { on: { RR: { actions: spawnChild('child', { id: 'routing:0', input: { routingId: 'rr' } }) } } } },
  });
  const minimal = await heapPer((i) => {
    const a = createActor(root, { input: { conv: `conv-${i}` } });
    a.start();
    a.send({ type: 'RR' });
    return a;
  });
  const traffic = typicalTraffic(MEM_N, 5, 'mem', 0);
  const charts = chartsEngine(traffic.script);
  // The conversations' first two phases: the session made, rep A joined, the conference requested
  // and offered; the reps never answer, so each routing waits in awaitingAcceptance.
  const chartsPer = await heapPer(
    (i) => {
      if (i === 0) for (const phase of traffic.phases.slice(0, 2)) for (const step of phase) charts.step(step);
      return undefined;
    },
    async () => {
      await charts.port.drain();
      if (charts.awaiting!() !== MEM_N) throw new Error(`probe: ${charts.awaiting!()} of ${MEM_N} routings wait for their rep`);
    },
  );
  const byHand = await heapPer((i) => ({ session: padded(15, { conv: `conv-${i}`, reps: {}, routings: [{ routingId: 'rr', startedAt: 1 }] }), routing: padded(19, { routingId: 'rr', offeredTo: ['005'] }) }));
  const kib = (b: number) => `${fixed(b / 1024, 2)} KiB`;
  console.log(`heap per awake session with one pending conference (${MEM_N.toLocaleString('en-US')} live, after a forced GC):`);
  console.log(`  minimal XState shape (a root actor and one child)   ${kib(minimal)}`);
  console.log(`  the engine's charts, no engine                      ${kib(chartsPer)}`);
  console.log(`  by hand (two plain objects)                         ${kib(byHand)}`);
}

if (process.argv.includes('--heap')) {
  await heapFloor();
  process.exit(0);
}

// ---- growth 1k → 100k with every actor awake ----

/**
 * Section 3's "every actor awake" figure for each form: N idle sessions (a status and one rep
 * present), then samples of its steady-state cycle (a Conference to a rep, accepted, the rep joins
 * and leaves, two Messages, a status) on 1,000 sessions picked at random, 2 rounds a sample, 7
 * samples after 2 warm-ups, each engine in turn; µs per step at N over µs per step at 1k. Every
 * form keeps its sessions live (the switchboard with hibernateAfterMs: false), so what grows is
 * what a bigger live heap costs each form.
 */
async function growthFloor(): Promise<void> {
  const sizes = [1_000, 10_000, 100_000];
  type Form = 'shape' | 'charts' | 'plain' | 'switchboard' | 'baseline';
  const forms: Form[] = ['shape', 'charts', 'plain', 'switchboard', 'baseline'];
  const perStep: Record<Form, number[]> = { shape: [], charts: [], plain: [], switchboard: [], baseline: [] };
  const heapAt: Record<Form, number[]> = { shape: [], charts: [], plain: [], switchboard: [], baseline: [] };
  for (const n of sizes) {
    for (const form of forms) {
      // One script for the engine's life: each sample's cycle adds its AgentWork ids to it.
      const script = newScript();
      let feed: (steps: Step[]) => void;
      let drain: () => Promise<void>;
      let stop = async () => undefined as void;
      if (form === 'switchboard' || form === 'baseline') {
        const env = createEngine(form === 'switchboard' ? 'xstate' : 'baseline', { script, routing: { offerTimeoutMs: 600_000 }, hibernateAfterMs: false });
        feed = (steps) => {
          for (const st of steps) st.kind === 'event' ? env.engine.ingest(st.event) : env.engine.agentWork(st.event);
        };
        drain = () => env.engine.settled();
        stop = () => env.engine.stop();
      } else {
        const e = (form === 'shape' ? xstateEngine : form === 'charts' ? chartsEngine : plainEngine)(script);
        feed = (steps) => {
          for (const st of steps) e.step(st);
        };
        drain = () => e.port.drain();
      }
      for (let from = 0; from < n; from += 1_000) {
        feed([...idleSessionEvents(from, Math.min(n, from + 1_000))].map((event) => ({ kind: 'event' as const, event })));
        await drain();
      }
      await settle();
      heapAt[form].push(process.memoryUsage().heapUsed / n);
      const random = rng(1_000 + n);
      const us: number[] = [];
      for (let sample = -2; sample < 7; sample++) {
        const batch = [0, 1].map((r) => {
          const round = (sample + 2) * 2 + r;
          const picked = new Set<number>();
          while (picked.size < Math.min(1_000, n)) picked.add(Math.floor(random() * n));
          const t = cycleTraffic([...picked], 'idle', round, 77 + round);
          for (const [k, v] of t.script.workIds) script.workIds.set(k, v);
          return t;
        });
        const steps = batch.reduce((a, t) => a + t.steps, 0);
        await sleep(40);
        const t0 = process.hrtime.bigint();
        for (const t of batch) {
          for (const phase of t.phases) {
            feed(phase);
            await drain();
          }
        }
        if (sample >= 0) us.push(Number(process.hrtime.bigint() - t0) / 1e3 / steps);
      }
      await stop();
      perStep[form].push(med(us));
      console.log(`  ${form.padEnd(12)} ${n.toLocaleString('en-US').padStart(7)} live: ${fixed(med(us), 1)} µs/step (min ${fixed(Math.min(...us), 1)}), heap ${fixed(heapAt[form].at(-1)! / 1024, 2)} KiB/session`);
    }
  }
  console.log('growth 1k → 100k, every actor awake (median µs per step at 100k ÷ at 1k):');
  for (const form of forms) console.log(`  ${form.padEnd(12)} ${fixed(perStep[form][2]! / perStep[form][0]!, 2)}×   (${perStep[form].map((v) => fixed(v, 1)).join(' → ')} µs/step; heap ${heapAt[form].map((v) => fixed(v / 1024, 2)).join(' → ')} KiB/session)`);
}

if (process.argv.includes('--growth')) {
  await growthFloor();
  process.exit(0);
}

const heavyOnly = process.argv.includes('--routing-heavy');
if (!heavyOnly) await mix('the typical conversation at 4 exchanges', (seed, prefix) => typicalTraffic(N, seed, prefix, 4), { shape: true, plain: true });
await mix('the routing-heavy conversation', (seed, prefix) => lifecycleTraffic(N, seed, prefix), { shape: true, plain: true });
if (!heavyOnly) await heapFloor();
