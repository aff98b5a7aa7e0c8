// One example per call sequence of reference §5, asserting the exact Interaction Service calls
// and their bodies in order. Fake timers: the 60-second window runs in milliseconds.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InteractionApiError } from '../src/domain/errors.js';
// The builders a partner's own suite gets from switchboard-ccaas/testing: used here, so they stay true.
import { participantChanged, routingRequested, routingResult, sessionStatusChanged } from '../src/testing.js';
import { FALLBACK_QUEUE, FLOW, harness, newConversation, QUEUE, REPS } from './support/harness.js';

const SESSION_ID = '0Mw000000000777AAA';
const WORK_ITEM = '0Mw000000000777';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

/** A live session with the end user and REPS[0] in it. */
function liveSession(h: ReturnType<typeof harness>) {
  const conv = newConversation();
  h.sb.ingest(sessionStatusChanged(conv, SESSION_ID, 'Active'));
  h.sb.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[0] }]));
  return conv;
}

function finished(h: ReturnType<typeof harness>) {
  const out: Array<{ outcome: string; acceptedBy?: string; reported: boolean; message?: string }> = [];
  h.sb.on('routing.finished', (e) => out.push(e.output));
  return out;
}

/** The AgentWork id of the session's current offer. */
async function workIdOf(h: ReturnType<typeof harness>, conversationIdentifier: string) {
  const pending = h.sb.session(conversationIdentifier)!.pendingRoutings.find((r) => r.workId);
  return pending!.workId!;
}

describe('5.1 initial routing of a new conversation', () => {
  it('POST /interactions → PATCH /consent → POST /route Initial → POST /agentWork; accepted, no DELETE /route', async () => {
    const h = harness({ consentStatus: 'ExplicitlyOptedIn' });
    h.api.respond('POST /interactions', () => ({ conversationIdentifier: 'conv-initial', workItemIds: [SESSION_ID] }));
    h.api.respond('POST /route', () => ({ psrId: '0JR000000000001', routingCorrelationId: 'corr-1' }));
    const done = finished(h);
    const started = await h.sb.startConversation({ to: 'chan-1', from: 'client-1', text: 'Hello, my bill is wrong' });
    expect(started).toEqual({ conversationIdentifier: 'conv-initial', workItemId: WORK_ITEM });
    await h.flush();

    expect(h.endpoints()).toEqual(['POST /interactions', 'PATCH /consent', 'POST /route', 'POST /agentWork']);
    expect(h.bodies('PATCH /consent')[0]).toEqual({ endUserClientId: 'client-1', channelAddressIdentifier: 'chan-1', consentStatus: 'ExplicitlyOptedIn' });
    expect(h.bodies('POST /route')[0]).toEqual({ conversationIdentifier: 'conv-initial', routingType: 'Initial' });
    expect(h.bodies('POST /agentWork')[0]).toEqual({
      userId: REPS[0],
      workItemId: WORK_ITEM,
      routingContext: { conversationIdentifier: 'conv-initial', routingType: 'Initial', routingCorrelationId: 'corr-1' },
    });

    const workId = await workIdOf(h, 'conv-initial');
    h.sb.agentWork({ workId, workItemId: SESSION_ID, workEvent: 'ACCEPTED' });
    await h.flush();
    expect(done).toEqual([{ routingId: 'initial-1-0Mw000000000777', routingType: 'Initial', outcome: 'routed', acceptedBy: REPS[0], reported: false, offeredTo: [REPS[0]] }]);
    // Salesforce deletes the PSR itself on accept; no routingResult for initial routing.
    expect(h.endpoints()).toEqual(['POST /interactions', 'PATCH /consent', 'POST /route', 'POST /agentWork']);
  });
});

describe('an engine that may no longer call for its org (stillOwner false: a fleet whose lease lapsed)', () => {
  it('sends nothing: a new conversation is refused unsent (SB_STOPPED), and a routing step too', async () => {
    let owner = true;
    const h = harness({ stillOwner: () => owner });
    const conv = liveSession(h);
    owner = false;
    await expect(h.sb.startConversation({ to: 'chan-1', from: 'client-1', text: 'Hello' })).rejects.toMatchObject({ code: 'SB_STOPPED' });
    h.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
    await h.flush();
    expect(h.api.calls).toEqual([]);
  });
});

