// The baseline the XState engine is compared with: the same pipeline as src/switchboard.ts — the
// same dedupe, the same parser (parsePlatformEvent / parseAgentWorkEvent), one Map of sessions, the
// same Interaction Service calls with the same bodies and keys in the same order, the same
// directory hold/release, the same per-session logger child and the same app listener calls — but
// the session and routing logic is a hand-written switch over plain mutable objects instead of
// XState actors.
//
// Deliberately simple, not a second product: it covers what the benchmarks exercise (participants,
// the pending-request map, the AgentWork index, held agent-work answers, the conference cap, the
// deadline and offer timers, accept / decline / no answer / cancel / session end, the
// route → pick → agentWork → routingResult sequences and the failure clean-up), with no
// persistence, no initial routing (startConversation) and no external transfers. Each step is the
// same call the routing chart makes; bench/dispatch.ts checks on a small run that both engines
// make identical calls in an identical order per conversation.
import type { Logger } from 'pino';
import type { Directory } from '../src/directory.js';
import type { CancelReason, RoutingType } from '../src/domain/enums.js';
import { describeError, ParseError, StoppedError, type SwitchboardError } from '../src/domain/errors.js';
import type {
  AgentWorkEvent,
  ParticipantChangedEntry,
  PlatformEvent,
  RoutingRequestedEvent,
  RoutingResultEntry,
  RoutingTarget,
  SessionStatusChangedEntry,
} from '../src/domain/events.js';
import { stableRequestId, toId15 } from '../src/domain/ids.js';
import { RecentKeys } from '../src/recent-keys.js';
import { parseAgentWorkEvent, parsePlatformEvent, type ParseOptions } from '../src/domain/parse.js';
import type { AgentWorkRequest, CallContext, InteractionService, PickRep, RoutingResultRequest } from '../src/domain/ports.js';
import type { RoutingOutcome, RoutingOutput } from '../src/machines/routing.js';
import { CLEANUP_BUDGET_MS } from '../src/machines/routing.js';
import type { RepPresence, WarmTransfer } from '../src/machines/session.js';
import { startNow, type IngestResult, type RoutingOptions } from '../src/switchboard.js';

const MAX_HELD_WORK = 32;
const MAX_SEEN_ROUTING_IDS = 64;
const MAX_TRANSFERS = 16;

interface Settings {
  routingWindowMs: number;
  reportReserveMs: number;
  offerTimeoutMs: number;
  maxOffers: number;
  participantCap: number;
  capacityWeight?: number;
}

type Step = 'route' | 'pick' | 'waitRep' | 'offer' | 'report' | 'awaiting' | 'cancelOffer' | 'failing' | 'done';

interface Failure {
  outcome: Exclude<RoutingOutcome, 'routed' | 'externallyRouted'>;
  cancelReason: CancelReason;
  message: string;
}

/** One pending routing request: what the session's `routings` entry and the routing child's context hold together. */
interface Routing {
  routingId: string;
  routingType: RoutingType;
  target: RoutingTarget;
  startedAt: number;
  deadlineAt: number;
  correlationId: string;
  exclude: string[];
  step: Step;
  psrId?: string;
  pickQueueId?: string;
  offerUserId?: string;
  workId?: string;
  offers: string[];
  reported: boolean;
  routeOpen: boolean;
  workOpen: boolean;
  pendingAnswer?: 'accepted' | 'declined';
  acceptedBy?: string;
  failure?: Failure;
  lastError?: string;
  deadlineTimer?: NodeJS.Timeout;
  stepTimer?: NodeJS.Timeout;
}

/** A session's state: what the session machine's context holds, as one plain object. */
interface Session {
  conversationIdentifier: string;
  channelAddressIdentifier?: string;
  endUserClientId?: string;
  workItemId?: string;
  status?: string;
  endingReason?: string;
  reps: Record<string, RepPresence>;
  routings: Record<string, Routing>;
  workIndex: Record<string, string>;
  heldWork: AgentWorkEvent[];
  seenRoutingIds: string[];
  transfers: WarmTransfer[];
  log: Logger;
}

export interface BaselineOptions {
  interactions: InteractionService;
  pickRep: PickRep;
  directory: Directory;
  logger: Logger;
  routing?: RoutingOptions;
  dedupeWindow?: number;
}

