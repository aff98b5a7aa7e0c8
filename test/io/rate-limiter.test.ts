// The per-org limiter: a sliding 1-second window measured where Salesforce measures it (at the
// server), and 'finish' calls overtaking a backlog of 'start' calls.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/io/log.js';
import { createRateLimiter } from '../../src/io/resilience/index.js';
import { finish, makeClient, start } from './client-fixture.js';
import { FakeScrt, api, maxInAnyWindow } from './fake-scrt.js';

let fake: FakeScrt;
beforeAll(async () => {
  fake = await FakeScrt.start();
});
afterAll(() => fake.close());
afterEach(() => fake.reset());

const participant = (i: number) => ({
  conversationIdentifier: `c-${i}`,
  operation: 'Remove' as const,
  participants: [{ appType: 'agent', subject: '005SB000000AAAA', role: 'Agent' }] as [{ appType: string; subject: string; role: string }],
});
const route = (i: number) => ({ conversationIdentifier: `route-${i}`, routingType: 'Initial' as const });
const result = (i: number) => ({ conversationIdentifier: `result-${i}`, workItemId: '0MwSB000000AAAA', success: true, externallyRouted: false });

describe('rate limiter', () => {
  it('never lets more than requestsPerSecond requests arrive in any 1-second window (5,000-call burst at 1,000 rps)', async () => {
    const RPS = 1_000;
    const { client } = makeClient(fake, { limits: { requestsPerSecond: RPS }, logger: createLogger({ level: 'warn' }) });
    const calls = Array.from({ length: 5_000 }, (_, i) => client.removeParticipant(participant(i), start));
    // The backlog is visible while it drains.
    expect(client.stats().queue.size).toBeGreaterThan(0);
    await Promise.all(calls);
    // Receive timestamps taken by the server as each request arrived.
    const arrivals = fake.apiRequests.map((r) => r.receivedAt);
    expect(arrivals).toHaveLength(5_000);
    const max = maxInAnyWindow(arrivals, 1_000);
    console.info(`max requests arriving in any 1-s window: ${max} (limit ${RPS})`);
    expect(max).toBeLessThanOrEqual(RPS);
    expect(client.stats().queue).toEqual({ size: 0, pending: 0 });
    await client.close();
  }, 30_000);

  it("serves 'finish' calls enqueued behind a backlog of 'start' calls first (concurrency-bound)", async () => {
    const { client } = makeClient(fake, { limits: { concurrency: 1 } });
    fake.always('POST', api('route'), { status: 202, delayMs: 5, body: { success: true } });
    const starts = Array.from({ length: 20 }, (_, i) => client.createRoute(route(i), start));
    const finishes = Array.from({ length: 3 }, (_, i) => client.reportRoutingResult(result(i), finish));
    await Promise.all([...starts, ...finishes]);
    const order = fake.apiRequests.map((r) => r.path);
    // The first start was already running; the finishes go next, before the other 19.
    expect(order.slice(0, 4)).toEqual([api('route'), api('routingResult'), api('routingResult'), api('routingResult')]);
    await client.close();
  });

  it("serves 'finish' calls before queued 'start' calls when the rate is the bottleneck", async () => {
    const { client } = makeClient(fake, { limits: { requestsPerSecond: 20 } });
    // The first second's worth goes at once; the rest wait for the rate.
    const admitted = 20;
    const starts = Array.from({ length: 25 }, (_, i) => client.createRoute(route(i), start));
    const finishes = Array.from({ length: 3 }, (_, i) => client.reportRoutingResult(result(i), finish));
    expect(client.stats().queue.size).toBe(25 + 3 - admitted);
    await Promise.all([...starts, ...finishes]);
    const order = fake.apiRequests.map((r) => r.path);
    expect(order.slice(0, admitted).every((p) => p === api('route'))).toBe(true);
    expect(order.slice(admitted, admitted + 3)).toEqual([api('routingResult'), api('routingResult'), api('routingResult')]);
    expect(order.slice(admitted + 3).every((p) => p === api('route'))).toBe(true);
    await client.close();
  });

  it('holds a used slot for a window after completion, and frees an unused one at once', async () => {
    // A one-minute window: a held slot would outlast the test, so finishing proves the release.
    const limiter = createRateLimiter({ requestsPerSecond: 2, windowMs: 60_000 });
    await Promise.all([1, 2].map(() => limiter.schedule(async (slot) => slot.unused(), 'start')));
    await expect(Promise.all([1, 2].map(() => limiter.schedule(async () => 'sent', 'start')))).resolves.toEqual(['sent', 'sent']);
    const third = limiter.schedule(async () => 'late', 'finish');
    await new Promise((r) => setImmediate(r));
    expect(limiter.size).toBe(1);
    expect(limiter.pending).toBe(0);
    void third.catch(() => undefined);
  });

  it("doesn't count breaker-rejected calls against the rate", async () => {
    const { client } = makeClient(fake, {
      limits: { requestsPerSecond: 5, breaker: { volumeThreshold: 1, resetTimeout: 60_000 }, retry: { maxAttempts: 1 } },
    });
    fake.script('POST', api('route'), { status: 503 });
    await expect(client.createRoute(route(0), start)).rejects.toMatchObject({ status: 503 });
    // 4 slots left this second; 20 fast-failed calls must not use them up.
    for (let i = 0; i < 20; i++) await expect(client.createRoute(route(i), start)).rejects.toMatchObject({ code: 'SB_CIRCUIT_OPEN' });
    await Promise.all(Array.from({ length: 4 }, (_, i) => client.reportRoutingResult(result(i), finish)));
    expect(fake.apiRequests).toHaveLength(5);
    await client.close();
  });

  it('rejects limits above the org limit', () => {
    expect(() => createRateLimiter({ requestsPerSecond: 2_001 })).toThrow(/requestsPerSecond/);
    expect(() => createRateLimiter({ concurrency: 0 })).toThrow(/concurrency/);
  });
});
