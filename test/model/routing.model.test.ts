// Model-based tests generated from the production routing chart. For each routing type × target,
// xstate/graph enumerates the shortest path to every distinct state, with effects that succeed,
// fail retryably, fail terminally or with a capability error, and timers that fire. Each path is
// replayed on a real actor whose effects are settled by hand; the actor must agree with the chart
// at every step. Then the path is driven to its end and the DESIGN §3 invariants are checked
// against the calls it made. A call's answer is an ordinary event of the chart (`route.ok`,
// `offer.failed`…), so the paths traverse answers like any other event. Set MODEL_PATHS=simple to
// walk simple paths as well (slow; not in CI).
import { createActor, type SnapshotFrom } from 'xstate';
import { getShortestPaths, getSimplePaths } from 'xstate/graph';
import { describe, expect, it } from 'vitest';
import { InteractionApiError } from '../../src/domain/errors.js';
import { MAX_ROUTING_CONTEXT_KEYS, routingMachine, type RoutingEvent, type RoutingInput } from '../../src/machines/routing.js';
import { controllableEffects } from './routing-effects.js';

type Snap = SnapshotFrom<typeof routingMachine>;
type AnyEvent = RoutingEvent | { type: string; output?: unknown; error?: unknown };

const FAR_FUTURE = Date.now() + 3_600_000;
const apiError = (kind: 'retryable' | 'terminal' | 'capability') =>
  new InteractionApiError(`${kind} failure`, { kind, endpoint: 'model', ...(kind === 'capability' ? { apiCode: 10075 } : {}) });

const cases: Array<{ name: string; input: Partial<RoutingInput> & Pick<RoutingInput, 'routingType' | 'target' | 'requested'> }> = [
  { name: 'Initial → channel default, with consent', input: { routingType: 'Initial', requested: false, target: { kind: 'channelDefault' }, consent: { endUserClientId: 'c', channelAddressIdentifier: 'ch', consentStatus: 'ExplicitlyOptedIn' } } },
  { name: 'Initial → queue', input: { routingType: 'Initial', requested: false, target: { kind: 'queue', queueId: '00G000000000Q01' } } },
  { name: 'Transfer → rep', input: { routingType: 'Transfer', requested: true, target: { kind: 'rep', userId: '005000000000A09' } } },
  { name: 'Transfer → queue', input: { routingType: 'Transfer', requested: true, target: { kind: 'queue', queueId: '00G000000000Q01' } } },
  { name: 'Transfer → queue, its routing type unreadable', input: { routingType: 'Transfer', requested: true, target: { kind: 'queue', queueId: '00G000000000Q01' }, routingTypeUnknown: true } },
  { name: 'Transfer → flow', input: { routingType: 'Transfer', requested: true, target: { kind: 'flow', flowId: '300000000000FL1', fallbackQueueId: '00G000000000F01' } } },
  { name: 'Transfer → flow without fallback', input: { routingType: 'Transfer', requested: true, target: { kind: 'flow', flowId: '300000000000FL1' } } },
  { name: 'Transfer → external', input: { routingType: 'Transfer', requested: true, target: { kind: 'external', externalId: 'EXT-1' } } },
  { name: 'Conference → rep', input: { routingType: 'Conference', requested: true, target: { kind: 'rep', userId: '005000000000A09' } } },
  { name: 'Conference → rep, MessagingSession unknown', input: { routingType: 'Conference', requested: true, target: { kind: 'rep', userId: '005000000000A09' }, workItemId: undefined } },
  { name: 'Conference → queue', input: { routingType: 'Conference', requested: true, target: { kind: 'queue', queueId: '00G000000000Q01' } } },
  { name: 'Conference → flow', input: { routingType: 'Conference', requested: true, target: { kind: 'flow', flowId: '300000000000FL1', fallbackQueueId: '00G000000000F01' } } },
  { name: 'Conference → external', input: { routingType: 'Conference', requested: true, target: { kind: 'external', externalId: 'EXT-1' } } },
  { name: 'Conference rejected at the cap', input: { routingType: 'Conference', requested: true, target: { kind: 'queue', queueId: '00G000000000Q01' }, rejectReason: 'participant cap reached (5 of 5)' } },
];