describe('5.2 transfer', () => {
  it('to a flow: POST /route with flow + fallback queue → POST /agentWork → POST /routingResult', async () => {
    const h = harness();
    const conv = liveSession(h);
    const rr = routingRequested(conv, 'Transfer', { flowId: FLOW });
    h.sb.ingest(rr);
    await h.flush();
    expect(h.endpoints()).toEqual(['POST /route', 'POST /agentWork', 'POST /routingResult']);
    expect(h.bodies('POST /route')[0]).toEqual({
      conversationIdentifier: conv.conversationIdentifier,
      routingType: 'Transfer',
      routingInfo: { flow: { flowId: FLOW, queueId: FALLBACK_QUEUE } },
    });
    expect(h.bodies('POST /agentWork')[0]).toMatchObject({
      workItemId: WORK_ITEM,
      routingContext: { routingType: 'Transfer', routingCorrelationId: rr.routingEventId },
    });
    expect((h.bodies('POST /agentWork')[0] as { userId: string }).userId).not.toBe(REPS[0]);
    expect(h.bodies('POST /routingResult')[0]).toEqual({
      conversationIdentifier: conv.conversationIdentifier,
      workItemId: WORK_ITEM,
      success: true,
      externallyRouted: false,
      routingType: 'Transfer',
    });
  });

  it('to a queue: POST /route with the queue → POST /agentWork → POST /routingResult', async () => {
    const h = harness();
    const conv = liveSession(h);
    h.sb.ingest(routingRequested(conv, 'Transfer', { queueId: QUEUE }));
    await h.flush();
    expect(h.endpoints()).toEqual(['POST /route', 'POST /agentWork', 'POST /routingResult']);
    expect(h.bodies('POST /route')[0]).toEqual({ conversationIdentifier: conv.conversationIdentifier, routingType: 'Transfer', routingInfo: { queueId: QUEUE } });
  });

  it('to a rep: no /route; POST /agentWork to that rep → POST /routingResult', async () => {
    const h = harness();
    const conv = liveSession(h);
    h.sb.ingest(routingRequested(conv, 'Transfer', { userId: REPS[3] }));
    await h.flush();
    expect(h.endpoints()).toEqual(['POST /agentWork', 'POST /routingResult']);
    expect(h.bodies('POST /agentWork')[0]).toMatchObject({ userId: REPS[3], workItemId: WORK_ITEM });
  });

  it('to an external target: only POST /routingResult with externallyRouted: true', async () => {
    const handedOver: string[] = [];
    const h = harness({ routeExternally: async (req) => void handedOver.push(req.externalId) });
    const conv = liveSession(h);
    const done = finished(h);
    h.sb.ingest(routingRequested(conv, 'Transfer', { externalContactId: 'EXT-1' }));
    await h.flush();
    expect(handedOver).toEqual(['EXT-1']);
    expect(h.endpoints()).toEqual(['POST /routingResult']);
    expect(h.bodies('POST /routingResult')[0]).toEqual({
      conversationIdentifier: conv.conversationIdentifier,
      workItemId: WORK_ITEM,
      success: true,
      externallyRouted: true,
      routingType: 'Transfer',
    });
    expect(done[0]?.outcome).toBe('externallyRouted');
  });

  it('to an external target with no external router: a failed routingResult with externallyRouted: true', async () => {
    const h = harness();
    const conv = liveSession(h);
    h.sb.ingest(routingRequested(conv, 'Transfer', { externalContactId: 'EXT-1' }));
    await h.flush();
    expect(h.endpoints()).toEqual(['POST /routingResult']);
    expect(h.bodies('POST /routingResult')[0]).toMatchObject({ success: false, externallyRouted: true });
    expect((h.bodies('POST /routingResult')[0] as { errorMessage: string }).errorMessage).toMatch(/external transfer failed/);
  });
});

