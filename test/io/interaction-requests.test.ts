// Every endpoint's method, path, headers and body as the reference (§1) spells them, against a real
// loopback server.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, StoppedError } from '../../src/domain/errors.js';
import { createStaticTokenProvider } from '../../src/io/auth/index.js';
import { createInteractionClient } from '../../src/io/interaction-api/index.js';
import { AUTH_CONTEXT, ORG_ID, TOKEN, finish, makeClient, start } from './client-fixture.js';
import { FakeScrt, api } from './fake-scrt.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let fake: FakeScrt;
beforeAll(async () => {
  fake = await FakeScrt.start();
});
afterAll(() => fake.close());
afterEach(() => fake.reset());

function only(method: string, resource: string) {
  const seen = fake.to(method, api(resource));
  expect(seen).toHaveLength(1);
  return seen[0]!;
}

describe('standard headers', () => {
  it('sends Authorization, OrgId, AuthorizationContext and a fresh UUID RequestId on every call', async () => {
    const { client } = makeClient(fake);
    await client.reportRoutingResult(
      { conversationIdentifier: 'conv-1', workItemId: '0MwSB000000AAAA', success: true, externallyRouted: false },
      finish,
    );
    await client.reportRoutingResult(
      { conversationIdentifier: 'conv-1', workItemId: '0MwSB000000AAAA', success: true, externallyRouted: false },
      finish,
    );
    const [a, b] = fake.apiRequests;
    for (const r of [a!, b!]) {
      expect(r.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(r.headers.orgid).toBe(ORG_ID);
      expect(r.headers.authorizationcontext).toBe(AUTH_CONTEXT);
      expect(r.headers.requestid).toMatch(UUID);
      expect(r.headers['content-type']).toMatch(/^application\/json/);
    }
    expect(a!.headers.requestid).not.toBe(b!.headers.requestid);
    await client.close();
  });

  it('sends AuthorizationContextType only on PATCH /agentWork (required) and POST /route', async () => {
    const { client } = makeClient(fake);
    await client.createRoute({ conversationIdentifier: 'conv-1', routingType: 'Initial' }, start);
    await client.patchAgentWork({ workId: '0BzSB000002jTO5', contextType: 'Agent', status: 'Cancel' }, finish);
    await client.createAgentWork({ userId: '005SB000000AAAA', workItemId: '0MwSB000000AAAA' }, start);
    await client.clearRoute({ conversationIdentifier: 'conv-1' }, finish);
    expect(only('POST', 'route').headers.authorizationcontexttype).toBe('ConversationChannelDefinition');
    expect(only('PATCH', 'agentWork').headers.authorizationcontexttype).toBe('ConversationChannelDefinition');
    expect(only('POST', 'agentWork').headers.authorizationcontexttype).toBeUndefined();
    expect(only('DELETE', 'route').headers.authorizationcontexttype).toBeUndefined();
    await client.close();
  });
});

describe('POST /interactions', () => {
  it('sends multipart with a `json` part typed application/json holding one EntryInteraction whose message id equals the payload id', async () => {
    const { client } = makeClient(fake);
    const res = await client.postInteraction(
      { to: 'chan-addr-1', from: 'end-user-1', interaction: { kind: 'text', text: 'hello', timestamp: 1_700_000_000_000 }, routingAttributes: { Lang: 'en' } },
      start,
    );
    const r = only('POST', 'interactions');
    expect(r.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(r.parts?.map((p) => p.name)).toEqual(['json']);
    expect(r.parts![0]!.contentType).toBe('application/json');
    const body = r.body as { interactions: Array<{ payload: { id: string; abstractMessage: { id: string } } }> };
    expect(body).toEqual({
      to: 'chan-addr-1',
      from: 'end-user-1',
      routingAttributes: { Lang: 'en' },
      interactions: [
        {
          interactionType: 'EntryInteraction',
          timestamp: 1_700_000_000_000,
          payload: {
            id: expect.stringMatching(UUID),
            entryType: 'Message',
            abstractMessage: {
              messageType: 'StaticContentMessage',
              id: body.interactions[0]!.payload.id,
              staticContent: { formatType: 'Text', text: 'hello' },
            },
          },
        },
      ],
    });
    expect(res).toEqual({ conversationIdentifier: 'conv-0001', id: body.interactions[0]!.payload.id, workItemIds: ['0MwSB000000AAAA'] });
    await client.close();
  });

  it('sends an attachment as the one AttachmentInteraction plus an `attachments` file part', async () => {
    const { client } = makeClient(fake);
    const data = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3]);
    await client.postInteraction(
      {
        to: 'chan-addr-1',
        from: 'end-user-1',
        interaction: { kind: 'text', text: 'see picture', id: 'f3b1c2d4-0000-4000-8000-000000000001' },
        attachment: { name: 'pic.png', contentType: 'image/png', data },
      },
      start,
    );
    const r = only('POST', 'interactions');
    expect(r.parts?.map((p) => p.name)).toEqual(['json', 'attachments']);
    const file = r.parts![1]!;
    expect(file.filename).toBe('pic.png');
    expect(file.contentType).toBe('image/png');
    expect([...file.data]).toEqual([...data]);
    expect((r.body as { interactions: unknown[] }).interactions).toEqual([
      {
        interactionType: 'AttachmentInteraction',
        timestamp: expect.any(Number),
        id: 'f3b1c2d4-0000-4000-8000-000000000001',
        attachmentIndex: 0,
        contentLength: data.byteLength,
        text: 'see picture',
      },
    ]);
    await client.close();
  });

  it('passes an entry payload through as the EntryInteraction payload', async () => {
    const { client } = makeClient(fake);
    const payload = { id: 'e1', entryType: 'TypingStartedIndicator', timestamp: 5 };
    await client.postInteraction({ to: 'a', from: 'b', interaction: { kind: 'entry', payload, timestamp: 6 } }, start);
    expect((only('POST', 'interactions').body as { interactions: unknown[] }).interactions).toEqual([
      { interactionType: 'EntryInteraction', timestamp: 6, payload },
    ]);
    await client.close();
  });
});

