// Fault injection: the plan on its own (seeded draws, sliding-window rate limit on an injected clock),
// and applied by the server before the org sees a call.
import { performance } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FAULT_ERRORS, FaultPlan } from '../../src/sandbox/faults.js';
import { BOB, CHANNEL, TOKEN, startSandbox, type Sandbox } from './fixture.js';

describe('FaultPlan', () => {
  it('draws the same failures from the same seed, and other ones from another seed', () => {
    const run = (seed: number) => {
      const plan = new FaultPlan({ seed }).errorRate('POST /route', 0.3);
      return Array.from({ length: 200 }, () => (plan.inject('POST /route') ? 1 : 0)).join('');
    };
    expect(run(42)).toBe(run(42));
    expect(run(42)).not.toBe(run(43));
  });

  it('fails close to the configured fraction', () => {
    const plan = new FaultPlan({ seed: 7 }).errorRate('*', 0.25, FAULT_ERRORS.internal);
    let failed = 0;
    for (let i = 0; i < 10_000; i++) if (plan.inject('POST /agentWork')) failed++;
    expect(failed / 10_000).toBeGreaterThan(0.23);
    expect(failed / 10_000).toBeLessThan(0.27);
  });

  it('exposes a random seed when none is given, which replays the same draws', () => {
    const a = new FaultPlan().errorRate('*', 0.5);
    const b = new FaultPlan({ seed: a.seed }).errorRate('*', 0.5);
    const draws = (p: FaultPlan) => Array.from({ length: 64 }, () => p.inject('PATCH /consent')?.kind ?? '-').join(',');
    expect(draws(a)).toBe(draws(b));
  });

  it('reset() removes the rules and restarts the draws from the seed', () => {
    const plan = new FaultPlan({ seed: 9 }).errorRate('*', 0.5).latency('*', 10).failNext('POST /route', 3).expireToken('t');
    const first = Array.from({ length: 32 }, () => (plan.inject('DELETE /route') ? 1 : 0)).join('');
    plan.reset();
    expect(plan.latencyFor('POST /route')).toBe(0);
    expect(plan.pending('POST /route')).toBe(0);
    expect(plan.isExpired('t')).toBe(false);
    expect(plan.inject('DELETE /route')).toBeUndefined();
    plan.reset().errorRate('*', 0.5);
    expect(Array.from({ length: 32 }, () => (plan.inject('DELETE /route') ? 1 : 0)).join('')).toBe(first);
  });

  it('rate limit: a sliding second per rule, Retry-After until the oldest admitted call leaves the window', () => {
    let now = 10_000;
    const plan = new FaultPlan({ now: () => now }).rateLimit('POST /route', 2, { retryAfter: true }).rateLimit('*', 3);
    expect(plan.inject('POST /route')).toBeUndefined();
    now += 100;
    expect(plan.inject('POST /route')).toBeUndefined();
    now += 100;
    const limited = plan.inject('POST /route');
    expect(limited).toMatchObject({ kind: 'rateLimit', status: 429, headers: { 'retry-after': '1' } });
    // The org-wide rule has room for one more call elsewhere, then none.
    expect(plan.inject('PATCH /consent')).toBeUndefined();
    expect(plan.inject('PATCH /consent')?.kind).toBe('rateLimit');
    now = 11_000; // the first call left the window
    expect(plan.inject('POST /route')).toBeUndefined();
  });

  it('Retry-After rounds up to whole seconds, at least 1', () => {
    let now = 0;
    const plan = new FaultPlan({ now: () => now }).rateLimit('*', 1, { retryAfter: true });
    plan.inject('POST /route');
    now = 999;
    expect(plan.inject('POST /route')?.headers['retry-after']).toBe('1');
    const zero = new FaultPlan().rateLimit('*', 0, { retryAfter: true });
    expect(zero.inject('POST /route')?.headers['retry-after']).toBe('1');
  });

  it('endpoint rules win over "*"; the token endpoint only obeys rules that name it', () => {
    const plan = new FaultPlan().latency('*', 50).latency('POST /route', 5).failNext('*', 1, FAULT_ERRORS.internal);
    expect(plan.latencyFor('POST /route')).toBe(5);
    expect(plan.latencyFor('PATCH /consent')).toBe(50);
    expect(plan.latencyFor('POST /services/oauth2/token')).toBe(0);
    expect(plan.inject('POST /services/oauth2/token')).toBeUndefined();
    expect(plan.inject('PATCH /consent')).toMatchObject({ kind: 'failNext', status: 500, code: 500 });
  });

  it('refuses nonsense', () => {
    const plan = new FaultPlan();
    expect(() => plan.errorRate('*', 1.5)).toThrow(RangeError);
    expect(() => plan.latency('*', -1)).toThrow(RangeError);
    expect(() => plan.failNext('*', 1.5)).toThrow(RangeError);
    expect(() => plan.rateLimit('*', Number.NaN)).toThrow(RangeError);
  });
});

