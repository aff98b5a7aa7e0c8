// The got-based InteractionService. One logical call = validate → (retry policy → limiter → breaker →
// HTTP)*, with one RequestId for the call and all its attempts. Order matters:
// - validation first, so a bad body never costs a rate-limit slot or a breaker count;
// - the limiter outside the breaker, so calls waiting in the queue do not count against the
//   breaker's window; a call the open breaker turns away gives its rate slot straight back;
// - the token is read inside the limiter slot, so a call that queued for a while uses a fresh one.
import { randomUUID } from 'node:crypto';
import got, { type Agents, type Got, type HttpsOptions } from 'got';
import {
  AuthError,
  ConfigError,
  DeadlineExceededError,
  InteractionApiError,
  StoppedError,
  isApiError,
} from '../../domain/errors.js';
import type { CallContext, InteractionService } from '../../domain/ports.js';
import type { TokenProvider } from '../auth/token-provider.js';
import { createLogger, type Logger } from '../log.js';
import { createBreaker, type Breaker, type BreakerOptions, type BreakerState } from '../resilience/breaker.js';
import { createRateLimiter, type RateLimiter } from '../resilience/rate-limiter.js';
import { runWithRetry, type RetryOptions } from '../resilience/retry.js';
import { TypedEmitter } from './emitter.js';
import {
  AUTHORIZATION_CONTEXT_TYPE,
  ENDPOINTS,
  ENDPOINT_CLASSES,
  type Endpoint,
  type EndpointClass,
  type Operation,
} from './endpoints.js';
import { errorFromResponse, errorFromTransport, failureOf, isTokenRejection } from './errors.js';
import { OPERATIONS, type Exchange } from './operations.js';

export interface InteractionClientLimits {
  /** Shared by every call of this client. Default 1,500 (the org limit is 2,000). */
  requestsPerSecond?: number;
  /** Requests in flight at once. Default 256. */
  concurrency?: number;
  /** Per attempt; also clamped to the time left before `ctx.answerBy` (else `ctx.deadlineAt`). Default 10 s. */
  requestTimeoutMs?: number;
  breaker?: BreakerOptions;
  retry?: RetryOptions;
}

export interface InteractionClientOptions {
  /** https://<my-domain>.my.salesforce-scrt.com */
  scrtUrl: string;
  /** 15-character org id. */
  orgId: string;
  /** The ConversationChannelDefinition developer name, `{prefix}_{CCDName}`. */
  authorizationContext: string;
  tokens: TokenProvider;
  limits?: InteractionClientLimits;
  /** A limiter shared with other clients of the same org (the rate limit is per org). Overrides limits.requestsPerSecond/concurrency. */
  limiter?: RateLimiter;
  logger?: Logger;
  /** Transport knobs, mainly for tests: agents, TLS options. */
  http?: { agent?: Agents; https?: HttpsOptions };
  /** Injectable time: retry waits, deadline checks, jitter. */
  clock?: { now?: () => number; sleep?: (ms: number) => Promise<void>; random?: () => number };
}

export interface ClientStats {
  queue: { size: number; pending: number };
  breakers: Record<EndpointClass, BreakerState>;
  /** Logical calls started (after local validation). */
  calls: number;
  /** Logical calls that rejected. */
  failures: number;
  /** Attempts repeated by the retry policy. */
  retries: number;
  /** HTTP requests sent. */
  requests: number;
  /** Calls re-sent once with a fresh token after a 401 / 10004. */
  authRefreshes: number;
}

export interface BreakerChange {
  endpointClass: EndpointClass;
  state: BreakerState;
}

export interface RetryNotice {
  endpoint: string;
  requestId: string;
  /** The attempt that failed, 1-based. */
  attempt: number;
  delayMs: number;
  error: InteractionApiError;
}

export interface InteractionClientEvents {
  breaker: BreakerChange;
  retry: RetryNotice;
  /** A call got its rate-limit slot and connection after waiting `waitMs` in the queue. */
  queued: { endpoint: string; priority: 'finish' | 'start'; waitMs: number };
}

