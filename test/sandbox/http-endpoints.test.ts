// The sandbox Interaction Service over loopback with plain fetch: every endpoint's happy path and
// response shape (reference §1.4–§1.11), multipart parsing, org errors surfaced in the endpoint's
// error shape, RequestId replay, and what `records` holds.
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ANN, BOB, CHANNEL, TOKEN, interactionForm, startSandbox, textInteraction, type Sandbox } from './fixture.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

let sb: Sandbox;
beforeEach(async () => {
  sb = await startSandbox({ org: { flowChooses: (flowId) => (flowId === '300SB000000FLOW' ? ANN : undefined) } });
});
afterEach(() => sb.close());

function orgCalls(endpoint: string) {
  return sb.org.records.filter((r) => r.endpoint === endpoint);
}

describe('POST /interactions (multipart)', () => {
  it('creates a conversation from a text EntryInteraction: 202 {conversationIdentifier, id, workItemIds, success}', async () => {
    const id = randomUUID();
    const res = await sb.call('POST', 'interactions', undefined, {
      raw: interactionForm({ to: CHANNEL, from: 'enduser-1', routingAttributes: { Lang: 'en' }, interactions: [textInteraction('hi', id, 1_700_000_000_000)] }),
    });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ conversationIdentifier: expect.stringMatching(UUID), id, workItemIds: [expect.stringMatching(/^0Mw.{12}$/)], success: true });
    expect(sb.org.conversations.get(res.body.conversationIdentifier)).toMatchObject({ channelAddressIdentifier: CHANNEL, endUserClientId: 'enduser-1' });
    const [call] = orgCalls('POST /interactions');
    expect(call!.body).toEqual({
      to: CHANNEL,
      from: 'enduser-1',
      routingAttributes: { Lang: 'en' },
      interaction: { kind: 'text', text: 'hi', id, timestamp: 1_700_000_000_000 },
    });
    await vi.waitFor(() => expect(sb.events.map((e) => e.type)).toContain('Interaction'));
  });

  it('continues the open conversation for the same to/from', async () => {
    const a = await sb.converse('enduser-2', 'one');
    const b = await sb.converse('enduser-2', 'two');
    expect(b.conversationIdentifier).toBe(a.conversationIdentifier);
    expect(b.workItemId).toBe(a.workItemId);
  });

  it('takes one AttachmentInteraction with its file part, and records the part', async () => {
    const data = new TextEncoder().encode('%PDF-1.4 tiny');
    const id = randomUUID();
    const res = await sb.call('POST', 'interactions', undefined, {
      raw: interactionForm(
        {
          to: CHANNEL,
          from: 'enduser-3',
          interactions: [{ interactionType: 'AttachmentInteraction', timestamp: 1, id, attachmentIndex: 0, contentLength: data.byteLength, text: 'my invoice' }],
        },
        { data, name: 'invoice.pdf', type: 'application/pdf' },
      ),
    });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ id, success: true });
    const rec = sb.server.records.at(-1)!;
    expect(rec.body).toMatchObject({
      json: { to: CHANNEL, from: 'enduser-3' },
      attachments: { name: 'attachments', filename: 'invoice.pdf', contentType: 'application/pdf', size: data.byteLength, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
    });
    const body = orgCalls('POST /interactions')[0]!.body as { attachment: { name: string; contentType: string; data: Uint8Array }; interaction: unknown };
    expect(body.interaction).toEqual({ kind: 'text', text: 'my invoice', id, timestamp: 1 });
    expect(body.attachment.name).toBe('invoice.pdf');
    expect(body.attachment.contentType).toBe('application/pdf');
    expect(Buffer.from(body.attachment.data).toString()).toBe('%PDF-1.4 tiny');
  });

  it('passes other entry types through as entries (TypingStartedIndicator)', async () => {
    const id = randomUUID();
    const res = await sb.call('POST', 'interactions', undefined, {
      raw: interactionForm({
        to: CHANNEL,
        from: 'enduser-4',
        interactions: [{ interactionType: 'EntryInteraction', timestamp: 5, payload: { id, entryType: 'TypingStartedIndicator', timestamp: 5 } }],
      }),
    });
    expect(res.status).toBe(202);
    expect(res.body.id).toBe(id);
    expect(orgCalls('POST /interactions')[0]!.body).toMatchObject({ interaction: { kind: 'entry', payload: { id, entryType: 'TypingStartedIndicator' } } });
  });

  it('parses a hand-written multipart body (quoted boundary, part without Content-Type)', async () => {
    const boundary = 'xYz-123';
    const json = JSON.stringify({ to: CHANNEL, from: 'enduser-5', interactions: [textInteraction('raw')] });
    const raw = `preamble\r\n--${boundary}\r\nContent-Disposition: form-data; name="json"\r\n\r\n${json}\r\n--${boundary}--\r\n`;
    const res = await sb.call('POST', 'interactions', undefined, { raw, headers: { 'content-type': `multipart/form-data; boundary="${boundary}"` } });
    expect(res.status).toBe(202);
  });
});

