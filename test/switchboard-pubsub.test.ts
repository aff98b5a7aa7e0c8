// createSwitchboard({ pubsub }) subscribes on start(): platform events published as real Avro bytes
// on the sandbox's gRPC Pub/Sub server reach the sessions, and stop() stores the cursor that covers
// what was handled, so a restart resumes after it.
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createSwitchboard, type Switchboard } from '../src/switchboard.js';
import { createRecordingInteractionService } from '../src/io/recording-interaction-service.js';
import { createMemoryCursorStore } from '../src/io/store/index.js';
import { startPubSubServer, type PubSubServer } from '../src/sandbox/pubsub-server.js';
import { participantChanged, routingRequested, sessionStatusChanged } from '../src/sandbox/payloads.js';
import { newConversation, REPS } from './support/harness.js';
import { until } from './support/waiting.js';

let server: PubSubServer | undefined;
let sb: Switchboard | undefined;
afterEach(async () => {
  await sb?.stop();
  await server?.stop();
  sb = server = undefined;
});


function wire(api = createRecordingInteractionService(), store = createMemoryCursorStore(), pubsub: Record<string, unknown> = {}) {
  return createSwitchboard({
    interactions: api,
    logger: pino({ level: 'silent' }),
    directory: { reps: [{ userId: REPS[1], name: 'Ben' }] },
    pubsub: {
      endpoint: server!.address,
      topic: server!.topic,
      payloadField: 'sb__Payload__c',
      typeField: 'sb__EventType__c',
      insecure: true,
      store,
      replayPreset: 'EARLIEST',
      auth: { instanceUrl: 'https://sandbox.my.salesforce.com', tenantId: '00DSB000000CCCC', getToken: async () => 'sandbox-token' },
      ...pubsub,
    },
  });
}

describe('a switchboard subscribed to the platform event', () => {
  it('routes a conference from events received over gRPC, and resumes after the stored cursor', async () => {
    server = await startPubSubServer();
    const api = createRecordingInteractionService();
    const store = createMemoryCursorStore();
    sb = wire(api, store);
    const states: string[] = [];
    sb.on('subscription', (e) => states.push(e.state));
    await sb.start();
    const conv = newConversation();
    for (const e of [
      sessionStatusChanged(conv, '0Mw000000000321AAA', 'Active'),
      participantChanged(conv, [{ operation: 'add', userId: REPS[0] }]),
      routingRequested(conv, 'Conference', { userId: REPS[1] }),
    ]) server.publish(e.type, e.payload, { eventId: e.eventId! });
    await until(() => api.callsTo('POST /routingResult').length === 1);
    expect(api.calls.map((c) => c.endpoint)).toEqual(['POST /agentWork', 'POST /routingResult']);
    expect(sb.stats().pubsub).toMatchObject({ handled: 3, decodeErrors: 0 });
    expect(states).toContain('subscribed.flowing');
    await sb.stop();
    const cursor = await store.load(server.topic);
    expect(cursor).toBeInstanceOf(Buffer);

    // A second switchboard on the same store starts after the cursor: nothing is handled twice.
    const again = createRecordingInteractionService();
    sb = wire(again, store);
    await sb.start();
    const later = routingRequested(conv, 'Conference', { userId: REPS[1] });
    server.publish(later.type, later.payload, { eventId: later.eventId! });
    await until(() => (sb!.stats().pubsub?.handled ?? 0) >= 1);
    expect(sb.stats().pubsub?.handled).toBe(1);
  });

  it('skips a malformed event with its replay id and keeps going', async () => {
    server = await startPubSubServer();
    sb = wire();
    await sb.start();
    const conv = newConversation();
    server.publish('RoutingRequested', 'not json at all', { eventId: 'bad-1' });
    server.publish(null, null, { eventId: 'bad-2', malformed: true });
    const good = participantChanged(conv, [{ operation: 'add', userId: REPS[0] }]);
    server.publish(good.type, good.payload, { eventId: good.eventId! });
    await until(() => sb!.session(conv.conversationIdentifier) !== undefined);
    expect(sb.stats()).toMatchObject({ rejected: 1, pubsub: { decodeErrors: 1 } });
  });
});

describe('start()', () => {
  const wireWith = (pubsub: Record<string, unknown>) => wire(undefined, undefined, pubsub);

  it('resolves once subscribed: an event published right after it, from LATEST with no cursor, is delivered', async () => {
    server = await startPubSubServer();
    for (let round = 0; round < 5; round++) {
      const board = wireWith({ replayPreset: 'LATEST' });
      await board.start();
      const conv = newConversation();
      server.publish('Interaction', participantChanged(conv, [{ operation: 'add', userId: REPS[0] }]).payload);
      await until(() => board.stats().ingested === 1);
      expect(board.session(conv.conversationIdentifier)!.reps.map((r) => r.userId)).toEqual([REPS[0]]);
      await board.stop();
    }
  });

  it('fails with SB_CONFIG naming the schema\'s fields when payloadField or typeField is not one of them', async () => {
    server = await startPubSubServer();
    sb = wireWith({ payloadField: 'sb__Body__c' });
    const err = await sb.start().then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'SB_CONFIG' });
    expect((err as Error).message).toContain("pubsub.payloadField 'sb__Body__c' is not a field");
    expect((err as Error).message).toContain('sb__Payload__c');
    expect((err as Error).message).toContain('sb__EventType__c');
  });

  it('rejects when the stream is not subscribed in time, saying so', async () => {
    server = await startPubSubServer();
    // GetTopic and GetSchema get a good token; every Subscribe after them is refused as
    // unauthenticated, and the subscription backs off and tries again.
    let calls = 0;
    const getToken = async () => (++calls <= 2 ? 'sandbox-token' : 'revoked-token');
    sb = wireWith({ subscribeTimeoutMs: 1_500, backoff: { initialMs: 200, maxMs: 400, jitter: 0 }, auth: { instanceUrl: 'https://sandbox.my.salesforce.com', tenantId: '00DSB000000CCCC', getToken } });
    const err = await sb.start().then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'SB_PUBSUB_STREAM' });
    expect((err as Error).message).toMatch(/not subscribed .* within 1500 ms/);
  });
});
