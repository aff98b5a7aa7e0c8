// The per-endpoint-class breaker: opens on retryable failures only, short-circuits without touching
// the server, half-opens after resetTimeout and closes on a good trial call.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CircuitOpenError, InteractionApiError } from '../../src/domain/errors.js';
import type { BreakerChange } from '../../src/io/interaction-api/index.js';
import { finish, makeClient, start } from './client-fixture.js';
import { FakeScrt, api } from './fake-scrt.js';

let fake: FakeScrt;
beforeAll(async () => {
  fake = await FakeScrt.start();
});
afterAll(() => fake.close());
afterEach(() => fake.reset());

const route = { conversationIdentifier: 'c', routingType: 'Initial' as const };
const rr = { conversationIdentifier: 'c', workItemId: '0MwSB000000AAAA', success: true, externallyRouted: false };
const limits = { breaker: { volumeThreshold: 4, errorThresholdPercentage: 50, resetTimeout: 200 }, retry: { maxAttempts: 1 } };

function settle(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => 'ok',
    (e: unknown) => e,
  );
}

describe('circuit breaker', () => {
  it('opens after repeated 5xx, short-circuits, half-opens and closes', async () => {
    const { client, logs } = makeClient(fake, { limits });
    const changes: BreakerChange[] = [];
    client.on('breaker', (c) => changes.push(c));
    fake.always('POST', api('route'), { status: 503, body: { code: 500, message: 'Internal Server Error' } });

    for (let i = 0; i < 4; i++) expect(await settle(client.createRoute(route, start))).toMatchObject({ kind: 'retryable', status: 503 });
    expect(changes).toEqual([{ endpointClass: 'route', state: 'open' }]);
    expect(client.stats().breakers).toMatchObject({ route: 'open', routingResult: 'closed' });

    // Open: fails fast, nothing reaches the server; DELETE /route shares the class.
    const halfOpen = new Promise<void>((resolve) => client.on('breaker', (c) => c.state === 'halfOpen' && resolve()));
    const rejected = await settle(client.createRoute(route, start));
    expect(rejected).toBeInstanceOf(CircuitOpenError);
    expect(rejected).toMatchObject({ kind: 'retryable', code: 'SB_CIRCUIT_OPEN', endpoint: 'route' });
    await expect(client.clearRoute({ conversationIdentifier: 'c' }, finish)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(fake.to('POST', api('route'))).toHaveLength(4);
    expect(fake.to('DELETE', api('route'))).toHaveLength(0);
    // Other classes keep working.
    await expect(client.reportRoutingResult(rr, finish)).resolves.toBeUndefined();

    await halfOpen;
    expect(client.stats().breakers.route).toBe('halfOpen');
    fake.clear('POST', api('route'));
    await expect(client.createRoute(route, start)).resolves.toMatchObject({ psrId: '0JRSB000000AAAA' });
    expect(changes.map((c) => c.state)).toEqual(['open', 'halfOpen', 'closed']);
    expect(client.stats().breakers.route).toBe('closed');

    const warned = logs.records().filter((r) => r.msg === 'interaction api breaker open');
    expect(warned).toEqual([expect.objectContaining({ level: 40, endpointClass: 'route', state: 'open' })]);
    await client.close();
  });

  it('a failed trial call while half-open opens it again', async () => {
    const { client } = makeClient(fake, { limits });
    const states: string[] = [];
    client.on('breaker', (c) => states.push(c.state));
    fake.always('POST', api('agentWork'), { status: 502 });
    const aw = { userId: '005SB000000AAAA', workItemId: '0MwSB000000AAAA' };
    for (let i = 0; i < 4; i++) await settle(client.createAgentWork(aw, start));
    await expect.poll(() => states.includes('halfOpen'), { timeout: 2_000 }).toBe(true);
    expect(await settle(client.createAgentWork(aw, start))).toMatchObject({ status: 502 });
    expect(states).toEqual(['open', 'halfOpen', 'open']);
    await client.close();
  });

  it('business 4xx errors (terminal, capability, already-done) never open it', async () => {
    const { client } = makeClient(fake, { limits });
    const changes: BreakerChange[] = [];
    client.on('breaker', (c) => changes.push(c));
    fake.always('POST', api('route'), (req) => {
      const n = fake.to('POST', api('route')).indexOf(req);
      const code = [10034, 10075, 10032][n % 3];
      return { status: 400, body: { code, message: 'no' } };
    });
    fake.always('PATCH', api('agentWork'), { status: 400, body: { code: 15109, message: 'already' } });
    for (let i = 0; i < 12; i++) {
      const err = await settle(client.createRoute(route, start));
      expect(err).toBeInstanceOf(InteractionApiError);
      expect((err as InteractionApiError).kind).not.toBe('retryable');
      await settle(client.patchAgentWork({ workId: '0Bz', contextType: 'Agent', status: 'Cancel' }, finish));
    }
    expect(fake.apiRequests).toHaveLength(24);
    expect(changes).toEqual([]);
    expect(client.stats().breakers).toMatchObject({ route: 'closed', agentWork: 'closed' });
    await client.close();
  });
});

describe('circuit breaker and the org rate limit', () => {
  it('a burst of 429s never opens it: rate limiting is back-pressure from a healthy service', async () => {
    const { createBreaker } = await import('../../src/io/resilience/breaker.js');
    const b = createBreaker('routingResult', { volumeThreshold: 2, errorThresholdPercentage: 10 });
    const rateLimited = () => Promise.reject(new InteractionApiError('429', { kind: 'retryable', endpoint: 'POST /routingResult', status: 429 }));
    for (let i = 0; i < 20; i++) await b.run(rateLimited).catch(() => {});
    expect(b.state()).toBe('closed');
    const unwell = () => Promise.reject(new InteractionApiError('503', { kind: 'retryable', endpoint: 'POST /routingResult', status: 503 }));
    for (let i = 0; i < 5; i++) await b.run(unwell).catch(() => {});
    expect(b.state()).toBe('open');
    const err = await b.run(() => Promise.resolve(1)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CircuitOpenError);
    expect((err as CircuitOpenError).retryAfterMs).toBeGreaterThan(0);
    b.shutdown();
  });
});