describe('5.3 conference', () => {
  it('via flow: the flow picks the rep (contextParamMap.userId), who is offered directly', async () => {
    const h = harness();
    h.api.respond('POST /route', () => ({ psrId: '0JR000000000009', contextParamMap: { userId: REPS[4] } }));
    const conv = liveSession(h);
    h.sb.ingest(routingRequested(conv, 'Conference', { flowId: FLOW, queueId: QUEUE }));
    await h.flush();
    expect(h.endpoints()).toEqual(['POST /route', 'POST /agentWork', 'POST /routingResult']);
    expect(h.bodies('POST /route')[0]).toMatchObject({ routingType: 'Conference', routingInfo: { flow: { flowId: FLOW, queueId: QUEUE } } });
    expect(h.bodies('POST /agentWork')[0]).toMatchObject({ userId: REPS[4], routingContext: { routingType: 'Conference' } });
    expect(h.bodies('POST /routingResult')[0]).toMatchObject({ success: true, routingType: 'Conference' });
  });

  it('via queue: the partner picker chooses a rep not already in the session', async () => {
    const h = harness();
    const conv = liveSession(h);
    h.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
    await h.flush();
    expect(h.endpoints()).toEqual(['POST /route', 'POST /agentWork', 'POST /routingResult']);
    expect((h.bodies('POST /agentWork')[0] as { userId: string }).userId).toBe(REPS[1]);
  });

  it('direct to a rep: no /route, and the rep joining completes the request', async () => {
    const h = harness();
    const conv = liveSession(h);
    const done = finished(h);
    h.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[2] }));
    await h.flush();
    expect(h.endpoints()).toEqual(['POST /agentWork', 'POST /routingResult']);
    h.sb.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[2] }]));
    await h.flush();
    expect(done).toMatchObject([{ outcome: 'routed', acceptedBy: REPS[2], reported: true }]);
    expect(h.sb.session(conv.conversationIdentifier)!.reps.map((r) => r.userId)).toEqual([REPS[0], REPS[2]]);
  });

  it('several pending conference requests at once, each rep invited by its own request', async () => {
    const h = harness();
    const conv = liveSession(h);
    const a = routingRequested(conv, 'Conference', { userId: REPS[1] });
    const b = routingRequested(conv, 'Conference', { userId: REPS[2] });
    h.sb.ingest(a);
    h.sb.ingest(b);
    await h.flush();
    expect(h.api.callsTo('POST /agentWork').map((c) => (c.body as { userId: string }).userId)).toEqual([REPS[1], REPS[2]]);
    expect(h.api.callsTo('POST /routingResult')).toHaveLength(2);
    expect(h.sb.session(conv.conversationIdentifier)!.pendingRoutings.map((r) => r.routingId).sort()).toEqual([a.routingEventId, b.routingEventId].sort());
  });

  it('is rejected at once when the participant cap is reached: a failed routingResult, nothing routed', async () => {
    const h = harness({ routing: { maxParticipantsOverride: 2 } });
    const conv = liveSession(h);
    h.sb.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[1] }]));
    const done = finished(h);
    h.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
    await h.flush();
    expect(h.endpoints()).toEqual(['POST /routingResult']);
    expect(h.bodies('POST /routingResult')[0]).toMatchObject({ success: false, routingType: 'Conference', errorMessage: 'participant cap reached (2 of 2)' });
    expect(done[0]?.outcome).toBe('rejected');
  });

  it('counts pending invitations against the cap', async () => {
    const h = harness({ routing: { maxParticipantsOverride: 2 } });
    const conv = liveSession(h);
    h.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
    h.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[2] }));
    await h.flush();
    expect(h.api.callsTo('POST /agentWork')).toHaveLength(1);
    // The second request is refused at once, so its failure is reported before the first one's success.
    expect(h.bodies('POST /routingResult')).toMatchObject([
      { success: false, errorMessage: 'participant cap reached (2 of 2)' },
      { success: true },
    ]);
  });

  it('counts a pending initial routing against the cap: its rep is about to join', async () => {
    const h = harness({ routing: { maxParticipantsOverride: 2 } });
    h.api.respond('POST /interactions', () => ({ conversationIdentifier: 'conv-initial', workItemIds: [SESSION_ID] }));
    h.api.respond('POST /route', () => ({ psrId: '0JR000000000001', routingCorrelationId: 'corr-1' }));
    await h.sb.startConversation({ to: 'chan-1', from: 'client-1', text: 'Hello' });
    await h.flush();
    expect(h.endpoints()).toEqual(['POST /interactions', 'POST /route', 'POST /agentWork']);
    // The initial offer is not answered yet when two conferences are asked for.
    const conv = { ...newConversation(), conversationIdentifier: 'conv-initial' };
    h.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
    h.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[2] }));
    await h.flush();
    expect(h.bodies('POST /routingResult')).toMatchObject([{ success: false, errorMessage: 'participant cap reached (2 of 2)' }, { success: true }]);
    expect(h.api.callsTo('POST /agentWork').map((c) => (c.body as { userId: string }).userId)).toEqual([REPS[0], REPS[1]]);
  });

  it('with an external contact is refused: conferences are for reps in the org', async () => {
    const h = harness({ routeExternally: async () => {} });
    const conv = liveSession(h);
    h.sb.ingest(routingRequested(conv, 'Conference', { externalContactId: 'EXT-1' }));
    await h.flush();
    expect(h.endpoints()).toEqual(['POST /routingResult']);
    expect(h.bodies('POST /routingResult')[0]).toMatchObject({ success: false, externallyRouted: true });
  });
});

