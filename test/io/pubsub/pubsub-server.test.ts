// The sandbox Pub/Sub server on its own, through a raw grpc-js client: the Salesforce behaviours
// the intake tests rely on must hold here first.
import * as grpc from '@grpc/grpc-js';
import { afterEach, expect, test } from 'vitest';
import { loadPubSubService, type PubSubClient } from '../../../src/io/pubsub/proto.js';
import { parseSchema } from '../../../src/io/pubsub/codec.js';
import { encodeReplayId, replayIdToHex } from '../../../src/io/pubsub/replay-id.js';
import type { FetchRequest, FetchResponse } from '../../../src/io/pubsub/wire.js';
import type { PubSubServer } from '../../../src/sandbox/pubsub-server.js';
import { entryPayload, INSTANCE, startServer, TENANT, TOPIC, waitFor } from './helpers.js';

let server: PubSubServer | undefined;
let client: PubSubClient | undefined;
afterEach(async () => {
  client?.close();
  await server?.stop();
});

function md(token = 'token-1'): grpc.Metadata {
  const m = new grpc.Metadata();
  m.set('accesstoken', token);
  m.set('instanceurl', INSTANCE);
  m.set('tenantid', TENANT);
  return m;
}

async function connect(opts: Parameters<typeof startServer>[0] = {}) {
  server = await startServer(opts);
  const Service = loadPubSubService();
  client = new Service(server.address, grpc.credentials.createInsecure());
  return client;
}

function subscribe(c: PubSubClient, first: FetchRequest, token?: string) {
  const call = c.Subscribe(md(token));
  const responses: FetchResponse[] = [];
  const state: { status?: grpc.StatusObject } = {};
  call.on('data', (r: FetchResponse) => responses.push(r));
  call.on('error', () => {});
  call.on('status', (s: grpc.StatusObject) => (state.status = s));
  call.write(first);
  const events = () => responses.flatMap((r) => r.events);
  return { call, responses, state, events };
}

test('never sends more events than requested, and tops up from further FetchRequests', async () => {
  const c = await connect();
  for (let i = 1; i <= 10; i++) server!.publish('Interaction', entryPayload(i));
  const s = subscribe(c, { topic_name: TOPIC, replay_preset: 'EARLIEST', num_requested: 3 });
  await waitFor(() => s.events().length === 3, '3 events');
  // Wait for a keepalive: proof the server had the chance to send more and did not.
  await waitFor(() => s.responses.some((r) => r.events.length === 0), 'keepalive');
  expect(s.events()).toHaveLength(3);
  expect(s.responses.at(-1)!.pending_num_requested).toBe(0);
  s.call.write({ num_requested: 4 });
  await waitFor(() => s.events().length === 7, '7 events');
  expect(server!.records().streams[0]!.fetchRequests).toEqual([3, 4]);
  s.call.cancel();
});

test('a keepalive carries the stream position as latest_replay_id', async () => {
  const c = await connect();
  const first = server!.publish('Interaction', entryPayload(1));
  const s = subscribe(c, { topic_name: TOPIC, replay_preset: 'LATEST', num_requested: 5 });
  await waitFor(() => s.responses.length > 0, 'keepalive');
  expect(s.responses[0]!.events).toHaveLength(0);
  expect(replayIdToHex(s.responses[0]!.latest_replay_id)).toBe(replayIdToHex(first.replayId));
  s.call.cancel();
});

test('replays after a CUSTOM replay id, with 8-byte big-endian ids and decodable Avro payloads', async () => {
  const c = await connect();
  const published = [1, 2, 3, 4].map((i) => server!.publish('Interaction', entryPayload(i)));
  const s = subscribe(c, { topic_name: TOPIC, replay_preset: 'CUSTOM', replay_id: published[1]!.replayId, num_requested: 10 });
  await waitFor(() => s.events().length === 2, '2 events');
  expect(s.events().map((e) => replayIdToHex(e.replay_id))).toEqual([published[2]!, published[3]!].map((p) => replayIdToHex(p.replayId)));
  expect(s.events()[0]!.replay_id).toHaveLength(8);
  const schema = await new Promise<{ schema_json: string }>((resolve, reject) =>
    c.GetSchema({ schema_id: s.events()[0]!.event!.schema_id }, md(), {}, (err, res) => (err ? reject(err) : resolve(res!))),
  );
  const record = parseSchema(schema.schema_json).fromBuffer(s.events()[0]!.event!.payload) as Record<string, unknown>;
  expect(record).toMatchObject({ ns__EventType__c: 'Interaction', ns__Payload__c: entryPayload(3) });
  s.call.cancel();
});