describe('JSON endpoints', () => {
  it('PATCH /consent → 200 {success:true}', async () => {
    const res = await sb.call('PATCH', 'consent', { endUserClientId: 'enduser-1', channelAddressIdentifier: CHANNEL, consentStatus: 'ExplicitlyOptedIn' });
    expect(res).toMatchObject({ status: 200, body: { success: true } });
    expect(orgCalls('PATCH /consent')).toHaveLength(1);
  });

  it('POST /route (channel default) → 202 {success, psrId, workItemId, routingCorrelationId}', async () => {
    const conv = await sb.converse();
    const res = await sb.call('POST', 'route', { conversationIdentifier: conv.conversationIdentifier, routingType: 'Initial' }, {
      headers: { authorizationcontexttype: 'ConversationChannelDefinition' },
    });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ success: true, psrId: expect.stringMatching(/^0JR.{12}$/), workItemId: conv.workItemId, routingCorrelationId: expect.stringMatching(UUID) });
  });

  it('POST /route with a flow → contextParamMap carries the flow’s choice', async () => {
    const conv = await sb.converse();
    const toRep = await sb.call('POST', 'route', {
      conversationIdentifier: conv.conversationIdentifier,
      routingType: 'Transfer',
      routingInfo: { flow: { flowId: '300SB000000FLOW', queueId: '00GSB000000QUE1' }, routingAttributes: { Var1: 'v' } },
    });
    expect(toRep.status).toBe(202);
    expect(toRep.body.contextParamMap).toEqual({ userId: ANN });
    const toQueue = await sb.call('POST', 'route', {
      conversationIdentifier: conv.conversationIdentifier,
      routingType: 'Transfer',
      routingInfo: { flow: { flowId: '300SB000000OTHR', queueId: '00GSB000000QUE1' } },
    });
    expect(toQueue.body.contextParamMap).toEqual({ queueId: '00GSB000000QUE1' });
    expect(orgCalls('POST /route')[0]!.body).toEqual({
      conversationIdentifier: conv.conversationIdentifier,
      routingType: 'Transfer',
      routingInfo: { flow: { flowId: '300SB000000FLOW', queueId: '00GSB000000QUE1' }, routingAttributes: { Var1: 'v' } },
    });
  });

  it('POST /route with a queue, then DELETE /route (JSON body on a DELETE) → 202 {success:true}, PSR gone', async () => {
    const conv = await sb.converse();
    const route = await sb.call('POST', 'route', { conversationIdentifier: conv.conversationIdentifier, routingType: 'Conference', routingInfo: { queueId: '00GSB000000QUE1' } });
    expect(route.status).toBe(202);
    expect(sb.org.audit().openPsrs).toHaveLength(1);
    const del = await sb.call('DELETE', 'route', { conversationIdentifier: conv.conversationIdentifier, cancelReason: 'Unavailable' });
    expect(del).toMatchObject({ status: 202, body: { success: true } });
    expect(sb.org.audit().openPsrs).toEqual([]);
    expect(orgCalls('DELETE /route')[0]!.body).toEqual({ conversationIdentifier: conv.conversationIdentifier, cancelReason: 'Unavailable' });
  });

  it('POST /agentWork → 202 {id, agentWorkId, success, agentWorkDetails{existPsr, routingContext, psrId}}', async () => {
    const conv = await sb.converse();
    const route = await sb.call('POST', 'route', { conversationIdentifier: conv.conversationIdentifier, routingType: 'Initial' });
    const routingContext = { conversationIdentifier: conv.conversationIdentifier, routingType: 'Initial', routingCorrelationId: route.body.routingCorrelationId };
    const res = await sb.call('POST', 'agentWork', { userId: BOB, workItemId: conv.workItemId, capacityWeight: 1, routingContext });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^0Bz.{12}$/),
      agentWorkId: res.body.id,
      success: true,
      agentWorkDetails: { existPsr: true, routingContext, capacityWeight: 1, psrId: route.body.psrId },
    });
    await vi.waitFor(() => expect(sb.relayed).toContainEqual({ workId: res.body.agentWorkId, workItemId: conv.workItemId, workEvent: 'ASSIGNED' }));
  });

  it('POST /agentWork without a PSR → existPsr false, routingContext null, no psrId', async () => {
    const conv = await sb.converse();
    const res = await sb.call('POST', 'agentWork', { userId: BOB, workItemId: conv.workItemId, capacityPercentage: 50 });
    expect(res.status).toBe(202);
    expect(res.body.agentWorkDetails).toEqual({ existPsr: false, routingContext: null, capacityPercentage: 50 });
  });

  it('PATCH /agentWork Cancel on offered work → 202 {success:true}', async () => {
    const conv = await sb.converse();
    const work = await sb.call('POST', 'agentWork', { userId: BOB, workItemId: conv.workItemId, capacityWeight: 1 });
    const res = await sb.call('PATCH', 'agentWork', { workId: work.body.agentWorkId, contextType: 'Agent', status: 'Cancel' });
    expect(res).toMatchObject({ status: 202, body: { success: true } });
    expect(sb.org.audit().offeredWork).toEqual([]);
  });

  it('PATCH /agentWork Cancel on accepted work → the org’s 10085 as {success:false, errorDetail}', async () => {
    const conv = await sb.converse();
    const work = await sb.call('POST', 'agentWork', { userId: ANN, workItemId: conv.workItemId, capacityWeight: 1 });
    await vi.waitFor(() => expect(sb.relayed.map((e) => e.workEvent)).toContain('ACCEPTED'));
    const res = await sb.call('PATCH', 'agentWork', { workId: work.body.agentWorkId, contextType: 'Agent', status: 'Cancel' });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ success: false, errorDetail: { code: 10085, message: expect.stringContaining('not in a state that can be cancelled') } });
  });

  it('POST /agentWork twice for the same rep → the org’s 15109 as {code, message}', async () => {
    const conv = await sb.converse();
    await sb.call('POST', 'agentWork', { userId: BOB, workItemId: conv.workItemId, capacityWeight: 1 });
    const again = await sb.call('POST', 'agentWork', { userId: BOB, workItemId: conv.workItemId, capacityWeight: 1 });
    expect(again).toMatchObject({ status: 400, body: { code: 15109, message: expect.any(String) } });
  });

  it('POST /routingResult → 202 {success:true}, and the org counts the request reported', async () => {
    const conv = await sb.converse();
    const eventId = sb.org.requestRouting(conv.conversationIdentifier, 'Transfer', { queueId: '00GSB000000QUE1' });
    const ok = await sb.call('POST', 'routingResult', {
      conversationIdentifier: conv.conversationIdentifier,
      workItemId: conv.workItemId,
      success: true,
      externallyRouted: false,
      routingType: 'Transfer',
    });
    expect(ok).toMatchObject({ status: 202, body: { success: true } });
    expect(sb.org.requests.get(eventId)!.reported).toBe(1);
    const failed = await sb.call('POST', 'routingResult', {
      conversationIdentifier: conv.conversationIdentifier,
      workItemId: conv.workItemId,
      success: false,
      externallyRouted: true,
      errorMessage: 'no rep available',
    });
    expect(failed).toMatchObject({ status: 202, body: { success: true } });
  });

  it('POST /participant removes a rep → 200 {success:true} and ParticipantChanged remove', async () => {
    const conv = await sb.converse();
    await sb.call('POST', 'agentWork', { userId: ANN, workItemId: conv.workItemId, capacityWeight: 1 });
    await vi.waitFor(() => expect(sb.org.conversations.get(conv.conversationIdentifier)!.participants.has(ANN)).toBe(true));
    const res = await sb.call('POST', 'participant', {
      conversationIdentifier: conv.conversationIdentifier,
      operation: 'Remove',
      participants: [{ appType: 'agent', subject: ANN, role: 'Agent' }],
    });
    expect(res).toMatchObject({ status: 200, body: { success: true } });
    expect(sb.org.conversations.get(conv.conversationIdentifier)!.participants.has(ANN)).toBe(false);
    await vi.waitFor(() => expect(sb.events.some((e) => e.payload.includes('"operation":"remove"'))).toBe(true));
  });

  it('POST /messagingSession End → 200 {success:true} and the conversation ends', async () => {
    const conv = await sb.converse('enduser-9');
    const res = await sb.call('POST', 'messagingSession', {
      channelAddressIdentifier: CHANNEL,
      endUserClientId: 'enduser-9',
      conversationIdentifier: conv.conversationIdentifier,
      operation: 'End',
      operationBy: 'System',
    });
    expect(res).toMatchObject({ status: 200, body: { success: true } });
    expect(sb.org.conversations.get(conv.conversationIdentifier)!.ended).toBe(true);
  });

  it('an unknown conversation → the org’s 10025 as 400 {code, message}', async () => {
    const res = await sb.call('POST', 'route', { conversationIdentifier: randomUUID(), routingType: 'Initial' });
    expect(res).toEqual({ status: 400, body: { code: 10025, message: 'unknown conversation id' }, headers: expect.anything() });
  });
});

