// What breaks other Pub/Sub clients (reference §7), injected by the sandbox server mid-stream.
// Every test checks the same contract: each published event is handled exactly once, in order.
import { afterEach, expect, test } from 'vitest';
import { createMemoryCursorStore } from '../../../src/io/store/cursor.js';
import { encodeReplayId, replayIdToHex } from '../../../src/io/pubsub/replay-id.js';
import type { PubSubServer } from '../../../src/sandbox/pubsub-server.js';
import { intakeFor, numbers, publishMany, range, startServer, streamsStarted, TOPIC, waitFor, type Harness } from './helpers.js';

let server: PubSubServer | undefined;
let h: Harness | undefined;
afterEach(async () => {
  await h?.intake.stop();
  await server?.stop();
  h = undefined;
});

test('UNAVAILABLE mid-batch: resubscribes after backoff from the last handled event; none lost, none repeated', async () => {
  server = await startServer({ maxEventsPerResponse: 10 });
  h = intakeFor(server);
  await h.intake.start();
  await streamsStarted(server);
  server.inject({ type: 'drop', code: 'UNAVAILABLE', afterEvents: 25 });
  publishMany(server, 1, 60);
  await waitFor(() => h!.handled.length === 60, '60 handled');
  expect(numbers(h.handled)).toEqual(range(1, 60));
  const [first, second, ...rest] = server.records().streams;
  expect(rest).toEqual([]);
  expect(first!.delivered).toBe(25);
  expect(first!.closedBy).toBe('fault');
  expect(second!.replayPreset).toBe('CUSTOM');
  expect(second!.replayId).toBe(first!.deliveredReplayIds[24]);
  expect(h.intake.stats()).toMatchObject({ streamFailures: 1, duplicates: 0, handled: 60 });
  expect(h.log.lines.some((l) => l.level === 40 && l.msg === 'pubsub stream closed' && l.grpcCode === 14)).toBe(true);
});

test('INTERNAL RST_STREAM while the engine lags: the replay of events still being handled is deduped', async () => {
  server = await startServer({ maxEventsPerResponse: 10 });
  // The engine handles 10 events, then stalls until the replacement stream is open: 30 received
  // events are unhandled when the stream breaks, so the new stream replays them.
  const reconnected = waitFor(() => server!.records().streams.length === 2, 'a second stream');
  h = intakeFor(server, {
    replayPreset: 'EARLIEST',
    handle: async (e) => {
      if (h!.handled.length === 10) await reconnected;
      h!.handled.push(e);
    },
  });
  await h.intake.start();
  await streamsStarted(server);
  server.inject({ type: 'drop', code: 'INTERNAL', afterEvents: 40 });
  publishMany(server, 1, 80);
  await waitFor(() => h!.handled.length === 80, '80 handled');
  const [first, second] = server.records().streams;
  expect(first!.status).toMatchObject({ code: 13, details: 'Received RST_STREAM with code 0' });
  expect(second).toMatchObject({ replayPreset: 'CUSTOM', replayId: first!.deliveredReplayIds[9] });
  expect(numbers(h.handled)).toEqual(range(1, 80));
  expect(h.intake.stats()).toMatchObject({ duplicates: 30, handled: 80, received: 110 });
});

test('token expiry mid-stream: one refresh, then a new stream from the cursor with the new token', async () => {
  server = await startServer();
  h = intakeFor(server);
  await h.intake.start();
  await streamsStarted(server);
  publishMany(server, 1, 10);
  await waitFor(() => h!.handled.length === 10, '10 handled');
  server.inject({ type: 'expireToken', token: 'token-1' });
  await waitFor(() => server!.records().streams.length === 2 && server!.records().streams[1]!.fetchRequests.length > 0, 'resubscribed');
  publishMany(server, 11, 10);
  await waitFor(() => h!.handled.length === 20, '20 handled');
  expect(numbers(h.handled)).toEqual(range(1, 20));
  expect(h.auth.calls.forced).toBe(1);
  const [first, second] = server.records().streams;
  expect(first!.closedBy).toBe('auth');
  expect(second).toMatchObject({ token: 'token-2', replayPreset: 'CUSTOM', replayId: first!.deliveredReplayIds[9] });
  expect(h.intake.stats().authRefreshes).toBe(1);
  // The token never reaches a log line, even at debug level.
  expect(h.log.lines.length).toBeGreaterThan(0);
  expect(h.log.text()).not.toMatch(/token-[0-9]/);
});

test('a stored replay id refused as corrupted: falls back to EARLIEST, logs an error with the replay id', async () => {
  server = await startServer();
  publishMany(server, 1, 5);
  const stale = encodeReplayId(3n);
  const store = createMemoryCursorStore({ [TOPIC]: stale });
  server.inject({ type: 'rejectReplayId' });
  h = intakeFor(server, { store });
  await h.intake.start();
  await waitFor(() => h!.handled.length === 5, '5 handled');
  expect(numbers(h.handled)).toEqual(range(1, 5));
  const [first, second] = server.records().streams;
  expect(first).toMatchObject({ replayPreset: 'CUSTOM', replayId: replayIdToHex(stale), closedBy: 'replay' });
  expect(second!.replayPreset).toBe('EARLIEST');
  const line = h.log.lines.find((l) => l.level === 50);
  expect(line).toMatchObject({
    code: 'SB_PUBSUB_REPLAY_REJECTED',
    replayId: replayIdToHex(stale),
    errorCode: 'sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted',
    fallback: 'EARLIEST',
  });
  expect(h.intake.stats().replayFallbacks).toBe(1);
  // The cursor store now holds a good position again.
  await waitFor(() => replayIdToHex(store.snapshot()[TOPIC]) === second!.deliveredReplayIds[4], 'cursor saved');
});

