// What a routing request carries: its input, the context the routing machine keeps (small enough
// for V8 to keep it a fast object, see RoutingContext), the events it handles and the output it
// ends with. The machine itself is src/machines/routing.ts; the calls its states make,
// src/machines/routing-calls.ts.
import type { CancelReason, RoutingType } from '../domain/enums.js';
import type { RoutingTarget } from '../domain/events.js';
import type { ConsentRequest } from '../domain/ports.js';

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

/** What a finished request tells its session (XState's done event carries it). */
export function outputOf(ctx: RoutingContext): RoutingOutput {
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