describe('5.4 the rep cancels a pending request', () => {
  it('after the AgentWork was created: PATCH /agentWork Cancel, then DELETE /route Cancel', async () => {
    const h = harness();
    const conv = liveSession(h);
    const done = finished(h);
    h.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
    await h.flush();
    const workId = await workIdOf(h, conv.conversationIdentifier);
    h.sb.ingest(routingResult(conv, 'Conference', 'Cancelled', { cancelReason: 'Cancel', workOwnerId: REPS[0] }));
    await h.flush();
    expect(h.endpoints()).toEqual(['POST /route', 'POST /agentWork', 'POST /routingResult', 'PATCH /agentWork', 'DELETE /route']);
    expect(h.bodies('PATCH /agentWork')[0]).toEqual({ workId, contextType: 'Agent', status: 'Cancel' });
    expect(h.bodies('DELETE /route')[0]).toEqual({ conversationIdentifier: conv.conversationIdentifier, cancelReason: 'Cancel' });
    expect(done[0]?.outcome).toBe('cancelled');
  });

  it('while the picker has nobody yet: DELETE /route Cancel and the one failed routingResult', async () => {
    const h = harness({ pickRep: () => undefined });
    const conv = liveSession(h);
    h.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
    await h.flush();
    h.sb.ingest(routingResult(conv, 'Conference', 'Cancelled', { cancelReason: 'Cancel' }));
    await h.flush();
    expect(h.endpoints()).toEqual(['POST /route', 'POST /routingResult', 'DELETE /route']);
    expect(h.bodies('POST /routingResult')[0]).toMatchObject({ success: false });
  });
});