function fullInput(partial: (typeof cases)[number]['input']): RoutingInput {
  return {
    routingId: 'evt-1',
    conversationIdentifier: 'conv-1',
    correlationId: 'evt-1',
    workItemId: '0Mw000000000001',
    deadlineAt: FAR_FUTURE,
    reportReserveMs: 5_000,
    offerTimeoutMs: 20_000,
    maxOffers: 2,
    repickIntervalMs: 2_000,
    answerGraceMs: 5_000,
    capacityWeight: 1,
    exclude: ['005000000000A01'],
    ...partial,
  };
}

const done = (step: string, output?: unknown) => ({ type: `${step}.ok`, output });
const failed = (step: string, error: unknown) => ({ type: `${step}.failed`, error });
const errorsOf = (id: string) => [failed(id, apiError('retryable')), failed(id, apiError('terminal')), failed(id, apiError('capability'))];

/** The events the chart can meet in a state: effect completions of its invokes, timers, and outside events. */
function eventsFor(s: Snap): AnyEvent[] {
  const c = s.context;
  const offered = c.offer?.userId ?? '005000000000A99';
  const outside: AnyEvent[] = s.matches('working')
    ? [{ type: 'DEADLINE_REACHED' }, { type: 'ROUTING_CANCELLED', failureType: 'Cancelled', cancelReason: 'Cancel' }, { type: 'SESSION_ENDED', reason: 'model' }]
    : [];
  const answers: AnyEvent[] = [{ type: 'REP_ACCEPTED' }, { type: 'REP_DECLINED' }, { type: 'REP_JOINED', userId: offered }];
  if (s.matches({ working: 'recordingConsent' })) return [done('consent'), failed('consent', apiError('terminal')), ...outside];
  if (s.matches({ working: 'creatingRoute' })) {
    return [done('route', { psrId: '0JR000000000001' }), done('route', { psrId: '0JR000000000001', contextParamMap: { userId: '005000000000A07' } }), ...errorsOf('route'), ...outside];
  }
  if (s.matches({ working: 'picking' })) return [done('pick', `005000000000B0${c.offeredTo.length + 1}`), done('pick', undefined), failed('pick', new Error('ACD down')), ...outside];
  if (s.matches({ working: 'waitingForRep' })) return [{ type: 'RETRY_PICK' }, ...outside];
  if (s.matches({ working: 'offering' })) return [done('offer', { agentWorkId: `0Bz00000000000${c.offeredTo.length + 1}` }), ...errorsOf('offer'), ...outside];
  if (s.matches({ working: 'reportingSuccess' })) return [done('report'), failed('report', apiError('retryable')), ...answers, ...outside];
  if (s.matches({ working: 'awaitingAcceptance' })) return [...answers, { type: 'OFFER_TIMED_OUT' }, ...outside];
  if (s.matches({ working: 'cancellingOffer' })) return [done('cancel'), failed('cancel', apiError('terminal')), { type: 'REP_ACCEPTED' }, ...outside];
  if (s.matches({ working: 'confirmingAnswer' })) return [...answers, { type: 'ANSWER_GRACE_OVER' }, ...outside];
  if (s.matches({ working: 'routingExternally' })) return [done('external'), failed('external', new Error('desk closed')), ...outside];
  if (s.matches('reportingExternal')) return [done('report'), failed('report', apiError('terminal'))];
  if (s.matches({ failing: 'sendingFailure' })) return [done('report'), failed('report', apiError('retryable'))];
  if (s.matches({ failing: 'sendingCancel' })) return [done('cancel'), failed('cancel', apiError('terminal'))];
  if (s.matches({ failing: 'sendingClear' })) return [done('clear'), failed('clear', apiError('retryable'))];
  return [];
}

/** States are told apart by where they are and by the bookkeeping the invariants depend on. */
function serializeState(s: Snap): string {
  const c = s.context;
  return JSON.stringify([s.value, c.routeOpen, !!c.offer?.open, c.reported, c.offeredTo.length, c.offer?.answer ?? null, c.failure?.outcome ?? null, c.offer?.accepted ? 1 : 0]);
}

