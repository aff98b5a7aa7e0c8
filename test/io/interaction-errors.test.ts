// How each failure becomes a typed InteractionApiError (reference §1.3, §1.13; DESIGN §4).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DeadlineExceededError, InteractionApiError } from '../../src/domain/errors.js';
import { kindFor, parseRetryAfter } from '../../src/io/interaction-api/index.js';
import { TOKEN, finish, makeClient, start } from './client-fixture.js';
import { FakeScrt, api } from './fake-scrt.js';

let fake: FakeScrt;
beforeAll(async () => {
  fake = await FakeScrt.start();
});
afterAll(() => fake.close());
afterEach(() => fake.reset());

const result = { conversationIdentifier: 'c', workItemId: '0MwSB000000AAAA', success: true, externallyRouted: false };
const agentWork = { userId: '005SB000000AAAA', workItemId: '0MwSB000000AAAA' };

async function rejection(p: Promise<unknown>): Promise<InteractionApiError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InteractionApiError);
  return err as InteractionApiError;
}

describe('kindFor (code first, then status)', () => {
  it.each([
    [400, 10034, 'terminal'],
    [400, 10075, 'capability'],
    [400, 10076, 'capability'],
    [400, 10077, 'capability'],
    [409, 15109, 'already-done'],
    [401, 10004, 'auth'],
    [400, 10004, 'auth'],
    [401, undefined, 'auth'],
    [503, 10019, 'retryable'],
    [409, 10055, 'retryable'],
    [409, 10056, 'retryable'],
    [504, 10094, 'retryable'],
    [500, 500, 'retryable'],
    [429, undefined, 'retryable'],
    [502, undefined, 'retryable'],
    [500, 10034, 'retryable'],
    [404, undefined, 'terminal'],
    [403, 10001, 'terminal'],
  ] as const)('HTTP %s code %s → %s', (status, code, kind) => {
    expect(kindFor(status, code)).toBe(kind);
  });
});