test('keepalive watchdog: a stream that goes silent is cancelled and replaced', async () => {
  server = await startServer({ keepaliveIntervalMs: 50 });
  h = intakeFor(server, { keepaliveTimeoutMs: 600, replayPreset: 'EARLIEST' });
  await h.intake.start();
  publishMany(server, 1, 3);
  await waitFor(() => h!.handled.length === 3, '3 handled');
  const silenced = server.openStreams().map((s) => s.id);
  server.inject({ type: 'silence' });
  await waitFor(() => server!.records().streams.some((s) => !silenced.includes(s.id) && s.fetchRequests.length > 0), 'resubscribed');
  await waitFor(() => server!.records().streams.filter((s) => silenced.includes(s.id)).every((s) => s.closedBy === 'client'), 'the silent stream cancelled');
  publishMany(server, 4, 3);
  await waitFor(() => h!.handled.length === 6, '6 handled');
  expect(numbers(h.handled)).toEqual(range(1, 6));
  expect(h.intake.stats().keepaliveMisses).toBeGreaterThanOrEqual(1);
  expect(h.log.lines.some((l) => l.level === 40 && l.msg.includes('keepalive timeout'))).toBe(true);
  await waitFor(() => server!.openStreams().length === 1, 'one open stream');
});

test('a schema change mid-stream costs one GetSchema per schema id and then just decodes', async () => {
  server = await startServer();
  h = intakeFor(server, { replayPreset: 'EARLIEST' });
  await h.intake.start();
  publishMany(server, 1, 5);
  const { schemaId } = server.inject({ type: 'changeSchema' });
  publishMany(server, 6, 5);
  await waitFor(() => h!.handled.length === 10, '10 handled');
  expect(numbers(h.handled)).toEqual(range(1, 10));
  const calls = server.records().getSchemaCalls;
  expect(Object.keys(calls)).toHaveLength(2);
  expect(calls[schemaId!]).toBe(1);
  expect(Object.values(calls).every((n) => n === 1)).toBe(true);
  expect(h.intake.stats()).toMatchObject({ decodeErrors: 0, schemas: 2 });
});

test('malformed payloads and missing fields are logged with their replay id, counted and skipped; the stream goes on', async () => {
  server = await startServer();
  h = intakeFor(server, { replayPreset: 'EARLIEST' });
  publishMany(server, 1, 3);
  const garbled = server.publish('Interaction', '{}', { malformed: true });
  const untyped = server.publish(null, '{}');
  publishMany(server, 4, 3);
  await h.intake.start();
  await waitFor(() => h!.handled.length === 6, '6 handled');
  expect(numbers(h.handled)).toEqual(range(1, 6));
  expect(h.intake.stats()).toMatchObject({ decodeErrors: 2, handled: 6, streamsOpened: 1 });
  const warnings = h.log.lines.filter((l) => l.level === 40 && l.code === 'SB_PUBSUB_DECODE');
  expect(warnings.map((l) => l.replayId)).toEqual([replayIdToHex(garbled.replayId), replayIdToHex(untyped.replayId)]);
  expect(warnings[1]).toMatchObject({ field: 'ns__EventType__c', eventId: untyped.eventId });
  // Skipped events still move the cursor: a restart does not trip over them again.
  expect(h.intake.stats().cursor).toBe(server.records().streams[0]!.deliveredReplayIds[7]);
});

test('duplicate delivery reaches the handler once', async () => {
  server = await startServer({ maxEventsPerResponse: 4 });
  h = intakeFor(server, { replayPreset: 'EARLIEST' });
  server.inject({ type: 'duplicate', count: 3 });
  publishMany(server, 1, 10);
  await h.intake.start();
  await waitFor(() => h!.intake.stats().received === 13, '13 deliveries');
  await waitFor(() => h!.handled.length === 10, '10 handled');
  expect(numbers(h.handled)).toEqual(range(1, 10));
  expect(h.intake.stats().duplicates).toBe(3);
});

test('out-of-order delivery is handled in arrival order, without loss', async () => {
  server = await startServer();
  h = intakeFor(server, { replayPreset: 'EARLIEST' });
  server.inject({ type: 'reorder' });
  publishMany(server, 1, 6);
  await h.intake.start();
  await waitFor(() => h!.handled.length === 6, '6 handled');
  expect(numbers(h.handled)).toEqual([2, 1, 3, 4, 5, 6]);
});

test('longs beyond 2^53 decode (no precision-loss error): the event is handled', async () => {
  server = await startServer();
  h = intakeFor(server, { replayPreset: 'EARLIEST' });
  server.publish('Interaction', '{"n":1}', { createdDate: 2n ** 62n + 1n });
  await h.intake.start();
  await waitFor(() => h!.handled.length === 1, '1 handled');
  expect(h.intake.stats().decodeErrors).toBe(0);
});
