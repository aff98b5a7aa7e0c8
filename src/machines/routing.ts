// The routing machine: one actor per routing request — the initial routing of a new conversation,
// or a RoutingRequested (Transfer or Conference) to a rep, a queue, a flow or an external target.
// It walks the Interaction Service call sequence of reference §5, offers the work to reps, handles
// decline / no answer / cancel / session end / errors, and holds the routing deadline.
//
// Invariants it keeps on every path (DESIGN §3; test/model/ checks them):
// 1. a RoutingRequested gets exactly one POST /routingResult, before its deadline;
// 2. every POST /route ends with the work accepted or a DELETE /route;
// 3. every AgentWork ends accepted, declined or cancelled by PATCH /agentWork;
// 5. a new AgentWork is created only once the previous one for this request is answered or cancelled.
import { assign, sendParent, setup, type AnyActorRef } from 'xstate';
import type { CancelReason, RoutingType } from '../domain/enums.js';
import { describeError, isApiError, mayHaveBeenApplied, NotProvidedError } from '../domain/errors.js';
import { stepKey } from '../domain/step-key.js';
import type { RoutingTarget } from '../domain/events.js';
import type {
  AgentWorkRequest,
  AgentWorkResponse,
  ClearRouteRequest,
  ConsentRequest,
  ExternalRouteRequest,
  PatchAgentWorkRequest,
  PickRepRequest,
  RouteRequest,
  RouteResponse,
  RoutingResultRequest,
} from '../domain/ports.js';

/** Time given to clean-up calls (cancel, clear) that run after the routing deadline has passed. */
export const CLEANUP_BUDGET_MS = 15_000;

export interface RoutingInput {
  /** Stable id of this request: the RoutingRequested's channelData.eventId, or `initial:<conversation>`. */
  routingId: string;
  conversationIdentifier: string;
  routingType: RoutingType;
  target: RoutingTarget;
  /** True for a RoutingRequested: it owes Salesforce exactly one POST /routingResult. */
  requested: boolean;
  /** MessagingSession id (15 chars), when the session knows it. POST /route also returns it. */
  workItemId?: string;
  /** routingContext.routingCorrelationId for POST /agentWork: the RoutingRequested's eventId. */
  correlationId?: string;
  /** Absolute time by which the routing must be finished (60 s from the event, or lower). */
  deadlineAt: number;
  /** The engine stops working and reports this long before `deadlineAt`, so its last calls land in time. */
  reportReserveMs: number;
  /** How long a rep has to accept an offer before it is cancelled. */
  offerTimeoutMs: number;
  /** At most this many offers (AgentWorks) for one request. */
  maxOffers: number;
  /** How long to wait before asking the rep picker again when it had nobody. */
  repickIntervalMs: number;
  /**
   * After Salesforce refuses to cancel an unanswered offer (the rep answered meanwhile), how long to
   * wait for that answer — ACCEPTED, DECLINED, or the rep's ParticipantChanged — before moving on.
   */
  answerGraceMs: number;
  /** Reps who must not be offered the work (already in the session). */
  exclude: string[];
  /** Set by the session to reject the request at once (participant cap reached…). */
  rejectReason?: string;
  /** Initial routing with partner-owned consent: PATCH /consent first. */
  consent?: ConsentRequest;
  /** Sent on POST /agentWork when there is no PSR (a direct-to-rep offer). */
  capacityWeight?: number;
  /** The request's routingType could not be read: the routingResult omits it (it is optional there). */
  routingTypeUnknown?: boolean;
}

export type RoutingOutcome =
  | 'routed'
  | 'externallyRouted'
  | 'rejected'
  | 'declined'
  | 'noAnswer'
  | 'unavailable'
  | 'cancelled'
  | 'ended'
  | 'timedOut'
  | 'failed';

export interface RoutingFailure {
  outcome: Exclude<RoutingOutcome, 'routed' | 'externallyRouted'>;
  cancelReason: CancelReason;
  message: string;
}

/** The settings a request runs with, from its input: one object, so the context stays small (see RoutingContext). */
export interface RoutingSettingsOfRequest {
  reportReserveMs: number;
  offerTimeoutMs: number;
  maxOffers: number;
  repickIntervalMs: number;
  answerGraceMs: number;
  capacityWeight?: number;
  /** The request's routingType could not be read: the routingResult omits it (it is optional there). */
  routingTypeUnknown?: boolean;
}

/** The offer in hand: its rep, and once POST /agentWork answered, its AgentWork. */
export interface RoutingOffer {
  userId: string;
  /** Unknown when a repeated POST /agentWork met 15109 (the AgentWork existed, its id not told). */
  workId?: string;
  /**
   * An AgentWork was created, or may have been (its POST /agentWork failed in a way Salesforce may
   * still have applied), and is not known to be accepted, declined or cancelled: its rep may join.
   */
  open: boolean;
  /** An answer that arrived while the engine was busy reporting. */
  answer?: 'accepted' | 'declined';
  /** The rep accepted: the request is routed to them. */
  accepted?: true;
}

/**
 * A routing request's context. Kept at 19 keys at most, counting every optional one: XState copies
 * the context with `Object.assign({}, context, update)` on every assign, and on Node 20 (V8 11.3)
 * an object built that way with 20 keys or more falls into dictionary mode, where each copy costs
 * about 5 µs instead of 0.3 and every read is a hash lookup (docs/benchmarks.md, "Where the time
 * goes"). Hence the nested `settings`, `route` and `offer`; test/model/routing.model.test.ts checks
 * the count on every path.
 */
