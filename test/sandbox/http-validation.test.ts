// The sandbox refuses what Salesforce refuses (reference §1.1–§1.11, codes from ERRORCODES.md):
// each header rule, Content-Type and empty bodies, and each body rule with its code. None of these
// reach the org.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTH_CONTEXT, BOB, CHANNEL, ORG_ID, interactionForm, startSandbox, textInteraction, type Sandbox } from './fixture.js';

let sb: Sandbox;
let conv: { conversationIdentifier: string; workItemId: string };
beforeAll(async () => {
  sb = await startSandbox();
  conv = await sb.converse('enduser-validation');
});
afterAll(() => sb.close());

/** Plain `{code, message}` error with this status. */
function plain(status: number, code: number) {
  return { status, body: { code, message: expect.any(String) } };
}
/** `{success:false, errorDetail:{code, message}}` with this status. */
function detail(status: number, code: number) {
  return { status, body: { success: false, errorDetail: { code, message: expect.any(String) } } };
}

describe('headers', () => {
  const consent = { endUserClientId: 'e', channelAddressIdentifier: CHANNEL, consentStatus: 'OptedOut' };

  it.each([
    ['missing', { authorization: undefined }],
    ['not Bearer', { authorization: 'Basic dXNlcjpwYXNz' }],
    ['unknown token', { authorization: 'Bearer not-a-token' }],
    ['empty bearer', { authorization: 'Bearer ' }],
  ])('Authorization %s → 401 {code:10004} (plain, even on an errorDetail endpoint)', async (_, headers) => {
    expect(await sb.call('PATCH', 'consent', consent, { headers })).toMatchObject(plain(401, 10004));
    expect(await sb.call('POST', 'route', { conversationIdentifier: 'x', routingType: 'Initial' }, { headers })).toMatchObject(plain(401, 10004));
  });

  it.each([
    ['missing', undefined],
    ['another org', '00DSB000000BBBB'],
    ['the 18-character form', `${ORG_ID}XYZ`],
  ])('OrgId %s → 400 / 10016', async (_, orgid) => {
    const res = await sb.call('POST', 'route', { conversationIdentifier: conv.conversationIdentifier, routingType: 'Initial' }, { headers: { orgid } });
    expect(res).toMatchObject(plain(400, 10016));
  });

  it.each([
    ['missing', undefined],
    ['another CCD', 'Partner1_OtherChannel'],
    ['another case', AUTH_CONTEXT.toLowerCase()],
  ])('AuthorizationContext %s → 400 / 10001', async (_, authorizationcontext) => {
    const res = await sb.call('POST', 'route', { conversationIdentifier: conv.conversationIdentifier, routingType: 'Initial' }, { headers: { authorizationcontext } });
    expect(res).toMatchObject(plain(400, 10001));
  });

  it.each([
    ['missing', undefined],
    ['not a UUID', 'req-1'],
    ['a UUID with junk', `${randomUUID()}x`],
  ])('RequestId %s → 400 / 10016', async (_, requestid) => {
    const res = await sb.call('DELETE', 'route', { conversationIdentifier: conv.conversationIdentifier }, { headers: { requestid } });
    expect(res).toMatchObject(plain(400, 10016));
  });

  it('PATCH /agentWork without AuthorizationContextType → 10016 in its errorDetail shape; another value → 10093', async () => {
    const body = { workId: '0BzSB000000AAAA', contextType: 'Agent', status: 'Cancel' };
    expect(await sb.call('PATCH', 'agentWork', body, { headers: { authorizationcontexttype: undefined } })).toMatchObject(detail(400, 10016));
    expect(await sb.call('PATCH', 'agentWork', body, { headers: { authorizationcontexttype: 'Bogus' } })).toMatchObject(detail(400, 10093));
    expect(await sb.call('PATCH', 'agentWork', body, { headers: { authorizationcontexttype: 'EmbeddedMessagingChannel' } })).toMatchObject(detail(400, 10093));
  });

  it('AuthorizationContextType is optional on POST /route but must be valid when sent', async () => {
    const body = { conversationIdentifier: conv.conversationIdentifier, routingType: 'Initial' };
    expect((await sb.call('POST', 'route', body)).status).toBe(202);
    expect(await sb.call('POST', 'route', body, { headers: { authorizationcontexttype: 'Nope' } })).toMatchObject(plain(400, 10093));
  });

  it.each([
    ['text/plain', 'text/plain'],
    ['missing', undefined],
    ['multipart', 'multipart/form-data; boundary=x'],
  ])('Content-Type %s on a JSON endpoint → 400 / 10016', async (_, type) => {
    // A byte body, so fetch adds no Content-Type of its own.
    const raw = new TextEncoder().encode(JSON.stringify({ conversationIdentifier: conv.conversationIdentifier, routingType: 'Initial' }));
    const res = await sb.call('POST', 'route', undefined, { raw, headers: { 'content-type': type } });
    expect(res).toMatchObject(plain(400, 10016));
    expect(sb.server.records.at(-1)!.headers['content-type']).toBe(type);
  });

  it('application/json with a charset parameter is fine', async () => {
    const res = await sb.call('POST', 'route', { conversationIdentifier: conv.conversationIdentifier, routingType: 'Initial' }, { headers: { 'content-type': 'application/json; charset=utf-8' } });
    expect(res.status).toBe(202);
  });

  it('POST /interactions as JSON, or multipart without a boundary → 400 / 10016', async () => {
    const json = { to: CHANNEL, from: 'e', interactions: [textInteraction('x')] };
    expect(await sb.call('POST', 'interactions', json)).toMatchObject(plain(400, 10016));
    const raw = `--b\r\nContent-Disposition: form-data; name="json"\r\n\r\n${JSON.stringify(json)}\r\n--b--\r\n`;
    expect(await sb.call('POST', 'interactions', undefined, { raw, headers: { 'content-type': 'multipart/form-data' } })).toMatchObject(plain(400, 10016));
  });

  it('an empty body → 10100 on every endpoint, in its error shape', async () => {
    expect(await sb.call('POST', 'route')).toMatchObject(plain(400, 10100));
    expect(await sb.call('DELETE', 'route')).toMatchObject(plain(400, 10100));
    expect(await sb.call('POST', 'routingResult')).toMatchObject(detail(400, 10100));
    expect(await sb.call('POST', 'interactions', undefined, { headers: { 'content-type': 'multipart/form-data; boundary=b' } })).toMatchObject(plain(400, 10100));
  });

  it('malformed JSON or a non-object body → 10089', async () => {
    expect(await sb.call('POST', 'route', undefined, { raw: '{"conversationIdentifier":' })).toMatchObject(plain(400, 10089));
    expect(await sb.call('POST', 'route', ['x'])).toMatchObject(plain(400, 10089));
  });

  it('unknown resources → 404, known ones with another method → 405 with Allow', async () => {
    expect(await sb.call('POST', 'conversationHistory', {})).toMatchObject({ status: 404, body: { code: 404 } });
    const res = await sb.call('GET', 'route');
    expect(res).toMatchObject({ status: 405, body: { code: 405 } });
    expect(res.headers.get('allow')).toBe('POST, DELETE');
  });

  it('none of the rejected calls above reached the org', () => {
    const routeCalls = sb.org.records.filter((r) => r.endpoint === 'POST /route');
    // Only the accepted calls: AuthorizationContextType optional (1) and charset (1).
    expect(routeCalls).toHaveLength(2);
    expect(sb.org.records.filter((r) => r.endpoint !== 'POST /route' && r.endpoint !== 'POST /interactions')).toEqual([]);
  });
});

