// One opossum breaker per endpoint class: a sick /route must not stop routingResult calls that
// close routing windows. The breaker only counts failures that say "the service is unwell" (the
// retryable kind); a business 4xx is a healthy service saying no, so errorFilter lets it through
// (opossum: errorFilter → true means "not a failure").
import CircuitBreaker from 'opossum';
import { CircuitOpenError, isApiError } from '../../domain/errors.js';

export type BreakerState = 'closed' | 'open' | 'halfOpen';

export interface BreakerOptions {
  /** Failure percentage in the rolling window that opens the breaker. Default 50. */
  errorThresholdPercentage?: number;
  /** Calls needed in the window before the percentage applies. Default 10. */
  volumeThreshold?: number;
  /** Time open before one trial call is let through. Default 10 s. */
  resetTimeout?: number;
  /** Rolling window. Default 10 s. */
  rollingCountTimeout?: number;
  rollingCountBuckets?: number;
}

export interface Breaker {
  readonly name: string;
  /** Runs `task` through the breaker; throws CircuitOpenError without calling it while open. */
  run<T>(task: () => Promise<T>): Promise<T>;
  state(): BreakerState;
  onStateChange(listener: (state: BreakerState) => void): void;
  shutdown(): void;
}

/**
 * Only retryable API failures that say the service is unwell (5xx, network, timeouts, "please retry"
 * codes) count. A 429 does not: it is the org's rate limit pushing back on a healthy service, and
 * opening the breaker on it would turn a burst into dropped routingResults.
 */
export function countsAsFailure(err: unknown): boolean {
  // Anything that is not a mapped API error is a bug or an unmapped failure: count it, to be safe.
  return !isApiError(err) || (err.kind === 'retryable' && err.status !== 429);
}

/** Calls that meet an open breaker wait at least this long before trying again (the trial slot is single). */
const MIN_OPEN_WAIT_MS = 250;

type Thunk = () => Promise<unknown>;

export function createBreaker(name: string, options: BreakerOptions = {}): Breaker {
  const resetTimeout = options.resetTimeout ?? 10_000;
  const breaker = new CircuitBreaker<[Thunk], unknown>((task) => task(), {
    name,
    // got has its own request timeout; a second clock here would report a timeout got then repeats.
    timeout: false,
    errorThresholdPercentage: options.errorThresholdPercentage ?? 50,
    volumeThreshold: options.volumeThreshold ?? 10,
    resetTimeout,
    rollingCountTimeout: options.rollingCountTimeout ?? 10_000,
    rollingCountBuckets: options.rollingCountBuckets ?? 10,
    errorFilter: (err: unknown) => !countsAsFailure(err),
  });
  const listeners: Array<(state: BreakerState) => void> = [];
  const notify = (state: BreakerState) => () => listeners.forEach((l) => l(state));
  let openedAt = 0;
  breaker.on('open', () => {
    openedAt = Date.now();
  });
  breaker.on('open', notify('open'));
  breaker.on('halfOpen', notify('halfOpen'));
  breaker.on('close', notify('closed'));

  return {
    name,
    async run<T>(task: () => Promise<T>): Promise<T> {
      try {
        return (await breaker.fire(task)) as T;
      } catch (err) {
        if ((err as { code?: unknown } | null)?.code === 'EOPENBREAKER') {
          // Say when a trial call will be let through, so a caller with time left can wait for it.
          throw new CircuitOpenError(name, Math.max(MIN_OPEN_WAIT_MS, openedAt + resetTimeout - Date.now()) + Math.floor(Math.random() * MIN_OPEN_WAIT_MS));
        }
        throw err;
      }
    },
    state: () => (breaker.opened ? 'open' : breaker.halfOpen ? 'halfOpen' : 'closed'),
    onStateChange: (listener) => void listeners.push(listener),
    shutdown: () => breaker.shutdown(),
  };
}
