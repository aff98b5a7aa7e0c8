// Metrics through a real OpenTelemetry SDK (the app's side), and the health summary.
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { healthOf } from '../../src/engine/health.js';
import { createLogger } from '../../src/io/log.js';
import { participantChanged, routingRequested, sessionStatusChanged } from '../../src/sandbox/payloads.js';
import { createSwitchboard } from '../../src/switchboard.js';
import { FakeScrt } from '../io/fake-scrt.js';
import { harness, newConversation, QUEUE, REPS } from '../support/harness.js';

class CollectingReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

async function collect(reader: MetricReader): Promise<Map<string, Array<{ attributes: Record<string, unknown>; value: unknown }>>> {
  const { resourceMetrics } = (await reader.collect()) as { resourceMetrics: ResourceMetrics };
  const out = new Map<string, Array<{ attributes: Record<string, unknown>; value: unknown }>>();
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      out.set(metric.descriptor.name, metric.dataPoints.map((p) => ({ attributes: p.attributes as Record<string, unknown>, value: p.value })));
    }
  }
  return out;
}

function meter() {
  const reader = new CollectingReader();
  const provider = new MeterProvider({ readers: [reader] });
  return { reader, meter: provider.getMeter('test') };
}

let fake: FakeScrt | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

describe('metrics (OpenTelemetry API)', () => {
  it('counts outcomes, times every call by endpoint and status, and the report against its window', async () => {
    const { reader, meter: m } = meter();
    const h = harness({ metrics: { meter: m, attributes: { 'org.id': 'org-1' } } });
    const conv = newConversation();
    h.sb.ingest(sessionStatusChanged(conv, '0Mw000000000456AAA', 'Active'));
    h.sb.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[0] }]));
    h.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
    await h.sb.settled();
    const byName = await collect(reader);
    const calls = byName.get('switchboard.interaction.duration')!;
    expect(calls.map((c) => c.attributes.endpoint).sort()).toEqual(expect.arrayContaining(['POST /route', 'POST /agentWork', 'POST /routingResult']));
    expect(calls.every((c) => c.attributes.status === 'ok' && c.attributes['org.id'] === 'org-1')).toBe(true);
    const margin = byName.get('switchboard.routing.report_margin')![0]!.value as { count: number; min: number };
    expect(margin.count).toBe(1);
    expect(margin.min).toBeGreaterThan(0); // answered inside its window
    expect(byName.get('switchboard.sessions')![0]!.value).toBe(1);
    expect(byName.get('switchboard.routing.pending')![0]!.value).toBe(1);
    // The request finishes (the rep never answers: the offer times out, no second rep is configured to answer).
    h.sb.ingest(routingRequested(conv, 'Transfer', {}));
    await h.sb.settled();
    const after = await collect(reader);
    expect(after.get('switchboard.routing.outcomes')!.find((p) => p.attributes.outcome === 'rejected')?.value).toBe(1);
    expect(after.get('switchboard.intake.rejected')).toBeUndefined();
    await h.sb.stop();
  });

  it('over HTTP: queue wait by priority, and status codes of failed calls', async () => {
    const { reader, meter: m } = meter();
    fake = await FakeScrt.start();
    fake.always('POST', '/api/v1/agentWork', { status: 400, body: { errorDetail: { code: 15106, message: 'bad user' } } });
    fake.always('POST', '/api/v1/routingResult', { status: 202, body: { success: true } });
    const sb = createSwitchboard({
      org: { orgId: '00DSB000000DDDD', scrtUrl: fake.url, authorizationContext: 'Partner1_Chan' },
      auth: { token: () => 'token' },
      logger: createLogger({ level: 'silent' }),
      metrics: { meter: m },
    });
    const conv = newConversation();
    sb.ingest(sessionStatusChanged(conv, '0Mw000000000457AAA', 'Active'));
    sb.ingest(routingRequested(conv, 'Transfer', { userId: REPS[1] }));
    await sb.settled();
    const byName = await collect(reader);
    const waits = byName.get('switchboard.interaction.queue_wait')!;
    expect(waits.map((w) => w.attributes.priority).sort()).toEqual(['finish', 'start']);
    expect(waits.every((w) => w.attributes['org.id'] === '00DSB000000DDDD')).toBe(true);
    const failed = byName.get('switchboard.interaction.duration')!.find((c) => c.attributes.endpoint === 'POST /agentWork')!;
    expect(failed.attributes.status).toBe('400');
    await sb.stop();
  });

  it('without a meter, the global no-op API is used and nothing breaks', async () => {
    const h = harness({ logger: pino({ level: 'silent' }) });
    h.sb.ingest(routingRequested(newConversation(), 'Transfer', {}));
    await h.sb.settled();
    expect(h.sb.stats().refusedRequests).toBe(1);
  });
});

describe('health()', () => {
  it('is ok while running, failing once stopped, and JSON as it is', async () => {
    const h = harness();
    const ok = h.sb.health();
    expect(ok).toMatchObject({ status: 'ok', reasons: [], sessions: { total: 0, asleep: 0, pendingRoutings: 0, inFlightCalls: 0 } });
    expect(JSON.parse(JSON.stringify(ok))).toEqual(ok);
    await h.sb.stop();
    expect(h.sb.health()).toMatchObject({ status: 'failing', reasons: ['the switchboard is stopped'] });
  });

  it('is degraded by an open breaker, a reconnecting stream or lag, failing when the subscription ended', () => {
    const sessions = { total: 1, asleep: 0, pendingRoutings: 0, inFlightCalls: 0 };
    expect(healthOf({ stopped: false, sessions, breakers: { finish: 'closed', start: 'open' } }, undefined)).toMatchObject({ status: 'degraded', reasons: ['the start breaker is open'] });
    expect(healthOf({ stopped: false, sessions, subscriptionState: 'backingOff' }, undefined)).toMatchObject({ status: 'degraded', reasons: ['the Pub/Sub subscription is backingOff'] });
    const lagging = healthOf({ stopped: false, sessions, subscriptionState: 'subscribed.flowing', newestEventAt: Date.now() - 90_000 }, undefined);
    expect(lagging.status).toBe('degraded');
    expect(lagging.subscription!.lagMs).toBeGreaterThanOrEqual(90_000);
    expect(healthOf({ stopped: false, sessions, subscriptionState: 'subscribed.flowing', newestEventAt: Date.now() - 90_000 }, { laggingAfterMs: 120_000 }).status).toBe('ok');
    expect(healthOf({ stopped: false, sessions, subscriptionState: 'failed' }, undefined)).toMatchObject({ status: 'failing', reasons: ['the Pub/Sub subscription is failed'] });
    expect(() => healthOf({ stopped: false, sessions }, { laggingAfterMs: -1 })).toThrow(/laggingAfterMs/);
  });
});
