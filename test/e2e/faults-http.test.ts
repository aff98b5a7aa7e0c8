// Injected Interaction Service faults, end to end, each followed by the DESIGN §3 invariants: latency
// on every endpoint, retryable error rates per endpoint, terminal errors, 429 with Retry-After under a
// burst, an access token expiring mid-run. Seeds are in the test names: E2E_SEED=<n> replays a run.
import { afterEach, describe, expect, it } from 'vitest';
import { FAULT_ERRORS, INTERACTION_ENDPOINTS, TOKEN_ENDPOINT, type FaultError } from '../../src/sandbox/faults.js';
import type { HttpRecord } from '../../src/sandbox/http-server.js';
import { bodyOf, expectInvariants, seedFrom, startE2E, waitFor, type E2E } from './fixture.js';
import { conferenceAll, EXPECTED, expectAsWithoutFaults, startConversations } from './workload.js';

let e2e: E2E | undefined;
afterEach(async () => {
  await e2e?.stop();
  e2e = undefined;
});

/** Records that the fault plan answered instead of the org. */
const injected = (e: E2E, kind?: HttpRecord['injected']) => e.sandbox.http.records.filter((r) => (kind ? r.injected === kind : r.injected !== undefined));

/** Every RequestId that got an injected answer was, on a later attempt, served by the org exactly once. */
function expectEachRetriedOnce(e: E2E, failed: HttpRecord[]): void {
  for (const f of failed) {
    const same = e.sandbox.http.records.filter((r) => r.requestId === f.requestId);
    expect(same.filter((r) => r.orgCalled), `${f.endpoint} ${f.requestId}: attempts that reached the org`).toHaveLength(1);
    expect(same.findIndex((r) => r.orgCalled), `${f.endpoint} ${f.requestId}: the org call comes after the failure`).toBeGreaterThan(same.indexOf(f));
  }
}

describe('HTTP latency', () => {
  const SEED = seedFrom(0x1a7e);
  it(`on every Interaction Service endpoint and the token endpoint: same sequences, invariants hold (seed ${SEED})`, async () => {
    e2e = await startE2E({ seed: SEED, routing: { maxOffers: 1 }, faults: (f) => f.latency('*', 40).latency(TOKEN_ENDPOINT, 60) });
    const convs = await startConversations(e2e, 8);
    const { jobs, since } = await conferenceAll(e2e, convs);
    expectAsWithoutFaults(e2e, jobs, since);
    const api = e2e.sandbox.http.records.filter((r) => r.path.startsWith('/api/v1/'));
    expect(api.every((r) => r.delayedMs === 40)).toBe(true);
    expect(e2e.sandbox.http.records.filter((r) => r.endpoint === TOKEN_ENDPOINT).every((r) => r.delayedMs === 60)).toBe(true);
    await expectInvariants(e2e);
  });
});

describe('retryable error rates per endpoint', () => {
  const RATES: Array<[(typeof INTERACTION_ENDPOINTS)[number], number]> = [
    ['POST /interactions', 0.2],
    ['POST /route', 0.35],
    ['POST /agentWork', 0.35],
    ['POST /routingResult', 0.35],
    ['PATCH /agentWork', 0.35],
    ['DELETE /route', 0.35],
  ];
  describe.each([
    { name: '503 / 10094 (downstream timeout)', error: FAULT_ERRORS.downstreamTimeout, seed: seedFrom(0xe503) },
    { name: '400 / 10055 (precondition failed, "please retry")', error: FAULT_ERRORS.preconditionFailed, seed: seedFrom(0xe055) },
  ])('$name', ({ error, seed }) => {
    it(`the retries recover: the org sees each call once, sequences as without faults, invariants hold (seed ${seed})`, async () => {
      e2e = await startE2E({
        seed,
        routing: { maxOffers: 1 },
        // The retry policy is under test here, not the breaker (its own tests cover it): short backoffs
        // give many attempts inside the window, and the breaker stays out of the way.
        limits: { retry: { baseMs: 50, capMs: 400, maxAttempts: 8 }, breaker: { volumeThreshold: 100_000 } },
        faults: (f) => {
          for (const [endpoint, rate] of RATES) f.errorRate(endpoint, rate, error);
        },
      });
      const convs = await startConversations(e2e, 16);
      const { jobs, since } = await conferenceAll(e2e, convs);
      expectAsWithoutFaults(e2e, jobs, since);
      const failed = injected(e2e, 'errorRate');
      expect(failed.length).toBeGreaterThan(0);
      const codeOf = (r: HttpRecord) => {
        const body = r.response as { code?: number; errorDetail?: { code: number } };
        return body.errorDetail?.code ?? body.code;
      };
      expect(new Set(failed.map((r) => `${r.status}/${codeOf(r)}`))).toEqual(new Set([`${error.status}/${error.code}`]));
      expectEachRetriedOnce(e2e, failed);
      expect(e2e.sb.stats().interactions).toMatchObject({ failures: 0 });
      expect(e2e.sb.stats().interactions!.retries).toBeGreaterThanOrEqual(failed.length);
      await expectInvariants(e2e);
    });
  });
});

