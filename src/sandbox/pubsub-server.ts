// A local Salesforce Pub/Sub API: an in-process gRPC server implementing eventbus.v1.PubSub over a
// retained in-memory event log, for tests and the local sandbox. It behaves like the real service
// where Switchboard depends on it — per-call metadata auth, Avro payloads with schema ids,
// flow control (never more events than requested, at most 100 outstanding, num_requested ≤ 0
// refused), keepalives carrying latest_replay_id, the 60-s idle close, replay by preset or
// 8-byte big-endian replay id, ManagedSubscribe commits — and it injects the faults real clients
// trip over (reference §7): dropped streams, expired tokens, refused replay ids, schema changes,
// malformed payloads, duplicate and out-of-order delivery, silence.
//
// It listens on 127.0.0.1 only, without TLS.
//
// The rooms, under src/sandbox/pubsub/: types.ts (the public shapes), codes.ts (Salesforce's error
// codes and statuses), auth.ts (metadata auth), schemas.ts (schema versions, GetTopic/GetSchema),
// log.ts (the retained log and its replay ids), publishing.ts (publish(), Publish/PublishStream),
// streams.ts (stream state and flow control), fetch.ts (Subscribe/ManagedSubscribe requests,
// replay, commits) and faults.ts (injected faults). This file wires them into a gRPC server.
import * as grpc from '@grpc/grpc-js';
import { loadPubSubService } from '../io/pubsub/proto.js';
import type { PublishRequest, PublishResponse, SchemaInfo, SchemaRequest, TopicInfo, TopicRequest } from '../io/pubsub/wire.js';
import { createAuth } from './pubsub/auth.js';
import { createFetchHandlers, managedSubscriptions } from './pubsub/fetch.js';
import { inject, PendingFaults } from './pubsub/faults.js';
import { EventLog } from './pubsub/log.js';
import { createPublishing } from './pubsub/publishing.js';
import { createTopicService, Schemas } from './pubsub/schemas.js';
import { createStreams } from './pubsub/streams.js';
import type { Counters, PubSubServer, PubSubServerOptions, StreamRecord } from './pubsub/types.js';

export { ERROR_CODES } from './pubsub/codes.js';
export type {
  ManagedSubscriptionConfig,
  PubSubFault,
  PubSubServer,
  PubSubServerOptions,
  PubSubServerRecords,
  Published,
  PublishOptions,
  StreamCloseReason,
  StreamRecord,
} from './pubsub/types.js';

export async function startPubSubServer(options: PubSubServerOptions = {}): Promise<PubSubServer> {
  const topic = options.topic ?? '/event/sb__Conversation__e';
  const payloadField = options.payloadField ?? 'sb__Payload__c';
  const typeField = options.typeField ?? 'sb__EventType__c';
  const keepaliveIntervalMs = options.keepaliveIntervalMs ?? 60_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  const maxPerResponse = Math.max(1, options.maxEventsPerResponse ?? 25);
  const firstReplayId = options.firstReplayId ?? 2n ** 40n;
  const tenantGuid = options.tenantId ?? '00D000000000001AAA';

  const counters: Counters = { getTopicCalls: 0, getSchemaCalls: {}, commits: [], authFailures: 0 };
  const auth = createAuth(options.tokens ?? ['sandbox-token'], options.tenantId, counters);
  const schemas = new Schemas(topic, payloadField, typeField);
  const faults = new PendingFaults();
  const log = new EventLog(firstReplayId, () => streams.wakeAll());
  const streams = createStreams({ log, faults, keepaliveIntervalMs, idleTimeoutMs, maxPerResponse });
  const fetch = createFetchHandlers({ topic, log, faults, streams, auth, counters, managedSubs: managedSubscriptions(options.managedSubscriptions ?? []) });
  const topics = createTopicService({ topic, tenantGuid, schemas, counters });
  const publishing = createPublishing({ topic, payloadField, typeField, schemas, log, auth });

  const Service = loadPubSubService();
  const server = new grpc.Server();
  server.addService(Service.service, {
    GetTopic: auth.guard<TopicRequest, TopicInfo>(topics.getTopic),
    GetSchema: auth.guard<SchemaRequest, SchemaInfo>(topics.getSchema),
    Publish: auth.guard<PublishRequest, PublishResponse>((call) => publishing.publishBatch(call.request)),
    PublishStream: publishing.publishStream,
    Subscribe: fetch.subscribe,
    ManagedSubscribe: fetch.managedSubscribe,
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`127.0.0.1:${options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });

  const snapshot = (r: StreamRecord): StreamRecord => ({ ...r, fetchRequests: [...r.fetchRequests], deliveredReplayIds: [...r.deliveredReplayIds] });

  return {
    address: `127.0.0.1:${port}`,
    topic,
    publish: publishing.publish,
    inject: (fault) => inject(fault, { faults, streams, auth, schemas }),
    addToken: auth.addToken,
    records() {
      return {
        streams: streams.all.map((s) => snapshot(s.rec)),
        getTopicCalls: counters.getTopicCalls,
        getSchemaCalls: { ...counters.getSchemaCalls },
        commits: [...counters.commits],
        authFailures: counters.authFailures,
        published: log.length,
        schemaId: schemas.current.id,
      };
    },
    openStreams() {
      return streams.live().map((s) => snapshot(s.rec));
    },
    async stop() {
      streams.shutdown();
      server.forceShutdown();
    },
  };
}