describe('5.5 a rep declines', () => {
  it('the next rep is offered; when nobody is left, DELETE /route Decline', async () => {
    const h = harness({ routing: { maxOffers: 2 } });
    const conv = liveSession(h);
    const done = finished(h);
    h.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
    await h.flush();
    h.sb.agentWork({ workId: await workIdOf(h, conv.conversationIdentifier), workItemId: SESSION_ID, workEvent: 'DECLINED' });
    await h.flush();
    h.sb.agentWork({ workId: await workIdOf(h, conv.conversationIdentifier), workItemId: SESSION_ID, workEvent: 'DECLINED' });
    await h.flush();
    expect(h.endpoints()).toEqual(['POST /route', 'POST /agentWork', 'POST /routingResult', 'POST /agentWork', 'DELETE /route']);
    const offered = h.api.callsTo('POST /agentWork').map((c) => (c.body as { userId: string }).userId);
    expect(new Set(offered).size).toBe(2);
    expect(offered).not.toContain(REPS[0]);
    expect(h.bodies('DELETE /route')[0]).toMatchObject({ cancelReason: 'Decline' });
    expect(done[0]?.outcome).toBe('declined');
  });

  it('the next rep offered is never one who joined the conversation meanwhile (through another request)', async () => {
    // The partner's ACD answers in a fixed order, skipping only the reps it is told to exclude.
    const order = [REPS[1], REPS[2], REPS[3]];
    const h = harness({ routing: { maxOffers: 3 }, pickRep: (req) => order.find((u) => !req.exclude.includes(u)) });
    const conv = liveSession(h);
    h.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
    await h.flush();
    // While REPS[1] holds the offer, REPS[2] joins the conversation by another way.
    h.sb.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[2] }]));
    await h.flush();
    h.sb.agentWork({ workId: await workIdOf(h, conv.conversationIdentifier), workItemId: SESSION_ID, workEvent: 'DECLINED' });
    await h.flush();
    expect(h.api.callsTo('POST /agentWork').map((c) => (c.body as { userId: string }).userId)).toEqual([REPS[1], REPS[3]]);
  });

  it('a decline that beats the POST /agentWork response is held and applied', async () => {
    const h = harness({ routing: { maxOffers: 1 } });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    h.api.respond('POST /agentWork', () => gate.then(() => ({ agentWorkId: '0Bz00000000EARLY' })));
    const conv = liveSession(h);
    h.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
    for (let i = 0; i < 10; i++) await vi.advanceTimersByTimeAsync(0);
    h.sb.agentWork({ workId: '0Bz00000000EARLY', workItemId: SESSION_ID, workEvent: 'DECLINED' });
    release();
    await h.flush();
    expect(h.endpoints()).toEqual(['POST /route', 'POST /agentWork', 'POST /routingResult', 'DELETE /route']);
    expect(h.bodies('DELETE /route')[0]).toMatchObject({ cancelReason: 'Decline' });
  });
});

describe('5.6 no accept within the offer timeout', () => {
  it('PATCH /agentWork Cancel, the next rep, then DELETE /route Unavailable', async () => {
    const h = harness({ routing: { maxOffers: 2, offerTimeoutMs: 10_000 } });
    const conv = liveSession(h);
    const done = finished(h);
    h.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
    await h.flush();
    const firstWork = await workIdOf(h, conv.conversationIdentifier);
    await vi.advanceTimersByTimeAsync(10_000);
    await h.flush();
    const secondWork = await workIdOf(h, conv.conversationIdentifier);
    expect(secondWork).not.toBe(firstWork);
    await vi.advanceTimersByTimeAsync(10_000);
    await h.flush();
    expect(h.endpoints()).toEqual(['POST /route', 'POST /agentWork', 'POST /routingResult', 'PATCH /agentWork', 'POST /agentWork', 'PATCH /agentWork', 'DELETE /route']);
    expect(h.bodies('PATCH /agentWork')).toEqual([
      { workId: firstWork, contextType: 'Agent', status: 'Cancel' },
      { workId: secondWork, contextType: 'Agent', status: 'Cancel' },
    ]);
    expect(h.bodies('DELETE /route')[0]).toMatchObject({ cancelReason: 'Unavailable' });
    expect(done[0]?.outcome).toBe('noAnswer');
  });
});

describe('5.7 other routing errors', () => {
  it('a terminal POST /route error: the failed routingResult, then DELETE /route Unknown', async () => {
    const h = harness();
    h.api.failNext('POST /route', new InteractionApiError('invalid queue', { kind: 'terminal', endpoint: 'POST /route', apiCode: 10032 }));
    const conv = liveSession(h);
    h.sb.ingest(routingRequested(conv, 'Transfer', { queueId: QUEUE }));
    await h.flush();
    expect(h.endpoints()).toEqual(['POST /route', 'POST /routingResult', 'DELETE /route']);
    expect(h.bodies('POST /routingResult')[0]).toMatchObject({ success: false, routingType: 'Transfer' });
    expect((h.bodies('POST /routingResult')[0] as { errorMessage: string }).errorMessage).toMatch(/POST \/route failed.*invalid queue/);
    expect(h.bodies('DELETE /route')[0]).toMatchObject({ cancelReason: 'Unknown' });
  });

  it('a capability error (10075, org not ready for Conference) is reported, never retried', async () => {
    const h = harness();
    h.api.failNext('POST /route', new InteractionApiError('not ready', { kind: 'capability', endpoint: 'POST /route', apiCode: 10075 }), 5);
    const conv = liveSession(h);
    h.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
    await h.flush();
    expect(h.api.callsTo('POST /route')).toHaveLength(1);
    expect(h.bodies('POST /routingResult')[0]).toMatchObject({ success: false });
    expect((h.bodies('POST /routingResult')[0] as { errorMessage: string }).errorMessage).toMatch(/not ready/);
  });
});

