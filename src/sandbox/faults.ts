// Fault injection for the sandbox Interaction Service (src/sandbox/http-server.ts). The server asks
// the plan about every call before the org sees it: extra latency first, then (after the token is
// checked) a rate limit, then scripted one-shot failures, then a random error rate. Randomness comes
// from a seeded generator, so a run that failed can be replayed with the same `seed` (the plan
// exposes the seed it used, random or given).
//
// Rules are per endpoint ('POST /route') or '*' (every Interaction Service endpoint). Where both
// exist for latency or an error rate, the endpoint's own rule wins. Rate limits are counted per rule:
// a '*' limit counts every endpoint together (the org-wide limit), an endpoint limit counts that
// endpoint alone; a call must fit in both. The token endpoint is only affected by rules that name it.

/** The Interaction Service endpoints the sandbox serves, named `METHOD /resource` as in src/io/interaction-api/endpoints.ts. */
export const INTERACTION_ENDPOINTS = [
  'POST /interactions',
  'PATCH /consent',
  'POST /route',
  'DELETE /route',
  'POST /agentWork',
  'PATCH /agentWork',
  'POST /routingResult',
  'POST /participant',
  'POST /messagingSession',
] as const;
export type InteractionEndpoint = (typeof INTERACTION_ENDPOINTS)[number];

export const TOKEN_ENDPOINT = 'POST /services/oauth2/token';
export type SandboxEndpoint = InteractionEndpoint | typeof TOKEN_ENDPOINT;

/** What a rule targets: one endpoint, or '*' for every Interaction Service endpoint. */
export type FaultTarget = SandboxEndpoint | '*';

/** An error to answer with instead of calling the org. */
export interface FaultError {
  /** HTTP status, e.g. 503, 500, 400. */
  status: number;
  /** Interaction API error code put in the body, e.g. 10094, 500, 10055, 10032. */
  code: number;
  message?: string;
  /** Adds `Retry-After: <seconds>`. */
  retryAfterSeconds?: number;
}

/** Ready-made errors (codes and texts from Salesforce's ERRORCODES.md). */
export const FAULT_ERRORS = {
  /** Downstream timeout: retryable. */
  downstreamTimeout: { status: 503, code: 10094, message: 'The request failed due to a timeout from a downstream service. Please try again later.' },
  /** Internal error: retryable. */
  internal: { status: 500, code: 500, message: 'An internal server error occured. Please contact Salesforce Support.' },
  /** Conversation precondition failed: retryable by its text. */
  preconditionFailed: { status: 400, code: 10055, message: 'Conversation precondition failed. Please retry.' },
  /** Conversation processing aborted: retryable by its text. */
  processingAborted: { status: 400, code: 10056, message: 'Conversation processing aborted. Please retry.' },
  /** Invalid queue: terminal. */
  invalidQueue: { status: 400, code: 10032, message: 'Specified Queue ID is invalid.' },
} as const satisfies Record<string, FaultError>;

/** Body code of a 429. Salesforce documents no code for rate limiting (reference §1.3, open question 5). */
export const RATE_LIMIT_CODE = 429;
/** The documented text of a throttled Interaction Service call. */
export const RATE_LIMIT_MESSAGE = 'Interaction request rate limit exceeded';

export type InjectedKind = 'rateLimit' | 'failNext' | 'errorRate' | 'lostAnswer';

/** A failure the plan injects for one call. */
export interface InjectedFault {
  kind: InjectedKind;
  status: number;
  code: number;
  message: string;
  headers: Record<string, string>;
}

export interface FaultPlanOptions {
  /** Seed for the error-rate draws. Default: a random seed, readable as `plan.seed`. */
  seed?: number;
  /** Clock for the rate limiter. Default Date.now. */
  now?: () => number;
}

/** mulberry32: small, fast, good enough for fault draws (and the test rigs' seeded choices), reproducible from a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface RateRule {
  perSecond: number;
  retryAfter: boolean;
  /** Times of admitted calls within the last second. */
  admitted: number[];
}

const WINDOW_MS = 1000;

