// 200 concurrent conferences, end to end: 200 conversations started and routed over HTTP, then each
// gets a conference request at once over gRPC. All resolve, the invariants hold, nothing reaches the
// org twice. The run's duration is printed, not asserted (the suite asserts counts and order only).
import { afterEach, describe, expect, it } from 'vitest';
import { expectInvariants, INITIAL_QUEUE, QUEUE, startE2E, waitFor, type E2E, type E2ERep } from './fixture.js';

const CONVERSATIONS = 200;

let e2e: E2E | undefined;
afterEach(async () => {
  await e2e?.stop();
  e2e = undefined;
});

function reps(prefix: string, queueId: string, n: number): E2ERep[] {
  return Array.from({ length: n }, (_, i) => ({
    userId: `005E2E${prefix}${String(i).padStart(9 - prefix.length, '0')}`,
    name: `${prefix} ${i}`,
    behaviour: 'accept' as const,
    answerAfterMs: 20 + (i % 5) * 10,
    queueIds: [queueId],
    capacity: CONVERSATIONS,
  }));
}

describe('load', () => {
  it(`${CONVERSATIONS} conversations, then ${CONVERSATIONS} conferences at once: all routed, invariants hold`, { timeout: 60_000 }, async () => {
    const t0 = Date.now();
    e2e = await startE2E({
      reps: [...reps('INIT', INITIAL_QUEUE, 10), ...reps('CONF', QUEUE, 10)],
      // Offers and the window are generous here: under this load on two cores an event loop can lag,
      // and the point is that everything resolves correctly, not how fast.
      routing: { routingWindowMs: 15_000, reportReserveMs: 1_500, offerTimeoutMs: 5_000 },
    });
    const e = e2e;
    const convs = (await Promise.all(Array.from({ length: CONVERSATIONS }, () => e.converse()))).map((c) => c.conv);
    const tRouted = Date.now();
    expect(new Set(convs).size).toBe(CONVERSATIONS);
    expect(e.seen.finished.filter((f) => f.output.routingType === 'Initial' && f.output.outcome === 'routed')).toHaveLength(CONVERSATIONS);

    const ids = convs.map((conv) => e.request(conv, 'Conference', { queueId: QUEUE }));
    const outs = await Promise.all(ids.map((id) => e.finished(id, 45_000)));
    const tConferenced = Date.now();
    const outcomes: Record<string, number> = {};
    for (const o of outs) outcomes[o.outcome] = (outcomes[o.outcome] ?? 0) + 1;
    expect(outcomes).toEqual({ routed: CONVERSATIONS });
    await waitFor('every conference rep to join', () => convs.every((c) => e.sb.session(c)?.reps.length === 2), 30_000);

    // Each conference: exactly one POST /route, one POST /agentWork and one POST /routingResult reached the org.
    for (const conv of convs.slice(0, 20)) {
      expect(e.calls(conv)).toEqual(['POST /interactions', 'POST /route', 'POST /agentWork', 'POST /route', 'POST /agentWork', 'POST /routingResult']);
    }
    const orgCalls = e.sandbox.http.records.filter((r) => r.orgCalled).length;
    expect(orgCalls).toBe(CONVERSATIONS * 6);
    // Every platform event the org published was handled once.
    expect(e.sb.stats().pubsub).toMatchObject({ handled: e.sandbox.pubsub.records().published, decodeErrors: 0 });
    await expectInvariants(e);
    console.log(
      `load: ${CONVERSATIONS} conversations routed in ${tRouted - t0} ms, ${CONVERSATIONS} conferences in ${tConferenced - tRouted} ms, ` +
        `${e.sandbox.http.records.length} HTTP requests, ${e.sandbox.pubsub.records().published} events, total ${Date.now() - t0} ms`,
    );
  });
});