describe('parseRetryAfter', () => {
  it('reads delay-seconds and HTTP dates', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('2', now)).toBe(2000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:59:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});

describe('business errors', () => {
  it('10034 is terminal, carrying the code, message, status and RequestId, and is not retried', async () => {
    const { client } = makeClient(fake);
    fake.always('POST', api('routingResult'), { status: 400, body: { code: 10034, message: 'errorMessage is required' } });
    const err = await rejection(client.reportRoutingResult(result, finish));
    expect(err).toMatchObject({ kind: 'terminal', code: 'SB_API_TERMINAL', apiCode: 10034, status: 400, endpoint: 'POST /routingResult' });
    expect(err.requestId).toBe(fake.apiRequests[0]!.headers.requestid);
    expect(err.message).toContain('10034');
    expect(err.message).toContain('errorMessage is required');
    expect(fake.apiRequests).toHaveLength(1);
    await client.close();
  });

  it('10075 is capability and not retried', async () => {
    const { client } = makeClient(fake);
    fake.always('POST', api('route'), { status: 400, body: { code: 10075, message: 'org not ready for conference' } });
    const err = await rejection(client.createRoute({ conversationIdentifier: 'c', routingType: 'Conference' }, start));
    expect(err).toMatchObject({ kind: 'capability', apiCode: 10075 });
    expect(fake.apiRequests).toHaveLength(1);
    await client.close();
  });

  it('15109 on POST /agentWork is an already-done error: only the caller knows if it was its own step', async () => {
    const { client } = makeClient(fake);
    fake.always('POST', api('agentWork'), { status: 400, body: { code: 15109, message: 'AgentWork already exists' } });
    const err = await rejection(client.createAgentWork(agentWork, start));
    expect(err).toMatchObject({ kind: 'already-done', code: 'SB_API_ALREADY_DONE', apiCode: 15109 });
    await client.close();
  });

  it('15109 elsewhere is an already-done error', async () => {
    const { client } = makeClient(fake);
    fake.always('PATCH', api('agentWork'), { status: 400, body: { code: 15109, message: 'already' } });
    const err = await rejection(client.patchAgentWork({ workId: '0BzSB000002jTO5', contextType: 'Agent', status: 'Cancel' }, finish));
    expect(err).toMatchObject({ kind: 'already-done', code: 'SB_API_ALREADY_DONE', apiCode: 15109 });
    await client.close();
  });

  it('a 200 carrying {success:false, errorDetail} is an error', async () => {
    const { client } = makeClient(fake);
    fake.always('PATCH', api('consent'), { status: 200, body: { success: false, errorDetail: { code: 10022, message: 'ConsentOwner is not Partner' } } });
    const err = await rejection(
      client.patchConsent({ endUserClientId: 'eu', channelAddressIdentifier: 'chan', consentStatus: 'OptedOut' }, start),
    );
    expect(err).toMatchObject({ kind: 'terminal', apiCode: 10022, status: 200 });
    expect(err.message).toContain('ConsentOwner is not Partner');
    await client.close();
  });

  it('a 202 POST /route with success:false and errors.apiErrorCode is an error', async () => {
    const { client } = makeClient(fake);
    fake.always('POST', api('route'), { status: 202, body: { success: false, errors: { apiErrorCode: '10032', errorMessage: 'invalid queue', errorType: 'x' } } });
    const err = await rejection(client.createRoute({ conversationIdentifier: 'c', routingType: 'Initial', routingInfo: { queueId: '00G' } }, start));
    expect(err).toMatchObject({ kind: 'terminal', apiCode: 10032 });
    await client.close();
  });

  it('never puts the token in a message, even when the server echoes it', async () => {
    const { client } = makeClient(fake);
    fake.always('POST', api('routingResult'), { status: 400, body: { code: 10016, message: `bad header Authorization: Bearer ${TOKEN}` } });
    const err = await rejection(client.reportRoutingResult(result, finish));
    expect(err.message).not.toContain(TOKEN);
    expect(JSON.stringify(err)).not.toContain(TOKEN);
    await client.close();
  });
});

describe('retryable errors', () => {
  it('10055 is retried with the same RequestId, then succeeds', async () => {
    const { client } = makeClient(fake);
    fake.script('POST', api('routingResult'), { status: 409, body: { code: 10055, message: 'Conversation precondition failed. Please retry' } });
    await expect(client.reportRoutingResult(result, finish)).resolves.toBeUndefined();
    const seen = fake.apiRequests;
    expect(seen).toHaveLength(2);
    expect(seen[1]!.headers.requestid).toBe(seen[0]!.headers.requestid);
    expect(client.stats()).toMatchObject({ calls: 1, retries: 1, failures: 0, requests: 2 });
    await client.close();
  });

  it('429 with Retry-After: the next attempt arrives no earlier than the Retry-After', async () => {
    const { client } = makeClient(fake);
    fake.script('POST', api('agentWork'), { status: 429, headers: { 'retry-after': '1' }, body: { code: 429, message: 'slow down' } });
    await expect(client.createAgentWork(agentWork, start)).resolves.toMatchObject({ agentWorkId: '0BzSB000000AAAA' });
    const [first, second] = fake.apiRequests;
    // Lower bound only; 1 ms of slack for the ms-granular timer clock.
    expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(999);
    expect(second!.headers.requestid).toBe(first!.headers.requestid);
    await client.close();
  });

  it('503 is retried up to the attempt cap, then thrown with the status', async () => {
    const { client } = makeClient(fake);
    fake.always('DELETE', api('route'), { status: 503, body: 'Service Unavailable' });
    const err = await rejection(client.clearRoute({ conversationIdentifier: 'c' }, finish));
    expect(err).toMatchObject({ kind: 'retryable', status: 503 });
    expect(fake.apiRequests).toHaveLength(4);
    expect(new Set(fake.apiRequests.map((r) => r.headers.requestid)).size).toBe(1);
    expect(client.stats()).toMatchObject({ retries: 3, failures: 1 });
    await client.close();
  });

  it('a reset connection is retryable', async () => {
    const { client } = makeClient(fake);
    fake.script('POST', api('participant'), { destroy: true });
    await client.removeParticipant(
      { conversationIdentifier: 'c', operation: 'Remove', participants: [{ appType: 'agent', subject: '005', role: 'Agent' }] },
      finish,
    );
    expect(fake.apiRequests).toHaveLength(2);
    await client.close();
  });

  it('connection refused is retryable', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((r) => probe.close(() => r()));
    const { client } = makeClient({ url: `http://127.0.0.1:${port}` } as FakeScrt, { limits: { retry: { maxAttempts: 2, baseMs: 1 } } });
    const err = await rejection(client.reportRoutingResult(result, finish));
    expect(err.kind).toBe('retryable');
    expect(err.message).toContain('ECONNREFUSED');
    expect(client.stats()).toMatchObject({ requests: 2, retries: 1 });
    await client.close();
  });

  it('a request timeout is retryable', async () => {
    const { client } = makeClient(fake, { limits: { requestTimeoutMs: 50, retry: { maxAttempts: 1 } } });
    fake.always('POST', api('routingResult'), { delayMs: 300, status: 202, body: { success: true } });
    const err = await rejection(client.reportRoutingResult(result, finish));
    expect(err.kind).toBe('retryable');
    expect((err.cause as Error).name).toBe('TimeoutError');
    await client.close();
  });

  it('a deadline already past sends nothing', async () => {
    const { client } = makeClient(fake);
    await expect(client.reportRoutingResult(result, { ...finish, deadlineAt: Date.now() - 1 })).rejects.toBeInstanceOf(DeadlineExceededError);
    expect(fake.apiRequests).toHaveLength(0);
    await client.close();
  });

  it('retries stop before the deadline: every attempt is sent before it, and the last error is thrown', async () => {
    // Jitter pinned near its ceiling so the attempt count stays below the breaker's volume threshold.
    const { client, logs } = makeClient(fake, { limits: { retry: { baseMs: 100, capMs: 100, minRequestMs: 50 } }, clock: { random: () => 0.99 } });
    fake.always('POST', api('routingResult'), { status: 503 });
    const deadlineAt = Date.now() + 600;
    const err = await rejection(client.reportRoutingResult(result, { ...finish, deadlineAt }));
    expect(err).toMatchObject({ kind: 'retryable', status: 503 });
    // Without the deadline the cap would be 4 attempts; the deadline decides instead.
    expect(fake.apiRequests.length).toBeGreaterThanOrEqual(2);
    // Every attempt left before the deadline, by the client's own log of each attempt (its end less
    // its duration) — not by when the server saw it, which on a busy machine can be any time later.
    const attempts = logs.records().filter((r) => r.msg === 'interaction api attempt failed');
    expect(attempts).toHaveLength(fake.apiRequests.length);
    for (const a of attempts) expect((a.time as number) - (a.ms as number)).toBeLessThan(deadlineAt);
    await client.close();
  });
});