describe('terminal errors', () => {
  const SEED = seedFrom(0x7e4a);
  const INVALID_USER: FaultError = { status: 400, code: 15106, message: 'Enter a valid userId.' };
  it(`10032 on POST /route and 15106 on POST /agentWork end their requests cleanly, never retried (seed ${SEED})`, async () => {
    e2e = await startE2E({ seed: SEED, routing: { maxOffers: 1 } });
    const convs = await startConversations(e2e, 16);
    e2e.sandbox.faults.errorRate('POST /route', 0.4, FAULT_ERRORS.invalidQueue).errorRate('POST /agentWork', 0.3, INVALID_USER);
    const { jobs, since } = await conferenceAll(e2e, convs);
    const terminal = injected(e2e, 'errorRate');
    expect(terminal.length).toBeGreaterThan(0);
    for (const j of jobs) {
      const all = e2e.records(j.conv, { since, all: true });
      const routeFailed = all.find((r) => r.endpoint === 'POST /route' && r.injected);
      const label = `${j.kind} conference ${j.id} (seed ${e2e.seed})`;
      if (routeFailed) {
        expect(j.out.outcome, label).toBe('failed');
        expect(all.map((r) => r.endpoint), label).toEqual(['POST /route', 'POST /routingResult', 'DELETE /route']);
        expect(bodyOf(all, 'POST /routingResult'), label).toMatchObject({ success: false });
        expect(bodyOf(all, 'DELETE /route'), label).toMatchObject({ cancelReason: 'Unknown' });
      } else {
        // Offers the org refused never reached it; a refused offer may be followed by the next rep's.
        const direct = j.kind === 'noAnswerDirect';
        const placed = all.some((r) => r.endpoint === 'POST /agentWork' && !r.injected);
        if (placed) {
          expect(j.out.outcome, label).toBe(EXPECTED[j.kind].outcome);
          expect(e2e.calls(j.conv, { since }), label).toEqual(EXPECTED[j.kind].calls);
        } else {
          // Nobody took it: the refusal ends it ('failed'), or the picker had nobody else until the window closed ('unavailable').
          expect(['failed', 'unavailable'], label).toContain(j.out.outcome);
          expect(all.filter((r) => r.endpoint !== 'POST /agentWork').map((r) => r.endpoint), label).toEqual([
            ...(direct ? [] : ['POST /route']),
            'POST /routingResult',
            ...(direct ? [] : ['DELETE /route']),
          ]);
          expect(bodyOf(all, 'POST /routingResult'), label).toMatchObject({ success: false });
          if (!direct) expect(bodyOf(all, 'DELETE /route'), label).toMatchObject({ cancelReason: j.out.outcome === 'failed' ? 'Unknown' : 'Unavailable' });
        }
      }
    }
    // A terminal answer is final: its RequestId never comes back.
    for (const t of terminal) expect(e2e.sandbox.http.records.filter((r) => r.requestId === t.requestId), `${t.endpoint} ${t.requestId}`).toHaveLength(1);
    await expectInvariants(e2e);
  });
});