function serializeEvent(e: AnyEvent): string {
  const err = (e as { error?: unknown }).error;
  return JSON.stringify({ ...e, error: err instanceof InteractionApiError ? err.kind : err instanceof Error ? err.message : undefined });
}

/** Replays a path on a real actor, then drives it to its end; returns what it called. */
function replay(input: RoutingInput, steps: Array<{ event: AnyEvent; state: Snap }>) {
  const fx = controllableEffects();
  const actor = createActor(fx.logic, { input });
  const errors: unknown[] = [];
  actor.subscribe({ error: (e) => errors.push(e) });
  const answers: Array<{ type: string; workId?: string }> = [];
  /** AgentWorks created (POST /agentWork answered with an id). */
  const openWorks = new Set<string>();
  const deliver = (event: AnyEvent) => {
    const m = /^(\w+)\.(ok|failed)$/.exec(event.type);
    if (m) {
      const how = m[2] === 'ok' ? 'done' : 'error';
      expect(fx.settle(m[1]!, how, how === 'done' ? (event as { output?: unknown }).output : (event as { error?: unknown }).error), `a pending '${m[1]}' call to answer`).toBe(true);
      if (how === 'done' && m[1] === 'offer') {
        const id = ((event as { output?: { agentWorkId?: string } }).output ?? {}).agentWorkId;
        if (id) openWorks.add(id);
      }
    } else {
      const workId = actor.getSnapshot().context.offer?.workId;
      if (['REP_ACCEPTED', 'REP_DECLINED', 'REP_JOINED'].includes(event.type) && workId && openWorks.has(workId)) {
        answers.push({ type: event.type, workId });
      }
    }
    actor.send(event as RoutingEvent);
    // The context stays small enough for V8 to keep it a fast object (see RoutingContext).
    expect(Object.keys(actor.getSnapshot().context).length, `context keys after ${event.type}`).toBeLessThanOrEqual(MAX_ROUTING_CONTEXT_KEYS);
  };
  actor.start();
  for (const step of steps) {
    deliver(step.event);
    expect(actor.getSnapshot().value, `after ${step.event.type}`).toEqual(step.state.value);
    expect(serializeState(actor.getSnapshot())).toBe(serializeState(step.state));
  }
  // Drive the path to its end: answer what is pending neutrally, else end the session.
  for (let i = 0; i < 40 && actor.getSnapshot().status === 'active'; i++) {
    const p = fx.pending;
    if (p) {
      const output = p.step === 'offer' ? { agentWorkId: `0Bz0000000000D${i}` } : p.step === 'pick' ? undefined : p.step === 'route' ? { psrId: '0JR000000000002' } : undefined;
      deliver(done(p.step, output));
    } else {
      deliver({ type: 'SESSION_ENDED', reason: 'drain' });
    }
  }
  return { fx, actor, errors, answers, openWorks };
}