export class FaultPlan {
  /** The seed in use: log it when a run fails, pass it back to replay the same draws. */
  readonly seed: number;
  readonly #now: () => number;
  #random: () => number;
  readonly #latency = new Map<FaultTarget, number>();
  readonly #answerLatency = new Map<FaultTarget, number>();
  readonly #errorRate = new Map<FaultTarget, { rate: number; error: FaultError }>();
  readonly #rate = new Map<FaultTarget, RateRule>();
  readonly #failNext = new Map<FaultTarget, FaultError[]>();
  readonly #loseAnswer = new Map<FaultTarget, number>();
  readonly #expired = new Set<string>();

  constructor(options: FaultPlanOptions = {}) {
    this.seed = (options.seed ?? Math.floor(Math.random() * 2 ** 32)) >>> 0;
    this.#now = options.now ?? Date.now;
    this.#random = mulberry32(this.seed);
  }

  /** Adds `ms` before every answer of `target` (0 removes the rule). */
  latency(target: FaultTarget, ms: number): this {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`latency must be a finite number ≥ 0, got ${ms}`);
    if (ms === 0) this.#latency.delete(target);
    else this.#latency.set(target, ms);
    return this;
  }

  /**
   * Adds `ms` after the org has applied a call of `target` and before its answer leaves (0 removes
   * the rule): a slow answer to a call that took effect, which a client that gives up meanwhile
   * never learns of.
   */
  answerLatency(target: FaultTarget, ms: number): this {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`answer latency must be a finite number ≥ 0, got ${ms}`);
    if (ms === 0) this.#answerLatency.delete(target);
    else this.#answerLatency.set(target, ms);
    return this;
  }

  /** Fails a fraction `rate` (0–1) of the calls to `target` with `error` (0 removes the rule). */
  errorRate(target: FaultTarget, rate: number, error: FaultError = FAULT_ERRORS.downstreamTimeout): this {
    if (!(rate >= 0 && rate <= 1)) throw new RangeError(`error rate must be in 0..1, got ${rate}`);
    if (rate === 0) this.#errorRate.delete(target);
    else this.#errorRate.set(target, { rate, error: { ...error } });
    return this;
  }

  /**
   * Admits at most `perSecond` calls to `target` in any sliding second; the rest get 429 with the
   * documented message "Interaction request rate limit exceeded". Whether Salesforce sends
   * Retry-After is not documented (reference §8.5): by default it does not; `retryAfter: true` adds
   * one (the seconds until a slot frees), for clients that honour it.
   */
  rateLimit(target: FaultTarget, perSecond: number, options: { retryAfter?: boolean } = {}): this {
    if (!(perSecond >= 0) || !Number.isFinite(perSecond)) throw new RangeError(`rate limit must be a finite number ≥ 0, got ${perSecond}`);
    this.#rate.set(target, { perSecond: Math.floor(perSecond), admitted: [], retryAfter: options.retryAfter === true });
    return this;
  }

  /** The next `n` calls to `target` fail with `error` (queued after any failures already scripted). */
  failNext(target: FaultTarget, n: number, error: FaultError = FAULT_ERRORS.downstreamTimeout): this {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`failNext count must be an integer ≥ 0, got ${n}`);
    const queue = this.#failNext.get(target) ?? [];
    for (let i = 0; i < n; i++) queue.push({ ...error });
    this.#failNext.set(target, queue);
    return this;
  }

  /**
   * The next `n` calls to `target` that the org applies lose their answer: the server resets the
   * connection instead of answering, so the caller sees a network error (and may retry) although
   * the call took effect — a response lost in transit, or a timeout after the server acted.
   */
  loseAnswerNext(target: FaultTarget, n = 1): this {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`loseAnswerNext count must be an integer ≥ 0, got ${n}`);
    this.#loseAnswer.set(target, (this.#loseAnswer.get(target) ?? 0) + n);
    return this;
  }

  /** Whether the answer to this applied call is to be lost (consumes one scripted loss). */
  takeLostAnswer(endpoint: SandboxEndpoint): boolean {
    for (const t of [endpoint, '*'] as FaultTarget[]) {
      const left = this.#loseAnswer.get(t) ?? 0;
      if (left > 0) {
        if (left === 1) this.#loseAnswer.delete(t);
        else this.#loseAnswer.set(t, left - 1);
        return true;
      }
    }
    return false;
  }

  /** Calls with this access token are answered 401 / 10004 from now on. */
  expireToken(token: string): this {
    this.#expired.add(token);
    return this;
  }

  isExpired(token: string): boolean {
    return this.#expired.has(token);
  }

  /** Removes every rule for `target` (latency, error rate, rate limit, scripted failures). */
  clear(target: FaultTarget): this {
    this.#latency.delete(target);
    this.#answerLatency.delete(target);
    this.#errorRate.delete(target);
    this.#rate.delete(target);
    this.#failNext.delete(target);
    this.#loseAnswer.delete(target);
    return this;
  }

  /** Removes every rule and expired token, and restarts the random draws from the seed. */
  reset(): this {
    this.#latency.clear();
    this.#answerLatency.clear();
    this.#errorRate.clear();
    this.#rate.clear();
    this.#failNext.clear();
    this.#loseAnswer.clear();
    this.#expired.clear();
    this.#random = mulberry32(this.seed);
    return this;
  }

  /** Scripted failures still waiting, per target. */
  pending(target: FaultTarget): number {
    return this.#failNext.get(target)?.length ?? 0;
  }

  // ---- consulted by the server ----

  /** Extra latency for one call to `endpoint`. */
  latencyFor(endpoint: SandboxEndpoint): number {
    return this.#latency.get(endpoint) ?? (this.#wild(endpoint) ? this.#latency.get('*') : undefined) ?? 0;
  }

  /** Extra latency between applying one call to `endpoint` and answering it. */
  answerLatencyFor(endpoint: SandboxEndpoint): number {
    return this.#answerLatency.get(endpoint) ?? (this.#wild(endpoint) ? this.#answerLatency.get('*') : undefined) ?? 0;
  }

  /**
   * The failure to inject for one call to `endpoint`, if any. Consumes what it uses: a rate-limit
   * slot (only when the call is admitted), a scripted failure, one random draw (only when an error
   * rate applies, so the draws depend on the calls alone).
   */
  inject(endpoint: SandboxEndpoint): InjectedFault | undefined {
    const targets: FaultTarget[] = this.#wild(endpoint) ? [endpoint, '*'] : [endpoint];

    const now = this.#now();
    const rules = targets.map((t) => this.#rate.get(t)).filter((r): r is RateRule => r !== undefined);
    let waitMs = 0;
    for (const r of rules) {
      r.admitted = r.admitted.filter((at) => now - at < WINDOW_MS);
      if (r.admitted.length >= r.perSecond) {
        const oldest = r.admitted[0] ?? now;
        waitMs = Math.max(waitMs, oldest + WINDOW_MS - now);
      }
    }
    if (waitMs > 0 || rules.some((r) => r.perSecond === 0)) {
      const seconds = Math.max(1, Math.ceil(waitMs / 1000));
      return {
        kind: 'rateLimit',
        status: 429,
        code: RATE_LIMIT_CODE,
        message: RATE_LIMIT_MESSAGE,
        headers: rules.some((r) => r.retryAfter) ? { 'retry-after': String(seconds) } : {},
      };
    }
    for (const r of rules) r.admitted.push(now);

    for (const t of targets) {
      const queue = this.#failNext.get(t);
      const next = queue?.shift();
      if (next) {
        if (queue!.length === 0) this.#failNext.delete(t);
        return toInjected('failNext', next);
      }
    }

    const rule = this.#errorRate.get(endpoint) ?? (this.#wild(endpoint) ? this.#errorRate.get('*') : undefined);
    if (rule && this.#random() < rule.rate) return toInjected('errorRate', rule.error);
    return undefined;
  }

  #wild(endpoint: SandboxEndpoint): boolean {
    return endpoint !== TOKEN_ENDPOINT;
  }
}

function toInjected(kind: InjectedKind, e: FaultError): InjectedFault {
  return {
    kind,
    status: e.status,
    code: e.code,
    message: e.message ?? `injected fault ${e.code}`,
    headers: e.retryAfterSeconds !== undefined ? { 'retry-after': String(e.retryAfterSeconds) } : {},
  };
}
