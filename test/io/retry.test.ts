// The retry policy as a pure function, and its runner on a virtual clock and on vitest fake timers.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DeadlineExceededError, InteractionApiError } from '../../src/domain/errors.js';
import {
  DEFAULT_RETRY_POLICY,
  backoffDelay,
  decideRetry,
  resolveRetryPolicy,
  runWithRetry,
} from '../../src/io/resilience/index.js';

const retryable = (n = 0, retryAfterMs?: number) =>
  new InteractionApiError(`try ${n}`, { kind: 'retryable', endpoint: 'POST /route', status: 503, ...(retryAfterMs !== undefined && { retryAfterMs }) });
const terminal = () => new InteractionApiError('no', { kind: 'terminal', endpoint: 'POST /route', status: 400, apiCode: 10034 });

/** A clock that only moves when the runner sleeps. */
function virtualClock(start = 0) {
  let t = start;
  const sleeps: Array<{ at: number; ms: number }> = [];
  return {
    now: () => t,
    sleep: async (ms: number) => {
      sleeps.push({ at: t, ms });
      t += ms;
    },
    sleeps,
  };
}

describe('backoffDelay (full jitter)', () => {
  it('draws uniformly below min(cap, base·2^(attempt-1))', () => {
    const p = DEFAULT_RETRY_POLICY;
    expect([1, 2, 3, 4, 5, 6, 7].map((a) => backoffDelay(a, p, () => 0.5))).toEqual([100, 200, 400, 800, 1600, 2500, 2500]);
    expect(backoffDelay(3, p, () => 0)).toBe(0);
    expect(backoffDelay(3, p, () => 0.999999)).toBe(799);
  });
});

describe('decideRetry', () => {
  const p = resolveRetryPolicy({ minRequestMs: 100 });
  const half = () => 0.5;
  it('never retries what is not retryable', () => {
    expect(decideRetry({ retryable: false, attempt: 1, now: 0 }, p, half)).toEqual({ retry: false, reason: 'not-retryable' });
  });
  it('without a deadline, stops at maxAttempts', () => {
    expect(decideRetry({ retryable: true, attempt: 3, now: 0 }, p, half)).toEqual({ retry: true, delayMs: 400 });
    expect(decideRetry({ retryable: true, attempt: 4, now: 0 }, p, half)).toEqual({ retry: false, reason: 'attempts' });
  });
  it('with a deadline, retries only if the wait plus a minimum request fits before it', () => {
    expect(decideRetry({ retryable: true, attempt: 1, now: 0, deadlineAt: 200 }, p, half)).toEqual({ retry: true, delayMs: 100 });
    expect(decideRetry({ retryable: true, attempt: 1, now: 0, deadlineAt: 199 }, p, half)).toEqual({ retry: false, reason: 'deadline' });
    // The deadline, not the attempt cap, governs when there is one.
    expect(decideRetry({ retryable: true, attempt: 9, now: 0, deadlineAt: 60_000 }, p, half)).toEqual({ retry: true, delayMs: 2500 });
  });
  it('waits exactly Retry-After when given, unless it is too long or past the deadline', () => {
    expect(decideRetry({ retryable: true, attempt: 1, now: 0, retryAfterMs: 3_000 }, p, half)).toEqual({ retry: true, delayMs: 3_000 });
    expect(decideRetry({ retryable: true, attempt: 1, now: 0, retryAfterMs: 61_000 }, p, half)).toEqual({ retry: false, reason: 'retry-after-too-long' });
    expect(decideRetry({ retryable: true, attempt: 1, now: 0, retryAfterMs: 3_000, deadlineAt: 3_050 }, p, half)).toEqual({ retry: false, reason: 'deadline' });
  });
});

