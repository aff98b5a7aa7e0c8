// Retry policy for calls whose failure says "try again" (the `retryable` kind). The routing window is
// what bounds us, not an attempt count: a retry is only worth making if, after the wait, there is
// still time for a request to complete before `deadlineAt`. Without a deadline, an attempt cap
// stands in for it.
import { DeadlineExceededError, InteractionApiError, isApiError } from '../../domain/errors.js';

export interface RetryOptions {
  /** First backoff ceiling. Default 200 ms. */
  baseMs?: number;
  /** Largest backoff ceiling. Default 5 s. */
  capMs?: number;
  /** Attempts in total (first one included) when the call has no deadline. Default 4. */
  maxAttempts?: number;
  /** Time a request needs to be worth sending; a retry must leave this much before the deadline. Default 250 ms. */
  minRequestMs?: number;
  /** A Retry-After longer than this is not waited for (the error is thrown). Default 60 s. */
  maxRetryAfterMs?: number;
}

export type RetryPolicy = Required<RetryOptions>;

export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  baseMs: 200,
  capMs: 5_000,
  maxAttempts: 4,
  minRequestMs: 250,
  maxRetryAfterMs: 60_000,
});

export function resolveRetryPolicy(options: RetryOptions = {}): RetryPolicy {
  const p = { ...DEFAULT_RETRY_POLICY };
  for (const [k, v] of Object.entries(options) as Array<[keyof RetryPolicy, number | undefined]>) {
    if (v !== undefined) p[k] = v;
  }
  return p;
}

export type RetryDecision =
  | { retry: true; delayMs: number }
  | { retry: false; reason: 'not-retryable' | 'attempts' | 'deadline' | 'retry-after-too-long' };

export interface RetryInput {
  /** Is the failure one that may be retried at all. */
  retryable: boolean;
  /** The attempt that just failed, 1-based. */
  attempt: number;
  now: number;
  deadlineAt?: number;
  retryAfterMs?: number;
}

/** Full-jitter exponential backoff: uniform in [0, min(cap, base·2^(attempt-1))). */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

/** Pure: whether to retry after a failed attempt, and after how long. */
export function decideRetry(input: RetryInput, policy: RetryPolicy, random: () => number = Math.random): RetryDecision {
  if (!input.retryable) return { retry: false, reason: 'not-retryable' };
  let delayMs: number;
  if (input.retryAfterMs !== undefined) {
    // The server said when; waiting less only earns another 429.
    if (input.retryAfterMs > policy.maxRetryAfterMs) return { retry: false, reason: 'retry-after-too-long' };
    delayMs = input.retryAfterMs;
  } else {
    delayMs = backoffDelay(input.attempt, policy, random);
  }
  if (input.deadlineAt !== undefined) {
    if (input.now + delayMs + policy.minRequestMs > input.deadlineAt) return { retry: false, reason: 'deadline' };
  } else if (input.attempt >= policy.maxAttempts) {
    return { retry: false, reason: 'attempts' };
  }
  return { retry: true, delayMs };
}

export interface RetryEvent {
  /** The attempt that failed, 1-based. */
  attempt: number;
  delayMs: number;
  error: unknown;
}

export interface RunWithRetryOptions extends RetryOptions {
  deadlineAt?: number;
  /** Names the call in a DeadlineExceededError. */
  label?: string;
  /** Default: an InteractionApiError of kind `retryable`. */
  isRetryable?: (err: unknown) => boolean;
  /** Default: InteractionApiError.retryAfterMs. */
  retryAfterMs?: (err: unknown) => number | undefined;
  /** Called before each wait. */
  onRetry?: (event: RetryEvent) => void;
  /** Checked before each retry, e.g. the client is closing: stop and throw the last error. */
  shouldStop?: () => boolean;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  random?: () => number;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `task(attempt)` until it resolves or the policy says stop, then throws the LAST error (the
 * caller branches on what Salesforce said, not on "gave up"). A deadline already past before the
 * first attempt throws DeadlineExceededError without calling the task.
 */
export async function runWithRetry<T>(task: (attempt: number) => Promise<T>, options: RunWithRetryOptions = {}): Promise<T> {
  const policy = resolveRetryPolicy(options);
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? realSleep;
  const isRetryable = options.isRetryable ?? ((err: unknown) => isApiError(err, 'retryable'));
  const retryAfterOf =
    options.retryAfterMs ?? ((err: unknown) => (err instanceof InteractionApiError ? err.retryAfterMs : undefined));

  if (options.deadlineAt !== undefined && now() >= options.deadlineAt) {
    throw new DeadlineExceededError(options.label ?? 'call');
  }
  let last: unknown;
  for (let attempt = 1; ; attempt++) {
    try {
      return await task(attempt);
    } catch (err) {
      // A retry that found the deadline gone (its wait overran under load) reports what the
      // service last said, not "no time left".
      if (err instanceof DeadlineExceededError && attempt > 1) throw last;
      last = err;
      const decision = decideRetry(
        { retryable: isRetryable(err), attempt, now: now(), deadlineAt: options.deadlineAt, retryAfterMs: retryAfterOf(err) },
        policy,
        options.random,
      );
      if (!decision.retry || options.shouldStop?.()) throw err;
      options.onRetry?.({ attempt, delayMs: decision.delayMs, error: err });
      await sleep(decision.delayMs);
      if (options.deadlineAt !== undefined && now() >= options.deadlineAt) throw err;
    }
  }
}