describe('the last check before an attempt leaves (ctx.mayProceed)', () => {
  it('refuses the attempt unsent (SB_STOPPED) when the engine may no longer call, e.g. its lease lapsed during a pause', async () => {
    const { client } = makeClient(fake);
    let owner = true;
    const ctx = { ...start, mayProceed: () => owner };
    await client.patchConsent({ endUserClientId: 'eu-1', channelAddressIdentifier: 'chan-1', consentStatus: 'ExplicitlyOptedIn' }, ctx);
    owner = false;
    await expect(client.clearRoute({ conversationIdentifier: 'c-1', cancelReason: 'Unknown' }, { ...finish, mayProceed: () => owner })).rejects.toBeInstanceOf(StoppedError);
    expect(fake.to('PATCH', api('consent'))).toHaveLength(1);
    expect(fake.to('DELETE', api('route'))).toHaveLength(0);
    owner = true;
    await client.clearRoute({ conversationIdentifier: 'c-1', cancelReason: 'Unknown' }, { ...finish, mayProceed: () => owner });
    expect(fake.to('DELETE', api('route'))).toHaveLength(1);
    await client.close();
  });
});

describe('JSON endpoints', () => {
  it('PATCH /consent', async () => {
    const { client } = makeClient(fake);
    await expect(
      client.patchConsent({ endUserClientId: 'eu-1', channelAddressIdentifier: 'chan-1', consentStatus: 'ExplicitlyOptedIn' }, start),
    ).resolves.toBeUndefined();
    expect(only('PATCH', 'consent').body).toEqual({ endUserClientId: 'eu-1', channelAddressIdentifier: 'chan-1', consentStatus: 'ExplicitlyOptedIn' });
    await client.close();
  });

  it('POST /route with flow routing, and maps the response', async () => {
    const { client } = makeClient(fake);
    const res = await client.createRoute(
      {
        conversationIdentifier: 'conv-1',
        routingType: 'Transfer',
        routingInfo: { flow: { flowId: '300SB000000AAAA', queueId: '00GSB000000AAAA' }, routingAttributes: { Var1: 'v' } },
      },
      start,
    );
    expect(only('POST', 'route').body).toEqual({
      conversationIdentifier: 'conv-1',
      routingType: 'Transfer',
      routingInfo: { flow: { flowId: '300SB000000AAAA', queueId: '00GSB000000AAAA' }, routingAttributes: { Var1: 'v' } },
    });
    expect(res).toEqual({
      psrId: '0JRSB000000AAAA',
      workItemId: '0MwSB000000AAAA',
      routingCorrelationId: 'c0ffee00-0000-4000-8000-000000000001',
      contextParamMap: { userId: '005SB000000AAAA' },
    });
    await client.close();
  });

  it('POST /route with a queue, and with no routingInfo', async () => {
    const { client } = makeClient(fake);
    await client.createRoute({ conversationIdentifier: 'c', routingType: 'Conference', routingInfo: { queueId: '00GSB000000AAAA' } }, start);
    await client.createRoute({ conversationIdentifier: 'c', routingType: 'Initial' }, start);
    const [q, none] = fake.to('POST', api('route'));
    expect(q!.body).toEqual({ conversationIdentifier: 'c', routingType: 'Conference', routingInfo: { queueId: '00GSB000000AAAA' } });
    expect(none!.body).toEqual({ conversationIdentifier: 'c', routingType: 'Initial' });
    await client.close();
  });

  it('DELETE /route carries a JSON body, with cancelReason only when given', async () => {
    const { client } = makeClient(fake);
    await client.clearRoute({ conversationIdentifier: 'c', cancelReason: 'Decline' }, finish);
    await client.clearRoute({ conversationIdentifier: 'c' }, finish);
    const [a, b] = fake.to('DELETE', api('route'));
    expect(a!.headers['content-type']).toMatch(/^application\/json/);
    expect(a!.body).toEqual({ conversationIdentifier: 'c', cancelReason: 'Decline' });
    expect(b!.body).toEqual({ conversationIdentifier: 'c' });
    await client.close();
  });

  it('POST /agentWork, mapping agentWorkId (or id) and the details', async () => {
    const { client } = makeClient(fake);
    const req = {
      userId: '005SB000000AAAA',
      workItemId: '0MwSB000000AAAA',
      capacityWeight: 1,
      routingContext: { conversationIdentifier: 'c', routingType: 'Initial' as const, routingCorrelationId: 'ev-1' },
      agentActionVisibilities: [{ agentAction: 'Transfer' as const, visible: false }],
    };
    await expect(client.createAgentWork(req, start)).resolves.toEqual({ agentWorkId: '0BzSB000000AAAA', existPsr: true, psrId: '0JRSB000000AAAA' });
    expect(only('POST', 'agentWork').body).toEqual(req);
    fake.script('POST', api('agentWork'), { status: 202, body: { id: '0BzSB00000000ID', success: true } });
    await expect(client.createAgentWork(req, start)).resolves.toEqual({ agentWorkId: '0BzSB00000000ID' });
    await client.close();
  });

  it('PATCH /agentWork', async () => {
    const { client } = makeClient(fake);
    await client.patchAgentWork({ workId: '0BzSB000002jTO5', contextType: 'Agent', status: 'Close' }, finish);
    expect(only('PATCH', 'agentWork').body).toEqual({ workId: '0BzSB000002jTO5', contextType: 'Agent', status: 'Close' });
    await client.close();
  });

  it('POST /routingResult, with errorMessage only on failure', async () => {
    const { client } = makeClient(fake);
    const base = { conversationIdentifier: 'c', workItemId: '0MwSB000000AAAA', externallyRouted: false, routingType: 'Transfer' as const };
    await client.reportRoutingResult({ ...base, success: true }, finish);
    await client.reportRoutingResult({ ...base, success: false, errorMessage: 'no rep accepted' }, finish);
    const [ok, failed] = fake.to('POST', api('routingResult'));
    expect(ok!.body).toEqual({ ...base, success: true });
    expect(failed!.body).toEqual({ ...base, success: false, errorMessage: 'no rep accepted' });
    await client.close();
  });

  it('POST /participant and POST /messagingSession', async () => {
    const { client } = makeClient(fake);
    await client.removeParticipant(
      { conversationIdentifier: 'c', operation: 'Remove', participants: [{ appType: 'agent', subject: '005SB000000AAAA', role: 'Agent' }] },
      finish,
    );
    await client.updateMessagingSession(
      { channelAddressIdentifier: 'chan', endUserClientId: 'eu', conversationIdentifier: 'c', operation: 'End', operationBy: 'System' },
      finish,
    );
    expect(only('POST', 'participant').body).toEqual({
      conversationIdentifier: 'c',
      operation: 'Remove',
      participants: [{ appType: 'agent', subject: '005SB000000AAAA', role: 'Agent' }],
    });
    expect(only('POST', 'messagingSession').body).toEqual({
      channelAddressIdentifier: 'chan',
      endUserClientId: 'eu',
      conversationIdentifier: 'c',
      operation: 'End',
      operationBy: 'System',
    });
    await client.close();
  });
});