describe('POST /interactions body', () => {
  const post = (json: unknown, file?: { data: Uint8Array; name: string; type: string }) =>
    sb.call('POST', 'interactions', undefined, { raw: interactionForm(json, file) });
  const ok = (over: Record<string, unknown> = {}) => ({ to: CHANNEL, from: 'enduser-x', interactions: [textInteraction('hi')], ...over });

  it.each([
    ['to missing', { to: undefined }, 10027],
    ['to longer than 240', { to: 'c'.repeat(241) }, 10027],
    ['from missing', { from: '' }, 10028],
    ['from longer than 255', { from: 'f'.repeat(256) }, 10028],
    ['no interactions', { interactions: [] }, 10029],
    ['two interactions', { interactions: [textInteraction('a'), textInteraction('b')] }, 10029],
    ['interactions not an array', { interactions: textInteraction('a') }, 10029],
    ['unknown interactionType', { interactions: [{ ...textInteraction('a'), interactionType: 'Other' }] }, 10029],
    ['timestamp missing', { interactions: [{ ...textInteraction('a'), timestamp: undefined }] }, 10029],
    ['routingAttributes not strings', { routingAttributes: { n: 1 } }, 10089],
  ])('%s → %i', async (_, over, code) => {
    expect(await post(ok(over))).toMatchObject(plain(400, code));
  });

  it('message id ≠ payload id → 10060; empty ids → 10059', async () => {
    const i = textInteraction('hi');
    i.payload.abstractMessage.id = randomUUID();
    expect(await post(ok({ interactions: [i] }))).toMatchObject(plain(400, 10060));
    const empty = textInteraction('hi', '');
    expect(await post(ok({ interactions: [empty] }))).toMatchObject(plain(400, 10059));
  });

  it('an end user may not send a ChoicesMessage → 10062; unknown messageType → 10047; unknown formatType → 10048', async () => {
    const choices = textInteraction('hi');
    (choices.payload.abstractMessage as Record<string, unknown>).messageType = 'ChoicesMessage';
    expect(await post(ok({ interactions: [choices] }))).toMatchObject(plain(400, 10062));
    const unknown = textInteraction('hi');
    (unknown.payload.abstractMessage as Record<string, unknown>).messageType = 'Shout';
    expect(await post(ok({ interactions: [unknown] }))).toMatchObject(plain(400, 10047));
    const format = textInteraction('hi');
    (format.payload.abstractMessage.staticContent as Record<string, unknown>).formatType = 'Hologram';
    expect(await post(ok({ interactions: [format] }))).toMatchObject(plain(400, 10048));
  });

  it('AttachmentInteraction and file parts must match → 10011', async () => {
    const data = new Uint8Array([1, 2, 3]);
    const file = { data, name: 'a.bin', type: 'application/octet-stream' };
    const attachment = { interactionType: 'AttachmentInteraction', timestamp: 1, id: randomUUID(), attachmentIndex: 0, contentLength: 3, text: null };
    expect(await post(ok({ interactions: [attachment] }))).toMatchObject(plain(400, 10011));
    expect(await post(ok(), file)).toMatchObject(plain(400, 10011));
    expect(await post(ok({ interactions: [{ ...attachment, attachmentIndex: 1 }] }), file)).toMatchObject(plain(400, 10011));
  });

  it('AttachmentInteraction field rules: contentLength wrong → 10051, missing → 10010; id empty → 10007; empty file → 10009', async () => {
    const file = { data: new Uint8Array([1, 2, 3]), name: 'a.bin', type: 'application/octet-stream' };
    const base = { interactionType: 'AttachmentInteraction', timestamp: 1, id: randomUUID(), attachmentIndex: 0, contentLength: 3 };
    expect(await post(ok({ interactions: [{ ...base, contentLength: 4 }] }), file)).toMatchObject(plain(400, 10051));
    expect(await post(ok({ interactions: [{ ...base, contentLength: undefined }] }), file)).toMatchObject(plain(400, 10010));
    expect(await post(ok({ interactions: [{ ...base, id: '' }] }), file)).toMatchObject(plain(400, 10007));
    expect(await post(ok({ interactions: [{ ...base, contentLength: 0 }] }), { ...file, data: new Uint8Array() })).toMatchObject(plain(400, 10009));
  });

  it('a form without a json part → 10100; an unknown part → 10089; unparseable json part → 10089', async () => {
    const noJson = new FormData();
    noJson.append('attachments', new Blob([new Uint8Array([1])], { type: 'image/png' }), 'a.png');
    expect(await sb.call('POST', 'interactions', undefined, { raw: noJson })).toMatchObject(plain(400, 10100));
    const extra = interactionForm(ok());
    extra.append('other', 'x');
    expect(await sb.call('POST', 'interactions', undefined, { raw: extra })).toMatchObject(plain(400, 10089));
    const bad = new FormData();
    bad.append('json', new Blob(['{nope'], { type: 'application/json' }));
    expect(await sb.call('POST', 'interactions', undefined, { raw: bad })).toMatchObject(plain(400, 10089));
  });

  it('a truncated multipart body → 10089', async () => {
    const raw = `--b\r\nContent-Disposition: form-data; name="json"\r\n\r\n{"to":"x"}`;
    expect(await sb.call('POST', 'interactions', undefined, { raw, headers: { 'content-type': 'multipart/form-data; boundary=b' } })).toMatchObject(plain(400, 10089));
  });
});