describe('5.8 the 60-second routing window', () => {
  it('the picker keeps finding nobody: it is asked again until another wait would overrun the reserve, then the failure is reported', async () => {
    let asked = 0;
    const h = harness({ pickRep: () => void asked++ });
    const conv = liveSession(h);
    const done = finished(h);
    const start = Date.now();
    h.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
    await h.flush();
    await vi.advanceTimersByTimeAsync(60_000);
    await h.flush();
    expect(h.endpoints()).toEqual(['POST /route', 'POST /routingResult', 'DELETE /route']);
    // Asked at 0, 2, 4 … 54 s: the next ask (56 s) would land inside the 5-s reserve.
    expect(asked).toBe(28);
    const reportedAt = h.api.callsTo('POST /routingResult')[0]!.at - start;
    expect(reportedAt).toBe(54_000);
    expect(h.bodies('DELETE /route')[0]).toMatchObject({ cancelReason: 'Unavailable' });
    expect(done[0]?.outcome).toBe('unavailable');
  });

  it('a hung ACD: at the window minus the reserve, the failed routingResult goes out and the PSR is cleared', async () => {
    const h = harness({ pickRep: () => new Promise<string>(() => {}) });
    const conv = liveSession(h);
    const done = finished(h);
    const start = Date.now();
    h.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
    for (let i = 0; i < 10; i++) await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(60_000);
    for (let i = 0; i < 10; i++) await vi.advanceTimersByTimeAsync(0);
    expect(h.endpoints()).toEqual(['POST /route', 'POST /routingResult', 'DELETE /route']);
    expect(h.api.callsTo('POST /routingResult')[0]!.at - start).toBe(55_000);
    expect(h.bodies('POST /routingResult')[0]).toMatchObject({ success: false, errorMessage: 'routing deadline reached' });
    expect(done[0]?.outcome).toBe('timedOut');
  });
});

describe('5.9 leave and end', () => {
  it('records a warm transfer: the reps overlap, then the first one leaves', async () => {
    const h = harness();
    const conv = liveSession(h);
    const left: Array<{ userId: string; warmTransferTo?: string[] }> = [];
    h.sb.on('participant.left', (e) => left.push(e));
    await vi.advanceTimersByTimeAsync(1_000);
    h.sb.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[1] }]));
    h.sb.ingest(participantChanged(conv, [{ operation: 'remove', userId: REPS[0] }]));
    expect(left).toEqual([{ type: 'participant.left', conversationIdentifier: conv.conversationIdentifier, userId: REPS[0], role: 'Agent', warmTransferTo: [REPS[1]] }]);
    expect(h.sb.session(conv.conversationIdentifier)!.transfers).toMatchObject([{ from: REPS[0], to: [REPS[1]] }]);
  });

  it('the session ending mid-offer cancels the work and clears the PSR, then the session is dropped', async () => {
    const h = harness();
    const conv = liveSession(h);
    const ended: string[] = [];
    h.sb.on('session.ended', (e) => ended.push(e.conversationIdentifier));
    h.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
    await h.flush();
    h.sb.ingest(sessionStatusChanged(conv, SESSION_ID, 'Ended', 'Active'));
    await h.flush();
    expect(h.endpoints()).toEqual(['POST /route', 'POST /agentWork', 'POST /routingResult', 'PATCH /agentWork', 'DELETE /route']);
    expect(ended).toEqual([conv.conversationIdentifier]);
    expect(h.sb.session(conv.conversationIdentifier)).toBeUndefined();
  });
});

