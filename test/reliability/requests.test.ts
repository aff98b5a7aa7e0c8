// Every RoutingRequested whose conversation can be identified gets exactly one routingResult — even
// one that cannot be routed — and ids are bounded before they reach dedupe or the store.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { PlatformEvent } from '../../src/domain/events.js';
import { InteractionApiError } from '../../src/domain/errors.js';
import { routingRequested, sessionStatusChanged } from '../../src/sandbox/payloads.js';
import { harness, newConversation, QUEUE, REPS } from '../support/harness.js';

const SESSION_ID = '0Mw000000000555AAA';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

/** A RoutingRequested with its payload rewritten by `edit`. */
function edited(event: PlatformEvent, edit: (p: any) => void): PlatformEvent {
  const p = JSON.parse(event.payload);
  edit(p);
  return { ...event, payload: JSON.stringify(p) };
}

function setup() {
  const h = harness();
  const conv = newConversation();
  h.sb.ingest(sessionStatusChanged(conv, SESSION_ID, 'Active'));
  return { h, conv };
}

describe('a RoutingRequested that cannot be routed is answered at once', () => {
  const cases: Array<[string, (p: any) => void, RegExp]> = [
    ['no target', () => {}, /no target/],
    ['a botId-only target', (p) => (p.payload.routingParameters.botId = '0Xx000000000BOT'), /bot/],
    ['two targets at once', (p) => Object.assign(p.payload.routingParameters, { userId: REPS[1], queueId: QUEUE }), /exactly one/],
    ['an unknown routingType', (p) => (p.payload.routingType = 'Escalation'), /routingType/],
    ['no routingParameters', (p) => delete p.payload.routingParameters, /routingParameters/],
  ];
  for (const [what, edit, why] of cases) {
    it(`${what}: one failed routingResult saying why, no other call`, async () => {
      const { h, conv } = setup();
      const result = h.sb.ingest(edited(routingRequested(conv, 'Transfer', {}), edit));
      expect(result).toMatchObject({ ok: true, kind: 'RoutingRequested' });
      await h.flush();
      expect(h.endpoints()).toEqual(['POST /routingResult']);
      const [report] = h.bodies('POST /routingResult') as any[];
      expect(report).toMatchObject({ success: false, workItemId: SESSION_ID.slice(0, 15), conversationIdentifier: conv.conversationIdentifier });
      expect(report.errorMessage).toMatch(why);
      expect(h.sb.stats().refusedRequests).toBe(1);
      expect(h.sb.session(conv.conversationIdentifier)!.pendingRoutings).toEqual([]);
    });
  }

  it('an unknown routingType is left out of the report rather than guessed', async () => {
    const { h, conv } = setup();
    h.sb.ingest(edited(routingRequested(conv, 'Transfer', { userId: REPS[1] }), (p) => (p.payload.routingType = 'Escalation')));
    await h.flush();
    expect(h.bodies('POST /routingResult')[0]).not.toHaveProperty('routingType');
  });

  it('a redelivered refused request is answered once', async () => {
    const { h, conv } = setup();
    const event = routingRequested(conv, 'Transfer', {});
    h.sb.ingest(event);
    h.sb.ingest({ ...event, eventId: 'another-delivery' });
    await h.flush();
    expect(h.api.callsTo('POST /routingResult')).toHaveLength(1);
  });
});

describe('a RoutingRequested without channelData.eventId', () => {
  it('is routed, keyed by the platform event, with no made-up routing correlation id', async () => {
    const { h, conv } = setup();
    const event = edited(routingRequested(conv, 'Transfer', { queueId: QUEUE }), (p) => (p.payload.routingParameters.channelData = JSON.stringify({ routingType: 'Transfer' })));
    h.sb.ingest(event);
    await h.flush();
    expect(h.endpoints()).toEqual(['POST /route', 'POST /agentWork', 'POST /routingResult']);
    const pending = h.sb.session(conv.conversationIdentifier)!.pendingRoutings;
    expect(pending.map((p) => p.routingId)).toEqual([`event-${event.eventId}`]);
    // The recording service's POST /route answers with its own routingCorrelationId: that one is used.
    const offer = h.bodies('POST /agentWork')[0] as any;
    expect(offer.routingContext?.routingCorrelationId).not.toBe(`event-${event.eventId}`);
    expect(h.bodies('POST /routingResult')[0]).toMatchObject({ success: true });
  });

  it('routes with channelData that is not JSON at all', async () => {
    const { h, conv } = setup();
    h.sb.ingest(edited(routingRequested(conv, 'Transfer', { queueId: QUEUE }), (p) => (p.payload.routingParameters.channelData = '{not json')));
    await h.flush();
    expect(h.endpoints()).toContain('POST /route');
    expect(h.sb.stats().refusedRequests).toBe(0);
  });
});

