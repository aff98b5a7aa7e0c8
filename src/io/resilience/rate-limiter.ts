// One limiter per org: Salesforce's Interaction Service limit (2,000 rps) is per org, so every client
// talking to an org must share one.
//
// The promise is about what Salesforce *receives*: at most `requestsPerSecond` requests in any
// 1-second window. A sliding window over request *starts* (p-queue `intervalCap` + `interval: 1000`
// + `strict: true`) does not give that: requests started in one burst reach the server spread over
// tens to hundreds of ms (connection setup, event-loop and CPU contention) and bunch up with the
// next window's. Measured on a loopback server, a 5,000-call burst at 1,000 rps put up to 1,200
// arrivals in one second; cutting the window into slices with a jitter margin still gave 1,055
// under CPU contention.
//
// So a request holds its slot (one of `requestsPerSecond`) until one window after it *completed*.
// A request arrives before its response does, so two requests that used the same slot arrive at
// least a window apart: with N slots no window can hold N + 1 arrivals, whatever the network or
// the scheduler does. This also bounds starts per window, so a start-based window on top would add
// nothing but count calls that never left (an open breaker). The cost is throughput: a slot cycles
// every window + latency.
import { performance } from 'node:perf_hooks';
import PQueue from 'p-queue';
import { ConfigError } from '../../domain/errors.js';

export type CallPriority = 'finish' | 'start';

/**
 * Calls that finish work (routingResult, DELETE /route, cancelling an AgentWork) go first: they
 * close a routing window and free a rep, while a delayed start only delays new work.
 */
export const PRIORITY: Readonly<Record<CallPriority, number>> = Object.freeze({ finish: 1, start: 0 });

export interface RateLimiterOptions {
  /** Default 1,500: below the 2,000 rps org limit, leaving room for other clients of the org. */
  requestsPerSecond?: number;
  /** Requests in flight at once. Default 256. */
  concurrency?: number;
  /** The window; 1,000 ms for Salesforce's per-second limit. Injectable for tests. */
  windowMs?: number;
}

export interface Slot {
  /** The task sent nothing (e.g. an open breaker answered): give the rate slot back at once. */
  unused(): void;
}

export interface RateLimiter {
  schedule<T>(task: (slot: Slot) => Promise<T>, priority: CallPriority): Promise<T>;
  /** Tasks waiting for a rate slot or a connection. */
  readonly size: number;
  /** Tasks running (requests in flight). */
  readonly pending: number;
  onIdle(): Promise<void>;
}

export const DEFAULT_REQUESTS_PER_SECOND = 1_500;
export const ORG_REQUESTS_PER_SECOND_LIMIT = 2_000;
/**
 * Requests in flight at once. At ~100 ms per request against a real org, 64 would cap a client near
 * 640 req/s (measured in bench/burst.ts) — far below the rate limit — so the default leaves the rate
 * limiter, not the connection count, as the bound.
 */
export const DEFAULT_CONCURRENCY = 256;
const WINDOW_MS = 1_000;

export function createRateLimiter(options: RateLimiterOptions = {}): RateLimiter {
  const rps = options.requestsPerSecond ?? DEFAULT_REQUESTS_PER_SECOND;
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const windowMs = options.windowMs ?? WINDOW_MS;
  if (!Number.isInteger(rps) || rps < 1 || rps > ORG_REQUESTS_PER_SECOND_LIMIT) {
    throw new ConfigError(`requestsPerSecond must be an integer in 1..${ORG_REQUESTS_PER_SECOND_LIMIT}, got ${rps}`);
  }
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new ConfigError(`concurrency must be a positive integer, got ${concurrency}`);
  }
  if (!(windowMs > 0)) throw new ConfigError(`windowMs must be positive, got ${windowMs}`);
  // Rate slots: one per request allowed per window, each held until a window after completion.
  const slots = new PQueue({ concurrency: rps });
  // Connections: how many requests are actually in flight.
  const connections = new PQueue({ concurrency });
  // Timers measure from the event loop's cached clock and can fire a few ms early under load;
  // the monotonic check makes the hold a true lower bound.
  const hold = async (from: number) => {
    for (let left = windowMs; left > 0; left = from + windowMs - performance.now()) {
      await new Promise<void>((resolve) => setTimeout(resolve, Math.ceil(left)).unref());
    }
  };

  return {
    schedule<T>(task: (slot: Slot) => Promise<T>, priority: CallPriority): Promise<T> {
      const p = PRIORITY[priority];
      return new Promise<T>((resolve, reject) => {
        // The caller is answered when its request completes; the slot stays taken for one more window.
        void slots.add(
          async () => {
            let sent = true;
            const slot: Slot = { unused: () => void (sent = false) };
            await connections.add(() => task(slot), { priority: p }).then(resolve, reject);
            if (sent) await hold(performance.now());
          },
          { priority: p },
        );
      });
    },
    get size() {
      return slots.size + connections.size;
    },
    get pending() {
      return connections.pending;
    },
    onIdle: async () => {
      await slots.onIdle();
      await connections.onIdle();
    },
  };
}