describe('intake hygiene', () => {
  it('a replayed RoutingRequested starts nothing twice', async () => {
    const h = harness();
    const conv = liveSession(h);
    const rr = routingRequested(conv, 'Conference', { userId: REPS[1] });
    h.sb.ingest(rr);
    h.sb.ingest({ ...rr, eventId: 'another-delivery' });
    await h.flush();
    expect(h.api.callsTo('POST /agentWork')).toHaveLength(1);
    expect(h.api.callsTo('POST /routingResult')).toHaveLength(1);
  });

  it('a malformed event is rejected with its replay id and the session carries on', async () => {
    const h = harness();
    const conv = liveSession(h);
    const rejected: Array<{ field?: string; replayId?: string }> = [];
    h.sb.on('rejected', (e) => rejected.push({ field: (e.error as { field?: string }).field, replayId: e.replayId }));
    const bad = participantChanged(conv, [{ operation: 'add', userId: REPS[2] }]);
    const result = h.sb.ingest({ ...bad, payload: bad.payload.replace('"add"', '"join"'), replayId: '00000000000000ff' });
    expect(result.ok).toBe(false);
    expect(rejected).toEqual([{ field: 'payload.entryPayload.entries[0].operation', replayId: '00000000000000ff' }]);
    h.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
    await h.flush();
    expect(h.endpoints()).toEqual(['POST /agentWork', 'POST /routingResult']);
    expect(h.sb.stats()).toMatchObject({ rejected: 1 });
  });

  it('a malformed RoutingRequested of a known conversation is answered at once with a failed routingResult, and the session carries on', async () => {
    const h = harness();
    const conv = liveSession(h);
    const done = finished(h);
    const bad = routingRequested(conv, 'Conference', { userId: REPS[1] });
    const result = h.sb.ingest({ ...bad, payload: bad.payload.replace('"Conference"', '"Conferance"'), replayId: '00000000000000ff' });
    expect(result).toMatchObject({ ok: true, kind: 'RoutingRequested' });
    await h.flush();
    expect(h.endpoints()).toEqual(['POST /routingResult']);
    expect(h.bodies('POST /routingResult')[0]).toMatchObject({ success: false, errorMessage: expect.stringContaining('payload.routingType') });
    expect(done.map((d) => d.outcome)).toEqual(['rejected']);
    h.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
    await h.flush();
    expect(h.endpoints()).toEqual(['POST /routingResult', 'POST /agentWork', 'POST /routingResult']);
    expect(h.sb.stats()).toMatchObject({ rejected: 0, refusedRequests: 1 });
  });
});


