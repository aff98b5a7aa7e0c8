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
import { describeError, isApiError, mayHaveBeenApplied, NotProvidedError } from '../domain/errors.js';
import type { AgentWorkResponse, RouteResponse } from '../domain/ports.js';
import type { RoutingCallName, RoutingTimer } from './routing-calls.js';
import {
  outputOf,
  routingContextOf,
  type RoutingContext,
  type RoutingEvent,
  type RoutingFailure,
  type RoutingInput,
  type RoutingNotification,
  type RoutingOffer,
  type RoutingOutput,
} from './routing-context.js';

// The request's data and the calls its states make live in rooms of their own; importers of the
// routing machine find them here too.
export * from './routing-context.js';
export * from './routing-calls.js';

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

/** The actor ref type the engine's actions receive as `self`. */
export type RoutingActorRef = AnyActorRef;
