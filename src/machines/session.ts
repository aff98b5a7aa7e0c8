// The session machine: one root actor per conversationIdentifier. It holds the end user, the reps
// present and the MessagingSession id; spawns a routing child per routing request; hands
// agent-work, RoutingResult and ParticipantChanged events to the child that owns them; refuses a
// conference at once when the participant cap is reached (no child: it sends the failed
// routingResult itself); and, when the session ends, lets every child clean up before it stops.
import { and, assign, emit, enqueueActions, sendTo, setup, stopChild } from 'xstate';
import type { RoutingType } from '../domain/enums.js';
import type {
  AgentWorkEvent,
  ParticipantChangedEntry,
  RoutingRequestedEvent,
  RoutingResultEntry,
  RoutingTarget,
  SessionStatusChangedEntry,
} from '../domain/events.js';
import { NotProvidedError } from '../domain/errors.js';
import type { ConsentRequest } from '../domain/ports.js';
import { copyRecord, dropUndefined, filterRecord, own, put, withKey } from './records.js';
import { routingMachine, type RoutingEvent, type RoutingInput, type RoutingNotification, type RoutingOutput } from './routing.js';

/** Routing settings every request of a session uses; the switchboard fills them from its options. */
export interface RoutingSettings {
  /** Salesforce's routing window for a RoutingRequested (60 s), or lower. */
  routingWindowMs: number;
  reportReserveMs: number;
  offerTimeoutMs: number;
  maxOffers: number;
  repickIntervalMs: number;
  /** After a refused cancel, how long to wait for the rep's answer. */
  answerGraceMs: number;
  /** How long initial routing may take before it gives up and clears the PSR. */
  initialRoutingTimeoutMs: number;
  capacityWeight?: number;
  /** min(MaxParticipantsForCnfrOverride, platform cap): reps in a conference, pending invitations included. */
  participantCap: number;
}

export interface SessionInput {
  conversationIdentifier: string;
  channelAddressIdentifier?: string;
  endUserClientId?: string;
  /** MessagingSession id, 15 chars. */
  workItemId?: string;
  /** The MessagingSession's status, when the session is made for a SessionStatusChanged. */
  status?: string;
  settings: RoutingSettings;
}

export interface RepPresence {
  userId: string;
  role: string;
  joinedAt: number;
  displayName?: string;
}

/** What the session knows of one pending routing request. */
export interface PendingRouting {
  routingId: string;
  routingType: RoutingType;
  target: RoutingTarget;
  startedAt: number;
  deadlineAt: number;
  /** Its routing child's id is `routing:<slot>` (see childId). */
  slot: number;
  offeredTo?: string;
  /** The AgentWork id of its offer: the latest one that had an id. */
  workId?: string;
  /** The latest offer had no id (15109 on a repeat): `workId` is an earlier offer's, answered or cancelled. */
  staleWorkId?: boolean;
  psrId?: string;
}

/**
 * A request refused at once (the participant cap, a session ending, a request that cannot be read):
 * it never becomes pending and gets no routing child; the session sends its one failed
 * routingResult itself and keeps it here until that call answers (a restore sends it again).
 */
export interface Refusal {
  routingId: string;
  routingType: RoutingType;
  target: RoutingTarget;
  /** The failed routingResult's errorMessage. */
  reason: string;
  startedAt: number;
  deadlineAt: number;
  /** The MessagingSession id (15 characters) the routingResult names. */
  workItemId: string;
  /** The RoutingRequested named no routing type Salesforce knows: the routingResult names none either. */
  routingTypeUnknown?: boolean;
}

export interface WarmTransfer {
  from: string;
  to: string[];
  at: number;
}

export interface SessionContext extends SessionInput {
  reps: Record<string, RepPresence>;
  /**
   * The pending routing requests, oldest first. A list, not a record keyed by routing id: a session
   * holds a few at most, and a record keyed by ids unique to each request gives V8 a new hidden class
   * for every request ever made (slower reads and copies everywhere, and more memory). Agent-work
   * events find their request by its `workId`.
   */
  routings: PendingRouting[];
  /** Agent-work events that arrived before their POST /agentWork answered. */
  heldWork: AgentWorkEvent[];
  /**
   * AgentWork ids whose offer is over: their request finished, or offered the work again. A late
   * answer for one (the connector's ACCEPTED after the rep's ParticipantChanged, say) is not held
   * and is never taken for an offer without an id. Absent in sessions saved before it existed.
   */
  closedWork?: string[];
  /**
   * Set once a request whose offer had no AgentWork id (15109 on a repeat) has finished. That
   * AgentWork cannot be closed by id, and its rep's late answer names an AgentWork no offer names,
   * so from then on no offer without an id takes such an answer: it could be that rep's. Such an
   * offer still ends on its rep joining (ParticipantChanged names the rep) or on its timeout.
   */
  unnamedOfferEnded?: true;
  /** Routing ids already handled, so a replayed RoutingRequested starts nothing twice. */
  seenRoutingIds: string[];
  transfers: WarmTransfer[];
  /** Requests refused at once whose failed routingResult has not answered yet. */
  refusals: Refusal[];
  /**
   * Reps who accepted an offer but whose ParticipantChanged add has not arrived yet (the connector's
   * ACCEPTED and Pub/Sub are different channels), and reps whose offer may still be accepted after
   * its request ended (RoutingOutput.mayJoin): they hold a seat meanwhile. userId → since.
   */
  joining: Record<string, number>;
  /** Set when the session starts ending: a request that races the end is rejected, not routed. */
  endingReason?: string;
  initialCount: number;
}

