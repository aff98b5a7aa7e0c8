// Start, stop, the cursor store, ManagedSubscribe and configuration errors.
import { afterEach, expect, test } from 'vitest';
import { ConfigError } from '../../../src/domain/errors.js';
import { createPubSubIntake, pubSubAuthFromTokenProvider, PubSubRpcError } from '../../../src/io/pubsub/index.js';
import { createMemoryCursorStore } from '../../../src/io/store/cursor.js';
import { replayIdToHex } from '../../../src/io/pubsub/replay-id.js';
import { createCachedTokenProvider } from '../../../src/io/auth/token-provider.js';
import type { PubSubServer } from '../../../src/sandbox/pubsub-server.js';
import type { PlatformEvent } from '../../../src/domain/events.js';
import { entryPayload, intakeFor, numbers, publishMany, range, startServer, streamsStarted, TOPIC, waitFor, type Harness } from './helpers.js';

let server: PubSubServer | undefined;
const harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.intake.stop();
  await server?.stop();
});
function track(h: Harness): Harness {
  harnesses.push(h);
  return h;
}

test('stop() finishes in-flight handling, stores the cursor and closes the stream; a restart resumes after it', async () => {
  server = await startServer();
  const store = createMemoryCursorStore();
  const a = track(
    intakeFor(server, {
      store,
      replayPreset: 'EARLIEST',
      maxInFlight: 10,
      handle: async (e) => {
        await new Promise((r) => setTimeout(r, 2));
        a.handled.push(e);
      },
    }),
  );
  publishMany(server, 1, 40);
  await a.intake.start();
  await waitFor(() => a.handled.length >= 5, '5 handled');
  await a.intake.stop();
  const stopped = a.intake.stats();
  expect(stopped.state).toBe('stopped');
  expect(stopped.inFlight).toBe(0);
  // The cancel is on the wire when stop() resolves; the server sees it a moment later.
  await waitFor(() => server!.openStreams().length === 0, 'the server to see the cancel');
  expect(server.records().streams[0]!.closedBy).toBe('client');
  const lastHandled = a.handled.at(-1)!;
  expect(replayIdToHex(store.snapshot()[TOPIC])).toBe(lastHandled.replayId);

  const b = track(intakeFor(server, { store }));
  await b.intake.start();
  publishMany(server, 41, 5);
  await waitFor(() => a.handled.length + b.handled.length === 45, 'all 45 handled once');
  expect([...numbers(a.handled), ...numbers(b.handled)]).toEqual(range(1, 45));
  expect(server.records().streams[1]).toMatchObject({ replayPreset: 'CUSTOM', replayId: lastHandled.replayId });
});

test('a keepalive moves the stored cursor to the stream position when nothing is pending', async () => {
  server = await startServer({ keepaliveIntervalMs: 50 });
  publishMany(server, 1, 2);
  const tip = replayIdToHex(server.publish('Interaction', entryPayload(3)).replayId);
  const store = createMemoryCursorStore();
  const h = track(intakeFor(server, { store }));
  await h.intake.start();
  // LATEST starts after event 3: nothing is delivered, yet keepalives carry the position and the
  // cursor follows, so a restart does not fall back to LATEST and skip what comes meanwhile.
  await waitFor(() => store.snapshot()[TOPIC] && replayIdToHex(store.snapshot()[TOPIC]) === tip, 'cursor at the tip');
  expect(h.handled).toEqual([]);
  expect(h.intake.stats()).toMatchObject({ cursor: tip, received: 0 });
  expect(h.intake.stats().keepalives).toBeGreaterThan(0);
});

test('ManagedSubscribe: commits after handling; a new intake resumes after the committed replay id', async () => {
  server = await startServer({ managedSubscriptions: [{ developerName: 'Switchboard_Events', replayPreset: 'EARLIEST' }] });
  publishMany(server, 1, 12);
  const a = track(intakeFor(server, { managed: { developerName: 'Switchboard_Events' } }));
  await a.intake.start();
  await waitFor(() => a.handled.length === 12, '12 handled');
  const last = a.handled.at(-1)!.replayId!;
  await waitFor(() => server!.records().commits.some((c) => c.replayId === last), 'commit of the last event');
  await a.intake.stop();

  const b = track(intakeFor(server, { managed: { developerName: 'Switchboard_Events' } }));
  await b.intake.start();
  await streamsStarted(server, 2);
  publishMany(server, 13, 3);
  await waitFor(() => b.handled.length === 3, '3 handled');
  expect(numbers(b.handled)).toEqual([13, 14, 15]);
  expect(server.records().streams[1]).toMatchObject({ kind: 'managed', subscription: 'Switchboard_Events', replayPreset: 'CUSTOM', replayId: last });
});

test('a handler that throws is logged and counted; the stream goes on', async () => {
  server = await startServer();
  const seen: PlatformEvent[] = [];
  const h = track(
    intakeFor(server, {
      replayPreset: 'EARLIEST',
      handle: (e) => {
        seen.push(e);
        if (seen.length === 2) throw new Error('engine bug');
      },
    }),
  );
  publishMany(server, 1, 4);
  await h.intake.start();
  await waitFor(() => seen.length === 4, '4 seen');
  await waitFor(() => h.intake.stats().handlerErrors === 1, 'handler error counted');
  expect(h.log.lines.find((l) => l.level === 50)).toMatchObject({ code: 'SB_PUBSUB_HANDLER', replayId: seen[1]!.replayId, err: 'engine bug' });
});

test('start() rejects a topic the server does not know', async () => {
  server = await startServer();
  const h = track(intakeFor(server, { topic: '/event/ns__Missing__e' }));
  const err = await h.intake.start().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(PubSubRpcError);
  expect(err).toMatchObject({ code: 'SB_PUBSUB_RPC', rpc: 'GetTopic', grpcCode: 5, retryable: false });
});

test('options that cannot work are refused up front', () => {
  const base = {
    topic: TOPIC,
    payloadField: 'ns__Payload__c',
    typeField: 'ns__EventType__c',
    auth: { getToken: async () => 't', instanceUrl: 'https://x', tenantId: '00D' },
    handle: () => {},
  };
  expect(() => createPubSubIntake({ ...base, batchSize: 101 })).toThrow(ConfigError);
  expect(() => createPubSubIntake({ ...base, payloadField: '' })).toThrow(/payloadField/);
  expect(() => createPubSubIntake({ ...base, managed: {} })).toThrow(/subscriptionId or developerName/);
  expect(() => createPubSubIntake({ ...base, replayFallback: 'CUSTOM' as never })).toThrow(ConfigError);
});

test('pubSubAuthFromTokenProvider: a forced refresh drops the refused token', async () => {
  let n = 0;
  const provider = createCachedTokenProvider(async () => ({ accessToken: `t${++n}`, expiresAt: Date.now() + 3_600_000 }));
  const auth = pubSubAuthFromTokenProvider(provider, 'https://x.my.salesforce.com', '00D');
  expect(await auth.getToken()).toBe('t1');
  expect(await auth.getToken()).toBe('t1');
  expect(await auth.getToken({ forceRefresh: true })).toBe('t2');
});