describe('429 (throttling)', () => {
  const SEED = seedFrom(0x0429);
  it(`a burst of conferences over the org's POST /agentWork limit: each refused call waits out Retry-After, reaches the org once, all routed (seed ${SEED})`, async () => {
    e2e = await startE2E({ seed: SEED, routing: { maxOffers: 1, routingWindowMs: 8_000, reportReserveMs: 1_000 } });
    const convs = await startConversations(e2e, 8);
    e2e.sandbox.faults.rateLimit('POST /agentWork', 4, { retryAfter: true });
    const { jobs, since } = await conferenceAll(e2e, convs, ['routed']);
    const limited = injected(e2e, 'rateLimit');
    expect(limited.length).toBeGreaterThan(0);
    // The sandbox's Retry-After is whole seconds, at least one (src/sandbox/faults.ts); records keep request headers only.
    const retryAfterMs = 1_000;
    for (const r of limited) {
      expect(r.status).toBe(429);
      const next = e2e.sandbox.http.records.find((x) => x.seq > r.seq && x.requestId === r.requestId);
      expect(next, `a retry of ${r.endpoint} ${r.requestId}`).toBeDefined();
      // Not sooner than the server asked (a lower bound: a slow machine only makes it later).
      expect(next!.receivedAt - r.receivedAt, `${r.endpoint} ${r.requestId} retried after Retry-After`).toBeGreaterThanOrEqual(retryAfterMs - 5);
    }
    expectEachRetriedOnce(e2e, limited);
    expectAsWithoutFaults(e2e, jobs, since);
    await expectInvariants(e2e);
  });

  it(`a throttle without Retry-After (as Salesforce documents it): the client backs off on its own, every call reaches the org once, all routed (seed ${SEED})`, async () => {
    e2e = await startE2E({ seed: SEED, routing: { maxOffers: 1, routingWindowMs: 8_000, reportReserveMs: 1_000 } });
    const convs = await startConversations(e2e, 8);
    e2e.sandbox.faults.rateLimit('POST /agentWork', 4);
    const { jobs, since } = await conferenceAll(e2e, convs, ['routed']);
    const limited = injected(e2e, 'rateLimit');
    expect(limited.length).toBeGreaterThan(0);
    expect(limited.every((r) => (r.response as { message?: string }).message === 'Interaction request rate limit exceeded')).toBe(true);
    expectEachRetriedOnce(e2e, limited);
    expectAsWithoutFaults(e2e, jobs, since);
    await expectInvariants(e2e);
  });

  it(`a burst of conferences over the org's POST /routingResult limit: every routingResult still reaches the org (seed ${SEED})`, async () => {
    e2e = await startE2E({ seed: SEED, routing: { routingWindowMs: 10_000, reportReserveMs: 1_000 } });
    const convs = await startConversations(e2e, 24);
    e2e.sandbox.faults.rateLimit('POST /routingResult', 5);
    const { jobs, since } = await conferenceAll(e2e, convs, ['routed']);
    expect(injected(e2e, 'rateLimit').length).toBeGreaterThan(0);
    await waitFor('the switchboard to settle', () => {
      const s = e2e!.sb.stats();
      return s.pendingRoutings === 0 && s.inFlightEffects === 0;
    });
    expect(e2e.sandbox.org.audit().unreported, 'RoutingRequested the org never got a POST /routingResult for').toEqual([]);
    expectEachRetriedOnce(e2e, injected(e2e, 'rateLimit'));
    expectAsWithoutFaults(e2e, jobs, since);
    await expectInvariants(e2e);
  });
});

describe('an access token expiring mid-run', () => {
  const SEED = seedFrom(0x70c3);
  describe.each([
    { where: 'on the Interaction Service', http: true, pubsub: false },
    { where: 'on Pub/Sub', http: false, pubsub: true },
    { where: 'on both', http: true, pubsub: true },
  ])('$where', ({ http, pubsub }) => {
    it(`one token refresh, and the work carries on (seed ${SEED})`, async () => {
      e2e = await startE2E({ seed: SEED, routing: { maxOffers: 1 } });
      const e = e2e;
      const first = await startConversations(e, 4);
      const tokenFetches = () => e.sandbox.http.records.filter((r) => r.endpoint === TOKEN_ENDPOINT && r.status === 200).length;
      const before = tokenFetches();
      const token = e.sandbox.pubsub.openStreams().at(-1)!.token;
      if (http) e.sandbox.faults.expireToken(token);
      if (pubsub) e.sandbox.pubsub.inject({ type: 'expireToken', token });
      const later = await startConversations(e, 4);
      const { jobs, since } = await conferenceAll(e, [...first, ...later]);
      expectAsWithoutFaults(e, jobs, since);
      expect(tokenFetches()).toBe(before + 1);
      if (http && !pubsub) {
        const refused = injected(e, 'expiredToken');
        expect(refused.length).toBeGreaterThan(0);
        expectEachRetriedOnce(e, refused);
        expect(e.sb.stats().interactions!.authRefreshes).toBeGreaterThan(0);
      }
      if (pubsub) {
        const streams = e.sandbox.pubsub.records().streams;
        expect(streams.some((s) => s.token === token && s.closedBy === 'auth')).toBe(true);
        expect(streams.at(-1)!.token).not.toBe(token);
        expect(e.sb.stats().pubsub!.authRefreshes).toBeGreaterThan(0);
      }
      expect(e.sb.stats().pubsub).toMatchObject({ handled: e.sandbox.pubsub.records().published });
      await expectInvariants(e);
    });
  });
});