export type SessionEvent =
  | { type: 'ROUTING_REQUESTED'; request: RoutingRequestedEvent; receivedAt: number }
  | { type: 'START_ROUTING'; target: RoutingTarget; consent?: ConsentRequest }
  | { type: 'ROUTING_RESULT'; entry: RoutingResultEntry }
  | { type: 'AGENT_WORK'; event: AgentWorkEvent }
  | { type: 'PARTICIPANT_CHANGED'; entry: ParticipantChangedEntry }
  | { type: 'SESSION_STATUS_CHANGED'; entry: SessionStatusChangedEntry }
  | { type: 'END_SESSION'; reason: string }
  | RoutingNotification
  /** The failed routingResult of a request refused at once answered (or failed: it is not sent twice). */
  | { type: 'refusal.reported'; routingId: string }
  /** A routing child reached its final state. */
  | { type: `xstate.done.actor.${string}`; output: RoutingOutput };

/** Emitted to the switchboard (`actor.on(...)`), which turns them into the app's listener calls. */
export type SessionEmitted =
  | { type: 'participant.joined'; conversationIdentifier: string; userId: string; role: string; displayName?: string }
  | { type: 'participant.left'; conversationIdentifier: string; userId: string; role: string; warmTransferTo?: string[] }
  | { type: 'routing.started'; conversationIdentifier: string; routingId: string; routingType: RoutingType; target: RoutingTarget }
  | { type: 'routing.finished'; conversationIdentifier: string; output: RoutingOutput; durationMs: number }
  | { type: 'routing.ignored'; conversationIdentifier: string; reason: string; routingId?: string }
  | { type: 'session.ended'; conversationIdentifier: string; reason: string };

const MAX_HELD_WORK = 32;
const MAX_CLOSED_WORK = 16;
/** How long an accepted rep (or one who may yet accept) holds a seat while their ParticipantChanged is on its way. */
const JOINING_SEAT_MS = 60_000;
const MAX_SEEN_ROUTING_IDS = 64;
const MAX_TRANSFERS = 16;
const TERMINAL_STATUSES = new Set(['Ended', 'Error']);

/**
 * A copy of `o` with `extra` set. Not `{ ...o, key: v }`: on Node 20 a spread followed by keys the
 * source lacks (or keys added to a spread copy afterwards) takes a slow path in V8, about 0.5–1 µs
 * per added key, against ~0.1 µs for an Object.assign onto a fresh literal (bench/, docs/benchmarks.md).
 */
function extend<T extends object, E extends object>(o: T, extra: E): T & E {
  return Object.assign({}, o, extra);
}

/**
 * `list` with `item` appended, the oldest dropped beyond `max`, in an array of exactly that length.
 * Not a push onto a copy, nor `[...list, item]`: both grow the backing store with spare slots (a
 * one-element array takes 184 bytes instead of 56), which every session keeps as long as it lives,
 * asleep too. `concat` allocates the exact length.
 */
function appendBounded<T>(list: readonly T[], item: T, max: number): T[] {
  return (list.length < max ? list : list.slice(list.length + 1 - max)).concat([item]);
}

function isRep(role: string, appType: string): boolean {
  return role === 'Agent' || role === 'Supervisor' || appType === 'agent';
}

/**
 * The id of a pending routing's child: `routing:<slot>`, the slot the smallest free when it started.
 * Not the routing id: XState caches the transitions it finds for each event type on the chart's
 * state nodes, for as long as the engine runs, and a child's end reaches its session as an event
 * named after the child (`xstate.done.actor.<id>`). Named after each routing, that cache grew by
 * every routing ever finished (about 400 bytes each); named after slots, it holds a few names.
 */
function childId(ctx: Pick<SessionContext, 'routings'>, routingId: string): string {
  return `routing:${routingOf(ctx, routingId)?.slot ?? routingId}`;
}

/** The child of a pending routing in hand (childId without the lookup). */
function childOf(pending: PendingRouting): string {
  return `routing:${pending.slot}`;
}

function freeSlot(routings: PendingRouting[]): number {
  let slot = 0;
  while (routings.some((r) => r.slot === slot)) slot += 1;
  return slot;
}

