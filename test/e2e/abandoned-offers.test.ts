// D3: a POST /agentWork that Salesforce applies but answers only after the routing window closed.
// The request must still be reported in time — and the AgentWork it created must not be left
// offered to a rep: its late answer names it, and the engine cancels it.
import { afterEach, describe, expect, it } from 'vitest';
import { expectInvariants, IGNORE_QUEUE, QUEUE, seedFrom, startE2E, waitFor, type E2E } from './fixture.js';

let e2e: E2E | undefined;
afterEach(async () => {
  await e2e?.stop();
  e2e = undefined;
});

describe('an offer answered after the routing window', () => {
  const SEED = seedFrom(0xab0d);
  it(`is reported in time as timed out, and the AgentWork it created is cancelled (seed ${SEED})`, async () => {
    e2e = await startE2E({ seed: SEED, routing: { maxOffers: 1 } });
    const convs = await Promise.all([e2e.converse(), e2e.converse(), e2e.converse()]);
    // 4 s window, 0.8 s reserve: POST /agentWork must answer within ~3.2 s of the request. It is
    // applied at once and answered after 3.6 s.
    e2e.sandbox.faults.answerLatency('POST /agentWork', 3_600);
    const since = e2e.mark();
    const ids = convs.map(({ conv }) => e2e!.request(conv, 'Conference', { queueId: IGNORE_QUEUE }));
    const outs = await Promise.all(ids.map((id) => e2e!.finished(id)));
    expect(outs.map((o) => o.outcome)).toEqual(['timedOut', 'timedOut', 'timedOut']);
    await waitFor('the late answers and their cancels', () => convs.every(({ conv }) => e2e!.calls(conv, { since }).includes('PATCH /agentWork')), 15_000);
    expect(e2e.sb.stats().abandonedOffersCancelled).toBe(3);
    for (const { conv } of convs) {
      expect(e2e.calls(conv, { since })).toEqual(['POST /route', 'POST /agentWork', 'POST /routingResult', 'DELETE /route', 'PATCH /agentWork']);
    }
    e2e.sandbox.faults.answerLatency('POST /agentWork', 0);
    // The org's audit: every request reported once and in time, no PSR left, no AgentWork left offered.
    await expectInvariants(e2e);
  });

  it(`a rep who accepts the late offer before it is cancelled is in the conversation; nothing is left open (seed ${SEED})`, async () => {
    e2e = await startE2E({ seed: SEED, routing: { maxOffers: 1 } });
    const { conv } = await e2e.converse();
    e2e.sandbox.faults.answerLatency('POST /agentWork', 3_600);
    const id = e2e.request(conv, 'Conference', { queueId: QUEUE });
    expect((await e2e.finished(id)).outcome).toBe('timedOut');
    await waitFor('the late answer', () => e2e!.sb.stats().abandonedOffersCancelled === 1, 15_000);
    e2e.sandbox.faults.answerLatency('POST /agentWork', 0);
    await expectInvariants(e2e);
  });
});