export interface RoutingContext {
  routingId: string;
  conversationIdentifier: string;
  routingType: RoutingType;
  target: RoutingTarget;
  requested: boolean;
  deadlineAt: number;
  settings: RoutingSettingsOfRequest;
  /** Reps who must not be offered the work: present when it started, or joined since. */
  exclude: string[];
  workItemId?: string;
  correlationId?: string;
  /** Initial routing only. */
  consent?: ConsentRequest;
  /** A POST /route was attempted and the PSR is not known to be gone: clean-up must DELETE it. */
  routeOpen: boolean;
  /** What POST /route told: the PSR, and the queue picks come from (the target queue, a flow's choice or its fallback). */
  route?: { psrId?: string; queueId?: string };
  offer?: RoutingOffer;
  /** Every rep offered the work, in order. */
  offeredTo: string[];
  /** POST /routingResult was sent (successfully or not: it is never sent twice). */
  reported: boolean;
  /** Why the request did not route; set from the input's `rejectReason` for a request refused at once. */
  failure?: RoutingFailure;
  lastError?: string;
  /** When the timer of the waiting state it is in fires (repick, offer timeout, answer grace): absolute, so it survives a restore. */
  dueAt?: number;
}

/** The most keys a routing context may have (see RoutingContext). */
export const MAX_ROUTING_CONTEXT_KEYS = 19;

export type RoutingEvent =
  | { type: 'REP_ACCEPTED'; workId?: string }
  | { type: 'REP_DECLINED'; workId?: string }
  /** ParticipantChanged add: if it is the offered rep, the offer was accepted. */
  | { type: 'REP_JOINED'; userId: string }
  /** Salesforce published a RoutingResult that ends this request (rep cancel, its own timeout). */
  | { type: 'ROUTING_CANCELLED'; cancelReason?: string; failureType: string }
  | { type: 'SESSION_ENDED'; reason: string }
  | { type: 'DEADLINE_REACHED' }
  | { type: 'OFFER_TIMED_OUT' }
  | { type: 'ANSWER_GRACE_OVER' }
  | { type: 'RETRY_PICK' }
  | RoutingAnswer;

/** The steps a routing request calls; each answers with `<step>.ok` (its output) or `<step>.failed` (its error). */
export type RoutingStep = 'consent' | 'route' | 'pick' | 'offer' | 'report' | 'cancel' | 'clear' | 'external';

/** A call's answer, sent back to the routing actor as an event the chart names. */
export type RoutingAnswer = { type: `${RoutingStep}.ok`; output?: unknown } | { type: `${RoutingStep}.failed`; error: unknown };

/** The calls the chart's states make (a state's entry action names one); see callOf(). */
export type RoutingCallName = 'consent' | 'route' | 'pick' | 'offer' | 'reportSuccess' | 'reportFailure' | 'cancelOffer' | 'clear' | 'external';

/** A call as the engine runs it: the step (which names its answer events) and its input. */
export type RoutingCall =
  | { step: 'consent'; input: EffectInput<ConsentRequest> }
  | { step: 'route'; input: EffectInput<RouteRequest> }
  | { step: 'pick'; input: PickRepRequest }
  | { step: 'offer'; input: EffectInput<AgentWorkRequest> }
  | { step: 'report'; input: EffectInput<RoutingResultRequest> }
  | { step: 'cancel'; input: EffectInput<PatchAgentWorkRequest> }
  | { step: 'clear'; input: EffectInput<ClearRouteRequest> }
  | { step: 'external'; input: ExternalRouteRequest };

/** The chart's timers: the routing deadline (while working) and the timer of a waiting state. */
export type RoutingTimer = 'deadline' | 'repick' | 'offer' | 'grace';

export interface RoutingOutput {
  routingId: string;
  routingType: RoutingType;
  outcome: RoutingOutcome;
  acceptedBy?: string;
  message?: string;
  reported: boolean;
  /** Every rep offered the work, in order. */
  offeredTo: string[];
  /**
   * A rep whose offer may still be accepted though the request did not route to them (its
   * AgentWork not known to be closed: unnamed, its cancel refused, or its creation in doubt). The
   * session holds them a seat, as for a rep who accepted, until they join or the seat times out.
   */
  mayJoin?: string;
}

/** What the routing child tells its session while it runs; its end arrives as XState's done event with the output. */
export type RoutingNotification = { type: 'routing.offered'; routingId: string; userId: string; workId?: string; psrId?: string };

// ---- effect inputs: the exact request each step sends (tests assert on these) ----

export interface EffectInput<R> {
  request: R;
  key: string;
  deadlineAt: number;
}

function effectKey(ctx: RoutingContext, step: string): string {
  return stepKey(ctx.conversationIdentifier, ctx.routingId, step);
}

function cleanupDeadline(ctx: RoutingContext): number {
  return Math.max(ctx.deadlineAt, Date.now() + CLEANUP_BUDGET_MS);
}

export function routeRequest(ctx: RoutingContext): RouteRequest {
  const req: RouteRequest = { conversationIdentifier: ctx.conversationIdentifier, routingType: ctx.routingType };
  const t = ctx.target;
  if (t.kind === 'queue') req.routingInfo = { queueId: t.queueId };
  else if (t.kind === 'flow' && t.fallbackQueueId) {
    req.routingInfo = { flow: { flowId: t.flowId, queueId: t.fallbackQueueId } };
  }
  return req;
}

export function agentWorkRequest(ctx: RoutingContext): AgentWorkRequest {
  const req: AgentWorkRequest = { userId: ctx.offer?.userId ?? '', workItemId: ctx.workItemId ?? '' };
  if (ctx.correlationId) {
    req.routingContext = {
      conversationIdentifier: ctx.conversationIdentifier,
      routingType: ctx.routingType,
      routingCorrelationId: ctx.correlationId,
    };
  }
  // Capacity is needed only when no PSR exists (a direct-to-rep offer); with a PSR it is ignored.
  if (!ctx.routeOpen && ctx.settings.capacityWeight !== undefined) req.capacityWeight = ctx.settings.capacityWeight;
  return req;
}

