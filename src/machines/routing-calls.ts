// The calls and timers of the routing machine's states: the exact request each step sends (tests
// assert on these), built from the context by the entry action and by a restore alike, and what a
// restored actor must resume. The machine itself is src/machines/routing.ts.
import type { RoutingType } from '../domain/enums.js';
import type { RoutingTarget } from '../domain/events.js';
import { stepKey } from '../domain/step-key.js';
import type {
  AgentWorkRequest,
  ClearRouteRequest,
  ConsentRequest,
  ExternalRouteRequest,
  PatchAgentWorkRequest,
  PickRepRequest,
  RouteRequest,
  RoutingResultRequest,
} from '../domain/ports.js';
import type { RoutingContext } from './routing-context.js';

/** Time given to clean-up calls (cancel, clear) that run after the routing deadline has passed. */
export const CLEANUP_BUDGET_MS = 15_000;

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

// ---- effect inputs: the exact request each step sends (tests assert on these) ----

export interface EffectInput<R> {
  request: R;
  key: string;
  deadlineAt: number;
}

function effectKey(ctx: RoutingContext, step: string): string {
  return stepKey(ctx.conversationIdentifier, ctx.routingId, step);
}

function cleanupDeadline(deadlineAt: number): number {
  return Math.max(deadlineAt, Date.now() + CLEANUP_BUDGET_MS);
}

/**
 * A failed routingResult's deadline: inside the window as always; only a request restored after
 * its window closed (the app was down) reports late, because a late failure beats none.
 */
function failureReportDeadline(deadlineAt: number): number {
  return Date.now() >= deadlineAt ? cleanupDeadline(deadlineAt) : deadlineAt;
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

/** What a request's routingResult says: a routing child's (its context), or a refusal's (which has no child). */
function reportRequest(
  conversationIdentifier: string,
  r: { workItemId?: string | undefined; target: RoutingTarget; routingType: RoutingType },
  routingTypeUnknown: boolean | undefined,
  success: boolean,
  errorMessage: string,
): RoutingResultRequest {
  const req: RoutingResultRequest = {
    conversationIdentifier,
    workItemId: r.workItemId ?? '',
    success,
    externallyRouted: r.target.kind === 'external',
  };
  if (!routingTypeUnknown) req.routingType = r.routingType;
  if (!success) req.errorMessage = errorMessage;
  return req;
}

export function routingResultRequest(ctx: RoutingContext, success: boolean): RoutingResultRequest {
  return reportRequest(ctx.conversationIdentifier, ctx, ctx.settings.routingTypeUnknown, success, ctx.failure?.message ?? 'routing failed');
}

function reportInput(ctx: RoutingContext, success: boolean): EffectInput<RoutingResultRequest> {
  return { request: routingResultRequest(ctx, success), key: effectKey(ctx, 'routingResult'), deadlineAt: ctx.deadlineAt };
}

function cancelWorkInput(ctx: RoutingContext): EffectInput<PatchAgentWorkRequest> {
  return {
    request: { workId: ctx.offer?.workId ?? '', contextType: 'Agent', status: 'Cancel' },
    key: effectKey(ctx, `cancel:${ctx.offer?.workId}`),
    deadlineAt: cleanupDeadline(ctx.deadlineAt),
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
      return { step: 'report', input: { ...reportInput(ctx, false), deadlineAt: failureReportDeadline(ctx.deadlineAt) } };
    case 'cancelOffer':
      return { step: 'cancel', input: cancelWorkInput(ctx) };
    case 'clear':
      return {
        step: 'clear',
        input: { request: { conversationIdentifier: ctx.conversationIdentifier, cancelReason: ctx.failure?.cancelReason ?? 'Unknown' }, key: effectKey(ctx, 'clearRoute'), deadlineAt: cleanupDeadline(ctx.deadlineAt) },
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

/**
 * The failed routingResult of a request the session refused at once (session.ts, Refusal): the
 * same request, step key and deadline its routing child sent before refusals had none.
 */
export function refusalReportInput(
  conversationIdentifier: string,
  r: { routingId: string; routingType: RoutingType; target: RoutingTarget; reason: string; deadlineAt: number; workItemId: string; routingTypeUnknown?: boolean },
): EffectInput<RoutingResultRequest> {
  return {
    request: reportRequest(conversationIdentifier, r, r.routingTypeUnknown, false, r.reason),
    key: stepKey(conversationIdentifier, r.routingId, 'routingResult'),
    deadlineAt: failureReportDeadline(r.deadlineAt),
  };
}
