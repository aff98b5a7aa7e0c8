// createSwitchboard({ org, auth, limits }) builds the got-based adapter: the engine's calls go out
// over real HTTP with the standard headers, and the adapter's stats and breaker changes surface.
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/io/log.js';
import { createSwitchboard } from '../src/switchboard.js';
import { participantChanged, routingRequested, sessionStatusChanged } from '../src/sandbox/payloads.js';
import { api, FakeScrt } from './io/fake-scrt.js';
import { LogCapture } from './io/client-fixture.js';
import { newConversation, REPS } from './support/harness.js';

const ORG_ID = '00DSB000000BBBB';
const TOKEN = '00DSB000000BBBB!do-not-log-this-token';
let fake: FakeScrt | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

describe('a switchboard built from org + auth', () => {
  it('routes a conference over HTTP with the standard headers, and never logs the token', async () => {
    fake = await FakeScrt.start();
    fake.always('POST', api('agentWork'), { status: 202, body: { id: '0Bz000000000042', agentWorkId: '0Bz000000000042', success: true, agentWorkDetails: { existPsr: false, routingContext: {} } } });
    fake.always('POST', api('routingResult'), { status: 202, body: { success: true } });
    const logs = new LogCapture();
    const sb = createSwitchboard({
      org: { orgId: ORG_ID, scrtUrl: fake.url, authorizationContext: 'Partner1_Chan' },
      auth: { token: () => TOKEN },
      limits: { requestsPerSecond: 50 },
      logger: createLogger({ level: 'debug' }, logs),
    });
    const finished: string[] = [];
    sb.on('routing.finished', (e) => finished.push(e.output.outcome));
    const conv = newConversation();
    sb.ingest(sessionStatusChanged(conv, '0Mw000000000555AAA', 'Active'));
    sb.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[0] }]));
    sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
    await sb.settled();

    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /api/v1/agentWork', 'POST /api/v1/routingResult']);
    for (const r of fake.requests) {
      expect(r.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(r.headers.orgid).toBe(ORG_ID);
      expect(r.headers.authorizationcontext).toBe('Partner1_Chan');
      expect(r.headers.requestid).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(fake.requests[0]!.body).toMatchObject({ userId: REPS[1], workItemId: '0Mw000000000555', routingContext: { routingType: 'Conference' } });
    expect(fake.requests[1]!.body).toEqual({ conversationIdentifier: conv.conversationIdentifier, workItemId: '0Mw000000000555', success: true, externallyRouted: false, routingType: 'Conference' });
    expect(sb.stats().interactions).toMatchObject({ calls: 2, failures: 0, queue: { size: 0 } });

    sb.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[1] }]));
    await sb.stop();
    expect(finished).toEqual(['routed']);
    expect(logs.text).not.toContain('do-not-log-this-token');
  });

  it('refuses to start without a way to call the Interaction Service', () => {
    expect(() => createSwitchboard({ org: { orgId: ORG_ID, scrtUrl: 'https://x.my.salesforce-scrt.com', authorizationContext: 'P_C' } } as never)).toThrow(/org.*auth/);
    expect(() => createSwitchboard({ org: { orgId: ORG_ID, scrtUrl: 'https://x.my.salesforce-scrt.com', authorizationContext: 'P_C' }, auth: { jwt: { clientId: 'c', username: 'u', privateKey: 'k' } } })).toThrow(/loginUrl/);
  });
});