export function routingResultRequest(ctx: RoutingContext, success: boolean): RoutingResultRequest {
  const req: RoutingResultRequest = {
    conversationIdentifier: ctx.conversationIdentifier,
    workItemId: ctx.workItemId ?? '',
    success,
    externallyRouted: ctx.target.kind === 'external',
  };
  if (!ctx.settings.routingTypeUnknown) req.routingType = ctx.routingType;
  if (!success) req.errorMessage = ctx.failure?.message ?? 'routing failed';
  return req;
}

function reportInput(ctx: RoutingContext, success: boolean): EffectInput<RoutingResultRequest> {
  return { request: routingResultRequest(ctx, success), key: effectKey(ctx, 'routingResult'), deadlineAt: ctx.deadlineAt };
}

function cancelWorkInput(ctx: RoutingContext): EffectInput<PatchAgentWorkRequest> {
  return {
    request: { workId: ctx.offer?.workId ?? '', contextType: 'Agent', status: 'Cancel' },
    key: effectKey(ctx, `cancel:${ctx.offer?.workId}`),
    deadlineAt: cleanupDeadline(ctx),
  };
}

/** The exact call a state makes, from the context: the entry action and a restore build it alike. */
export function callOf(name: RoutingCallName, ctx: RoutingContext): RoutingCall {
  switch (name) {
    case 'consent':
      return { step: 'consent', input: { request: ctx.consent!, key: effectKey(ctx, 'consent'), deadlineAt: ctx.deadlineAt } };
    case 'route':
      return { step: 'route', input: { request: routeRequest(ctx), key: effectKey(ctx, 'route'), deadlineAt: ctx.deadlineAt - ctx.settings.reportReserveMs } };
    case 'pick':
      return {
        step: 'pick',
        input: {
          ...(ctx.route?.queueId ? { queueId: ctx.route.queueId } : {}),
          routingType: ctx.routingType,
          conversationIdentifier: ctx.conversationIdentifier,
          exclude: [...new Set([...ctx.exclude, ...ctx.offeredTo])],
        },
      };
    case 'offer':
      return {
        step: 'offer',
        input: { request: agentWorkRequest(ctx), key: effectKey(ctx, `agentWork:${ctx.offeredTo.length + 1}:${ctx.offer?.userId}`), deadlineAt: ctx.deadlineAt - ctx.settings.reportReserveMs },
      };
    case 'reportSuccess':
      return { step: 'report', input: reportInput(ctx, true) };
    case 'reportFailure':
      // Inside the window as always; only a request restored after its window closed (the app was
      // down) reports late, because a late failure beats none.
      return { step: 'report', input: { ...reportInput(ctx, false), ...(Date.now() >= ctx.deadlineAt ? { deadlineAt: cleanupDeadline(ctx) } : {}) } };
    case 'cancelOffer':
      return { step: 'cancel', input: cancelWorkInput(ctx) };
    case 'clear':
      return {
        step: 'clear',
        input: { request: { conversationIdentifier: ctx.conversationIdentifier, cancelReason: ctx.failure?.cancelReason ?? 'Unknown' }, key: effectKey(ctx, 'clearRoute'), deadlineAt: cleanupDeadline(ctx) },
      };
    case 'external':
      return {
        step: 'external',
        input: { conversationIdentifier: ctx.conversationIdentifier, externalId: ctx.target.kind === 'external' ? ctx.target.externalId : '', routingType: ctx.routingType },
      };
  }
}

/** When a timer fires and what it sends; see TimerInput. */
export interface RoutingTimerSpec {
  at: number;
  event: 'DEADLINE_REACHED' | 'RETRY_PICK' | 'OFFER_TIMED_OUT' | 'ANSWER_GRACE_OVER';
  /**
   * For a wait whose purpose is to let an answer arrive: found already due when re-armed after a
   * restore, it waits this long instead of firing at once — the restart delayed the answer too (it
   * is replayed from the stream after the restore), so firing at once would offer the work to
   * another rep while the first has accepted.
   */
  afterRestoreMs?: number;
}

export function timerOf(timer: RoutingTimer, ctx: RoutingContext): RoutingTimerSpec {
  switch (timer) {
    case 'deadline':
      return { at: ctx.deadlineAt - ctx.settings.reportReserveMs, event: 'DEADLINE_REACHED' };
    case 'repick':
      return { at: ctx.dueAt ?? Date.now(), event: 'RETRY_PICK' };
    case 'offer':
      return { at: ctx.dueAt ?? Date.now(), event: 'OFFER_TIMED_OUT' };
    case 'grace':
      return { at: ctx.dueAt ?? Date.now(), event: 'ANSWER_GRACE_OVER', afterRestoreMs: ctx.settings.answerGraceMs };
  }
}

// ---- the machine ----

/**
 * In states with a call in flight that starts work (POST /route, POST /agentWork), an end is noted
 * but not acted on until the call answers: leaving at once would abandon a PSR or an AgentWork that
 * Salesforce is about to create. The adapter bounds each attempt by the call's deadline, so the
 * wait never outlasts the reserve kept for the routingResult.
 */
const INTERRUPTS_WAIT_FOR_CALL = {
  DEADLINE_REACHED: {
    guard: 'deadlineApplies',
    actions: { type: 'fail', params: { outcome: 'timedOut', cancelReason: 'Unavailable', message: 'routing deadline reached' } },
  },
  ROUTING_CANCELLED: { actions: 'failFromCancel' },
  SESSION_ENDED: { actions: 'failFromCancel' },
} as const;

function mayOfferAgain(ctx: RoutingContext, offersMade: number): boolean {
  return ctx.target.kind !== 'rep' && offersMade < ctx.settings.maxOffers && Date.now() < ctx.deadlineAt - ctx.settings.reportReserveMs;
}