describe('RequestId: no replay by default (Salesforce is not known to deduplicate, reference §8.10)', () => {
  it('a repeat of a succeeded call reaches the org again and is applied again', async () => {
    const conv = await sb.converse();
    const requestId = randomUUID();
    const body = { conversationIdentifier: conv.conversationIdentifier, routingType: 'Initial' };
    const first = await sb.call('POST', 'route', body, { requestId });
    const second = await sb.call('POST', 'route', body, { requestId });
    expect([first.status, second.status]).toEqual([202, 202]);
    expect(second.headers.get('x-sandbox-replayed')).toBeNull();
    expect(orgCalls('POST /route')).toHaveLength(2);
    expect(sb.server.records.filter((r) => r.requestId === requestId).map((r) => [r.replayed ?? false, r.orgCalled])).toEqual([
      [false, true],
      [false, true],
    ]);
  });

  it('the same RequestId with a different body is not refused: it is just another request', async () => {
    const conv = await sb.converse();
    const requestId = randomUUID();
    await sb.call('POST', 'route', { conversationIdentifier: conv.conversationIdentifier, routingType: 'Initial' }, { requestId });
    const other = await sb.call('POST', 'route', { conversationIdentifier: conv.conversationIdentifier, routingType: 'Transfer' }, { requestId });
    expect(other.status).toBe(202);
    expect(orgCalls('POST /route')).toHaveLength(2);
  });
});