function invariants(input: RoutingInput, r: ReturnType<typeof replay>) {
  const snap = r.actor.getSnapshot();
  expect(r.errors).toEqual([]);
  expect(snap.status).toBe('done');
  const calls = r.fx.calls;
  const bySrc = (step: string) => calls.filter((c) => c.step === step);
  const reports = bySrc('report');

  // 1. A RoutingRequested gets exactly one routingResult (when the MessagingSession is known), inside the window.
  if (input.requested && input.workItemId) expect(reports).toHaveLength(1);
  else if (input.requested) expect(reports).toHaveLength(0);
  else expect(reports).toHaveLength(0);
  for (const rep of reports) expect(rep.input.deadlineAt).toBeLessThanOrEqual(input.deadlineAt);
  const deadlineTimer = r.fx.timers.find((t) => t.timer === 'deadline');
  if (deadlineTimer) expect(deadlineTimer.at).toBe(input.deadlineAt - input.reportReserveMs);
  for (const rep of reports) {
    const body = rep.input.request;
    expect(body.workItemId).toHaveLength(15);
    expect('errorMessage' in body).toBe(body.success === false);
    expect(body.externallyRouted).toBe(input.target.kind === 'external');
    // An unreadable routing type is left out of the report (optional there), never guessed.
    if (input.routingTypeUnknown) expect('routingType' in body).toBe(false);
    else expect(body.routingType).toBe(input.routingType);
  }

  // 2. Every POST /route ends with the work accepted or a DELETE /route after it.
  const routeAt = calls.findIndex((c) => c.step === 'route');
  if (routeAt >= 0) {
    const cleared = calls.slice(routeAt).some((c) => c.step === 'clear');
    expect(snap.output?.outcome === 'routed' || cleared, 'PSR accepted or cleared').toBe(true);
  }

  // 3. Every AgentWork created ends accepted, declined or cancelled.
  const cancelled = new Set(bySrc('cancel').map((c) => c.input.request.workId));
  const answered = new Set(r.answers.map((a) => a.workId));
  for (const workId of r.openWorks) {
    expect(answered.has(workId) || cancelled.has(workId), `AgentWork ${workId} answered or cancelled`).toBe(true);
  }

  // 5. No new AgentWork while an earlier one of this request is still open.
  const offerIdx = calls.map((c, i) => (c.step === 'offer' ? i : -1)).filter((i) => i >= 0);
  for (let k = 1; k < offerIdx.length; k++) {
    const prev = calls[offerIdx[k - 1]!]!;
    const prevWork = (prev.output as { agentWorkId?: string } | undefined)?.agentWorkId;
    if (!prevWork || prev.outcome !== 'done') continue;
    const closedBefore =
      calls.slice(offerIdx[k - 1]! + 1, offerIdx[k]!).some((c) => c.step === 'cancel' && c.input.request.workId === prevWork) ||
      r.answers.some((a) => a.workId === prevWork && a.type === 'REP_DECLINED');
    expect(closedBefore, `AgentWork ${prevWork} closed before the next offer`).toBe(true);
  }

  // Clean-up calls are asked to finish promptly and never start work.
  for (const c of [...bySrc('cancel'), ...bySrc('clear')]) expect(c.input.key).toMatch(/^conv-1\/evt-1\//);
}

/** The chart with its actions inert: the walk computes transitions only. */
const walkable = routingMachine.provide({ actions: { notifyOffered: () => {}, call: () => {}, arm: () => {}, disarm: () => {} } });

const walk = process.env.MODEL_PATHS === 'simple' ? getSimplePaths : getShortestPaths;

describe('routing chart: every shortest path keeps the invariants', () => {
  for (const { name, input: partial } of cases) {
    const input = fullInput(partial);
    if ('workItemId' in partial && partial.workItemId === undefined) delete input.workItemId;
    const paths = walk(walkable, {
      input,
      events: eventsFor as never,
      serializeState: serializeState as never,
      serializeEvent: serializeEvent as never,
    });
    describe(name, () => {
      it('has paths to explore', () => expect(paths.length).toBeGreaterThan(0));
      for (const path of paths) {
        const label = path.steps.slice(1).map((s) => s.event.type.replace('xstate.', '')).join(' → ') || '(start)';
        it(label, () => {
          const r = replay(input, path.steps.slice(1) as never);
          invariants(input, r);
        });
      }
    });
  }
});

describe('routing chart: coverage', () => {
  it('reaches every state of the chart across the cases', () => {
    const reached = new Set<string>();
    for (const { input: partial } of cases) {
      const input = fullInput(partial);
      for (const p of getShortestPaths(walkable, { input, events: eventsFor as never, serializeState: serializeState as never, serializeEvent: serializeEvent as never })) {
        for (const id of (p.state as Snap)._nodes.map((n) => n.id)) reached.add(id);
      }
    }
    const all = new Set<string>();
    const visit = (node: typeof routingMachine.root) => {
      // Transient decision states (only eventless transitions) never rest in a snapshot.
      const transient = node.always && node.always.length > 0 && node.invoke.length === 0 && node.ownEvents.length === 0;
      if (!transient) all.add(node.id);
      for (const child of Object.values(node.states)) visit(child);
    };
    visit(routingMachine.root);
    expect([...all].filter((id) => !reached.has(id))).toEqual([]);
  });
});