/** The context a request starts with (see RoutingContext for why it is shaped so). */
export function routingContextOf(input: RoutingInput): RoutingContext {
  const settings: RoutingSettingsOfRequest = {
    reportReserveMs: input.reportReserveMs,
    offerTimeoutMs: input.offerTimeoutMs,
    maxOffers: input.maxOffers,
    repickIntervalMs: input.repickIntervalMs,
    answerGraceMs: input.answerGraceMs,
  };
  if (input.capacityWeight !== undefined) settings.capacityWeight = input.capacityWeight;
  if (input.routingTypeUnknown) settings.routingTypeUnknown = true;
  const ctx: RoutingContext = {
    routingId: input.routingId,
    conversationIdentifier: input.conversationIdentifier,
    routingType: input.routingType,
    target: input.target,
    requested: input.requested,
    deadlineAt: input.deadlineAt,
    settings,
    exclude: input.exclude,
    routeOpen: false,
    offeredTo: [],
    reported: false,
  };
  if (input.workItemId !== undefined) ctx.workItemId = input.workItemId;
  if (input.correlationId !== undefined) ctx.correlationId = input.correlationId;
  if (input.consent !== undefined) ctx.consent = input.consent;
  if (input.rejectReason !== undefined) ctx.failure = { outcome: 'rejected', cancelReason: 'Cancel', message: input.rejectReason };
  return ctx;
}

/** The offer with `patch` applied (a small object: Object.assign, see extend() in session.ts). */
function offerWith(offer: RoutingOffer | undefined, patch: Partial<RoutingOffer>): RoutingOffer {
  return Object.assign({ userId: '', open: false }, offer, patch);
}

/** The offer once its rep answered: closed, any remembered answer spent. */
function answeredOffer(offer: RoutingOffer | undefined, accepted: boolean): RoutingOffer {
  const out: RoutingOffer = { userId: offer?.userId ?? '', open: false };
  if (offer?.workId) out.workId = offer.workId;
  if (accepted) out.accepted = true;
  return out;
}