/** The pending routing with this id. */
function routingOf(ctx: Pick<SessionContext, 'routings'>, routingId: string): PendingRouting | undefined {
  return ctx.routings.find((r) => r.routingId === routingId);
}

/** The refusal of a request refused at once, while its failed routingResult is out. */
function refusalOf(ctx: Pick<SessionContext, 'refusals'>, routingId: string): Refusal | undefined {
  return ctx.refusals.find((r) => r.routingId === routingId);
}

/** The pending routing whose current offer is this AgentWork. */
function offerOf(routings: PendingRouting[], workId: string): PendingRouting | undefined {
  return routings.find((r) => r.workId === workId && !r.staleWorkId);
}

/**
 * The pending routing an agent-work answer is for: the one whose current offer is that AgentWork,
 * else the one offer made without an id (POST /agentWork answered 15109 and named none) when there
 * is exactly one — unless an earlier request's offer without an id has ended (unnamedOfferEnded).
 */
function ownerOfWork(ctx: Pick<SessionContext, 'routings' | 'unnamedOfferEnded'>, workId: string): PendingRouting | undefined {
  const routings = ctx.routings;
  const owner = offerOf(routings, workId);
  if (owner || ctx.unnamedOfferEnded) return owner;
  const unnamed = routings.filter((r) => r.offeredTo && !r.workId);
  return unnamed.length === 1 ? unnamed[0] : undefined;
}

/** Whether this AgentWork's offer is over (see SessionContext.closedWork). */
function isClosedWork(ctx: Pick<SessionContext, 'closedWork'>, workId: string): boolean {
  return ctx.closedWork !== undefined && ctx.closedWork.includes(workId);
}

/** The closed AgentWork ids with `workId` among them (the oldest dropped beyond the bound). */
function closingWork(ctx: Pick<SessionContext, 'closedWork'>, workId: string): string[] | undefined {
  return isClosedWork(ctx, workId) ? ctx.closedWork : appendBounded(ctx.closedWork ?? [], workId, MAX_CLOSED_WORK);
}

/**
 * The closed AgentWork ids once a request's new offer is recorded: with its earlier offer's, when
 * the new one names another (the same list when nothing is replaced).
 */
function closedAfterOffer(ctx: SessionContext, event: RoutingNotification): string[] | undefined {
  const previous = routingOf(ctx, event.routingId)?.workId;
  return previous !== undefined && previous !== event.workId ? closingWork(ctx, previous) : ctx.closedWork;
}

/**
 * Whether a finished request may have left an AgentWork whose id the session never learnt, so it
 * cannot be closed by id (see unnamedOfferEnded): its last offer had no id of its own (15109 on a
 * repeat, the id kept being the offer's before), or a rep may still accept an offer other than the
 * named one it knows (POST /agentWork in doubt).
 */
function leftUnknownWork(pending: PendingRouting | undefined, output: RoutingOutput): boolean {
  const namedOfferOpen = pending?.workId !== undefined && !pending.staleWorkId;
  if (pending?.offeredTo !== undefined && !namedOfferOpen) return true;
  return output.mayJoin !== undefined && !(namedOfferOpen && pending?.offeredTo === output.mayJoin);
}

/**
 * The pending routings once a child's offer is recorded on its request. The offer's AgentWork id is
 * the one agent-work events find it by. An offer without one (POST /agentWork answered 15109 on a
 * repeat) keeps the id of the offer before it, marked stale: that AgentWork's late answers no
 * longer find the request, and it is never taken for unnamed. (Guarded: the request is pending.)
 */
function offeredRoutings(ctx: SessionContext, event: RoutingNotification): PendingRouting[] {
  const pending = routingOf(ctx, event.routingId)!;
  const { routingId, routingType, target, startedAt, deadlineAt, slot } = pending;
  const offered: PendingRouting = { routingId, routingType, target, startedAt, deadlineAt, slot, offeredTo: event.userId };
  if (event.workId) offered.workId = event.workId;
  else if (pending.workId) Object.assign(offered, { workId: pending.workId, staleWorkId: true });
  const psrId = event.psrId ?? pending.psrId;
  if (psrId) offered.psrId = psrId;
  return replaceRouting(ctx.routings, offered);
}

/** The routing a finished child reports on (its done event's output). */
function finishedRouting(event: SessionEvent): string | undefined {
  return event.type.startsWith('xstate.done.actor.') && 'output' in event ? event.output.routingId : undefined;
}

/** The pending routings with `pending` in place of the one with its id. */
function replaceRouting(routings: PendingRouting[], pending: PendingRouting): PendingRouting[] {
  return routings.map((r) => (r.routingId === pending.routingId ? pending : r));
}

/**
 * Reps in the conference, reps who accepted and are joining, and invitations still pending: what
 * the cap is checked against. A pending initial routing is a seat too: its rep joins a session
 * that has none yet (a restart can leave it pending while conferences arrive).
 */