describe('client lifecycle and options', () => {
  const tokens = createStaticTokenProvider(() => TOKEN);
  it('rejects options that cannot work', () => {
    const ok = { scrtUrl: 'https://x.my.salesforce-scrt.com', orgId: ORG_ID, authorizationContext: AUTH_CONTEXT, tokens };
    expect(() => createInteractionClient({ ...ok, scrtUrl: 'not a url' })).toThrow(ConfigError);
    expect(() => createInteractionClient({ ...ok, orgId: '00DSB000000AAAAXYZ' })).toThrow(/15-character/);
    expect(() => createInteractionClient({ ...ok, authorizationContext: '' })).toThrow(ConfigError);
    expect(() => createInteractionClient({ ...ok, limits: { requestsPerSecond: 5_000 } })).toThrow(/requestsPerSecond/);
  });

  it('close() waits for calls in flight, then rejects new ones with StoppedError', async () => {
    const { client } = makeClient(fake);
    fake.always('POST', api('route'), { status: 202, delayMs: 50, body: { success: true, psrId: 'p' } });
    const inFlight = client.createRoute({ conversationIdentifier: 'c', routingType: 'Initial' }, start);
    await client.close();
    await expect(inFlight).resolves.toEqual({ psrId: 'p' });
    await expect(client.clearRoute({ conversationIdentifier: 'c' }, finish)).rejects.toBeInstanceOf(StoppedError);
  });
});