export const routingMachine = setup({
  types: {
    context: {} as RoutingContext,
    input: {} as RoutingInput,
    events: {} as RoutingEvent,
    output: {} as RoutingOutput,
  },
  guards: {
    /** Refused at once by the session (participant cap…): its failure came with the input. */
    isRejected: ({ context }) => context.failure !== undefined,
    isExternalConference: ({ context }) =>
      context.target.kind === 'external' && context.routingType === 'Conference',
    isExternal: ({ context }) => context.target.kind === 'external',
    flowHasNoFallbackQueue: ({ context }) =>
      context.target.kind === 'flow' && !context.target.fallbackQueueId,
    workItemUnknown: ({ context }) => !context.workItemId,
    needsConsent: ({ context }) => context.consent !== undefined,
    needsRoute: ({ context }) => context.target.kind !== 'rep',
    flowChoseRep: ({ event }) => {
      const out = (event as unknown as { output?: RouteResponse }).output;
      return typeof out?.contextParamMap?.userId === 'string' && out.contextParamMap.userId !== '';
    },
    isCapabilityError: ({ event }) => isApiError((event as { error?: unknown }).error, 'capability'),
    repPicked: ({ event }) => typeof (event as { output?: unknown }).output === 'string',
    canWaitForRep: ({ context }) => Date.now() + context.settings.repickIntervalMs < context.deadlineAt - context.settings.reportReserveMs,
    mustReport: ({ context }) => context.requested && !context.reported,
    canReport: ({ context }) => context.requested && !context.reported && !!context.workItemId,
    workIsOpen: ({ context }) => !!context.offer?.open && !!context.offer.workId,
    /** An offer made, not answered, whose AgentWork id Salesforce never told (15109 answered its repeat). */
    offerUnnamed: ({ context }) => !!context.offer?.open && !context.offer.workId,
    routeIsOpen: ({ context }) => context.routeOpen,
    answeredAccepted: ({ context }) => context.offer?.answer === 'accepted',
    answeredDeclined: ({ context }) => context.offer?.answer === 'declined',
    isOfferedRep: ({ context, event }) => event.type === 'REP_JOINED' && event.userId === context.offer?.userId,
    canOfferAgain: ({ context }) => mayOfferAgain(context, context.offeredTo.length),
    /** Guards run before actions: the refused offer is not yet in offeredTo, so count it here. */
    canOfferAfterRefusedOffer: ({ context }) => mayOfferAgain(context, context.offeredTo.length + 1),
    /** POST /agentWork failed without an answer even when asked again: its AgentWork may exist. */
    offerInDoubt: ({ event }) => mayHaveBeenApplied((event as { error?: unknown }).error),
    /** An end (deadline, cancel, session end) arrived while a call that starts work was in flight. */
    interrupted: ({ context }) => context.failure !== undefined,
    /** After a RoutingRequested is reported, offers run on their own timers and the deadline no longer ends them. */
    deadlineApplies: ({ context }) => !(context.requested && context.reported),
  },
  actions: {
    // Effects leave from actions and their answers come back as events (`route.ok`, `route.failed`…);
    // timers are armed and disarmed by actions, at absolute times kept in the context. The engine
    // provides these (src/engine/effects.ts); a restored actor runs no entry action, so the engine
    // resumes the call and re-arms the timers of the states it was restored in (resumeRouting).
    call: (_, _params: { call: RoutingCallName }) => {
      throw new NotProvidedError('the routing machine\'s call action');
    },
    arm: (_, _params: { timer: RoutingTimer }) => {
      throw new NotProvidedError('the routing machine\'s arm action');
    },
    disarm: (_, _params: { timer: RoutingTimer }) => {
      throw new NotProvidedError('the routing machine\'s disarm action');
    },
    setDue: assign({ dueAt: ({ context }, params: { after: 'repickIntervalMs' | 'offerTimeoutMs' | 'answerGraceMs' }) => Date.now() + context.settings[params.after] }),
    notifyOffered: sendParent(({ context }): RoutingNotification => ({
      type: 'routing.offered',
      routingId: context.routingId,
      userId: context.offer?.userId ?? '',
      ...(context.offer?.workId ? { workId: context.offer.workId } : {}),
      ...(context.route?.psrId ? { psrId: context.route.psrId } : {}),
    })),
    fail: assign({
      failure: ({ context }, params: RoutingFailure) =>
        context.failure ?? {
          ...params,
          message: context.lastError ? `${params.message} (${context.lastError})` : params.message,
        },
    }),
    failFromCancel: assign({
      failure: ({ context, event }) => {
        if (event.type === 'SESSION_ENDED') {
          return context.failure ?? { outcome: 'ended', cancelReason: 'Cancel', message: `session ended: ${event.reason}` };
        }
        const e = event as Extract<RoutingEvent, { type: 'ROUTING_CANCELLED' }>;
        const byRep = e.cancelReason === 'Cancel';
        return context.failure ?? {
          outcome: byRep ? 'cancelled' : e.cancelReason === 'EndUserEnded' ? 'ended' : 'failed',
          cancelReason: byRep || e.cancelReason === 'EndUserEnded' ? 'Cancel' : 'Unknown',
          message: `Salesforce ended the request (${e.failureType}${e.cancelReason ? `/${e.cancelReason}` : ''})`,
        };
      },
    }),
    recordError: assign({ lastError: ({ event }) => describeError((event as { error?: unknown }).error) }),
    markRouteAttempted: assign({ routeOpen: true }),
    recordRoute: assign(({ context, event }) => {
      const out = (event as unknown as { output: RouteResponse }).output ?? {};
      const t = context.target;
      const route: NonNullable<RoutingContext['route']> = {};
      const psrId = out.psrId ?? context.route?.psrId;
      if (psrId) route.psrId = psrId;
      const queueId = out.contextParamMap?.queueId || (t.kind === 'queue' ? t.queueId : t.kind === 'flow' ? t.fallbackQueueId : undefined);
      if (queueId) route.queueId = queueId;
      const update: Partial<RoutingContext> = { route };
      const workItemId = context.workItemId ?? (out.workItemId ? out.workItemId.slice(0, 15) : undefined);
      if (workItemId) update.workItemId = workItemId;
      const correlationId = context.correlationId ?? out.routingCorrelationId;
      if (correlationId) update.correlationId = correlationId;
      // A flow that chose a rep: the offer goes to them.
      const chosenRep = out.contextParamMap?.userId;
      if (chosenRep) update.offer = { userId: chosenRep, open: false };
      return update;
    }),
    chooseTargetRep: assign({
      offer: ({ context }) => (context.target.kind === 'rep' ? { userId: context.target.userId, open: false } : context.offer),
    }),
    choosePickedRep: assign({ offer: ({ event }) => ({ userId: (event as unknown as { output: string }).output, open: false }) }),
    recordOffer: assign(({ context, event }) => {
      const out = (event as unknown as { output?: AgentWorkResponse }).output ?? {};
      const userId = context.offer?.userId ?? '';
      const offer: RoutingOffer = { userId, open: true };
      if (out.agentWorkId) offer.workId = out.agentWorkId;
      return { offer, offeredTo: [...context.offeredTo, userId] };
    }),
    recordFailedOffer: assign(({ context, event }) => {
      const userId = context.offer?.userId ?? '';
      // Still out when the window closed, or no answer: the AgentWork may exist, and its rep may accept.
      const open = mayHaveBeenApplied((event as { error?: unknown }).error);
      return { offer: { userId, open }, offeredTo: [...context.offeredTo, userId] };
    }),
    excludeJoined: assign({
      exclude: ({ context, event }) => (event.type === 'REP_JOINED' && !context.exclude.includes(event.userId) ? [...context.exclude, event.userId] : context.exclude),
    }),
    rememberAccepted: assign({ offer: ({ context }) => offerWith(context.offer, { answer: 'accepted' }) }),
    rememberDeclined: assign({ offer: ({ context }) => offerWith(context.offer, { answer: 'declined' }) }),
    // Salesforce deletes the PSR itself when a rep accepts.
    recordAccepted: assign(({ context }) => ({ offer: answeredOffer(context.offer, true), routeOpen: false })),
    recordDeclined: assign({ offer: ({ context }) => answeredOffer(context.offer, false) }),
    recordWorkClosed: assign({ offer: ({ context }) => offerWith(context.offer, { open: false }) }),
    recordReported: assign({ reported: true }),
    recordRouteCleared: assign({ routeOpen: false }),
  },
}).createMachine({
  id: 'routing',
  description:
    'One routing request: initial routing of a new conversation, or a RoutingRequested (Transfer or Conference) to a rep, queue, flow or external target.',
  // Built field by field (routingContextOf): at most 19 keys, see RoutingContext.
  context: ({ input }): RoutingContext => routingContextOf(input),
  initial: 'deciding',
  states: {
    deciding: {
      description: 'Choose the call sequence for the routing type and target (reference §5).',
      always: [
        { guard: 'isRejected', target: 'failing' },
        {
          guard: 'isExternalConference',
          target: 'failing',
          actions: { type: 'fail', params: { outcome: 'rejected', cancelReason: 'Cancel', message: 'conferences with external contacts are not supported' } },
        },
        { guard: 'isExternal', target: 'working.routingExternally' },
        {
          guard: 'flowHasNoFallbackQueue',
          target: 'failing',
          actions: { type: 'fail', params: { outcome: 'failed', cancelReason: 'Unknown', message: 'flow routing needs a fallback queue: none in the event or the configuration' } },
        },
        { guard: 'needsConsent', target: 'working.recordingConsent' },
        { guard: 'needsRoute', target: 'working.creatingRoute' },
        {
          guard: 'workItemUnknown',
          target: 'failing',
          actions: { type: 'fail', params: { outcome: 'failed', cancelReason: 'Unknown', message: 'the MessagingSession id (workItemId) of this conversation is unknown' } },
        },
        { target: 'working.offering', actions: 'chooseTargetRep' },
      ],
    },
    working: {
      description: 'Routing is under way; the deadline timer runs.',
      entry: { type: 'arm', params: { timer: 'deadline' } },
      exit: { type: 'disarm', params: { timer: 'deadline' } },
      on: {
        DEADLINE_REACHED: {
          description: 'The routing window less the reserve has passed (an absolute-time timer, re-armed on restore).',
          guard: 'deadlineApplies',
          target: 'failing',
          actions: { type: 'fail', params: { outcome: 'timedOut', cancelReason: 'Unavailable', message: 'routing deadline reached' } },
        },
        ROUTING_CANCELLED: {
          description: 'Salesforce published a RoutingResult ending this request: the rep cancelled (Cancel), the end user left (EndUserEnded) or its own timer ran out.',
          target: 'failing',
          actions: 'failFromCancel',
        },
        SESSION_ENDED: { description: 'The messaging session ended.', target: 'failing', actions: 'failFromCancel' },
        REP_JOINED: {
          description: "A rep joined the conversation (not this request's offered rep): they are never offered this work, since their AgentWork would be refused (15109) or, repeated after a restart, be mistaken for this offer's.",
          actions: 'excludeJoined',
        },
      },
      initial: 'creatingRoute',
      states: {
        recordingConsent: {
          description: 'PATCH /consent: the partner owns consent (initial routing only).',
          entry: { type: 'call', params: { call: 'consent' } },
          on: {
            'consent.ok': [
              { guard: 'needsRoute', target: 'creatingRoute' },
              { target: 'offering', actions: 'chooseTargetRep' },
            ],
            'consent.failed': {
              target: '#routing.failing',
              actions: ['recordError', { type: 'fail', params: { outcome: 'failed', cancelReason: 'Unknown', message: 'PATCH /consent failed' } }],
            },
          },
        },
        creatingRoute: {
          description:
            'POST /route: creates the PendingServiceRouting (queue, flow with fallback queue, or the channel default). An end that arrives meanwhile waits for the answer, so a DELETE /route cannot overtake the PSR it must clear.',
          entry: ['markRouteAttempted', { type: 'call', params: { call: 'route' } }],
          on: {
            ...INTERRUPTS_WAIT_FOR_CALL,
            'route.ok': [
              { guard: 'interrupted', target: '#routing.failing', actions: 'recordRoute' },
              { guard: 'flowChoseRep', target: 'offering', actions: 'recordRoute' },
              { target: 'picking', actions: 'recordRoute' },
            ],
            'route.failed': [
              { guard: 'interrupted', target: '#routing.failing', actions: 'recordError' },
              {
                guard: 'isCapabilityError',
                target: '#routing.failing',
                actions: ['recordError', { type: 'fail', params: { outcome: 'failed', cancelReason: 'Unknown', message: 'the org is not ready for this routing type' } }],
              },
              {
                target: '#routing.failing',
                actions: ['recordError', { type: 'fail', params: { outcome: 'failed', cancelReason: 'Unknown', message: 'POST /route failed' } }],
              },
            ],
          },
        },
        picking: {
          description: "Ask the partner's rep picker (the ACD) for a rep from the queue, excluding reps present or already tried.",
          entry: { type: 'call', params: { call: 'pick' } },
          on: {
            'pick.ok': [
              { guard: 'repPicked', target: 'offering', actions: 'choosePickedRep' },
              { guard: 'canWaitForRep', target: 'waitingForRep' },
              {
                target: '#routing.failing',
                actions: { type: 'fail', params: { outcome: 'unavailable', cancelReason: 'Unavailable', message: 'no rep available' } },
              },
            ],
            'pick.failed': {
              target: '#routing.failing',
              actions: ['recordError', { type: 'fail', params: { outcome: 'failed', cancelReason: 'Unknown', message: 'the rep picker failed' } }],
            },
          },
        },
        waitingForRep: {
          description: 'Nobody can take the work now: ask the picker again shortly, while the deadline allows.',
          entry: [{ type: 'setDue', params: { after: 'repickIntervalMs' } }, { type: 'arm', params: { timer: 'repick' } }],
          exit: { type: 'disarm', params: { timer: 'repick' } },
          on: { RETRY_PICK: { description: 'Time to ask the picker again.', target: 'picking' } },
        },
        offering: {
          description:
            'POST /agentWork: offer the work to the chosen rep (routingContext carries the routing correlation id). An end that arrives meanwhile waits for the answer, so the AgentWork it creates is cancelled rather than left offered.',
          entry: { type: 'call', params: { call: 'offer' } },
          on: {
            ...INTERRUPTS_WAIT_FOR_CALL,
            'offer.ok': [
              { guard: 'interrupted', target: '#routing.failing', actions: ['recordOffer', 'notifyOffered'] },
              { guard: 'mustReport', target: 'reportingSuccess', actions: ['recordOffer', 'notifyOffered'] },
              { target: 'awaitingAcceptance', actions: ['recordOffer', 'notifyOffered'] },
            ],
            'offer.failed': [
              { guard: 'interrupted', target: '#routing.failing', actions: ['recordError', 'recordFailedOffer'] },
              {
                guard: 'isCapabilityError',
                target: '#routing.failing',
                actions: ['recordError', 'recordFailedOffer', { type: 'fail', params: { outcome: 'failed', cancelReason: 'Unknown', message: 'the org is not ready for this routing type' } }],
              },
              {
                // Offering someone else could make two live offers for one request, and two reps join.
                description: 'No answer even when asked again: the AgentWork may exist and its rep may accept, so no one else is offered the work.',
                guard: 'offerInDoubt',
                target: '#routing.failing',
                actions: ['recordError', 'recordFailedOffer', { type: 'fail', params: { outcome: 'failed', cancelReason: 'Unknown', message: 'POST /agentWork got no answer: the AgentWork may exist, so no one else was offered the work' } }],
              },
              { guard: 'canOfferAfterRefusedOffer', target: 'picking', actions: ['recordError', 'recordFailedOffer'] },
              {
                target: '#routing.failing',
                actions: ['recordError', 'recordFailedOffer', { type: 'fail', params: { outcome: 'failed', cancelReason: 'Unknown', message: 'POST /agentWork failed' } }],
              },
            ],
          },
        },
        reportingSuccess: {
          description: 'POST /routingResult success: the work is placed (route → agentWork → routingResult, reference §5.2–5.3).',
          // Counted as sent when it starts: an end arriving mid-call must not add a second routingResult.
          entry: ['recordReported', { type: 'call', params: { call: 'reportSuccess' } }],
          on: {
            // Sent is sent: a failed report is logged and never repeated.
            'report.ok': 'awaitingAcceptance',
            'report.failed': { target: 'awaitingAcceptance', actions: 'recordError' },
            REP_ACCEPTED: { actions: 'rememberAccepted' },
            REP_JOINED: { guard: 'isOfferedRep', actions: 'rememberAccepted' },
            REP_DECLINED: { actions: 'rememberDeclined' },
          },
        },
        awaitingAcceptance: {
          description: 'The rep has the offer; wait for ACCEPTED / DECLINED from the connector, or the offer timeout.',
          always: [
            { guard: 'answeredAccepted', target: '#routing.routed', actions: 'recordAccepted' },
            { guard: 'answeredDeclined', target: 'declined', actions: 'recordDeclined' },
          ],
          entry: [{ type: 'setDue', params: { after: 'offerTimeoutMs' } }, { type: 'arm', params: { timer: 'offer' } }],
          exit: { type: 'disarm', params: { timer: 'offer' } },
          on: {
            REP_ACCEPTED: { description: 'The connector relayed onAgentWorkEvent ACCEPTED for this AgentWork.', target: '#routing.routed', actions: 'recordAccepted' },
            REP_JOINED: { description: 'ParticipantChanged add for the offered rep: the offer was accepted.', guard: 'isOfferedRep', target: '#routing.routed', actions: 'recordAccepted' },
            REP_DECLINED: { description: 'The connector relayed onAgentWorkEvent DECLINED for this AgentWork.', target: 'declined', actions: 'recordDeclined' },
            OFFER_TIMED_OUT: [
              {
                // POST /agentWork repeated after a restart met 15109: the AgentWork exists, but without a
                // deduplicating server nothing tells its id, so it cannot be cancelled. Offering anyone
                // else would make a second live offer: end the request instead.
                description: 'Unanswered, and its AgentWork id is unknown (15109 on a repeat): it cannot be cancelled, so no one else is offered the work.',
                guard: 'offerUnnamed',
                target: '#routing.failing',
                actions: { type: 'fail', params: { outcome: 'noAnswer', cancelReason: 'Unavailable', message: 'no answer to an offer whose AgentWork id is unknown (15109 on a repeat); it could not be cancelled' } },
              },
              { description: 'The rep left the offer unanswered for the offer timeout.', target: 'cancellingOffer' },
            ],
          },
        },
        declined: {
          description: 'The rep declined: offer the work to the next rep while the deadline allows, else clear the route (Decline).',
          always: [
            { guard: 'canOfferAgain', target: 'picking' },
            {
              target: '#routing.failing',
              actions: { type: 'fail', params: { outcome: 'declined', cancelReason: 'Decline', message: 'the rep declined' } },
            },
          ],
        },
        cancellingOffer: {
          description: 'No answer in time: PATCH /agentWork Cancel, then the next rep or clear the route (Unavailable).',
          entry: { type: 'call', params: { call: 'cancelOffer' } },
          on: {
            'cancel.ok': { target: 'unanswered', actions: 'recordWorkClosed' },
            // A refused cancel means the rep answered meanwhile (Salesforce cancels only work not yet
            // accepted or declined) — but which answer is not known yet: wait for it.
            'cancel.failed': { target: 'confirmingAnswer', actions: 'recordError' },
            REP_ACCEPTED: { target: '#routing.routed', actions: 'recordAccepted' },
            REP_JOINED: { guard: 'isOfferedRep', target: '#routing.routed', actions: 'recordAccepted' },
          },
        },
        confirmingAnswer: {
          description:
            'Salesforce refused to cancel the offer: the rep answered meanwhile (the answer may still be on its way, e.g. after a restart). Wait for it before offering anyone else, so two reps never join for one request.',
          // Restored after the grace passed, it waits a whole grace again: the answer it waits for is
          // replayed from the stream only after the restore, so firing at once would offer the work to
          // another rep while the first has accepted.
          entry: [{ type: 'setDue', params: { after: 'answerGraceMs' } }, { type: 'arm', params: { timer: 'grace' } }],
          exit: { type: 'disarm', params: { timer: 'grace' } },
          on: {
            REP_ACCEPTED: { description: 'The rep had accepted.', target: '#routing.routed', actions: 'recordAccepted' },
            REP_JOINED: { description: 'The offered rep joined: they had accepted.', guard: 'isOfferedRep', target: '#routing.routed', actions: 'recordAccepted' },
            REP_DECLINED: { description: 'The rep had declined.', target: 'declined', actions: 'recordDeclined' },
            ANSWER_GRACE_OVER: { description: 'No answer arrived: take the offer as closed and move on.', target: 'unanswered', actions: 'recordWorkClosed' },
          },
        },
        unanswered: {
          description: 'The offer was cancelled unanswered: offer the work to the next rep while the deadline allows, else clear the route (Unavailable).',
          always: [
            { guard: 'canOfferAgain', target: 'picking' },
            {
              target: '#routing.failing',
              actions: { type: 'fail', params: { outcome: 'noAnswer', cancelReason: 'Unavailable', message: 'no rep accepted in time' } },
            },
          ],
        },
        routingExternally: {
          description: "External target: hand the conversation to the partner's external router, then report with externallyRouted: true.",
          entry: { type: 'call', params: { call: 'external' } },
          on: {
            'external.ok': '#routing.reportingExternal',
            'external.failed': {
              target: '#routing.failing',
              actions: ['recordError', { type: 'fail', params: { outcome: 'failed', cancelReason: 'Unknown', message: 'the external transfer failed' } }],
            },
          },
        },
      },
    },
    reportingExternal: {
      description: 'POST /routingResult success with externallyRouted: true.',
      entry: ['recordReported', { type: 'call', params: { call: 'reportSuccess' } }],
      on: {
        'report.ok': 'externallyRouted',
        'report.failed': { target: 'externallyRouted', actions: 'recordError' },
      },
    },
    failing: {
      description: 'Finish a request that did not route: report the failure first (it is deadline-bound), then cancel open work, then clear the PSR.',
      initial: 'reportingFailure',
      states: {
        reportingFailure: {
          description: 'A RoutingRequested not yet reported gets its one routingResult now, with success: false and the reason.',
          always: [{ guard: 'canReport', target: 'sendingFailure' }, { target: 'cancellingWork' }],
        },
        sendingFailure: {
          description: 'POST /routingResult success: false (counted as sent when it starts).',
          // Inside the window as always; only a request restored after its window closed (the app
          // was down) reports late, because a late failure beats none.
          entry: ['recordReported', { type: 'call', params: { call: 'reportFailure' } }],
          on: {
            'report.ok': 'cancellingWork',
            'report.failed': { target: 'cancellingWork', actions: 'recordError' },
          },
        },
        cancellingWork: {
          description: 'An AgentWork still offered is cancelled, so the rep cannot join a request that failed.',
          always: [{ guard: 'workIsOpen', target: 'sendingCancel' }, { target: 'clearingRoute' }],
        },
        sendingCancel: {
          description: 'PATCH /agentWork status Cancel.',
          entry: { type: 'call', params: { call: 'cancelOffer' } },
          on: {
            'cancel.ok': { target: 'clearingRoute', actions: 'recordWorkClosed' },
            // Refused: the rep answered first, perhaps accepting. The offer stays open (not known closed).
            'cancel.failed': { target: 'clearingRoute', actions: 'recordError' },
          },
        },
        clearingRoute: {
          description: 'A PSR that may exist is cleared with the failure’s cancelReason (Decline, Unavailable, Cancel or Unknown).',
          always: [{ guard: 'routeIsOpen', target: 'sendingClear' }, { target: '#routing.failed' }],
        },
        sendingClear: {
          description: 'DELETE /route with cancelReason.',
          entry: { type: 'call', params: { call: 'clear' } },
          on: {
            'clear.ok': { target: '#routing.failed', actions: 'recordRouteCleared' },
            'clear.failed': { target: '#routing.failed', actions: ['recordRouteCleared', 'recordError'] },
          },
        },
      },
    },
    routed: { type: 'final', description: 'A rep accepted the work; Salesforce deleted the PSR.' },
    externallyRouted: { type: 'final', description: 'Handed to an external target and reported.' },
    failed: { type: 'final', description: 'Did not route; reported, work cancelled and PSR cleared as needed.' },
  },
  output: ({ context }) => outputOf(context),
});