describe('answers that race the engine', () => {
  it('a cancel refused because the rep just accepted waits for that answer: no second rep is offered', async () => {
    const h = harness({ routing: { offerTimeoutMs: 10_000, maxOffers: 3 } });
    h.api.failNext('PATCH /agentWork', new InteractionApiError('not in a state that can be cancelled', { kind: 'terminal', endpoint: 'PATCH /agentWork', apiCode: 10085 }));
    const conv = liveSession(h);
    const done = finished(h);
    h.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
    await h.flush();
    const offered = (h.bodies('POST /agentWork')[0] as { userId: string }).userId;
    await vi.advanceTimersByTimeAsync(10_000);
    await h.flush();
    expect(h.endpoints()).toEqual(['POST /route', 'POST /agentWork', 'POST /routingResult', 'PATCH /agentWork']);
    h.sb.ingest(participantChanged(conv, [{ operation: 'add', userId: offered }]));
    await h.flush();
    expect(done).toMatchObject([{ outcome: 'routed', acceptedBy: offered }]);
    expect(h.api.callsTo('POST /agentWork')).toHaveLength(1);
  });

  it('with no answer after a refused cancel, the grace runs out and the next rep is offered', async () => {
    const h = harness({ routing: { offerTimeoutMs: 10_000, maxOffers: 3, answerGraceMs: 3_000 } });
    h.api.failNext('PATCH /agentWork', new InteractionApiError('not in a state that can be cancelled', { kind: 'terminal', endpoint: 'PATCH /agentWork', apiCode: 10085 }));
    const conv = liveSession(h);
    h.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
    await h.flush();
    await vi.advanceTimersByTimeAsync(10_000);
    await h.flush();
    expect(h.api.callsTo('POST /agentWork')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(3_000);
    await h.flush();
    expect(h.api.callsTo('POST /agentWork')).toHaveLength(2);
  });

  it('15109 on POST /agentWork (the rep already has work here) is a refusal: the next rep is offered, nothing is reported as routed', async () => {
    const h = harness();
    h.api.failNext('POST /agentWork', new InteractionApiError('an active AgentWork already exists', { kind: 'already-done', endpoint: 'POST /agentWork', apiCode: 15109 }));
    const conv = liveSession(h);
    h.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
    await h.flush();
    expect(h.endpoints()).toEqual(['POST /route', 'POST /agentWork', 'POST /agentWork', 'POST /routingResult']);
    const [first, second] = h.bodies('POST /agentWork') as Array<{ userId: string }>;
    expect(second!.userId).not.toBe(first!.userId);
  });

  it('a rep whose offer may still be accepted when its request ends (POST /agentWork still out at the deadline) holds a seat', async () => {
    const h = harness({ routing: { maxParticipantsOverride: 2 } });
    // Answered only after the routing window: Salesforce may have created the AgentWork, without
    // telling its id (as a repeat after a crash meets 15109), so it cannot be cancelled.
    h.api.respond('POST /agentWork', () => new Promise((res) => setTimeout(() => res({}), 70_000)));
    const conv = liveSession(h);
    const ends = finished(h);
    h.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
    // Not flush(): it would wait for the call still out.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(ends).toMatchObject([{ outcome: 'timedOut', reported: true }]);
    // REPS[1] may accept the offer yet: the seat stays taken…
    expect(h.sb.session(conv.conversationIdentifier)!.seatsTaken).toBe(2);
    await vi.advanceTimersByTimeAsync(11_000);
    await h.flush();
    expect(h.sb.session(conv.conversationIdentifier)!.seatsTaken).toBe(2);
    // …and a conference at the cap is refused.
    h.api.respond('POST /agentWork', () => undefined);
    h.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[2] }));
    await h.flush();
    expect(h.bodies('POST /routingResult').at(-1)).toMatchObject({ success: false, errorMessage: 'participant cap reached (2 of 2)' });
    expect(h.bodies('POST /agentWork').map((b) => (b as { userId: string }).userId)).toEqual([REPS[1]]);
  });

  it('a rep whose offer could not be cancelled when the request failed (they answered first) holds a seat', async () => {
    const h = harness({ routing: { maxParticipantsOverride: 2 } });
    h.api.failNext('PATCH /agentWork', new InteractionApiError('not in a state that can be cancelled', { kind: 'terminal', endpoint: 'PATCH /agentWork', apiCode: 10085 }));
    const conv = liveSession(h);
    const ends = finished(h);
    h.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
    await h.flush();
    h.sb.ingest(routingResult(conv, 'Conference', 'Cancelled', { cancelReason: 'Cancel' }));
    await h.flush();
    expect(h.endpoints().slice(-1)).toEqual(['PATCH /agentWork']);
    expect(ends).toMatchObject([{ outcome: 'cancelled', mayJoin: REPS[1] }]);
    expect(h.sb.session(conv.conversationIdentifier)!.seatsTaken).toBe(2);
    // They join after all: the seat becomes theirs, not a second one.
    h.sb.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[1] }]));
    expect(h.sb.session(conv.conversationIdentifier)!.seatsTaken).toBe(2);
  });

  it('a rep who accepted holds a seat until their ParticipantChanged arrives', async () => {
    const h = harness({ routing: { maxParticipantsOverride: 2 } });
    const conv = liveSession(h);
    h.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
    await h.flush();
    h.sb.agentWork({ workId: await workIdOf(h, conv.conversationIdentifier), workItemId: SESSION_ID, workEvent: 'ACCEPTED' });
    await h.flush();
    expect(h.sb.session(conv.conversationIdentifier)!.seatsTaken).toBe(2);
    h.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[2] }));
    await h.flush();
    expect(h.bodies('POST /routingResult').at(-1)).toMatchObject({ success: false, errorMessage: 'participant cap reached (2 of 2)' });
    h.sb.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[1] }]));
    expect(h.sb.session(conv.conversationIdentifier)!.seatsTaken).toBe(2);
  });
});