describe('what a repeat does at the org (the same RequestId, applied again)', () => {
  const applied = (endpoint: string) => orgCalls(endpoint).map((r) => (r.result === 'ok' ? r.applied : r.result.split(':')[0]));

  it('POST /route re-targets the open PSR and keeps its id', async () => {
    const conv = await sb.converse();
    const requestId = randomUUID();
    const body = { conversationIdentifier: conv.conversationIdentifier, routingType: 'Transfer', routingInfo: { queueId: '00GSB000000QUE1' } };
    const a = await sb.call('POST', 'route', body, { requestId });
    const b = await sb.call('POST', 'route', body, { requestId });
    expect(b.body.psrId).toBe(a.body.psrId);
    expect(applied('POST /route')).toEqual([`created ${a.body.psrId}`, `retargeted ${a.body.psrId}`]);
    expect(sb.org.audit().openPsrs).toEqual([`${conv.conversationIdentifier}:${a.body.psrId}`]);
  });

  it('DELETE /route again finds no PSR and changes nothing — but clears one created since', async () => {
    const conv = await sb.converse();
    const route = await sb.call('POST', 'route', { conversationIdentifier: conv.conversationIdentifier, routingType: 'Initial' });
    const requestId = randomUUID();
    const clear = { conversationIdentifier: conv.conversationIdentifier, cancelReason: 'Unavailable' };
    await sb.call('DELETE', 'route', clear, { requestId });
    expect((await sb.call('DELETE', 'route', clear, { requestId })).status).toBe(202);
    const next = await sb.call('POST', 'route', { conversationIdentifier: conv.conversationIdentifier, routingType: 'Initial' });
    await sb.call('DELETE', 'route', clear, { requestId });
    expect(applied('DELETE /route')).toEqual([`removed ${route.body.psrId}`, 'none', `removed ${next.body.psrId}`]);
  });

  it('POST /agentWork again while the first is offered → 15109; after it was declined → a new offer', async () => {
    const conv = await sb.converse();
    const requestId = randomUUID();
    const body = { userId: BOB, workItemId: conv.workItemId, capacityWeight: 1 };
    const first = await sb.call('POST', 'agentWork', body, { requestId });
    expect(await sb.call('POST', 'agentWork', body, { requestId })).toMatchObject({ status: 400, body: { code: 15109 } });
    await sb.call('PATCH', 'agentWork', { workId: first.body.agentWorkId, contextType: 'Agent', status: 'Cancel' });
    const again = await sb.call('POST', 'agentWork', body, { requestId });
    expect(again.status).toBe(202);
    expect(again.body.agentWorkId).not.toBe(first.body.agentWorkId);
    expect(applied('POST /agentWork')).toEqual([`created ${first.body.agentWorkId}`, '15109', `created ${again.body.agentWorkId}`]);
  });

  it('POST /agentWork for a request while another AgentWork of it is offered is noted as a second live offer', async () => {
    const conv = await sb.converse();
    const routingContext = { conversationIdentifier: conv.conversationIdentifier, routingType: 'Transfer', routingCorrelationId: randomUUID() };
    const first = await sb.call('POST', 'agentWork', { userId: BOB, workItemId: conv.workItemId, capacityWeight: 1, routingContext });
    await sb.call('POST', 'agentWork', { userId: ANN, workItemId: conv.workItemId, capacityWeight: 1, routingContext });
    expect(applied('POST /agentWork')[1]).toMatch(new RegExp(`while ${first.body.agentWorkId} live for the same request$`));
  });

  it('PATCH /agentWork Cancel again → 10085 (only assigned work can be cancelled)', async () => {
    const conv = await sb.converse();
    const work = await sb.call('POST', 'agentWork', { userId: BOB, workItemId: conv.workItemId, capacityWeight: 1 });
    const requestId = randomUUID();
    const cancel = { workId: work.body.agentWorkId, contextType: 'Agent', status: 'Cancel' };
    expect((await sb.call('PATCH', 'agentWork', cancel, { requestId })).status).toBe(202);
    expect(await sb.call('PATCH', 'agentWork', cancel, { requestId })).toMatchObject({ status: 400, body: { errorDetail: { code: 10085 } } });
  });

  it('POST /routingResult again: with no request open it changes nothing; with another one open it answers that one', async () => {
    const conv = await sb.converse();
    const c = conv.conversationIdentifier;
    const first = sb.org.requestRouting(c, 'Conference', { queueId: '00GSB000000QUE1' });
    const requestId = randomUUID();
    const body = { conversationIdentifier: c, workItemId: conv.workItemId, success: true, externallyRouted: false, routingType: 'Conference' };
    await sb.call('POST', 'routingResult', body, { requestId });
    expect((await sb.call('POST', 'routingResult', body, { requestId })).status).toBe(202);
    expect(sb.org.requests.get(first)!.reported).toBe(1);
    const second = sb.org.requestRouting(c, 'Conference', { queueId: '00GSB000000QUE1' });
    await sb.call('POST', 'routingResult', body, { requestId });
    expect(applied('POST /routingResult')).toEqual([`answered ${first}`, 'none', `answered ${second}`]);
    expect(sb.org.audit().reportedTwice).toEqual([]);
  });

  it('POST /interactions again reuses the end user\'s open conversation', async () => {
    const requestId = randomUUID();
    const json = { to: CHANNEL, from: 'enduser-again', interactions: [textInteraction('hi', randomUUID(), 7)] };
    const a = await sb.call('POST', 'interactions', undefined, { requestId, raw: interactionForm(json) });
    const b = await sb.call('POST', 'interactions', undefined, { requestId, raw: interactionForm(json) });
    expect(b.body.conversationIdentifier).toBe(a.body.conversationIdentifier);
    expect(applied('POST /interactions')).toEqual(['created', 'existing']);
  });

  it('faults.loseAnswerNext: the org applies the call, the caller gets a reset connection', async () => {
    const conv = await sb.converse();
    sb.faults.loseAnswerNext('POST /route');
    await expect(sb.call('POST', 'route', { conversationIdentifier: conv.conversationIdentifier, routingType: 'Initial' })).rejects.toThrow();
    expect(applied('POST /route')).toEqual([expect.stringMatching(/^created /)]);
    expect(sb.server.records.at(-1)).toMatchObject({ endpoint: 'POST /route', injected: 'lostAnswer', status: 202, orgCalled: true });
    // Once only.
    expect((await sb.call('POST', 'route', { conversationIdentifier: conv.conversationIdentifier, routingType: 'Initial' })).status).toBe(202);
  });
});

