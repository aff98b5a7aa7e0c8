// A call applied by the org whose answer is lost (the connection resets after the org acted) is
// retried with the same RequestId, and the sandbox, like Salesforce as far as anyone knows, does not
// deduplicate on it (reference §8.10): the retry meets what the first attempt did. For POST
// /agentWork that is 15109 ("an active AgentWork already exists"), which names no AgentWork — the
// engine must take it as its own offer, never as a refusal that lets it offer the work to another
// rep while this offer is live (DESIGN §3, invariant 5).
import { afterEach, describe, expect, it } from 'vitest';
import { IGNORE_QUEUE, QUEUE, expectInvariants, seedFrom, startE2E, type E2E } from './fixture.js';

let e2e: E2E | undefined;
afterEach(async () => {
  await e2e?.stop();
  e2e = undefined;
});

/** What the org did for each POST /agentWork of a conversation, in order. */
function offers(e: E2E, conv: string): string[] {
  const workItemId = e.sandbox.org.conversations.get(conv)!.workItemId;
  return e.sandbox.org.records
    .filter((r) => r.endpoint === 'POST /agentWork' && (r.body as { workItemId: string }).workItemId === workItemId)
    .map((r) => (r.result === 'ok' ? r.applied! : r.result.split(':')[0]!));
}

describe('POST /agentWork applied, its answer lost, retried', () => {
  const SEED = seedFrom(0x15109);

  it(`the retry's 15109 is the routing's own offer: the rep's ACCEPTED finishes it, nobody else is offered (seed ${SEED})`, async () => {
    e2e = await startE2E({ seed: SEED });
    const { conv } = await e2e.converse();
    const before = offers(e2e, conv).length;
    e2e.sandbox.faults.loseAnswerNext('POST /agentWork');
    const out = await e2e.finished(e2e.request(conv, 'Conference', { queueId: QUEUE }));
    expect(out.outcome).toBe('routed');
    const made = offers(e2e, conv).slice(before);
    expect(made).toHaveLength(2);
    expect(made[0]).toMatch(/^created \S+$/);
    expect(made[1]).toBe('15109');
    expect(e2e.sandbox.http.records.filter((r) => r.injected === 'lostAnswer')).toHaveLength(1);
    await expectInvariants(e2e);
  });

  it(`an unanswered offer whose id never came back is not followed by an offer to another rep (seed ${SEED})`, async () => {
    // Time enough after the offer timeout (and the grace for an answer to a refused cancel) to offer the next rep.
    e2e = await startE2E({ seed: SEED, routing: { answerGraceMs: 200 } });
    const { conv } = await e2e.converse();
    const before = offers(e2e, conv).length;
    e2e.sandbox.faults.loseAnswerNext('POST /agentWork');
    // Two reps who never answer: after the first one's offer timeout, the second would be next.
    const out = await e2e.finished(e2e.request(conv, 'Conference', { queueId: IGNORE_QUEUE }));
    expect(out.outcome).toBe('noAnswer');
    const made = offers(e2e, conv).slice(before);
    expect(made, 'one AgentWork made for the request, its retry refused, no second rep offered').toEqual([expect.stringMatching(/^created \S+$/), '15109']);
    // The AgentWork stays offered: Salesforce never told its id, so it cannot be cancelled (docs/operations.md).
    const workId = made[0]!.split(' ')[1]!;
    expect(e2e.sandbox.org.audit().offeredWork).toEqual([`${conv}:${workId}`]);
    expect(out.offeredTo).toHaveLength(1);
  });
});
