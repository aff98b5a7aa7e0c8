// A mixed workload for the fault tests: conversations started and routed, then one conference each,
// of four kinds whose Interaction Service sequences differ (reference §5.3, 5.5, 5.6). Faults the
// engine can absorb (latency, retryable errors, 429, an expired token, a dropped or duplicating
// stream) must leave the org-reaching sequences exactly as they are without faults. Run it with
// `routing.maxOffers: 1`, so a declined or unanswered offer ends its request.
import { expect } from 'vitest';
import type { RequestTarget } from '../../src/sandbox/payloads.js';
import { EVE, REFUSE_QUEUE, IGNORE_QUEUE, QUEUE, type E2E, type Finished } from './fixture.js';

export type Kind = 'routed' | 'noAnswerDirect' | 'noAnswerQueue' | 'declined';
export const KINDS: Kind[] = ['routed', 'noAnswerDirect', 'noAnswerQueue', 'declined'];

export const TARGETS: Record<Kind, RequestTarget> = {
  routed: { queueId: QUEUE },
  noAnswerDirect: { userId: EVE },
  noAnswerQueue: { queueId: IGNORE_QUEUE },
  declined: { queueId: REFUSE_QUEUE },
};

export const EXPECTED: Record<Kind, { outcome: string; calls: string[] }> = {
  routed: { outcome: 'routed', calls: ['POST /route', 'POST /agentWork', 'POST /routingResult'] },
  noAnswerDirect: { outcome: 'noAnswer', calls: ['POST /agentWork', 'POST /routingResult', 'PATCH /agentWork'] },
  noAnswerQueue: { outcome: 'noAnswer', calls: ['POST /route', 'POST /agentWork', 'POST /routingResult', 'PATCH /agentWork', 'DELETE /route'] },
  declined: { outcome: 'declined', calls: ['POST /route', 'POST /agentWork', 'POST /routingResult', 'DELETE /route'] },
};

export interface Job {
  conv: string;
  kind: Kind;
  id: string;
  out: Finished['output'];
}

export async function startConversations(e2e: E2E, n: number): Promise<string[]> {
  return (await Promise.all(Array.from({ length: n }, () => e2e.converse()))).map((c) => c.conv);
}

/** One conference per conversation, all at once, kinds in rotation; resolves when every one finished. */
export async function conferenceAll(e2e: E2E, convs: string[], kinds: Kind[] = KINDS): Promise<{ jobs: Job[]; since: number }> {
  const since = e2e.mark();
  const started = convs.map((conv, i) => {
    const kind = kinds[i % kinds.length]!;
    return { conv, kind, id: e2e.request(conv, 'Conference', TARGETS[kind]) };
  });
  const outs = await Promise.all(started.map((j) => e2e.finished(j.id)));
  return { jobs: started.map((j, i) => ({ ...j, out: outs[i]! })), since };
}

/** Each conference ended as its kind does without faults, with the same org-reaching calls in the same order. */
export function expectAsWithoutFaults(e2e: E2E, jobs: Job[], since: number): void {
  for (const j of jobs) {
    expect({ kind: j.kind, outcome: j.out.outcome }, `conference ${j.id} (seed ${e2e.seed})`).toEqual({ kind: j.kind, outcome: EXPECTED[j.kind].outcome });
    expect(e2e.calls(j.conv, { since }), `org-reaching calls of ${j.kind} conference ${j.id} (seed ${e2e.seed})`).toEqual(EXPECTED[j.kind].calls);
  }
}