describe('RequestId replay (dedupeRequestIds: true)', () => {
  beforeEach(async () => {
    await sb.close();
    sb = await startSandbox({ dedupeRequestIds: true, org: { flowChooses: (flowId) => (flowId === '300SB000000FLOW' ? ANN : undefined) } });
  });

  it('a repeat of a succeeded call gets the same answer without a second org call', async () => {
    const conv = await sb.converse();
    const requestId = randomUUID();
    const body = { conversationIdentifier: conv.conversationIdentifier, routingType: 'Initial' };
    const first = await sb.call('POST', 'route', body, { requestId });
    const second = await sb.call('POST', 'route', body, { requestId });
    expect(second.status).toBe(first.status);
    expect(second.body).toEqual(first.body);
    expect(second.headers.get('x-sandbox-replayed')).toBe('true');
    expect(orgCalls('POST /route')).toHaveLength(1);
    const recs = sb.server.records.filter((r) => r.requestId === requestId);
    expect(recs.map((r) => [r.replayed ?? false, r.orgCalled])).toEqual([
      [false, true],
      [true, false],
    ]);
    // The invariant tests check: one org call per distinct RequestId.
    const distinct = new Set(sb.server.records.filter((r) => r.endpoint === 'POST /route' && r.orgCalled).map((r) => r.requestId));
    expect(distinct.size).toBe(orgCalls('POST /route').length);
  });

  it('a multipart repeat (fresh boundary, same content) is replayed too', async () => {
    const requestId = randomUUID();
    const json = { to: CHANNEL, from: 'enduser-r', interactions: [textInteraction('once', randomUUID(), 7)] };
    const a = await sb.call('POST', 'interactions', undefined, { requestId, raw: interactionForm(json) });
    const b = await sb.call('POST', 'interactions', undefined, { requestId, raw: interactionForm(json) });
    expect(b.body).toEqual(a.body);
    expect(orgCalls('POST /interactions')).toHaveLength(1);
  });

  it('a repeat after a failed attempt calls the org again', async () => {
    const conv = await sb.converse();
    const requestId = randomUUID();
    const body = { userId: BOB, workItemId: conv.workItemId, capacityWeight: 1 };
    sb.faults.failNext('POST /agentWork', 1, { status: 503, code: 10094 });
    const first = await sb.call('POST', 'agentWork', body, { requestId });
    expect(first.status).toBe(503);
    const second = await sb.call('POST', 'agentWork', body, { requestId });
    expect(second.status).toBe(202);
    expect(orgCalls('POST /agentWork')).toHaveLength(1);
    expect(sb.server.records.filter((r) => r.requestId === requestId).map((r) => r.replayed ?? false)).toEqual([false, false]);
  });

  it('the same RequestId with a different body → 400 / 10016', async () => {
    const conv = await sb.converse();
    const requestId = randomUUID();
    await sb.call('POST', 'route', { conversationIdentifier: conv.conversationIdentifier, routingType: 'Initial' }, { requestId });
    const other = await sb.call('POST', 'route', { conversationIdentifier: conv.conversationIdentifier, routingType: 'Transfer' }, { requestId });
    expect(other).toMatchObject({ status: 400, body: { code: 10016 } });
    expect(orgCalls('POST /route')).toHaveLength(1);
  });

  it('the same RequestId on another endpoint is another request', async () => {
    const conv = await sb.converse();
    const requestId = randomUUID();
    await sb.call('POST', 'route', { conversationIdentifier: conv.conversationIdentifier, routingType: 'Initial' }, { requestId });
    const del = await sb.call('DELETE', 'route', { conversationIdentifier: conv.conversationIdentifier }, { requestId });
    expect(del.status).toBe(202);
    expect(orgCalls('DELETE /route')).toHaveLength(1);
  });
});

describe('records', () => {
  it('keeps method, path, redacted headers, body, status, response, receivedAt and requestId of every request', async () => {
    const before = Date.now();
    const requestId = randomUUID();
    await sb.call('PATCH', 'consent', { endUserClientId: 'e', channelAddressIdentifier: CHANNEL, consentStatus: 'OptedOut' }, { requestId });
    await sb.call('PATCH', 'consent', {}, { token: 'nope' });
    const [ok, denied] = sb.server.records;
    expect(ok).toMatchObject({
      seq: 1,
      method: 'PATCH',
      path: '/api/v1/consent',
      endpoint: 'PATCH /consent',
      body: { endUserClientId: 'e', channelAddressIdentifier: CHANNEL, consentStatus: 'OptedOut' },
      status: 200,
      response: { success: true },
      requestId,
      orgCalled: true,
    });
    expect(ok!.headers.authorization).toBe('Bearer ***');
    expect(ok!.headers.orgid).toBeDefined();
    expect(ok!.receivedAt).toBeGreaterThanOrEqual(before);
    expect(JSON.stringify(sb.server.records)).not.toContain(TOKEN.split('!')[1]);
    expect(denied).toMatchObject({ status: 401, orgCalled: false });
  });
});