export interface InteractionClient extends InteractionService {
  stats(): ClientStats;
  on<K extends keyof InteractionClientEvents>(event: K, listener: (payload: InteractionClientEvents[K]) => void): () => void;
  off<K extends keyof InteractionClientEvents>(event: K, listener: (payload: InteractionClientEvents[K]) => void): void;
  /** Rejects new calls, stops retrying, waits for calls in flight, and releases the breakers' timers. */
  close(): Promise<void>;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const ORG_ID = /^[a-zA-Z0-9]{15}$/;

type Json = Record<string, unknown>;

function checkOptions(o: InteractionClientOptions): URL {
  let url: URL;
  try {
    url = new URL(o.scrtUrl);
  } catch {
    throw new ConfigError(`scrtUrl is not a URL: ${JSON.stringify(o.scrtUrl)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError('scrtUrl must be an https URL');
  if (typeof o.orgId !== 'string' || !ORG_ID.test(o.orgId)) {
    // Setup pages and most APIs show the 18-character form; the Interaction Service wants 15.
    const hint = typeof o.orgId === 'string' && /^[a-zA-Z0-9]{18}$/.test(o.orgId) ? `: ${JSON.stringify(o.orgId)} is the 18-character form, pass toId15(orgId) (exported by switchboard-ccaas)` : '';
    throw new ConfigError(`orgId must be the 15-character org id${hint}`);
  }
  if (typeof o.authorizationContext !== 'string' || o.authorizationContext.length === 0) {
    throw new ConfigError('authorizationContext (the CCD developer name) is required');
  }
  if (!o.tokens || typeof o.tokens.getToken !== 'function') throw new ConfigError('tokens (a TokenProvider) is required');
  return url;
}

function parseJson(text: string): Json | undefined {
  if (!text) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Json) : undefined;
  } catch {
    return undefined;
  }
}

export function createInteractionClient(options: InteractionClientOptions): InteractionClient {
  const base = checkOptions(options);
  const limits = options.limits ?? {};
  const requestTimeoutMs = limits.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const now = options.clock?.now ?? Date.now;
  const log = (options.logger ?? createLogger({ level: 'silent' })).child({ component: 'interaction-api', orgId: options.orgId });
  const limiter =
    options.limiter ??
    createRateLimiter({
      ...(limits.requestsPerSecond !== undefined && { requestsPerSecond: limits.requestsPerSecond }),
      ...(limits.concurrency !== undefined && { concurrency: limits.concurrency }),
    });
  const events = new TypedEmitter<InteractionClientEvents>();
  const counters = { calls: 0, failures: 0, retries: 0, requests: 0, authRefreshes: 0 };
  const inFlight = new Set<Promise<unknown>>();
  let closed = false;

  const breakers = Object.fromEntries(
    ENDPOINT_CLASSES.map((cls) => {
      const b = createBreaker(cls, limits.breaker);
      b.onStateChange((state) => {
        log.warn({ endpointClass: cls, state }, `interaction api breaker ${state}`);
        events.emit('breaker', { endpointClass: cls, state });
      });
      return [cls, b];
    }),
  ) as Record<EndpointClass, Breaker>;

  const http: Got = got.extend({
    prefixUrl: `${base.origin}${base.pathname.replace(/\/+$/, '')}/api/v1/`,
    // All retries go through the retry policy, which knows the deadline; got would retry blind.
    retry: { limit: 0 },
    throwHttpErrors: false,
    followRedirect: false,
    responseType: 'text',
    timeout: { request: requestTimeoutMs },
    ...(options.http?.agent && { agent: options.http.agent }),
    ...(options.http?.https && { https: options.http.https }),
  });

  async function token(endpoint: string, requestId: string): Promise<string> {
    try {
      return await options.tokens.getToken();
    } catch (err) {
      // No token is an auth problem (login host, key, user): SB_AUTH, the same code the Pub/Sub side
      // gives it. SB_API_AUTH stays for a token the Interaction Service itself refused.
      if (err instanceof AuthError) throw err;
      throw new AuthError(`${endpoint}: no access token: the token provider failed (${err instanceof Error ? err.name : typeof err}) [requestId ${requestId}]`, { cause: err });
    }
  }

  /** One HTTP exchange. Resolves with the parsed body of a successful response; throws a mapped error otherwise. */
  async function send<T>(ep: Endpoint, ex: Exchange<T>, accessToken: string, requestId: string, attempt: number, answerBy?: number): Promise<T> {
    const started = now();
    const timeout = answerBy === undefined ? requestTimeoutMs : Math.max(1, Math.min(requestTimeoutMs, answerBy - started));
    const ctx = { endpoint: ep.name, requestId, secrets: [accessToken] };
    const fields = { endpoint: ep.name, requestId, attempt };
    counters.requests++;
    let res;
    try {
      res = await http(ep.path, {
        method: ep.method,
        headers: {
          authorization: `Bearer ${accessToken}`,
          orgid: options.orgId,
          authorizationcontext: options.authorizationContext,
          requestid: requestId,
          accept: 'application/json',
          ...(ep.contextType && { authorizationcontexttype: AUTHORIZATION_CONTEXT_TYPE }),
        },
        timeout: { request: timeout },
        ...ex.body(),
      });
    } catch (err) {
      const mapped = errorFromTransport(err, ctx);
      log.warn({ ...fields, errorCode: (mapped.cause as { code?: string }).code, kind: mapped.kind, ms: now() - started }, 'interaction api attempt failed');
      throw mapped;
    }
    const body = parseJson(res.body);
    const failure = failureOf(res.statusCode, body);
    if (failure) {
      const mapped = errorFromResponse({ status: res.statusCode, headers: res.headers, failure }, { ...ctx, now: now() });
      log.warn(
        { ...fields, status: res.statusCode, apiCode: mapped.apiCode, kind: mapped.kind, ms: now() - started },
        'interaction api attempt failed',
      );
      throw mapped;
    }
    log.debug({ ...fields, status: res.statusCode, ms: now() - started }, 'interaction api call succeeded');
    return ex.parse(body ?? {});
  }

  /** A logical call: one RequestId, retries by policy, one token refresh on 401 / 10004. */
  async function perform<T>(op: Operation, ctx: CallContext, ex: Exchange<T>): Promise<T> {
    const ep = ENDPOINTS[op];
    const requestId = ctx.requestId ?? randomUUID();
    const breaker = breakers[ep.class];
    let refreshed = false;
    /** An earlier attempt reached Salesforce and its outcome is unknown (timeout, reset, 5xx): it may have been applied. */
    let mayHaveApplied = false;
    counters.calls++;

    const once = (attempt: number) => {
      let used: string | undefined;
      const run = () => {
        const queuedAt = now();
        return limiter.schedule(async (slot) => {
          events.emit('queued', { endpoint: ep.name, priority: ctx.priority, waitMs: now() - queuedAt });
          let sent = false;
          try {
            // Queued past the deadline: sending now would only produce an answer nobody waits for.
            if (ctx.deadlineAt !== undefined && now() >= ctx.deadlineAt) throw new DeadlineExceededError(ep.name);
            used = await token(ep.name, requestId);
            const accessToken = used;
            // The engine may have halted, or lost its org, while this waited: nothing leaves then.
            if (ctx.mayProceed && !ctx.mayProceed()) throw new StoppedError();
            return await breaker.run(() => {
              sent = true;
              return send(ep, ex, accessToken, requestId, attempt, ctx.answerBy ?? ctx.deadlineAt);
            });
          } catch (err) {
            // Only retryable failures are sent again; a 401 or a 4xx refusal applied nothing.
            if (sent && isApiError(err, 'retryable') && (err as InteractionApiError).status !== 429) mayHaveApplied = true;
            throw err;
          } finally {
            // Nothing reached Salesforce (deadline, no token, open breaker): the rate slot is free again.
            if (!sent) slot.unused();
          }
        }, ctx.priority);
      };
      return run().catch((err: unknown) => {
        if (refreshed || used === undefined || !isApiError(err, 'auth') || !isTokenRejection(err)) throw err;
        // Invalidate only the token that failed: if another call already refreshed, this is a no-op
        // and the re-send picks up the new token without a second token request.
        refreshed = true;
        counters.authRefreshes++;
        options.tokens.invalidate(used);
        return run();
      });
    };

    try {
      return await runWithRetry(once, {
        ...limits.retry,
        ...(ctx.deadlineAt !== undefined && { deadlineAt: ctx.deadlineAt }),
        label: ep.name,
        // An open breaker answers fast on purpose; retrying into it would only burn the deadline.
        // An open breaker is retried too, after the wait it names and only while the deadline
        // allows: a routingResult must still go out once the endpoint recovers inside the window.
        isRetryable: (err) => isApiError(err, 'retryable'),
        shouldStop: () => closed,
        onRetry: ({ attempt, delayMs, error }) => {
          counters.retries++;
          events.emit('retry', { endpoint: ep.name, requestId, attempt, delayMs, error: error as InteractionApiError });
        },
        ...(options.clock?.now && { now: options.clock.now }),
        ...(options.clock?.sleep && { sleep: options.clock.sleep }),
        ...(options.clock?.random && { random: options.clock.random }),
      });
    } catch (err) {
      if (ex.alreadyDone && isApiError(err, 'already-done')) return ex.alreadyDone();
      // Salesforce is not known to deduplicate RequestIds (reference §8.10): a retry of a call whose
      // earlier attempt may have been applied can meet that attempt's own work (15109).
      if (ex.retryMetItself && mayHaveApplied && isApiError(err, 'already-done')) return ex.retryMetItself();
      counters.failures++;
      throw err;
    }
  }

  /** Validates synchronously (so a RequestValidationError never reaches the network), then tracks the call for close(). */
  function call<K extends Operation>(op: K, req: Parameters<InteractionService[K]>[0], ctx: CallContext) {
    if (closed) return Promise.reject(new StoppedError());
    const spec = OPERATIONS[op];
    try {
      spec.validate(req);
    } catch (err) {
      return Promise.reject(err);
    }
    const p = perform(op, ctx, spec.exchange(req, now));
    inFlight.add(p);
    const forget = () => inFlight.delete(p);
    p.then(forget, forget);
    return p;
  }

  return {
    postInteraction: (req, ctx) => call('postInteraction', req, ctx),
    patchConsent: (req, ctx) => call('patchConsent', req, ctx),
    createRoute: (req, ctx) => call('createRoute', req, ctx),
    clearRoute: (req, ctx) => call('clearRoute', req, ctx),
    createAgentWork: (req, ctx) => call('createAgentWork', req, ctx),
    patchAgentWork: (req, ctx) => call('patchAgentWork', req, ctx),
    reportRoutingResult: (req, ctx) => call('reportRoutingResult', req, ctx),
    removeParticipant: (req, ctx) => call('removeParticipant', req, ctx),
    updateMessagingSession: (req, ctx) => call('updateMessagingSession', req, ctx),

    stats: () => ({
      queue: { size: limiter.size, pending: limiter.pending },
      breakers: Object.fromEntries(ENDPOINT_CLASSES.map((c) => [c, breakers[c].state()])) as Record<EndpointClass, BreakerState>,
      ...counters,
    }),
    on: (event, listener) => events.on(event, listener),
    off: (event, listener) => events.off(event, listener),
    async close() {
      closed = true;
      await Promise.allSettled([...inFlight]);
      for (const b of Object.values(breakers)) b.shutdown();
      events.removeAllListeners();
    },
  };
}
