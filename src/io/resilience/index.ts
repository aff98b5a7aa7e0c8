export type { RetryOptions, RetryPolicy, RetryDecision, RetryInput, RetryEvent, RunWithRetryOptions } from './retry.js';
export { DEFAULT_RETRY_POLICY, resolveRetryPolicy, backoffDelay, decideRetry, runWithRetry } from './retry.js';
export type { CallPriority, RateLimiter, RateLimiterOptions, Slot } from './rate-limiter.js';
export {
  createRateLimiter,
  PRIORITY,
  DEFAULT_REQUESTS_PER_SECOND,
  DEFAULT_CONCURRENCY,
  ORG_REQUESTS_PER_SECOND_LIMIT,
} from './rate-limiter.js';
export type { Breaker, BreakerOptions, BreakerState } from './breaker.js';
export { createBreaker, countsAsFailure } from './breaker.js';