type Listener = (e: never) => void;

/** The switchboard's bounded dedupe set, unchanged. */
export function createBaselineSwitchboard(options: BaselineOptions) {
  const o = options.routing ?? {};
  const platformCap = o.platformParticipantCap ?? 5;
  const settings: Settings = {
    routingWindowMs: o.routingWindowMs ?? 60_000,
    reportReserveMs: o.reportReserveMs ?? 5_000,
    offerTimeoutMs: o.offerTimeoutMs ?? 20_000,
    maxOffers: o.maxOffers ?? 3,
    participantCap: Math.min(o.maxParticipantsOverride ?? platformCap, platformCap),
  };
  if (o.capacityWeight !== undefined) settings.capacityWeight = o.capacityWeight;
  const parseOptions: ParseOptions = {};
  if (o.fallbackQueueId) parseOptions.fallbackQueueId = o.fallbackQueueId;
  const { interactions: api, pickRep, directory, logger: log } = options;

  const sessions = new Map<string, Session>();
  const byWorkItem = new Map<string, string>();
  const recent = new RecentKeys(options.dedupeWindow ?? 10_000, undefined, 2);
  const listeners = new Map<string, Set<Listener>>();
  const inFlight = new Set<Promise<unknown>>();
  const counters = { ingested: 0, rejected: 0, duplicates: 0, unroutable: 0 };
  let stopped = false;

  function emitToApp(event: string, payload: unknown): void {
    for (const listener of listeners.get(event) ?? []) {
      try {
        (listener as (e: unknown) => void)(payload);
      } catch (err) {
        log.error({ err, event }, 'a switchboard listener threw');
      }
    }
  }

  /** The switchboard's `track`: the same promise chain, in-flight set and logging around each call. */
  function track<T>(what: string, key: string, run: () => Promise<T> | T): Promise<T> {
    const started = Date.now();
    const p = startNow(run).then(
      (value) => {
        log.debug({ call: what, key, ms: Date.now() - started }, 'call ok');
        return value;
      },
      (err: unknown) => {
        log.warn({ call: what, key, ms: Date.now() - started, error: describeError(err) }, 'call failed');
        throw err;
      },
    );
    inFlight.add(p);
    const done = () => inFlight.delete(p);
    p.then(done, done);
    return p;
  }

  // As the switchboard's call(): the RequestId derives from the step key (stable across a restart).
  const ctx = (key: string, deadlineAt: number, priority: CallContext['priority']): CallContext => ({ key, deadlineAt, priority, requestId: stableRequestId(key) });
  const keyOf = (s: Session, r: Routing, step: string) => `${s.conversationIdentifier}/${r.routingId}/${step}`;
  const occupiedSeats = (s: Session) => {
    let pending = 0;
    for (const id in s.routings) if (s.routings[id]!.routingType === 'Conference') pending += 1;
    return Object.keys(s.reps).length + pending;
  };

  // ---- what the session emits (the switchboard's actor.on('*') handler) ----

  function emit(s: Session, type: string, event: Record<string, unknown>): void {
    const conv = s.conversationIdentifier;
    const e: Record<string, unknown> = { type, conversationIdentifier: conv, ...event };
    if (type === 'routing.finished') {
      const output = e.output as RoutingOutput;
      for (const rep of output.offeredTo) if (!s.reps[rep]) directory.release(rep, conv);
      s.log.info({ routingId: output.routingId, routingType: output.routingType, outcome: output.outcome, acceptedBy: output.acceptedBy, message: output.message, reported: output.reported, ms: e.durationMs }, 'routing finished');
    } else if (type === 'routing.started') {
      s.log.info({ routingId: e.routingId, routingType: e.routingType, target: (e.target as RoutingTarget).kind }, 'routing started');
    } else if (type === 'routing.ignored') {
      s.log.warn({ routingId: e.routingId, reason: e.reason }, 'routing event ignored');
    } else if (type === 'participant.joined') {
      directory.hold(e.userId as string, conv);
    } else if (type === 'participant.left') {
      directory.release(e.userId as string, conv);
    }
    emitToApp(type, e);
  }

  // ---- sessions ----

  function indexWorkItem(s: Session): void {
    if (s.workItemId && byWorkItem.get(s.workItemId) !== s.conversationIdentifier) byWorkItem.set(s.workItemId, s.conversationIdentifier);
  }

  function sessionFor(conv: string, seed: { channelAddressIdentifier?: string; endUserClientId?: string; workItemId?: string } = {}): Session {
    const existing = sessions.get(conv);
    if (existing) return existing;
    const s: Session = {
      conversationIdentifier: conv,
      reps: {},
      routings: {},
      workIndex: {},
      heldWork: [],
      seenRoutingIds: [],
      transfers: [],
      log: log.child({ conversationIdentifier: conv }),
    };
    if (seed.channelAddressIdentifier) s.channelAddressIdentifier = seed.channelAddressIdentifier;
    if (seed.endUserClientId) s.endUserClientId = seed.endUserClientId;
    if (seed.workItemId) s.workItemId = toId15(seed.workItemId);
    sessions.set(conv, s);
    indexWorkItem(s);
    return s;
  }

  function endSessionIfDone(s: Session): void {
    if (s.endingReason === undefined || Object.keys(s.routings).length > 0 || !sessions.has(s.conversationIdentifier)) return;
    emit(s, 'session.ended', { reason: s.endingReason });
    sessions.delete(s.conversationIdentifier);
    if (s.workItemId && byWorkItem.get(s.workItemId) === s.conversationIdentifier) byWorkItem.delete(s.workItemId);
    for (const rep of Object.keys(s.reps)) directory.release(rep, s.conversationIdentifier);
    s.log.info('session ended');
  }

  function applyStatus(s: Session, e: SessionStatusChangedEntry): void {
    s.status = e.sessionStatus;
    if (!s.workItemId && e.sessionId) s.workItemId = e.sessionId.slice(0, 15);
    if ((e.sessionStatus === 'Ended' || e.sessionStatus === 'Error') && s.endingReason === undefined) {
      s.endingReason = `status ${e.sessionStatus}`;
      for (const r of Object.values(s.routings)) interrupt(s, r, 'ended', { outcome: 'ended', cancelReason: 'Cancel', message: `session ended: ${s.endingReason}` });
      endSessionIfDone(s);
    }
  }

  function applyParticipants(s: Session, e: ParticipantChangedEntry): void {
    const now = Date.now();
    const left: RepPresence[] = [];
    for (const change of e.entries) {
      const { subject: userId, role, appType } = change.participant;
      if (!(role === 'Agent' || role === 'Supervisor' || appType === 'agent')) continue;
      if (change.operation === 'add' && !s.reps[userId]) {
        s.reps[userId] = { userId, role, joinedAt: now, ...(change.displayName ? { displayName: change.displayName } : {}) };
        emit(s, 'participant.joined', { userId, role, ...(change.displayName ? { displayName: change.displayName } : {}) });
        for (const r of Object.values(s.routings)) repJoined(s, r, userId);
      } else if (change.operation === 'remove' && s.reps[userId]) {
        left.push(s.reps[userId]!);
        delete s.reps[userId];
      }
    }
    for (const leaving of left) {
      const stayed = Object.values(s.reps).filter((r) => r.joinedAt >= leaving.joinedAt).map((r) => r.userId);
      if (stayed.length > 0) s.transfers = [...s.transfers, { from: leaving.userId, to: stayed, at: now }].slice(-MAX_TRANSFERS);
      emit(s, 'participant.left', { userId: leaving.userId, role: leaving.role, ...(stayed.length ? { warmTransferTo: stayed } : {}) });
    }
  }

  function onAgentWork(s: Session, w: AgentWorkEvent): void {
    if (w.workEvent !== 'ACCEPTED' && w.workEvent !== 'DECLINED') return;
    let routingId = s.workIndex[w.workId];
    if (!routingId) {
      const unnamed = Object.values(s.routings).filter((r) => r.offers.length > 0 && r.offerUserId && !r.workId);
      if (unnamed.length === 1) routingId = unnamed[0]!.routingId;
    }
    const r = routingId ? s.routings[routingId] : undefined;
    if (!r) {
      s.heldWork = [...s.heldWork, w].slice(-MAX_HELD_WORK);
      return;
    }
    answer(s, r, w.workEvent === 'ACCEPTED' ? 'accepted' : 'declined');
  }

  function onRoutingResult(s: Session, e: RoutingResultEntry): void {
    if (e.failureType === 'None') return;
    const pending = Object.values(s.routings).filter((r) => r.routingType === e.routingType).sort((a, b) => b.startedAt - a.startedAt);
    const r = pending[0];
    if (!r) {
      emit(s, 'routing.ignored', { reason: `RoutingResult ${e.failureType} for no pending ${e.routingType} request` });
      return;
    }
    const byRep = e.cancelReason === 'Cancel';
    interrupt(s, r, 'cancelled', {
      outcome: byRep ? 'cancelled' : e.cancelReason === 'EndUserEnded' ? 'ended' : 'failed',
      cancelReason: byRep || e.cancelReason === 'EndUserEnded' ? 'Cancel' : 'Unknown',
      message: `Salesforce ended the request (${e.failureType}${e.cancelReason ? `/${e.cancelReason}` : ''})`,
    });
  }

  // ---- routing requests ----

  function startRouting(s: Session, req: RoutingRequestedEvent, receivedAt: number): void {
    const id = req.routingEventId;
    if (s.routings[id] || s.seenRoutingIds.includes(id)) {
      emit(s, 'routing.ignored', { routingId: id, reason: 'duplicate RoutingRequested' });
      return;
    }
    let rejectReason: string | undefined;
    const seats = occupiedSeats(s);
    if (s.endingReason !== undefined) rejectReason = `the messaging session is ending (${s.endingReason})`;
    else if (req.routingType === 'Conference' && seats >= settings.participantCap) rejectReason = `participant cap reached (${seats} of ${settings.participantCap})`;
    const workItemId = s.workItemId ?? (req.workRecordId ? req.workRecordId.slice(0, 15) : undefined);
    if (workItemId) s.workItemId = workItemId;
    if (req.endUserClientId && !s.endUserClientId) s.endUserClientId = req.endUserClientId;
    const r: Routing = {
      routingId: id,
      routingType: req.routingType,
      target: req.target,
      startedAt: receivedAt,
      deadlineAt: receivedAt + settings.routingWindowMs,
      correlationId: id,
      exclude: Object.keys(s.reps),
      step: 'route',
      offers: [],
      reported: false,
      routeOpen: false,
      workOpen: false,
    };
    s.routings[id] = r;
    s.seenRoutingIds = [...s.seenRoutingIds, id].slice(-MAX_SEEN_ROUTING_IDS);
    decide(s, r, rejectReason);
    emit(s, 'routing.started', { routingId: id, routingType: r.routingType, target: r.target });
  }

  function decide(s: Session, r: Routing, rejectReason: string | undefined): void {
    const t = r.target;
    if (rejectReason !== undefined) return fail(s, r, { outcome: 'rejected', cancelReason: 'Cancel', message: rejectReason });
    if (t.kind === 'external') return fail(s, r, { outcome: 'failed', cancelReason: 'Unknown', message: 'external transfers are not part of the baseline' });
    if (t.kind === 'flow' && !t.fallbackQueueId) return fail(s, r, { outcome: 'failed', cancelReason: 'Unknown', message: 'flow routing needs a fallback queue' });
    if (t.kind !== 'rep') {
      armDeadline(s, r);
      return createRoute(s, r);
    }
    if (!s.workItemId) return fail(s, r, { outcome: 'failed', cancelReason: 'Unknown', message: 'the MessagingSession id (workItemId) of this conversation is unknown' });
    armDeadline(s, r);
    r.offerUserId = t.userId;
    offer(s, r);
  }

  function armDeadline(s: Session, r: Routing): void {
    r.deadlineTimer = setTimeout(() => {
      if (r.reported) return; // after the routingResult, the deadline no longer ends offers
      interrupt(s, r, 'deadline', { outcome: 'timedOut', cancelReason: 'Unavailable', message: 'routing deadline reached' });
    }, Math.max(0, r.deadlineAt - settings.reportReserveMs - Date.now()));
  }

  const live = (s: Session, r: Routing, step: Step) => r.step === step && s.routings[r.routingId] === r;

  function createRoute(s: Session, r: Routing): void {
    r.step = 'route';
    r.routeOpen = true;
    const t = r.target;
    const request = {
      conversationIdentifier: s.conversationIdentifier,
      routingType: r.routingType,
      ...(t.kind === 'queue' ? { routingInfo: { queueId: t.queueId } } : t.kind === 'flow' && t.fallbackQueueId ? { routingInfo: { flow: { flowId: t.flowId, queueId: t.fallbackQueueId } } } : {}),
    };
    const key = keyOf(s, r, 'route');
    track('POST /route', key, () => api.createRoute(request, ctx(key, r.deadlineAt - settings.reportReserveMs, 'start'))).then(
      (out) => {
        if (!live(s, r, 'route')) return;
        r.psrId = out?.psrId ?? r.psrId;
        if (!s.workItemId && out?.workItemId) s.workItemId = out.workItemId.slice(0, 15);
        r.pickQueueId = out?.contextParamMap?.queueId || (t.kind === 'queue' ? t.queueId : t.kind === 'flow' ? t.fallbackQueueId : undefined);
        const chosen = out?.contextParamMap?.userId || undefined;
        if (r.failure) return failing(s, r);
        if (chosen) {
          r.offerUserId = chosen;
          return offer(s, r);
        }
        pick(s, r);
      },
      (err: unknown) => {
        if (!live(s, r, 'route')) return;
        r.lastError = describeError(err);
        fail(s, r, { outcome: 'failed', cancelReason: 'Unknown', message: 'POST /route failed' });
      },
    );
  }

  function pick(s: Session, r: Routing): void {
    r.step = 'pick';
    const exclude = [...new Set([...r.exclude, ...r.offers])];
    const input = { ...(r.pickQueueId ? { queueId: r.pickQueueId } : {}), routingType: r.routingType, conversationIdentifier: s.conversationIdentifier, exclude };
    track('pickRep', `${s.conversationIdentifier}/pick`, () => pickRep(input)).then(
      (userId) => {
        if (!live(s, r, 'pick')) return;
        if (typeof userId === 'string') {
          r.offerUserId = userId;
          return offer(s, r);
        }
        if (Date.now() + 2_000 < r.deadlineAt - settings.reportReserveMs) {
          r.step = 'waitRep';
          r.stepTimer = setTimeout(() => live(s, r, 'waitRep') && pick(s, r), 2_000);
          return;
        }
        fail(s, r, { outcome: 'unavailable', cancelReason: 'Unavailable', message: 'no rep available' });
      },
      (err: unknown) => {
        if (!live(s, r, 'pick')) return;
        r.lastError = describeError(err);
        fail(s, r, { outcome: 'failed', cancelReason: 'Unknown', message: 'the rep picker failed' });
      },
    );
  }

  function offer(s: Session, r: Routing): void {
    r.step = 'offer';
    const request: AgentWorkRequest = { userId: r.offerUserId ?? '', workItemId: s.workItemId ?? '' };
    request.routingContext = { conversationIdentifier: s.conversationIdentifier, routingType: r.routingType, routingCorrelationId: r.correlationId };
    if (!r.routeOpen && settings.capacityWeight !== undefined) request.capacityWeight = settings.capacityWeight;
    const key = keyOf(s, r, `agentWork:${r.offers.length + 1}:${r.offerUserId}`);
    track('POST /agentWork', key, () => api.createAgentWork(request, ctx(key, r.deadlineAt - settings.reportReserveMs, 'start'))).then(
      (out) => {
        if (!live(s, r, 'offer')) return;
        r.workId = out?.agentWorkId;
        r.workOpen = true;
        r.offers.push(r.offerUserId ?? '');
        r.pendingAnswer = undefined;
        offered(s, r);
        if (r.failure) return failing(s, r);
        if (!r.reported) return reportSuccess(s, r);
        awaitAnswer(s, r);
      },
      (err: unknown) => {
        if (!live(s, r, 'offer')) return;
        r.lastError = describeError(err);
        r.offers.push(r.offerUserId ?? '');
        r.workId = undefined;
        if (r.failure) return failing(s, r);
        if (canOfferAgain(r)) return pick(s, r);
        fail(s, r, { outcome: 'failed', cancelReason: 'Unknown', message: 'POST /agentWork failed' });
      },
    );
  }

  /** The session learns the offer: index its AgentWork id and release answers that arrived early. */
  function offered(s: Session, r: Routing): void {
    for (const workId in s.workIndex) if (s.workIndex[workId] === r.routingId) delete s.workIndex[workId];
    if (r.workId) s.workIndex[r.workId] = r.routingId;
    if (!r.workId || s.heldWork.length === 0) return;
    const held = s.heldWork.filter((w) => w.workId === r.workId);
    if (held.length === 0) return;
    s.heldWork = s.heldWork.filter((w) => w.workId !== r.workId);
    for (const w of held) if (w.workEvent === 'ACCEPTED' || w.workEvent === 'DECLINED') answer(s, r, w.workEvent === 'ACCEPTED' ? 'accepted' : 'declined');
  }

  function reportSuccess(s: Session, r: Routing): void {
    r.step = 'report';
    r.reported = true;
    const key = keyOf(s, r, 'routingResult');
    track('POST /routingResult', key, () => api.reportRoutingResult(resultRequest(s, r, true), ctx(key, r.deadlineAt, 'finish'))).then(
      () => live(s, r, 'report') && awaitAnswer(s, r),
      (err: unknown) => {
        if (!live(s, r, 'report')) return;
        r.lastError = describeError(err);
        awaitAnswer(s, r);
      },
    );
  }

  function resultRequest(s: Session, r: Routing, success: boolean): RoutingResultRequest {
    const req: RoutingResultRequest = { conversationIdentifier: s.conversationIdentifier, workItemId: s.workItemId ?? '', success, externallyRouted: false, routingType: r.routingType };
    if (!success) req.errorMessage = r.failure?.message ?? 'routing failed';
    return req;
  }

  function awaitAnswer(s: Session, r: Routing): void {
    if (r.pendingAnswer === 'accepted') return accept(s, r);
    if (r.pendingAnswer === 'declined') return decline(s, r);
    r.step = 'awaiting';
    r.stepTimer = setTimeout(() => live(s, r, 'awaiting') && cancelOffer(s, r), settings.offerTimeoutMs);
  }

  function answer(s: Session, r: Routing, how: 'accepted' | 'declined'): void {
    if (r.step === 'report') r.pendingAnswer = how;
    else if (r.step === 'awaiting') how === 'accepted' ? accept(s, r) : decline(s, r);
    else if (r.step === 'cancelOffer' && how === 'accepted') accept(s, r);
  }

  function repJoined(s: Session, r: Routing, userId: string): void {
    if (userId === r.offerUserId) answer(s, r, 'accepted');
  }

  function accept(s: Session, r: Routing): void {
    r.workOpen = false;
    r.routeOpen = false;
    r.acceptedBy = r.offerUserId;
    r.pendingAnswer = undefined;
    finish(s, r);
  }

  const canOfferAgain = (r: Routing) => r.target.kind !== 'rep' && r.offers.length < settings.maxOffers && Date.now() < r.deadlineAt - settings.reportReserveMs;

  function decline(s: Session, r: Routing): void {
    clearTimeout(r.stepTimer);
    r.workOpen = false;
    r.pendingAnswer = undefined;
    if (canOfferAgain(r)) return pick(s, r);
    fail(s, r, { outcome: 'declined', cancelReason: 'Decline', message: 'the rep declined' });
  }

  function cancelOffer(s: Session, r: Routing): void {
    r.step = 'cancelOffer';
    const key = keyOf(s, r, `cancel:${r.workId}`);
    const next = (err?: unknown) => {
      if (!live(s, r, 'cancelOffer')) return;
      r.workOpen = false;
      if (err !== undefined) r.lastError = describeError(err);
      if (canOfferAgain(r)) return pick(s, r);
      fail(s, r, { outcome: 'noAnswer', cancelReason: 'Unavailable', message: 'no rep accepted in time' });
    };
    track('PATCH /agentWork', key, () => api.patchAgentWork({ workId: r.workId ?? '', contextType: 'Agent', status: 'Cancel' }, ctx(key, Math.max(r.deadlineAt, Date.now() + CLEANUP_BUDGET_MS), 'finish'))).then(() => next(), next);
  }

  /** A deadline, a cancel or the session's end: calls that start work are waited for; anything else stops now. */
  function interrupt(s: Session, r: Routing, why: 'deadline' | 'cancelled' | 'ended', failure: Failure): void {
    if (r.step === 'failing' || r.step === 'done') return;
    if (r.step === 'route' || r.step === 'offer') {
      r.failure ??= failure;
      return;
    }
    // A cancel or the session's end is recorded as it came; a deadline adds the last error, like the chart's `fail`.
    if (why === 'deadline') return fail(s, r, failure);
    r.failure ??= failure;
    failing(s, r);
  }

  function fail(s: Session, r: Routing, failure: Failure): void {
    r.failure ??= { ...failure, message: r.lastError ? `${failure.message} (${r.lastError})` : failure.message };
    failing(s, r);
  }

  /** Report the failure (if still owed), then cancel open work, then clear the PSR, then finish. */
  function failing(s: Session, r: Routing): void {
    r.step = 'failing';
    clearTimeout(r.deadlineTimer);
    clearTimeout(r.stepTimer);
    const cleanupDeadline = () => Math.max(r.deadlineAt, Date.now() + CLEANUP_BUDGET_MS);
    const clear = () => {
      if (!r.routeOpen) return finish(s, r);
      const key = keyOf(s, r, 'clearRoute');
      const done = (err?: unknown) => {
        r.routeOpen = false;
        if (err !== undefined) r.lastError = describeError(err);
        finish(s, r);
      };
      track('DELETE /route', key, () => api.clearRoute({ conversationIdentifier: s.conversationIdentifier, cancelReason: r.failure?.cancelReason ?? 'Unknown' }, ctx(key, cleanupDeadline(), 'finish'))).then(() => done(), done);
    };
    const cancel = () => {
      if (!(r.workOpen && r.workId)) return clear();
      const key = keyOf(s, r, `cancel:${r.workId}`);
      const done = (err?: unknown) => {
        r.workOpen = false;
        if (err !== undefined) r.lastError = describeError(err);
        clear();
      };
      track('PATCH /agentWork', key, () => api.patchAgentWork({ workId: r.workId ?? '', contextType: 'Agent', status: 'Cancel' }, ctx(key, cleanupDeadline(), 'finish'))).then(() => done(), done);
    };
    if (!r.reported && s.workItemId) {
      r.reported = true;
      const key = keyOf(s, r, 'routingResult');
      track('POST /routingResult', key, () => api.reportRoutingResult(resultRequest(s, r, false), ctx(key, r.deadlineAt, 'finish'))).then(cancel, (err: unknown) => {
        r.lastError = describeError(err);
        cancel();
      });
    } else cancel();
  }

  function finish(s: Session, r: Routing): void {
    r.step = 'done';
    clearTimeout(r.deadlineTimer);
    clearTimeout(r.stepTimer);
    if (s.routings[r.routingId] !== r) return;
    delete s.routings[r.routingId];
    if (r.workId && s.workIndex[r.workId] === r.routingId) delete s.workIndex[r.workId];
    const output: RoutingOutput = {
      routingId: r.routingId,
      routingType: r.routingType,
      outcome: r.failure?.outcome ?? (r.acceptedBy ? 'routed' : 'failed'),
      reported: r.reported,
      offeredTo: r.offers,
    };
    if (r.acceptedBy) output.acceptedBy = r.acceptedBy;
    if (r.failure) output.message = r.failure.message;
    emit(s, 'routing.finished', { output, durationMs: Date.now() - r.startedAt });
    endSessionIfDone(s);
  }

  // ---- intake: src/switchboard.ts's ingest() and agentWork(), line for line ----

  function reject(error: SwitchboardError, replayId?: string): IngestResult {
    counters.rejected += 1;
    log.warn({ code: error.code, field: error instanceof ParseError ? error.field : undefined, replayId, error: error.message }, 'input rejected');
    emitToApp('rejected', { error, ...(replayId ? { replayId } : {}) });
    return { ok: false, error };
  }

  function ingest(event: PlatformEvent): IngestResult {
    if (stopped) return reject(new StoppedError(), event?.replayId);
    if (event?.eventId && recent.seen(event.eventId, 0)) {
      counters.duplicates += 1;
      return { ok: true, kind: 'duplicate', duplicate: true };
    }
    const parsed = parsePlatformEvent(event, parseOptions);
    if (!parsed.ok) return reject(parsed.error, event?.replayId);
    const e = parsed.value;
    counters.ingested += 1;
    if (e.kind !== 'RoutingRequested' && recent.seen(e.entryId, 1)) {
      counters.duplicates += 1;
      return { ok: true, kind: e.kind, conversationIdentifier: e.conversationIdentifier, duplicate: true };
    }
    const conv = e.conversationIdentifier;
    switch (e.kind) {
      case 'RoutingRequested': {
        const s = sessionFor(conv, {
          channelAddressIdentifier: e.channelAddressIdentifier,
          ...(e.endUserClientId ? { endUserClientId: e.endUserClientId } : {}),
          ...(e.workRecordId ? { workItemId: e.workRecordId } : {}),
        });
        startRouting(s, e, Date.now());
        indexWorkItem(s);
        break;
      }
      case 'ParticipantChanged':
        applyParticipants(sessionFor(conv, { channelAddressIdentifier: e.channelAddressIdentifier }), e);
        break;
      case 'SessionStatusChanged': {
        const known = sessions.get(conv);
        if (!known && (e.sessionStatus === 'Ended' || e.sessionStatus === 'Error')) break;
        const s = known ?? sessionFor(conv, { channelAddressIdentifier: e.channelAddressIdentifier, workItemId: e.sessionId });
        applyStatus(s, e);
        if (sessions.has(conv)) indexWorkItem(s);
        break;
      }
      case 'RoutingResult': {
        // As the switchboard's intake: a success tells the session nothing.
        if (e.failureType === 'None') break;
        const s = sessions.get(conv);
        if (!s) {
          counters.unroutable += 1;
          log.info({ conversationIdentifier: conv, replayId: e.replayId, failureType: e.failureType }, 'RoutingResult for a conversation this switchboard does not hold');
          break;
        }
        onRoutingResult(s, e);
        break;
      }
      case 'Message':
      case 'MessageUpdated':
        emitToApp('message', e);
        break;
      case 'RoutingWorkResult':
      case 'OtherEntry':
        emitToApp('entry', e);
        break;
    }
    return { ok: true, kind: e.kind, conversationIdentifier: conv };
  }

  function agentWork(raw: unknown): IngestResult {
    if (stopped) return reject(new StoppedError());
    const parsed = parseAgentWorkEvent(raw);
    if (!parsed.ok) return reject(parsed.error);
    const w = parsed.value;
    const conv = byWorkItem.get(toId15(w.workItemId));
    const s = conv ? sessions.get(conv) : undefined;
    if (!s || !conv) {
      counters.unroutable += 1;
      log.warn({ workId: w.workId, workItemId: w.workItemId, workEvent: w.workEvent }, 'agent work for a MessagingSession this switchboard does not hold');
      return { ok: true, kind: 'AgentWork' };
    }
    counters.ingested += 1;
    onAgentWork(s, w);
    return { ok: true, kind: 'AgentWork', conversationIdentifier: conv };
  }

  async function settled(): Promise<void> {
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
  }

  return {
    ingest,
    agentWork,
    settled,
    on(event: string, listener: (e: never) => void) {
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      set.add(listener);
      return () => set!.delete(listener);
    },
    stats() {
      let pendingRoutings = 0;
      for (const s of sessions.values()) pendingRoutings += Object.keys(s.routings).length;
      return { sessions: sessions.size, pendingRoutings, inFlightEffects: inFlight.size, ...counters };
    },
    async stop() {
      stopped = true;
      await settled();
      for (const s of sessions.values()) for (const r of Object.values(s.routings)) {
        clearTimeout(r.deadlineTimer);
        clearTimeout(r.stepTimer);
      }
      sessions.clear();
      byWorkItem.clear();
    },
  };
}