describe('faults applied by the server', () => {
  let sb: Sandbox;
  beforeEach(async () => {
    sb = await startSandbox({ seed: 1234 });
  });
  afterEach(() => sb.close());

  const consent = { endUserClientId: 'e', channelAddressIdentifier: CHANNEL, consentStatus: 'OptedIn' };
  const okConsent = { ...consent, consentStatus: 'ImplicitlyOptedIn' };

  it('adds latency: an answer never comes sooner than the configured delay', async () => {
    sb.faults.latency('PATCH /consent', 120);
    const t0 = performance.now();
    const res = await sb.call('PATCH', 'consent', okConsent);
    const elapsed = performance.now() - t0;
    expect(res.status).toBe(200);
    expect(elapsed).toBeGreaterThanOrEqual(119);
    expect(sb.server.records.at(-1)).toMatchObject({ delayedMs: 120 });
    expect(sb.server.records.at(-1)!.durationMs).toBeGreaterThanOrEqual(119);
  });

  it('a seeded error rate gives the same statuses on a replay of the run', async () => {
    sb.faults.errorRate('*', 0.3, FAULT_ERRORS.downstreamTimeout);
    const run = async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) statuses.push((await sb.call('PATCH', 'consent', okConsent)).status);
      return statuses;
    };
    const first = await run();
    expect(first).toContain(503);
    expect(first).toContain(200);
    sb.faults.reset().errorRate('*', 0.3, FAULT_ERRORS.downstreamTimeout);
    expect(await run()).toEqual(first);

    const other = await startSandbox({ seed: 1234 });
    try {
      other.faults.errorRate('*', 0.3, FAULT_ERRORS.downstreamTimeout);
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) statuses.push((await other.call('PATCH', 'consent', okConsent)).status);
      expect(statuses).toEqual(first);
    } finally {
      await other.close();
    }
    // Injected failures never reached the org.
    const injected = sb.server.records.filter((r) => r.injected === 'errorRate');
    expect(injected.length).toBe(2 * first.filter((s) => s === 503).length);
    expect(injected.every((r) => !r.orgCalled)).toBe(true);
  });

  it('an injected error takes the endpoint’s error shape', async () => {
    sb.faults.failNext('PATCH /consent', 1, FAULT_ERRORS.downstreamTimeout).failNext('POST /route', 1, FAULT_ERRORS.invalidQueue);
    expect(await sb.call('PATCH', 'consent', okConsent)).toMatchObject({ status: 503, body: { success: false, errorDetail: { code: 10094 } } });
    expect(await sb.call('POST', 'route', { conversationIdentifier: 'c', routingType: 'Initial' })).toMatchObject({ status: 400, body: { code: 10032 } });
  });

  it('failNext fails exactly the next n calls, then the org answers', async () => {
    const conv = await sb.converse();
    sb.faults.failNext('POST /agentWork', 2, { ...FAULT_ERRORS.internal, retryAfterSeconds: 2 });
    const body = { userId: BOB, workItemId: conv.workItemId, capacityWeight: 1 };
    const a = await sb.call('POST', 'agentWork', body);
    const b = await sb.call('POST', 'agentWork', body);
    const c = await sb.call('POST', 'agentWork', body);
    expect([a.status, b.status, c.status]).toEqual([500, 500, 202]);
    expect(a.body).toEqual({ code: 500, message: FAULT_ERRORS.internal.message });
    expect(a.headers.get('retry-after')).toBe('2');
    expect(sb.org.records.filter((r) => r.endpoint === 'POST /agentWork')).toHaveLength(1);
  });

  it('rate limit → 429 with the documented message and no Retry-After by default, without calling the org', async () => {
    sb.faults.rateLimit('PATCH /consent', 1);
    expect((await sb.call('PATCH', 'consent', okConsent)).status).toBe(200);
    const limited = await sb.call('PATCH', 'consent', okConsent);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBeNull();
    expect(limited.body).toEqual({ code: 429, message: 'Interaction request rate limit exceeded' });
  });

  it('rate limit with retryAfter → 429 with Retry-After and a plain body, without calling the org', async () => {
    sb.faults.rateLimit('PATCH /consent', 2, { retryAfter: true });
    const statuses = [];
    let limited;
    for (let i = 0; i < 3; i++) {
      const res = await sb.call('PATCH', 'consent', okConsent);
      statuses.push(res.status);
      if (res.status === 429) limited = res;
    }
    expect(statuses).toEqual([200, 200, 429]);
    expect(limited!.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(limited!.body).toEqual({ code: 429, message: expect.any(String) });
    expect(sb.org.records.filter((r) => r.endpoint === 'PATCH /consent')).toHaveLength(2);
    expect(sb.server.records.at(-1)).toMatchObject({ injected: 'rateLimit', status: 429 });
  });

  it('an expired token → 401 / 10004, while other tokens still work', async () => {
    expect((await sb.call('PATCH', 'consent', okConsent)).status).toBe(200);
    sb.faults.expireToken(TOKEN);
    const res = await sb.call('PATCH', 'consent', okConsent);
    expect(res).toMatchObject({ status: 401, body: { code: 10004 } });
    expect(sb.server.records.at(-1)).toMatchObject({ injected: 'expiredToken', orgCalled: false });
  });

  it('rejects a bad consent enum even with faults configured elsewhere', async () => {
    sb.faults.latency('POST /route', 500);
    expect(await sb.call('PATCH', 'consent', consent)).toMatchObject({ status: 400, body: { success: false, errorDetail: { code: 10021 } } });
  });
});