describe('JSON bodies', () => {
  it.each([
    ['consent: endUserClientId missing', 'PATCH', 'consent', { channelAddressIdentifier: CHANNEL, consentStatus: 'OptedOut' }, 10020],
    ['consent: the docs’ misspelt ExplicityOptedIn', 'PATCH', 'consent', { endUserClientId: 'e', channelAddressIdentifier: CHANNEL, consentStatus: 'ExplicityOptedIn' }, 10021],
    ['consent: channelAddressIdentifier too long', 'PATCH', 'consent', { endUserClientId: 'e', channelAddressIdentifier: 'c'.repeat(241), consentStatus: 'OptedOut' }, 10069],
    ['agentWork PATCH: contextType Human', 'PATCH', 'agentWork', { workId: '0BzSB000000AAAA', contextType: 'Human', status: 'Cancel' }, 10083],
    ['agentWork PATCH: status Pause', 'PATCH', 'agentWork', { workId: '0BzSB000000AAAA', contextType: 'Agent', status: 'Pause' }, 10085],
    ['agentWork PATCH: workId missing', 'PATCH', 'agentWork', { contextType: 'Agent', status: 'Close' }, 10082],
    ['agentWork PATCH: Chatbot without botId', 'PATCH', 'agentWork', { workId: '0BzSB000000AAAA', contextType: 'Chatbot', workItemId: '0MwSB000000AAAA', status: 'Close' }, 10084],
    ['agentWork PATCH: unknown workId (from the org)', 'PATCH', 'agentWork', { workId: '0BzSB000000ZZZZ', contextType: 'Agent', status: 'Close' }, 10082],
    ['participant: appType robot', 'POST', 'participant', { conversationIdentifier: 'c', operation: 'Remove', participants: [{ appType: 'robot', subject: 's', role: 'Agent' }] }, 10037],
    ['participant: role Boss', 'POST', 'participant', { conversationIdentifier: 'c', operation: 'Remove', participants: [{ appType: 'agent', subject: 's', role: 'Boss' }] }, 10038],
    ['participant: none', 'POST', 'participant', { conversationIdentifier: 'c', operation: 'Remove', participants: [] }, 10039],
    ['participant: operation Add', 'POST', 'participant', { conversationIdentifier: 'c', operation: 'Add', participants: [{ appType: 'agent', subject: 's', role: 'Agent' }] }, 10089],
  ])('%s → {success:false, errorDetail:{code:%i}}', async (_, method, resource, body, code) => {
    expect(await sb.call(method, resource, body)).toMatchObject(detail(400, code));
  });

  describe('POST /routingResult', () => {
    const base = () => ({ conversationIdentifier: conv.conversationIdentifier, workItemId: conv.workItemId, externallyRouted: false });
    it.each([
      ['success with an errorMessage', { success: true, errorMessage: 'x' }, 10033],
      ['success with errorMessage: null', { success: true, errorMessage: null }, 10033],
      ['failure without an errorMessage', { success: false }, 10034],
      ['failure with an empty errorMessage', { success: false, errorMessage: '' }, 10034],
      ['workItemId of 14 characters', { success: true, workItemId: '0MwSB000000AAA' }, 10012],
      ['externallyRouted missing', { success: true, externallyRouted: undefined }, 10089],
      ['routingType Broadcast', { success: true, routingType: 'Broadcast' }, 10089],
      ['conversationIdentifier longer than 240', { success: true, conversationIdentifier: 'c'.repeat(241) }, 10018],
    ])('%s → %i', async (_, over, code) => {
      expect(await sb.call('POST', 'routingResult', { ...base(), ...over })).toMatchObject(detail(400, code));
    });
  });

  describe('POST /route', () => {
    const route = (over: Record<string, unknown>) => sb.call('POST', 'route', { conversationIdentifier: conv.conversationIdentifier, routingType: 'Transfer', ...over });
    it.each([
      ['flow without its fallback queue', { routingInfo: { flow: { flowId: '300SB000000FLOW' } } }, 10024],
      ['flow without flowId', { routingInfo: { flow: { queueId: '00GSB000000QUE1' } } }, 10024],
      ['routingInfo with neither flow nor queue', { routingInfo: { routingAttributes: { a: 'b' } } }, 10030],
      ['routingInfo with both flow and queue', { routingInfo: { flow: { flowId: 'f', queueId: 'q' }, queueId: 'q' } }, 10030],
      ['an empty queueId', { routingInfo: { queueId: '' } }, 10032],
      ['routingType Broadcast', { routingType: 'Broadcast' }, 10089],
      ['conversationIdentifier missing', { conversationIdentifier: undefined }, 10018],
    ])('%s → %i', async (_, over, code) => {
      expect(await route(over)).toMatchObject(plain(400, code));
    });
  });

  it('DELETE /route: cancelReason outside Unknown|Unavailable|Decline|Cancel → 10089 (EndUserEnded is outbound only)', async () => {
    for (const cancelReason of ['EndUserEnded', 'UNAVAILABLE', 3]) {
      expect(await sb.call('DELETE', 'route', { conversationIdentifier: conv.conversationIdentifier, cancelReason })).toMatchObject(plain(400, 10089));
    }
  });

  describe('POST /agentWork', () => {
    const work = (over: Record<string, unknown>) => sb.call('POST', 'agentWork', { userId: BOB, workItemId: conv.workItemId, ...over });
    it.each([
      ['both capacityPercentage and capacityWeight', { capacityPercentage: 50, capacityWeight: 1 }, 10013],
      ['capacityPercentage 101', { capacityPercentage: 101 }, 10015],
      ['capacityPercentage as a non-numeric string', { capacityPercentage: 'half' }, 10015],
      ['capacityWeight as a non-numeric string', { capacityWeight: 'one' }, 10014],
      ['routingContext of another conversation', { routingContext: { conversationIdentifier: 'another-conversation', routingType: 'Transfer', routingCorrelationId: 'r-1' } }, 15107],
      ['capacityWeight −1', { capacityWeight: -1 }, 10014],
      ['workItemId of 14 characters', { workItemId: '0MwSB000000AAA' }, 15110],
      ['workItemId of 18 characters', { workItemId: '0MwSB000000AAAAXYZ' }, 15110],
      ['userId missing', { userId: '' }, 15106],
      ['routingContext without routingCorrelationId', { routingContext: { conversationIdentifier: 'c', routingType: 'Initial' } }, 10089],
      ['agentActionVisibilities with an unknown action', { agentActionVisibilities: [{ agentAction: 'Hold', visible: true }] }, 10089],
      ['an unknown rep (from the org)', { userId: '005SB000000NOPE' }, 15106],
      ['an unknown work item (from the org)', { workItemId: '0MwSB000000ZZZZ' }, 15111],
    ])('%s → %i', async (_, over, code) => {
      expect(await work(over)).toMatchObject(plain(400, code));
    });
  });

  it('accepts what Salesforce\'s own reference connector sends: numeric strings for capacity, an empty errorMessage on a success', async () => {
    const pct = await sb.call('POST', 'agentWork', { userId: BOB, workItemId: conv.workItemId, capacityPercentage: '50' });
    expect(pct.status).toBe(202);
    expect((pct.body as { agentWorkDetails: { capacityPercentage?: unknown } }).agentWorkDetails.capacityPercentage).toBe(50);
    const other = await sb.converse();
    const weight = await sb.call('POST', 'agentWork', { userId: BOB, workItemId: other.workItemId, capacityWeight: '1' });
    expect(weight.status).toBe(202);
    const report = { conversationIdentifier: conv.conversationIdentifier, workItemId: conv.workItemId, success: true, externallyRouted: false, errorMessage: '' };
    expect((await sb.call('POST', 'routingResult', report)).body).not.toMatchObject({ errorDetail: { code: 10033 } });
    expect(await sb.call('POST', 'routingResult', { ...report, errorMessage: 'oops' })).toMatchObject({ status: 400, body: { errorDetail: { code: 10033 } } });
  });

  it('POST /agentWork for an end user who opted out (PATCH /consent OptedOut) → 15103', async () => {
    const c2 = await sb.converse();
    const endUser = [...sb.org.conversations.values()].find((c) => c.conversationIdentifier === c2.conversationIdentifier)!.endUserClientId;
    expect((await sb.call('PATCH', 'consent', { endUserClientId: endUser, channelAddressIdentifier: CHANNEL, consentStatus: 'OptedOut' })).status).toBe(200);
    expect(await sb.call('POST', 'agentWork', { userId: BOB, workItemId: c2.workItemId })).toMatchObject(plain(400, 15103));
  });

  it('POST /messagingSession: Inactivate without sessionId → 10071; operation Pause → 10089', async () => {
    const base = { channelAddressIdentifier: CHANNEL, endUserClientId: 'enduser-validation', conversationIdentifier: conv.conversationIdentifier };
    expect(await sb.call('POST', 'messagingSession', { ...base, operation: 'Inactivate' })).toMatchObject(plain(400, 10071));
    expect(await sb.call('POST', 'messagingSession', { ...base, operation: 'Pause' })).toMatchObject(plain(400, 10089));
  });
});

