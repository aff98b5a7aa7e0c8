// Injected Pub/Sub faults, end to end, each followed by the DESIGN §3 invariants: the stream dropping
// mid-batch (UNAVAILABLE, INTERNAL RST_STREAM), duplicate and out-of-order delivery, and a delivery
// delayed by a reconnect. Seeds are in the test names: E2E_SEED=<n> replays a run.
import { afterEach, describe, expect, it } from 'vitest';
import { expectInvariants, QUEUE, seedFrom, startE2E, waitFor, type E2E } from './fixture.js';
import { conferenceAll, expectAsWithoutFaults, startConversations } from './workload.js';

let e2e: E2E | undefined;
afterEach(async () => {
  await e2e?.stop();
  e2e = undefined;
});

/** Every RoutingRequested was handled once: one routing started per request, every published event handled once. */
function expectEachRequestHandledOnce(e: E2E, ids: string[]): void {
  const started = e.seen.started.filter((s) => s.routingType !== 'Initial').map((s) => s.routingId);
  expect([...started].sort(), 'routing.started per RoutingRequested').toEqual([...ids].sort());
  expect(e.seen.ignored, 'RoutingRequested ignored as duplicates by a session').toEqual([]);
  expect(e.sb.stats().pubsub, 'events handled vs published').toMatchObject({ handled: e.sandbox.pubsub.records().published, decodeErrors: 0 });
}

describe('the Pub/Sub stream drops mid-batch', () => {
  describe.each([
    { code: 'UNAVAILABLE' as const, grpc: 14, seed: seedFrom(0xd401) },
    { code: 'INTERNAL' as const, grpc: 13, seed: seedFrom(0xd402) },
  ])('$code', ({ code, grpc, seed }) => {
    it(`no RoutingRequested lost or handled twice; the stream resumes after the last handled event (seed ${seed})`, async () => {
      e2e = await startE2E({ seed, routing: { maxOffers: 1 } });
      const convs = await startConversations(e2e, 12);
      // Twelve RoutingRequested are published together and go out in one batch; the stream breaks after five.
      e2e.sandbox.pubsub.inject({ type: 'drop', code, afterEvents: 5 });
      const { jobs, since } = await conferenceAll(e2e, convs);
      expectAsWithoutFaults(e2e, jobs, since);
      expectEachRequestHandledOnce(e2e, jobs.map((j) => j.id));
      const streams = e2e.sandbox.pubsub.records().streams;
      const dropped = streams.findIndex((s) => s.closedBy === 'fault');
      expect(streams[dropped]?.status?.code).toBe(grpc);
      // The next stream resumes from a stored replay id, not from the start or the tip.
      expect(streams[dropped + 1]).toMatchObject({ replayPreset: 'CUSTOM' });
      await expectInvariants(e2e);
    });
  });
});

describe('duplicate and out-of-order delivery', () => {
  const SEED = seedFrom(0xd0b1);
  it(`each RoutingRequested routes once, whatever the order and however often it arrives (seed ${SEED})`, async () => {
    e2e = await startE2E({ seed: SEED, routing: { maxOffers: 1 } });
    const convs = await startConversations(e2e, 12);
    const before = e2e.sandbox.pubsub.records().streams.at(-1)!.deliveredReplayIds.length;
    e2e.sandbox.pubsub.inject({ type: 'reorder' });
    e2e.sandbox.pubsub.inject({ type: 'duplicate', count: 8 });
    const { jobs, since } = await conferenceAll(e2e, convs);
    expectAsWithoutFaults(e2e, jobs, since);
    expectEachRequestHandledOnce(e2e, jobs.map((j) => j.id));
    // The faults did happen: ids delivered twice, and out of order.
    const delivered = e2e.sandbox.pubsub.records().streams.at(-1)!.deliveredReplayIds.slice(before);
    expect(delivered.length - new Set(delivered).size).toBe(8);
    expect(delivered.some((id, i) => i > 0 && BigInt(`0x${id}`) < BigInt(`0x${delivered[i - 1]}`))).toBe(true);
    expect(e2e.sb.stats().pubsub!.duplicates).toBeGreaterThanOrEqual(8);
    await expectInvariants(e2e);
  });
});

describe('a RoutingRequested delivered late', () => {
  const SEED = seedFrom(0x1a7d);
  it(`is still answered inside Salesforce's window, counted from publication (seed ${SEED})`, async () => {
    e2e = await startE2E({
      seed: SEED,
      routing: { repickIntervalMs: 300 },
      pubsub: { backoff: { initialMs: 1_500, maxMs: 1_500, jitter: 0 } },
      pickRep: (req) => (req.routingType === 'Initial' ? e2e!.sb.directory.pickRep(req) : undefined),
    });
    const { conv } = await e2e.converse();
    e2e.sandbox.pubsub.inject({ type: 'drop', code: 'UNAVAILABLE' });
    await waitFor('the stream to drop', () => e2e!.sandbox.pubsub.openStreams().length === 0);
    const id = e2e.request(conv, 'Conference', { queueId: QUEUE });
    await e2e.finished(id);
    expect(e2e.sandbox.org.requests.get(id)).toMatchObject({ reported: 1, timedOut: false, lateReports: 0 });
    await expectInvariants(e2e);
  });
});