test('refuses a bad token, num_requested <= 0, and unknown or corrupted replay ids', async () => {
  const c = await connect();
  server!.publish('Interaction', entryPayload(1));
  const bad = subscribe(c, { topic_name: TOPIC, num_requested: 1 }, 'nope');
  const zero = subscribe(c, { topic_name: TOPIC, num_requested: 0 });
  const corrupt = subscribe(c, { topic_name: TOPIC, replay_preset: 'CUSTOM', replay_id: Buffer.from([1, 2, 3]), num_requested: 1 });
  const unknown = subscribe(c, { topic_name: TOPIC, replay_preset: 'CUSTOM', replay_id: encodeReplayId(7), num_requested: 1 });
  await waitFor(() => bad.state.status && zero.state.status && corrupt.state.status && unknown.state.status, 'four statuses');
  expect(bad.state.status!.code).toBe(grpc.status.UNAUTHENTICATED);
  expect(zero.state.status!.code).toBe(grpc.status.INVALID_ARGUMENT);
  expect(corrupt.state.status!.metadata.get('error-code')).toEqual(['sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted']);
  expect(unknown.state.status!.metadata.get('error-code')).toEqual(['sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed']);
});

test('closes a stream that has nothing requested for the idle window', async () => {
  const c = await connect({ idleTimeoutMs: 150 });
  const s = subscribe(c, { topic_name: TOPIC, replay_preset: 'LATEST', num_requested: 1 });
  await waitFor(() => server!.openStreams()[0]?.fetchRequests.length, 'request');
  server!.publish('Interaction', entryPayload(1));
  await waitFor(() => s.state.status, 'stream end');
  expect(s.events()).toHaveLength(1);
  expect(server!.records().streams[0]!.closedBy).toBe('idle');
});

test('drops a stream mid-batch with UNAVAILABLE and the service-unavailable trailer', async () => {
  const c = await connect({ maxEventsPerResponse: 10 });
  const s = subscribe(c, { topic_name: TOPIC, replay_preset: 'LATEST', num_requested: 20 });
  await waitFor(() => server!.openStreams()[0]?.fetchRequests.length, 'request');
  server!.inject({ type: 'drop', afterEvents: 4 });
  for (let i = 1; i <= 10; i++) server!.publish('Interaction', entryPayload(i));
  await waitFor(() => s.state.status, 'stream end');
  expect(s.events()).toHaveLength(4);
  expect(s.state.status!.code).toBe(grpc.status.UNAVAILABLE);
  expect(s.state.status!.metadata.get('error-code')).toEqual(['sfdc.platform.eventbus.grpc.service.unavailable']);
});

test('Publish stores client-encoded events under their schema id; subscribers receive them', async () => {
  const c = await connect();
  const topic = await new Promise<{ schema_id: string }>((resolve, reject) =>
    c.GetTopic({ topic_name: TOPIC }, md(), {}, (err, res) => (err ? reject(err) : resolve(res!))),
  );
  const schema = await new Promise<{ schema_json: string }>((resolve, reject) =>
    c.GetSchema({ schema_id: topic.schema_id }, md(), {}, (err, res) => (err ? reject(err) : resolve(res!))),
  );
  const type = parseSchema(schema.schema_json);
  const payload = type.toBuffer({ CreatedDate: Date.now(), CreatedById: '005000000000001', ns__Payload__c: '{"p":1}', ns__EventType__c: 'Interaction' });
  const res = await new Promise<{ results: Array<{ replay_id: Buffer; error: unknown }> }>((resolve, reject) =>
    c.Publish(
      { topic_name: TOPIC, events: [{ id: 'pub-1', schema_id: topic.schema_id, payload }, { id: 'pub-2', schema_id: 'nope', payload }] },
      md(),
      {},
      (err, r) => (err ? reject(err) : resolve(r!)),
    ),
  );
  expect(res.results[0]!.error).toBeNull();
  expect(res.results[0]!.replay_id).toHaveLength(8);
  expect(res.results[1]!.error).toMatchObject({ code: 'PUBLISH' });
  const s = subscribe(c, { topic_name: TOPIC, replay_preset: 'EARLIEST', num_requested: 5 });
  await waitFor(() => s.events().length === 1, 'the published event');
  expect(s.events()[0]!.event).toMatchObject({ id: 'pub-1', schema_id: topic.schema_id });
  s.call.cancel();
});