export function occupiedSeats(ctx: SessionContext, now = Date.now()): number {
  const pendingInvites = ctx.routings.filter((r) => r.routingType === 'Conference' || r.routingType === 'Initial').length;
  const joining = Object.entries(ctx.joining ?? {}).filter(([userId, at]) => !own(ctx.reps, userId) && now - at < JOINING_SEAT_MS).length;
  return Object.keys(ctx.reps).length + joining + pendingInvites;
}

type RoutingInputBase = Pick<RoutingInput, 'routingId' | 'routingType' | 'target' | 'requested' | 'deadlineAt'> &
  Partial<Pick<RoutingInput, 'correlationId' | 'routingTypeUnknown' | 'rejectReason' | 'consent'>>;

function routingInput(ctx: SessionContext, base: RoutingInputBase): RoutingInput {
  const s = ctx.settings;
  const input: RoutingInput = {
    conversationIdentifier: ctx.conversationIdentifier,
    reportReserveMs: s.reportReserveMs,
    offerTimeoutMs: s.offerTimeoutMs,
    maxOffers: s.maxOffers,
    repickIntervalMs: s.repickIntervalMs,
    answerGraceMs: s.answerGraceMs,
    exclude: Object.keys(ctx.reps),
    routingId: base.routingId,
    routingType: base.routingType,
    target: base.target,
    requested: base.requested,
    deadlineAt: base.deadlineAt,
  };
  // Field by field, not a spread of `base`: keys a spread adds take V8's slow path (see extend()).
  if (base.correlationId !== undefined) input.correlationId = base.correlationId;
  if (base.routingTypeUnknown) input.routingTypeUnknown = true;
  if (base.rejectReason !== undefined) input.rejectReason = base.rejectReason;
  if (base.consent !== undefined) input.consent = base.consent;
  if (ctx.workItemId) input.workItemId = ctx.workItemId;
  if (s.capacityWeight !== undefined) input.capacityWeight = s.capacityWeight;
  return input;
}

/**
 * The pending routing a Salesforce RoutingResult speaks of: the one whose PSR it names, when known
 * (a PSR id reaches the session with the offer); else the newest of its routing type — a rep cancels
 * the request they made last. Salesforce's cancel carries no routing event id to be sure.
 */
function routingForResult(ctx: SessionContext, entry: RoutingResultEntry): string | undefined {
  const byPsr = entry.pendingServiceRoutingId ? ctx.routings.find((r) => r.psrId === entry.pendingServiceRoutingId) : undefined;
  if (byPsr) return byPsr.routingId;
  // A request refused at once whose report is still out counts as the newest too (as when it was a
  // routing child): a cancel aimed at it must not end an older request that is still routing.
  const candidates: Array<{ routingId: string; startedAt: number }> = [
    ...ctx.routings.filter((r) => r.routingType === entry.routingType),
    ...ctx.refusals.filter((r) => r.routingType === entry.routingType),
  ];
  candidates.sort((a, b) => b.startedAt - a.startedAt);
  return candidates[0]?.routingId;
}