function outputOf(ctx: RoutingContext): RoutingOutput {
  const out: RoutingOutput = {
    routingId: ctx.routingId,
    routingType: ctx.routingType,
    outcome: ctx.failure?.outcome ?? (ctx.offer?.accepted ? 'routed' : ctx.target.kind === 'external' ? 'externallyRouted' : 'failed'),
    reported: ctx.reported,
    offeredTo: ctx.offeredTo,
  };
  if (ctx.offer?.accepted) out.acceptedBy = ctx.offer.userId;
  else if (ctx.offer?.open && ctx.offer.userId) out.mayJoin = ctx.offer.userId;
  if (ctx.failure) out.message = ctx.failure.message;
  return out;
}

/**
 * What a restored routing actor must resume, read from the chart itself: the call each state's entry
 * makes and the timers it arms. XState runs no entry action for a restored snapshot.
 */
export function resumeOf(snapshot: { _nodes: ReadonlyArray<{ entry: ReadonlyArray<unknown> }> }): { calls: RoutingCallName[]; timers: RoutingTimer[] } {
  const calls: RoutingCallName[] = [];
  const timers: RoutingTimer[] = [];
  for (const node of snapshot._nodes) {
    for (const a of node.entry as Array<{ type?: string; params?: { call?: RoutingCallName; timer?: RoutingTimer } }>) {
      if (a?.type === 'call' && a.params?.call) calls.push(a.params.call);
      else if (a?.type === 'arm' && a.params?.timer) timers.push(a.params.timer);
    }
  }
  return { calls, timers };
}

/** The actor ref type the engine's actions receive as `self`. */
export type RoutingActorRef = AnyActorRef;