describe('an org that knows its channel addresses', () => {
  it('refuses a conversation (10001) or a consent (10069) on another address, and takes its own', async () => {
    const known = await startSandbox({ org: { channelAddresses: [CHANNEL] } });
    try {
      const form = (to: string) => interactionForm({ to, from: 'enduser-channels', interactions: [textInteraction('hi')] });
      expect(await known.call('POST', 'interactions', undefined, { raw: form('not-our-channel') })).toMatchObject({ status: 400, body: { code: 10001 } });
      expect(await known.call('PATCH', 'consent', { endUserClientId: 'enduser-channels', channelAddressIdentifier: 'not-our-channel', consentStatus: 'ExplicitlyOptedIn' })).toMatchObject({ status: 400, body: { errorDetail: { code: 10069 } } });
      expect((await known.call('POST', 'interactions', undefined, { raw: form(CHANNEL) })).status).toBe(202);
    } finally {
      await known.close();
    }
  });
});

describe('an older org and channel limits', () => {
  let old: Sandbox;
  let c: { conversationIdentifier: string; workItemId: string };
  beforeAll(async () => {
    old = await startSandbox({
      features: { conferenceRouting: false, cancelReason: false, conferenceAgentAction: false },
      maxRoutingAttributeLength: 5,
      maxAttachmentBytes: 16,
    });
    c = await old.converse();
  });
  afterAll(() => old.close());

  it('Conference routing → 10075, cancelReason → 10076, the Conference agent action → 10077', async () => {
    expect(await old.call('POST', 'route', { conversationIdentifier: c.conversationIdentifier, routingType: 'Conference' })).toMatchObject(plain(400, 10075));
    expect(await old.call('DELETE', 'route', { conversationIdentifier: c.conversationIdentifier, cancelReason: 'Decline' })).toMatchObject(plain(400, 10076));
    expect((await old.call('DELETE', 'route', { conversationIdentifier: c.conversationIdentifier })).status).toBe(202);
    const res = await old.call('POST', 'agentWork', { userId: BOB, workItemId: c.workItemId, agentActionVisibilities: [{ agentAction: 'Conference', visible: false }] });
    expect(res).toMatchObject(plain(400, 10077));
  });

  it('a routing attribute longer than the channel allows → 10096', async () => {
    const res = await old.call('POST', 'route', {
      conversationIdentifier: c.conversationIdentifier,
      routingType: 'Initial',
      routingInfo: { queueId: '00GSB000000QUE1', routingAttributes: { Lang: 'english' } },
    });
    expect(res).toMatchObject(plain(400, 10096));
  });

  it('a file over the size limit → 10008', async () => {
    const data = new Uint8Array(17);
    const res = await old.call('POST', 'interactions', undefined, {
      raw: interactionForm(
        { to: CHANNEL, from: 'e', interactions: [{ interactionType: 'AttachmentInteraction', timestamp: 1, id: randomUUID(), attachmentIndex: 0, contentLength: 17 }] },
        { data, name: 'big.bin', type: 'application/octet-stream' },
      ),
    });
    expect(res).toMatchObject(plain(400, 10008));
  });
});