export const sessionMachine = setup({
  types: {
    context: {} as SessionContext,
    input: {} as SessionInput,
    events: {} as SessionEvent,
    emitted: {} as SessionEmitted,
  },
  actors: { routing: routingMachine },
  guards: {
    noRoutingsLeft: ({ context }) => context.routings.length === 0 && context.refusals.length === 0,
    isTerminalStatus: ({ event }) =>
      event.type === 'SESSION_STATUS_CHANGED' && TERMINAL_STATUSES.has(event.entry.sessionStatus),
    /** A routing.offered for a request still pending (its child reports the offer it made). */
    offersPendingRouting: ({ context, event }) => event.type === 'routing.offered' && routingOf(context, event.routingId) !== undefined,
    /** Agent-work answers are held for offers not yet known: one may be this offer's. */
    holdsAgentWork: ({ context }) => context.heldWork.length > 0,
    /** An ACCEPTED or DECLINED for an AgentWork whose offer is over. */
    answersClosedOffer: ({ context, event }) => event.type === 'AGENT_WORK' && toRoutingEvent(event.event) !== undefined && isClosedWork(context, event.event.workId),
    /** An ACCEPTED or DECLINED whose offer is known. */
    answersKnownOffer: ({ context, event }) =>
      event.type === 'AGENT_WORK' && toRoutingEvent(event.event) !== undefined && ownerOfWork(context, event.event.workId) !== undefined,
    /** An ACCEPTED or DECLINED (other agent-work events change nothing). */
    isAgentWorkAnswer: ({ event }) => event.type === 'AGENT_WORK' && toRoutingEvent(event.event) !== undefined,
    /** A routing child finished while its request is still pending here. */
    finishesPendingRouting: ({ context, event }) => {
      const id = finishedRouting(event);
      return id !== undefined && routingOf(context, id) !== undefined;
    },
    /** The failed routingResult of a request refused at once answered, while the session still holds the refusal. */
    answersRefusal: ({ context, event }) => event.type === 'refusal.reported' && refusalOf(context, event.routingId) !== undefined,
  },
  actions: {
    startRequestedRouting: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'ROUTING_REQUESTED') return;
      const req = event.request;
      if (routingOf(context, req.routingEventId) || refusalOf(context, req.routingEventId) || context.seenRoutingIds.includes(req.routingEventId)) {
        enqueue.emit({ type: 'routing.ignored', conversationIdentifier: context.conversationIdentifier, routingId: req.routingEventId, reason: 'duplicate RoutingRequested' });
        return;
      }
      // An unreadable request is refused whatever the session's state: its answer says why.
      let rejectReason = req.refusal;
      const seats = occupiedSeats(context);
      if (rejectReason === undefined && context.endingReason !== undefined) rejectReason = `the messaging session is ending (${context.endingReason})`;
      else if (rejectReason === undefined && req.routingType === 'Conference' && seats >= context.settings.participantCap) {
        rejectReason = `participant cap reached (${seats} of ${context.settings.participantCap})`;
      }
      const deadlineAt = event.receivedAt + context.settings.routingWindowMs;
      const workItemId = context.workItemId ?? (req.workRecordId ? req.workRecordId.slice(0, 15) : undefined);
      const seenRoutingIds = appendBounded(context.seenRoutingIds, req.routingEventId, MAX_SEEN_ROUTING_IDS);
      const learnt = req.endUserClientId && !context.endUserClientId ? { endUserClientId: req.endUserClientId } : {};
      if (rejectReason !== undefined) {
        // Refused at once: no routing child. Its one failed routingResult leaves from here.
        enqueue.emit({ type: 'routing.started', conversationIdentifier: context.conversationIdentifier, routingId: req.routingEventId, routingType: req.routingType, target: req.target });
        if (!workItemId) {
          // No MessagingSession id: no routingResult can name it (Salesforce's own timeout answers the request).
          enqueue.assign({ seenRoutingIds, ...learnt });
          enqueue.emit({ type: 'routing.finished', conversationIdentifier: context.conversationIdentifier, output: refusedOutput(req.routingEventId, req.routingType, rejectReason, false), durationMs: Date.now() - event.receivedAt });
          return;
        }
        const refusal: Refusal = { routingId: req.routingEventId, routingType: req.routingType, target: req.target, reason: rejectReason, startedAt: event.receivedAt, deadlineAt, workItemId };
        if (req.routingTypeUnknown) refusal.routingTypeUnknown = true;
        enqueue.assign({
          refusals: [...context.refusals, refusal],
          seenRoutingIds,
          workItemId,
          ...learnt,
        });
        // Named, so the engine's implementation (provide) runs; typed loosely: setup's own actions cannot name their siblings.
        enqueue({ type: 'reportRefusal', params: { routingId: req.routingEventId } } as never);
        return;
      }
      const base: RoutingInputBase = { routingId: req.routingEventId, routingType: req.routingType, target: req.target, requested: true, deadlineAt };
      // A derived key is ours, not Salesforce's: POST /route's routingCorrelationId stands in.
      if (!req.routingEventIdDerived) base.correlationId = req.routingEventId;
      if (req.routingTypeUnknown) base.routingTypeUnknown = true;
      const input = routingInput(workItemId ? extend(context, { workItemId }) : context, base);
      const pending: PendingRouting = {
        routingId: req.routingEventId,
        routingType: req.routingType,
        target: req.target,
        startedAt: event.receivedAt,
        deadlineAt,
        slot: freeSlot(context.routings),
      };
      const routings = [...context.routings, pending];
      enqueue.assign({
        routings,
        seenRoutingIds,
        ...(workItemId ? { workItemId } : {}),
        ...learnt,
      });
      enqueue.spawnChild('routing', { id: childId({ routings }, req.routingEventId), input });
      enqueue.emit({ type: 'routing.started', conversationIdentifier: context.conversationIdentifier, routingId: req.routingEventId, routingType: req.routingType, target: req.target });
    }),
    startInitialRouting: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'START_ROUTING') return;
      const now = Date.now();
      // Unique per MessagingSession: its step keys (and so its journal entries and RequestIds) must
      // never collide with those of an earlier session of the same conversation.
      const routingId = `initial-${context.initialCount + 1}${context.workItemId ? `-${context.workItemId}` : ''}`;
      const base: RoutingInputBase = { routingId, routingType: 'Initial', target: event.target, requested: false, deadlineAt: now + context.settings.initialRoutingTimeoutMs };
      if (event.consent) base.consent = event.consent;
      const input = routingInput(context, base);
      const routings: PendingRouting[] = [...context.routings, { routingId, routingType: 'Initial', target: event.target, startedAt: now, deadlineAt: input.deadlineAt, slot: freeSlot(context.routings) }];
      enqueue.assign({ initialCount: context.initialCount + 1, routings });
      enqueue.spawnChild('routing', { id: childId({ routings }, routingId), input });
      enqueue.emit({ type: 'routing.started', conversationIdentifier: context.conversationIdentifier, routingId, routingType: 'Initial', target: event.target });
    }),
    recordOffer: assign(({ context, event }) => {
      const update: Partial<SessionContext> = { routings: offeredRoutings(context, event as RoutingNotification) };
      const closedWork = closedAfterOffer(context, event as RoutingNotification);
      if (closedWork !== context.closedWork) update.closedWork = closedWork;
      return update;
    }),
    recordOfferReplayingHeld: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'routing.offered') return;
      const routings = offeredRoutings(context, event);
      const closedWork = closedAfterOffer(context, event);
      // An offer without an id owns the answers held for no known AgentWork, when it is the only
      // such offer — as forwardAgentWork does for later ones — but never one whose offer is over,
      // nor any once an earlier offer without an id has ended (its rep's answer may be among them).
      const unnamedOnly = !event.workId && !context.unnamedOfferEnded && routings.every((r) => r.routingId === event.routingId || !r.offeredTo || r.workId);
      const held = event.workId
        ? context.heldWork.filter((w) => w.workId === event.workId)
        : unnamedOnly
          ? context.heldWork.filter((w) => !offerOf(routings, w.workId) && !isClosedWork({ closedWork }, w.workId))
          : [];
      const heldIds = new Set(held.map((w) => w.workId));
      const update: Partial<SessionContext> = {
        routings,
        heldWork: held.length ? context.heldWork.filter((w) => !heldIds.has(w.workId)) : context.heldWork,
      };
      if (closedWork !== context.closedWork) update.closedWork = closedWork;
      enqueue.assign(update);
      for (const w of held) {
        const routed = toRoutingEvent(w);
        if (routed) enqueue.sendTo(childId(context, event.routingId), routed);
      }
    }),
    // A finished child, in this order: stopped and announced while its pending entry still names
    // its slot and start, then dropped from the pending routings.
    stopFinishedChild: stopChild(({ context, event }) => childId(context, finishedRouting(event)!)),
    announceRoutingFinished: emit(({ context, event }) => {
      const output = (event as Extract<SessionEvent, { output: RoutingOutput }>).output;
      return { type: 'routing.finished' as const, conversationIdentifier: context.conversationIdentifier, output, durationMs: Date.now() - routingOf(context, output.routingId)!.startedAt };
    }),
    dropFinishedRouting: assign(({ context, event }) => {
      const output = (event as Extract<SessionEvent, { output: RoutingOutput }>).output;
      // The rep who accepted, or one whose offer may still be accepted (mayJoin), holds a seat until they join.
      const accepted = output.outcome === 'routed' ? output.acceptedBy : undefined;
      let joining = context.joining ?? {};
      for (const rep of [accepted, output.mayJoin]) if (rep && !own(context.reps, rep)) joining = withKey(joining, rep, Date.now());
      const routings = context.routings.filter((r) => r.routingId !== output.routingId);
      const update: Partial<SessionContext> = { routings, joining };
      // Its AgentWork's offer is over: a late answer for it is no one's, not even an unnamed offer's.
      // An offer without an id (or whose id is the one before it) cannot be closed by id: see unnamedOfferEnded.
      const pending = routingOf(context, output.routingId);
      if (pending?.workId !== undefined) update.closedWork = closingWork(context, pending.workId);
      if (leftUnknownWork(pending, output)) update.unnamedOfferEnded = true;
      return update;
    }),
    forwardAgentWork: sendTo(
      ({ context, event }) => childOf(ownerOfWork(context, (event as Extract<SessionEvent, { type: 'AGENT_WORK' }>).event.workId)!),
      ({ event }) => toRoutingEvent((event as Extract<SessionEvent, { type: 'AGENT_WORK' }>).event)!,
    ),
    // The relay can beat our own POST /agentWork response: the answer waits for its offer.
    holdAgentWork: assign({
      heldWork: ({ context, event }) => appendBounded(context.heldWork, (event as Extract<SessionEvent, { type: 'AGENT_WORK' }>).event, MAX_HELD_WORK),
    }),
    forwardRoutingResult: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'ROUTING_RESULT' || event.entry.failureType === 'None') return;
      const routingId = routingForResult(context, event.entry);
      // Aimed at a request refused at once: nothing to cancel (its failed routingResult is out).
      if (routingId && !routingOf(context, routingId)) return;
      if (!routingId) {
        enqueue.emit({ type: 'routing.ignored', conversationIdentifier: context.conversationIdentifier, reason: `RoutingResult ${event.entry.failureType} for no pending ${event.entry.routingType} request` });
        return;
      }
      const cancel: RoutingEvent = { type: 'ROUTING_CANCELLED', failureType: event.entry.failureType, ...(event.entry.cancelReason ? { cancelReason: event.entry.cancelReason } : {}) };
      enqueue.sendTo(childId(context, routingId), cancel);
    }),
    applyParticipantChanges: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'PARTICIPANT_CHANGED') return;
      const reps: Record<string, RepPresence | undefined> = copyRecord<RepPresence | undefined>(context.reps);
      const now = Date.now();
      const left: RepPresence[] = [];
      const joined: string[] = [];
      for (const change of event.entry.entries) {
        const { subject: userId, role, appType } = change.participant;
        if (!isRep(role, appType)) continue;
        if (own(context.joining, userId) !== undefined) joined.push(userId);
        if (change.operation === 'add' && !own(reps, userId)) {
          put<RepPresence | undefined>(reps, userId, { userId, role, joinedAt: now, ...(change.displayName ? { displayName: change.displayName } : {}) });
          enqueue.emit({ type: 'participant.joined', conversationIdentifier: context.conversationIdentifier, userId, role, ...(change.displayName ? { displayName: change.displayName } : {}) });
          for (const r of context.routings) enqueue.sendTo(childOf(r), { type: 'REP_JOINED', userId });
        } else if (change.operation === 'remove' && own(reps, userId)) {
          left.push(own(reps, userId)!);
          put<RepPresence | undefined>(reps, userId, undefined); // dropped below: no `delete` (see withoutKey)
        }
      }
      const present = left.length ? dropUndefined(reps) : (reps as Record<string, RepPresence>);
      // A warm transfer: reps overlapped, then the one who was there first left while they stay.
      // Judged after the whole entry, so everyone leaving at once (the session ending) is no transfer.
      let transfers = context.transfers;
      for (const leaving of left) {
        const stayed = Object.values(present).filter((r) => r.joinedAt >= leaving.joinedAt).map((r) => r.userId);
        if (stayed.length > 0) transfers = [...transfers, { from: leaving.userId, to: stayed, at: now }].slice(-MAX_TRANSFERS);
        enqueue.emit({ type: 'participant.left', conversationIdentifier: context.conversationIdentifier, userId: leaving.userId, role: leaving.role, ...(stayed.length ? { warmTransferTo: stayed } : {}) });
      }
      const joining = joined.length ? filterRecord(context.joining ?? {}, (u) => !joined.includes(u)) : (context.joining ?? {});
      enqueue.assign({ reps: present, transfers, joining });
    }),
    applyStatus: assign(({ context, event }) => statusUpdate(context, event)),
    /** A terminal status with nothing left to end: the status and the ending's reason in one update. */
    applyEndingStatus: assign(({ context, event }) => {
      const update = statusUpdate(context, event);
      update.endingReason = endingReasonOf(event);
      return update;
    }),
    endChildren: enqueueActions(({ context, event, enqueue }) => {
      const reason = endingReasonOf(event);
      enqueue.assign({ endingReason: reason });
      for (const r of context.routings) enqueue.sendTo(childOf(r), { type: 'SESSION_ENDED', reason });
    }),
    // The engine provides it (src/engine/routing-driver.ts): POST /routingResult for the refusal, its
    // answer coming back as `refusal.reported`. A restored session runs no action: the engine sends
    // the routingResults of the refusals it holds again (the journal decides whether that repeats one).
    reportRefusal: (_, _params: { routingId: string }) => {
      throw new NotProvidedError('the session machine\'s reportRefusal action');
    },
    announceRefusalFinished: emit(({ context, event }) => {
      const refusal = refusalOf(context, (event as Extract<SessionEvent, { type: 'refusal.reported' }>).routingId)!;
      return { type: 'routing.finished' as const, conversationIdentifier: context.conversationIdentifier, output: refusedOutput(refusal.routingId, refusal.routingType, refusal.reason, true), durationMs: Date.now() - refusal.startedAt };
    }),
    dropRefusal: assign({
      refusals: ({ context, event }) => context.refusals.filter((r) => r.routingId !== (event as Extract<SessionEvent, { type: 'refusal.reported' }>).routingId),
    }),
    announceEnded: emit(({ context }) => ({ type: 'session.ended' as const, conversationIdentifier: context.conversationIdentifier, reason: context.endingReason ?? 'ended' })),
  },
}).createMachine({
  id: 'session',
  description: 'One messaging session (conversationIdentifier): its participants, a routing child per pending routing request, and the failed routingResults of requests it refused at once.',
  context: ({ input }): SessionContext =>
    extend(input, {
      reps: {},
      routings: [],
      heldWork: [],
      closedWork: [],
      seenRoutingIds: [],
      transfers: [],
      refusals: [],
      joining: {},
      initialCount: 0,
    }),
  initial: 'active',
  on: {
    'refusal.reported': {
      description: 'The failed routingResult of a request refused at once has answered: the request is finished.',
      guard: 'answersRefusal',
      actions: ['announceRefusalFinished', 'dropRefusal'],
    },
    'routing.offered': [
      {
        description: 'A routing child created an AgentWork while answers wait for an offer: index it so agent-work events reach that child, and replay the answers that are its own.',
        guard: and(['offersPendingRouting', 'holdsAgentWork']),
        actions: 'recordOfferReplayingHeld',
      },
      { description: 'A routing child created an AgentWork: index it so agent-work events reach that child.', guard: 'offersPendingRouting', actions: 'recordOffer' },
    ],
    'xstate.done.actor.*': {
      description: 'A routing child finished: stop it, announce its outcome and drop it.',
      guard: 'finishesPendingRouting',
      actions: ['stopFinishedChild', 'announceRoutingFinished', 'dropFinishedRouting'],
    },
    AGENT_WORK: [
      {
        description: 'An answer for an AgentWork whose offer is over (its request finished, or offered the work again; e.g. ACCEPTED relayed after the rep joined): no request waits for it, and no offer without an id may take it.',
        guard: 'answersClosedOffer',
      },
      { description: 'onAgentWorkEvent from the connector relay: ACCEPTED / DECLINED go to the child that owns the AgentWork.', guard: 'answersKnownOffer', actions: 'forwardAgentWork' },
      { description: 'An answer that beat its own POST /agentWork response: held until that offer is known (routing.offered).', guard: 'isAgentWorkAnswer', actions: 'holdAgentWork' },
    ],
    ROUTING_RESULT: { description: 'A RoutingResult entry from Salesforce: a failure or cancel goes to the pending request it names (newest of its routing type).', actions: 'forwardRoutingResult' },
    PARTICIPANT_CHANGED: { description: 'Reps joined or left: update who is present, record warm transfers, tell routing children who joined.', actions: 'applyParticipantChanges' },
  },
  states: {
    active: {
      description: 'Conversation live: routing requests start routing children; a conference beyond the cap is refused at once, with no child: the session sends its failed routingResult itself.',
      on: {
        ROUTING_REQUESTED: { description: 'A rep asked for a Transfer or Conference: start a routing child (or refuse it at once at the cap: its failed routingResult leaves from the session); a replayed request starts nothing.', actions: 'startRequestedRouting' },
        START_ROUTING: { description: 'Initial routing of a new conversation (after POST /interactions).', actions: 'startInitialRouting' },
        SESSION_STATUS_CHANGED: [
          {
            description: 'The session ended (Ended or Error) with no request pending: nothing to clean up, the session stops.',
            guard: and(['isTerminalStatus', 'noRoutingsLeft']),
            target: 'ended',
            actions: 'applyEndingStatus',
          },
          { description: 'The session ended (Ended or Error).', guard: 'isTerminalStatus', target: 'ending', actions: 'applyStatus' },
          { description: 'Any other status: remembered; its sessionId gives the MessagingSession id.', actions: 'applyStatus' },
        ],
        END_SESSION: { description: 'The app ends the session.', target: 'ending' },
      },
    },
    ending: {
      description: 'The session ended: every routing child cancels its work, clears its PSR and reports, then the session stops.',
      entry: 'endChildren',
      always: { guard: 'noRoutingsLeft', target: 'ended' },
      on: {
        // A request that races the end still gets its one routingResult: the child reports the failure.
        ROUTING_REQUESTED: { actions: 'startRequestedRouting' },
        SESSION_STATUS_CHANGED: { actions: 'applyStatus' },
      },
    },
    ended: { type: 'final', description: 'No routing left; the switchboard drops the actor.', entry: 'announceEnded' },
  },
});

