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
// Every client a test made is closed (its calls finished or stopped) before the next test: a test that
// failed or timed out on a loaded machine must not leave calls arriving during the next one.
const clients: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  fake.reset();
});
function newClient(overrides: Parameters<typeof makeClient>[1] = {}) {
  const made = makeClient(fake, overrides);
  clients.push(made.client);
  return made;
}

const participant = (i: number) => ({
  conversationIdentifier: `c-${i}`,
  operation: 'Remove' as const,
  participants: [{ appType: 'agent', subject: '005SB000000AAAA', role: 'Agent' }] as [{ appType: string; subject: string; role: string }],
});
const route = (i: number) => ({ conversationIdentifier: `route-${i}`, routingType: 'Initial' as const });
const result = (i: number) => ({ conversationIdentifier: `result-${i}`, workItemId: '0MwSB000000AAAA', success: true, externallyRouted: false });

describe('rate limiter', () => {
  it('never lets more than requestsPerSecond requests arrive in any 1-second window (a burst of five seconds’ worth)', async () => {
    const RPS = 400;
    const CALLS = 5 * RPS;
    // On a loaded machine a request can sit in the fake's accept queue past the timeout and be
    // retried: a retry is a real arrival, and it counts against the window below as it would at
    // Salesforce. The request timeout is generous so that retries stay rare, not so that they vanish.
    const { client: api } = newClient({ limits: { requestsPerSecond: RPS, requestTimeoutMs: 20_000 }, logger: createLogger({ level: 'warn' }) });
    const calls = Array.from({ length: CALLS }, (_, i) => api.removeParticipant(participant(i), start));
    // The backlog is visible while it drains.
    expect(api.stats().queue.size).toBeGreaterThan(0);
    await Promise.all(calls);
    // Every logical call arrived (a retry carries its call's RequestId, so repeats are not new calls)…
    const requestIds = new Set(fake.apiRequests.map((r) => r.headers.requestid));
    expect(requestIds.size).toBe(CALLS);
    // …and every arrival, retries included (Salesforce counts those too), respects the window. The
    // receive timestamps are taken by the server as each request arrived.
    const arrivals = fake.apiRequests.map((r) => r.receivedAt);
    const max = maxInAnyWindow(arrivals, 1_000);
    console.info(`max requests arriving in any 1-s window: ${max} (limit ${RPS}); ${arrivals.length} arrivals for ${CALLS} calls`);
    expect(max).toBeLessThanOrEqual(RPS);
    expect(api.stats().queue).toEqual({ size: 0, pending: 0 });
  }, 60_000);

  it("serves 'finish' calls enqueued behind a backlog of 'start' calls first (concurrency-bound)", async () => {
    const { client } = newClient({ limits: { concurrency: 1 } });
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
    const { client } = newClient({ limits: { requestsPerSecond: 20 } });
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
    const { client } = newClient({
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