describe('ids are bounded', () => {
  it('an event id far beyond any Salesforce id is refused with SB_PARSE before dedupe', async () => {
    const { h, conv } = setup();
    const event = { ...routingRequested(conv, 'Transfer', { queueId: QUEUE }), eventId: 'e'.repeat(2_000) };
    const result = h.sb.ingest(event);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatchObject({ code: 'SB_PARSE', field: 'eventId' });
  });

  it('a 2,000-character conversation id or eventId is refused with SB_PARSE', () => {
    const { h } = setup();
    const long = 'c'.repeat(2_000);
    const conv = { ...newConversation(), conversationIdentifier: long };
    const r1 = h.sb.ingest(routingRequested(conv, 'Transfer', { queueId: QUEUE }));
    expect(r1).toMatchObject({ ok: false, error: { code: 'SB_PARSE', field: 'payload.conversationIdentifier' } });
    const r2 = h.sb.ingest(routingRequested(newConversation(), 'Transfer', { queueId: QUEUE }, { eventId: long }));
    // The conversation is known, so the request is answered (refused), never routed under a 2,000-character key.
    expect(r2).toMatchObject({ ok: true });
    expect(h.sb.stats().refusedRequests).toBe(1);
  });

  it("a refused event's id is not remembered: a valid delivery with that id is applied", async () => {
    const { h, conv } = setup();
    const good = routingRequested(conv, 'Transfer', { queueId: QUEUE });
    const broken = { ...good, payload: '{' };
    expect(h.sb.ingest(broken).ok).toBe(false);
    expect(h.sb.ingest(good)).toMatchObject({ ok: true, kind: 'RoutingRequested' });
    expect(h.sb.ingest(good)).toMatchObject({ ok: true, duplicate: true });
    await h.flush();
    expect(h.api.callsTo('POST /route')).toHaveLength(1);
  });
});

describe('a POST /agentWork whose fate is unknown', () => {
  it('is asked again with the same RequestId, and the offer it names is the one the request goes on with', async () => {
    const { h, conv } = setup();
    h.api.failNext('POST /agentWork', new InteractionApiError('POST /agentWork failed (ETIMEDOUT)', { kind: 'retryable', endpoint: 'POST /agentWork' }));
    h.sb.ingest(routingRequested(conv, 'Transfer', { queueId: QUEUE }));
    await h.flush();
    const offers = h.api.callsTo('POST /agentWork');
    expect(offers).toHaveLength(2);
    expect(offers[1]!.ctx.requestId).toBe(offers[0]!.ctx.requestId);
    expect((offers[1]!.body as { userId: string }).userId).toBe((offers[0]!.body as { userId: string }).userId);
    // The offer stands: the request is reported routed-so-far, and waits for that rep's answer.
    expect(h.bodies('POST /routingResult')).toEqual([expect.objectContaining({ success: true })]);
    expect(h.sb.session(conv.conversationIdentifier)!.pendingRoutings[0]).toMatchObject({ workId: expect.any(String) });
  });

  it('still unanswered when asked again: no one else is offered the work, the request fails, and the rep keeps a seat', async () => {
    const { h, conv } = setup();
    const timeout = () => new InteractionApiError('POST /agentWork failed (ETIMEDOUT)', { kind: 'retryable', endpoint: 'POST /agentWork' });
    h.api.failNext('POST /agentWork', timeout(), 2);
    const ends: Array<{ outcome: string; mayJoin?: string }> = [];
    h.sb.on('routing.finished', (e) => ends.push(e.output));
    h.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
    await h.flush();
    const offers = h.api.callsTo('POST /agentWork');
    expect(offers).toHaveLength(2);
    expect(offers[1]!.ctx.requestId).toBe(offers[0]!.ctx.requestId);
    expect(h.bodies('POST /routingResult')).toEqual([expect.objectContaining({ success: false })]);
    const rep = (offers[0]!.body as { userId: string }).userId;
    expect(ends).toMatchObject([{ outcome: 'failed', mayJoin: rep }]);
    expect(h.sb.session(conv.conversationIdentifier)!.seatsTaken).toBe(1);
  });

  it('a 429 was not applied: the next rep is offered, no repeat', async () => {
    const { h, conv } = setup();
    h.api.failNext('POST /agentWork', new InteractionApiError('rate limited', { kind: 'retryable', endpoint: 'POST /agentWork', status: 429 }));
    h.sb.ingest(routingRequested(conv, 'Transfer', { queueId: QUEUE }));
    await h.flush();
    const offers = h.api.callsTo('POST /agentWork');
    expect(offers).toHaveLength(2);
    expect(offers[1]!.ctx.requestId).not.toBe(offers[0]!.ctx.requestId);
  });
});