/** What a SessionStatusChanged tells the session: its status, and its MessagingSession id if not yet known. */
function statusUpdate(ctx: SessionContext, event: SessionEvent): Partial<SessionContext> {
  const entry = (event as Extract<SessionEvent, { type: 'SESSION_STATUS_CHANGED' }>).entry;
  const update: Partial<SessionContext> = { status: entry.sessionStatus };
  if (!ctx.workItemId && entry.sessionId) update.workItemId = entry.sessionId.slice(0, 15);
  return update;
}

/** Why the session is ending, as `endingReason` and `session.ended` say it. */
function endingReasonOf(event: SessionEvent): string {
  return event.type === 'END_SESSION' ? event.reason : event.type === 'SESSION_STATUS_CHANGED' ? `status ${event.entry.sessionStatus}` : 'session ended';
}

/** What a request refused at once reports as its outcome: what its routing child reported before refusals had none. */
function refusedOutput(routingId: string, routingType: RoutingType, reason: string, reported: boolean): RoutingOutput {
  return { routingId, routingType, outcome: 'rejected', reported, offeredTo: [], message: reason };
}

function toRoutingEvent(w: AgentWorkEvent): RoutingEvent | undefined {
  if (w.workEvent === 'ACCEPTED') return { type: 'REP_ACCEPTED', workId: w.workId };
  if (w.workEvent === 'DECLINED') return { type: 'REP_DECLINED', workId: w.workId };
  return undefined;
}