describe('runWithRetry', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('retries retryable errors and returns the first success', async () => {
    const clock = virtualClock();
    let n = 0;
    const out = await runWithRetry(async () => {
      if (++n < 3) throw retryable(n);
      return 'ok';
    }, { ...clock, random: () => 0.5 });
    expect(out).toBe('ok');
    expect(clock.sleeps.map((s) => s.ms)).toEqual([100, 200]);
  });

  it('throws a non-retryable error at once', async () => {
    const clock = virtualClock();
    const err = terminal();
    let n = 0;
    await expect(runWithRetry(async () => {
      n++;
      throw err;
    }, clock)).rejects.toBe(err);
    expect(n).toBe(1);
    expect(clock.sleeps).toEqual([]);
  });

  it('stops before the deadline and throws the last error, never sleeping past it', async () => {
    const clock = virtualClock(10_000);
    const deadlineAt = 10_000 + 2_000;
    const errors: InteractionApiError[] = [];
    const attempt = async (a: number) => {
      // Each request itself takes 50 ms of (virtual) time.
      await clock.sleep(50);
      const e = retryable(a);
      errors.push(e);
      throw e;
    };
    const thrown = await runWithRetry(attempt, { ...clock, deadlineAt, minRequestMs: 100, random: () => 0.99 }).catch((e: unknown) => e);
    expect(thrown).toBe(errors.at(-1));
    const waits = clock.sleeps.filter((s) => s.ms !== 50);
    expect(waits.length).toBeGreaterThan(0);
    for (const w of waits) expect(w.at + w.ms + 100).toBeLessThanOrEqual(deadlineAt);
    expect(clock.now()).toBeLessThanOrEqual(deadlineAt);
  });

  it('when a wait overruns the deadline (a late timer), throws the last error without another attempt', async () => {
    let t = 0;
    let n = 0;
    const first = retryable(1);
    const run = runWithRetry(
      async () => {
        n++;
        throw first;
      },
      { now: () => t, sleep: async (ms) => void (t += ms + 1_000), deadlineAt: 1_000, minRequestMs: 10, random: () => 0.5 },
    );
    await expect(run).rejects.toBe(first);
    expect(n).toBe(1);
  });

  it('a retry refused for lack of time reports the previous error, not DeadlineExceededError', async () => {
    const clock = virtualClock();
    const first = retryable(1);
    const run = runWithRetry(async (a) => {
      if (a === 1) throw first;
      throw new DeadlineExceededError('POST /route');
    }, { ...clock, deadlineAt: 10_000 });
    await expect(run).rejects.toBe(first);
  });

  it('without a deadline, makes maxAttempts attempts', async () => {
    const clock = virtualClock();
    let n = 0;
    await expect(runWithRetry(async () => {
      n++;
      throw retryable(n);
    }, { ...clock, maxAttempts: 3 })).rejects.toMatchObject({ message: 'try 3' });
    expect(n).toBe(3);
  });

  it('refuses to start when the deadline has passed', async () => {
    let n = 0;
    await expect(runWithRetry(async () => n++, { now: () => 5, deadlineAt: 5, label: 'POST /route' })).rejects.toBeInstanceOf(DeadlineExceededError);
    expect(n).toBe(0);
  });

  it('stops retrying when asked to (client closing)', async () => {
    const clock = virtualClock();
    let n = 0;
    await expect(runWithRetry(async () => {
      n++;
      throw retryable(n);
    }, { ...clock, shouldStop: () => n >= 2 })).rejects.toMatchObject({ message: 'try 2' });
  });

  it('honours Retry-After with the default sleep under fake timers', async () => {
    vi.useFakeTimers();
    const attemptsAt: number[] = [];
    const run = runWithRetry(async () => {
      attemptsAt.push(Date.now());
      if (attemptsAt.length === 1) throw retryable(1, 1_500);
      return 'ok';
    });
    await vi.advanceTimersByTimeAsync(1_499);
    expect(attemptsAt).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await expect(run).resolves.toBe('ok');
    expect(attemptsAt[1]! - attemptsAt[0]!).toBe(1_500);
  });
});
