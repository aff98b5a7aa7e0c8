// An in-memory InteractionService that records every call and answers as Salesforce would, with
// failures that can be scripted per endpoint. Used by unit tests and by partners testing their own
// app code without an org; the got-based adapter is the production implementation.
import { randomUUID } from 'node:crypto';
import { StoppedError } from '../domain/errors.js';
import type {
  AgentWorkRequest,
  AgentWorkResponse,
  CallContext,
  ClearRouteRequest,
  ConsentRequest,
  InteractionRequest,
  InteractionResponse,
  InteractionService,
  MessagingSessionRequest,
  PatchAgentWorkRequest,
  ParticipantRequest,
  RouteRequest,
  RouteResponse,
  RoutingResultRequest,
} from '../domain/ports.js';

export type Endpoint =
  | 'POST /interactions'
  | 'PATCH /consent'
  | 'POST /route'
  | 'DELETE /route'
  | 'POST /agentWork'
  | 'PATCH /agentWork'
  | 'POST /routingResult'
  | 'POST /participant'
  | 'POST /messagingSession';

export interface RecordedCall {
  endpoint: Endpoint;
  body: unknown;
  ctx: CallContext;
  at: number;
  /** 'ok', or the error's message when the call failed. */
  result: 'ok' | string;
  /**
   * What the call answered (a copy), once it answered: e.g. `{ agentWorkId }` for POST /agentWork,
   * so a test can accept the very offer the engine made. `undefined` for calls that answer nothing.
   */
  answer?: unknown;
  /** The error the call failed with, as thrown (scripted by `failNext` or a responder). */
  error?: unknown;
}

/** Decides a call's fate: return a value to answer with it, throw to fail it, or return undefined for the default answer. */
export type Responder = (body: unknown, call: number) => unknown;

export interface RecordingInteractionService extends InteractionService {
  readonly calls: RecordedCall[];
  /** Calls to one endpoint, in order. */
  callsTo(endpoint: Endpoint): RecordedCall[];
  /** Script the answers of an endpoint (replaces the previous script). */
  respond(endpoint: Endpoint, responder: Responder): void;
  /** Fail the next `times` calls to an endpoint with this error. */
  failNext(endpoint: Endpoint, error: Error, times?: number): void;
  reset(): void;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** A copy, since the engine may keep (and a later step change) the object it was handed. */
function copy(value: unknown): unknown {
  try {
    return structuredClone(value);
  } catch {
    return value;
  }
}

function salesforceId(prefix: string, n: number): string {
  return (prefix + String(n).padStart(12, '0')).slice(0, 15);
}

export function createRecordingInteractionService(): RecordingInteractionService {
  const calls: RecordedCall[] = [];
  const responders = new Map<Endpoint, Responder>();
  const failures = new Map<Endpoint, { error: Error; times: number }>();
  let seq = 0;

  async function record<T>(endpoint: Endpoint, body: unknown, ctx: CallContext, fallback: () => T): Promise<T> {
    // As the real client: asked at the last moment, a refusal sends (and so records) nothing.
    if (ctx.mayProceed && !ctx.mayProceed()) throw new StoppedError();
    const entry: RecordedCall = { endpoint, body: structuredClone(body), ctx, at: Date.now(), result: 'ok' };
    calls.push(entry);
    const n = calls.filter((c) => c.endpoint === endpoint).length;
    try {
      const failure = failures.get(endpoint);
      if (failure && failure.times > 0) {
        failure.times -= 1;
        throw failure.error;
      }
      const scripted = responders.get(endpoint)?.(body, n);
      const answer = (scripted === undefined ? fallback() : scripted) as T;
      if (isThenable(answer)) {
        // A responder may answer late; record the outcome when it settles, without delaying it.
        answer.then(
          (value) => {
            if (value !== undefined) entry.answer = copy(value);
          },
          (err: unknown) => {
            entry.result = err instanceof Error ? err.message : String(err);
            entry.error = err;
          },
        );
      } else if (answer !== undefined) {
        entry.answer = copy(answer);
      }
      return answer;
    } catch (err) {
      entry.result = err instanceof Error ? err.message : String(err);
      entry.error = err;
      throw err;
    }
  }

  return {
    calls,
    callsTo: (endpoint) => calls.filter((c) => c.endpoint === endpoint),
    respond: (endpoint, responder) => void responders.set(endpoint, responder),
    failNext: (endpoint, error, times = 1) => void failures.set(endpoint, { error, times }),
    reset() {
      calls.length = 0;
      responders.clear();
      failures.clear();
    },
    postInteraction: (req: InteractionRequest, ctx) =>
      record<InteractionResponse>('POST /interactions', req, ctx, () => ({
        conversationIdentifier: randomUUID(),
        workItemIds: [salesforceId('0Mw', ++seq)],
      })),
    patchConsent: (req: ConsentRequest, ctx) => record<void>('PATCH /consent', req, ctx, () => undefined),
    createRoute: (req: RouteRequest, ctx) =>
      record<RouteResponse>('POST /route', req, ctx, () => ({
        psrId: salesforceId('0JR', ++seq),
        routingCorrelationId: randomUUID(),
      })),
    clearRoute: (req: ClearRouteRequest, ctx) => record<void>('DELETE /route', req, ctx, () => undefined),
    createAgentWork: (req: AgentWorkRequest, ctx) =>
      record<AgentWorkResponse>('POST /agentWork', req, ctx, () => ({ agentWorkId: salesforceId('0Bz', ++seq) })),
    patchAgentWork: (req: PatchAgentWorkRequest, ctx) => record<void>('PATCH /agentWork', req, ctx, () => undefined),
    reportRoutingResult: (req: RoutingResultRequest, ctx) => record<void>('POST /routingResult', req, ctx, () => undefined),
    removeParticipant: (req: ParticipantRequest, ctx) => record<void>('POST /participant', req, ctx, () => undefined),
    updateMessagingSession: (req: MessagingSessionRequest, ctx) =>
      record<void>('POST /messagingSession', req, ctx, () => undefined),
  };
}
