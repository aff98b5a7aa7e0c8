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
import { createHash, randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type avro from 'avsc';
import { parseSchema } from '../io/pubsub/codec.js';
import { loadPubSubService } from '../io/pubsub/proto.js';
import { decodeReplayId, encodeReplayId, replayIdToHex } from '../io/pubsub/replay-id.js';
import type {
  ConsumerEvent,
  FetchRequest,
  FetchResponse,
  ManagedFetchRequest,
  ManagedFetchResponse,
  ProducerEvent,
  PublishRequest,
  PublishResponse,
  PublishResult,
  SchemaInfo,
  SchemaRequest,
  TopicInfo,
  TopicRequest,
} from '../io/pubsub/wire.js';

// ---- Salesforce's words, as clients see them (reference §3.3) ----

export const ERROR_CODES = {
  serviceUnavailable: 'sfdc.platform.eventbus.grpc.service.unavailable',
  replayIdCorrupted: 'sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted',
  replayIdValidationFailed: 'sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed',
} as const;

const AUTH_DETAILS = 'An authentication exception occurred. Provide valid authentication via metadata headers';
const MAX_PENDING = 100;

export interface ManagedSubscriptionConfig {
  developerName: string;
  /** The 18-char record id; generated when omitted. */
  id?: string;
  /** Where a subscription with no commit yet starts. Default LATEST. */
  replayPreset?: 'LATEST' | 'EARLIEST';
}

export interface PubSubServerOptions {
  /** Default `/event/sb__Conversation__e`. */
  topic?: string;
  /** The custom payload field. Default `sb__Payload__c`. */
  payloadField?: string;
  /** The custom event type field. Default `sb__EventType__c`. */
  typeField?: string;
  /** Access tokens accepted in the `accesstoken` header. Default `['sandbox-token']`. */
  tokens?: Iterable<string>;
  /** When set, the `tenantid` header must equal it. */
  tenantId?: string;
  /** How often an idle stream gets an empty keepalive FetchResponse. Default 60 s (Salesforce: within 270 s). */
  keepaliveIntervalMs?: number;
  /** A stream with nothing requested for this long is closed. Default 60 s, as Salesforce. */
  idleTimeoutMs?: number;
  /** Events per FetchResponse at most. Default 25. */
  maxEventsPerResponse?: number;
  /** Replay id of the first published event. Default 2^40, so ids are wider than 32 bits like real ones. */
  firstReplayId?: bigint;
  managedSubscriptions?: ManagedSubscriptionConfig[];
  /** Default 0: any free port. */
  port?: number;
}

export interface PublishOptions {
  eventId?: string;
  /** CreatedDate; a bigint beyond 2^53 exercises BigInt-safe longs. Default now. */
  createdDate?: number | bigint;
  createdById?: string;
  /** Store bytes that do not decode with the schema. */
  malformed?: boolean;
}

export interface Published {
  replayId: Buffer;
  eventId: string;
  schemaId: string;
}

export type PubSubFault =
  /** Fail open streams with UNAVAILABLE, or INTERNAL "RST_STREAM" — after `afterEvents` more events have been sent, i.e. mid-batch. */
  | { type: 'drop'; code?: 'UNAVAILABLE' | 'INTERNAL'; afterEvents?: number }
  /** The token stops being valid; streams opened with it fail with UNAUTHENTICATED. */
  | { type: 'expireToken'; token: string }
  /** The next Subscribe from a CUSTOM replay id is refused as corrupted. */
  | { type: 'rejectReplayId'; errorCode?: string }
  /** Open streams stop sending anything — no events, no keepalives — but stay open (a half-open connection). */
  | { type: 'silence' }
  /** A new schema (an extra field, a new schema id) for everything published from now on. */
  | { type: 'changeSchema' }
  /** The next `count` delivered events are each delivered again in the next response. */
  | { type: 'duplicate'; count?: number }
  /** The next two events go out in swapped order. */
  | { type: 'reorder' };

export type StreamCloseReason = 'client' | 'idle' | 'fault' | 'auth' | 'replay' | 'invalid' | 'server';

export interface StreamRecord {
  id: number;
  kind: 'subscribe' | 'managed';
  /** The token the stream was opened with (this is a test server). */
  token: string;
  replayPreset?: string;
  /** Hex of the CUSTOM replay id asked for. */
  replayId?: string;
  subscription?: string;
  /** num_requested of every request, in order. */
  fetchRequests: number[];
  /** The most credit the client ever had outstanding on this stream, before the server's cap of 100. */
  maxOutstanding: number;
  delivered: number;
  /** Hex replay ids in the order sent (duplicates included). */
  deliveredReplayIds: string[];
  keepalives: number;
  openedAt: number;
  closedAt?: number;
  closedBy?: StreamCloseReason;
  status?: { code: number; details: string };
}

export interface PubSubServerRecords {
  streams: StreamRecord[];
  getTopicCalls: number;
  /** GetSchema calls by schema id. */
  getSchemaCalls: Record<string, number>;
  commits: Array<{ subscription: string; replayId: string }>;
  authFailures: number;
  published: number;
  schemaId: string;
}

export interface PubSubServer {
  /** `127.0.0.1:<port>`. */
  address: string;
  topic: string;
  /** Appends an event to the log (the type or payload may be null to make a bad event). */
  publish(eventType: string | null, payloadJson: string | null, opts?: PublishOptions): Published;
  inject(fault: PubSubFault): { schemaId?: string };
  addToken(token: string): void;
  records(): PubSubServerRecords;
  /** Streams not yet closed. */
  openStreams(): StreamRecord[];
  stop(): Promise<void>;
}

// ---- internals ----

interface LogEntry {
  replayId: Buffer;
  event: ProducerEvent;
}

interface SchemaVersion {
  id: string;
  json: string;
  type: avro.Type;
  extraField?: string;
}

interface ManagedSub extends Required<Omit<ManagedSubscriptionConfig, 'replayPreset'>> {
  replayPreset: 'LATEST' | 'EARLIEST';
  committed?: Buffer;
}

type AnyServerCall = grpc.ServerDuplexStream<FetchRequest | ManagedFetchRequest, FetchResponse | ManagedFetchResponse>;

interface Stream {
  rec: StreamRecord;
  call: AnyServerCall;
  started: boolean;
  /** Index in the log of the next event to send in order. */
  position: number;
  pending: number;
  /** Log indices to send again before moving on (duplicate fault). */
  resend: number[];
  silenced: boolean;
  closed: boolean;
  pumpScheduled: boolean;
  idleTimer?: NodeJS.Timeout;
  keepaliveTimer?: NodeJS.Timeout;
  lastSentAt: number;
  managed?: ManagedSub;
}

function schemaFingerprint(json: string): string {
  return createHash('sha256').update(json).digest('base64url').slice(0, 22);
}

function statusError(code: grpc.status, details: string, errorCode?: string): Partial<grpc.StatusObject> & { code: number; details: string } {
  const metadata = new grpc.Metadata();
  if (errorCode) metadata.set('error-code', errorCode);
  metadata.set('rpc-id', randomUUID());
  return { code, details, metadata };
}

export async function startPubSubServer(options: PubSubServerOptions = {}): Promise<PubSubServer> {
  const topic = options.topic ?? '/event/sb__Conversation__e';
  const payloadField = options.payloadField ?? 'sb__Payload__c';
  const typeField = options.typeField ?? 'sb__EventType__c';
  const tokens = new Set(options.tokens ?? ['sandbox-token']);
  const keepaliveIntervalMs = options.keepaliveIntervalMs ?? 60_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  const maxPerResponse = Math.max(1, options.maxEventsPerResponse ?? 25);
  const firstReplayId = options.firstReplayId ?? 2n ** 40n;
  const tenantGuid = options.tenantId ?? '00D000000000001AAA';

  const log: LogEntry[] = [];
  const schemas = new Map<string, SchemaVersion>();
  let current: SchemaVersion;
  const streams: Stream[] = [];
  let nextStreamId = 1;
  const records = {
    getTopicCalls: 0,
    getSchemaCalls: {} as Record<string, number>,
    commits: [] as Array<{ subscription: string; replayId: string }>,
    authFailures: 0,
  };
  const managedSubs = new Map<string, ManagedSub>();
  for (const m of options.managedSubscriptions ?? []) {
    const sub: ManagedSub = {
      developerName: m.developerName,
      id: m.id ?? `18x${createHash('sha1').update(m.developerName).digest('hex').slice(0, 15)}`,
      replayPreset: m.replayPreset ?? 'LATEST',
    };
    managedSubs.set(sub.developerName, sub);
    managedSubs.set(sub.id, sub);
  }

  // Faults waiting for a stream to trip them.
  let dropFault: { code: grpc.status; remaining: number } | undefined;
  let duplicateFault = 0;
  let reorderFault = false;
  let rejectReplayFault: string | undefined;

  function addSchemaVersion(extraField?: string): SchemaVersion {
    const fields: Array<Record<string, unknown>> = [
      { name: 'CreatedDate', type: 'long', doc: 'CreatedDate:DateTime' },
      { name: 'CreatedById', type: 'string', doc: 'CreatedBy:EntityId' },
    ];
    // A new field goes before the custom ones, so bytes written with the new schema do not decode
    // with the old: a client must fetch the new schema to read them.
    if (extraField) fields.push({ name: extraField, type: ['null', 'string'], default: null, doc: 'Data:Text' });
    fields.push(
      { name: payloadField, type: ['null', 'string'], default: null, doc: 'Data:LongTextArea:131072' },
      { name: typeField, type: ['null', 'string'], default: null, doc: 'Data:Text:255' },
    );
    const name = topic.replace(/^\/event\//, '');
    const json = JSON.stringify({ type: 'record', name, namespace: 'com.sforce.eventbus', fields });
    const version: SchemaVersion = { id: schemaFingerprint(json), json, type: parseSchema(json), ...(extraField ? { extraField } : {}) };
    schemas.set(version.id, version);
    current = version;
    return version;
  }
  addSchemaVersion();

  // ---- auth ----

  function authenticate(md: grpc.Metadata): string | undefined {
    const token = md.get('accesstoken')[0];
    const instanceUrl = md.get('instanceurl')[0];
    const tenant = md.get('tenantid')[0];
    const ok =
      typeof token === 'string' &&
      tokens.has(token) &&
      typeof instanceUrl === 'string' &&
      instanceUrl !== '' &&
      typeof tenant === 'string' &&
      (options.tenantId === undefined || tenant === options.tenantId);
    if (!ok) {
      records.authFailures += 1;
      return undefined;
    }
    return token as string;
  }

  // ---- streams ----

  function positionReplayId(s: Stream): Buffer {
    return s.position > 0 ? log[s.position - 1]!.replayId : Buffer.alloc(0);
  }

  function closeStream(s: Stream, reason: StreamCloseReason, status?: Partial<grpc.StatusObject> & { code: number; details: string }): void {
    if (s.closed) return;
    s.closed = true;
    clearTimeout(s.idleTimer);
    clearInterval(s.keepaliveTimer);
    s.rec.closedAt = Date.now();
    s.rec.closedBy = reason;
    if (status) {
      s.rec.status = { code: status.code, details: status.details };
      s.call.emit('error', status);
    } else if (reason !== 'client') {
      s.rec.status = { code: grpc.status.OK, details: 'OK' };
      s.call.end();
    }
  }

  function armIdle(s: Stream): void {
    if (s.idleTimer || s.closed) return;
    s.idleTimer = setTimeout(() => {
      s.idleTimer = undefined;
      // Nothing requested for the whole window: Salesforce closes the stream.
      if (s.pending === 0 && !s.silenced) closeStream(s, 'idle');
    }, idleTimeoutMs);
  }

  function write(s: Stream, res: FetchResponse | ManagedFetchResponse): void {
    s.call.write(res);
    s.lastSentAt = Date.now();
  }

  function nextIndices(s: Stream, max: number): number[] {
    const out: number[] = [];
    while (out.length < max) {
      if (s.resend.length > 0) {
        out.push(s.resend.shift()!);
        continue;
      }
      if (s.position >= log.length) break;
      if (reorderFault && s.position + 1 < log.length && max - out.length >= 2) {
        reorderFault = false;
        out.push(s.position + 1, s.position);
        s.position += 2;
        continue;
      }
      out.push(s.position++);
    }
    for (const idx of out) {
      if (duplicateFault <= 0) break;
      duplicateFault -= 1;
      s.resend.push(idx);
    }
    return out;
  }

  function pump(s: Stream): void {
    s.pumpScheduled = false;
    if (s.closed || s.silenced || !s.started) return;
    while (s.pending > 0 && (s.resend.length > 0 || s.position < log.length)) {
      let indices = nextIndices(s, Math.min(s.pending, maxPerResponse));
      let failAfter = false;
      if (dropFault && dropFault.remaining <= indices.length) {
        // The stream breaks part-way through the batch: what lies beyond the drop point is never sent.
        indices = indices.slice(0, dropFault.remaining);
        failAfter = true;
      } else if (dropFault) {
        dropFault.remaining -= indices.length;
      }
      if (indices.length > 0) {
        const events: ConsumerEvent[] = indices.map((i) => ({ event: log[i]!.event, replay_id: log[i]!.replayId }));
        s.pending -= events.length;
        s.rec.delivered += events.length;
        for (const e of events) s.rec.deliveredReplayIds.push(replayIdToHex(e.replay_id));
        write(s, {
          events,
          latest_replay_id: events[events.length - 1]!.replay_id,
          rpc_id: randomUUID(),
          pending_num_requested: s.pending,
          ...(s.managed ? { commit_response: null } : {}),
        });
      }
      if (failAfter) {
        dropNow(s);
        return;
      }
    }
    if (s.pending === 0) armIdle(s);
  }

  /** Trips the armed drop fault on this stream. */
  function dropNow(s: Stream): void {
    const code = dropFault?.code ?? grpc.status.UNAVAILABLE;
    dropFault = undefined;
    closeStream(
      s,
      'fault',
      code === grpc.status.INTERNAL
        ? statusError(grpc.status.INTERNAL, 'Received RST_STREAM with code 0', ERROR_CODES.serviceUnavailable)
        : statusError(grpc.status.UNAVAILABLE, 'The service is unavailable. Try again later.', ERROR_CODES.serviceUnavailable),
    );
  }

  function schedulePump(s: Stream): void {
    if (s.pumpScheduled || s.closed) return;
    s.pumpScheduled = true;
    setImmediate(() => pump(s));
  }

  function keepalive(s: Stream): void {
    if (s.closed || s.silenced || !s.started) return;
    if (Date.now() - s.lastSentAt < keepaliveIntervalMs * 0.9) return;
    s.rec.keepalives += 1;
    write(s, {
      events: [],
      latest_replay_id: positionReplayId(s),
      rpc_id: randomUUID(),
      pending_num_requested: s.pending,
      ...(s.managed ? { commit_response: null } : {}),
    });
  }

  function grant(s: Stream, n: number): void {
    s.rec.fetchRequests.push(n);
    s.rec.maxOutstanding = Math.max(s.rec.maxOutstanding, s.pending + n);
    s.pending = Math.min(MAX_PENDING, s.pending + n);
    if (s.pending > 0 && s.idleTimer) {
      clearTimeout(s.idleTimer);
      s.idleTimer = undefined;
    }
    schedulePump(s);
  }

  /** Where a stream starts, or the replay error to fail it with. */
  function startPosition(preset: string, replayId: Buffer | undefined): number | { errorCode: string; details: string } {
    if (preset === 'EARLIEST') return 0;
    if (preset !== 'CUSTOM') return log.length;
    if (rejectReplayFault !== undefined) {
      const errorCode = rejectReplayFault;
      rejectReplayFault = undefined;
      return { errorCode, details: 'The Replay ID validation failed. Ensure that the Replay ID is valid.' };
    }
    const value = decodeReplayId(replayId);
    if (value === undefined) {
      return { errorCode: ERROR_CODES.replayIdCorrupted, details: 'The Replay ID is corrupted.' };
    }
    const idx = Number(value - firstReplayId);
    if (idx < 0 || idx >= log.length) {
      return { errorCode: ERROR_CODES.replayIdValidationFailed, details: 'The Replay ID validation failed. Ensure that the Replay ID is valid.' };
    }
    return idx + 1;
  }

  function openStream(call: AnyServerCall, kind: 'subscribe' | 'managed'): Stream | undefined {
    const token = authenticate(call.metadata);
    const rec: StreamRecord = {
      id: nextStreamId++,
      kind,
      token: String(call.metadata.get('accesstoken')[0] ?? ''),
      fetchRequests: [],
      maxOutstanding: 0,
      delivered: 0,
      deliveredReplayIds: [],
      keepalives: 0,
      openedAt: Date.now(),
    };
    const s: Stream = { rec, call, started: false, position: 0, pending: 0, resend: [], silenced: false, closed: false, pumpScheduled: false, lastSentAt: Date.now() };
    streams.push(s);
    call.on('error', () => closeStream(s, 'client'));
    call.on('cancelled', () => closeStream(s, 'client'));
    call.on('end', () => {
      // The client half-closed: finish our side too.
      if (!s.closed) {
        closeStream(s, 'client');
        call.end();
      }
    });
    if (!token) {
      closeStream(s, 'auth', statusError(grpc.status.UNAUTHENTICATED, AUTH_DETAILS));
      return undefined;
    }
    s.keepaliveTimer = setInterval(() => keepalive(s), keepaliveIntervalMs);
    armIdle(s);
    return s;
  }

  /**
   * Response headers once the first FetchRequest fixed the stream's position: a client that waits
   * for them knows that anything published from then on reaches it, also from LATEST.
   */
  function acknowledge(s: Stream): void {
    s.call.sendMetadata(new grpc.Metadata());
  }

  function subscribe(call: grpc.ServerDuplexStream<FetchRequest, FetchResponse>): void {
    const s = openStream(call as AnyServerCall, 'subscribe');
    if (!s) return;
    call.on('data', (req: FetchRequest) => {
      if (s.closed) return;
      if (!s.started) {
        if (req.topic_name !== topic) {
          closeStream(s, 'invalid', statusError(grpc.status.NOT_FOUND, `topic ${req.topic_name || '(none)'} not found`));
          return;
        }
        s.rec.replayPreset = req.replay_preset ?? 'LATEST';
        if (req.replay_preset === 'CUSTOM') s.rec.replayId = replayIdToHex(req.replay_id);
        const start = startPosition(s.rec.replayPreset, req.replay_id);
        if (typeof start !== 'number') {
          closeStream(s, 'replay', statusError(grpc.status.INVALID_ARGUMENT, start.details, start.errorCode));
          return;
        }
        s.position = start;
        s.started = true;
        acknowledge(s);
      } else if (req.topic_name && req.topic_name !== topic) {
        closeStream(s, 'invalid', statusError(grpc.status.INVALID_ARGUMENT, 'topic_name must match the first FetchRequest'));
        return;
      }
      const n = req.num_requested ?? 0;
      if (n <= 0) {
        closeStream(s, 'invalid', statusError(grpc.status.INVALID_ARGUMENT, 'num_requested must be greater than 0'));
        return;
      }
      grant(s, n);
    });
  }

  function managedSubscribe(call: grpc.ServerDuplexStream<ManagedFetchRequest, ManagedFetchResponse>): void {
    const s = openStream(call as AnyServerCall, 'managed');
    if (!s) return;
    call.on('data', (req: ManagedFetchRequest) => {
      if (s.closed) return;
      if (!s.started) {
        const sub = managedSubs.get(req.subscription_id || '') ?? managedSubs.get(req.developer_name || '');
        if (!sub) {
          closeStream(s, 'invalid', statusError(grpc.status.NOT_FOUND, 'managed subscription not found'));
          return;
        }
        s.managed = sub;
        s.rec.subscription = sub.developerName;
        s.rec.replayPreset = sub.committed ? 'CUSTOM' : sub.replayPreset;
        if (sub.committed) s.rec.replayId = replayIdToHex(sub.committed);
        const start = sub.committed ? startPosition('CUSTOM', sub.committed) : sub.replayPreset === 'EARLIEST' ? 0 : log.length;
        s.position = typeof start === 'number' ? start : 0;
        s.started = true;
        acknowledge(s);
      }
      const commit = req.commit_replay_id_request;
      if (commit && commit.replay_id && commit.replay_id.length > 0) {
        const value = decodeReplayId(commit.replay_id);
        const known = value !== undefined && value >= firstReplayId && Number(value - firstReplayId) < log.length;
        if (known) {
          s.managed!.committed = Buffer.from(commit.replay_id);
          records.commits.push({ subscription: s.managed!.developerName, replayId: replayIdToHex(commit.replay_id) });
        }
        write(s, {
          events: [],
          latest_replay_id: positionReplayId(s),
          rpc_id: randomUUID(),
          pending_num_requested: s.pending,
          commit_response: {
            commit_request_id: commit.commit_request_id,
            replay_id: commit.replay_id,
            error: known ? null : { code: 'COMMIT', msg: 'unknown replay id' },
            process_time: String(Date.now()),
          },
        });
      }
      const n = req.num_requested ?? 0;
      if (n < 0) {
        closeStream(s, 'invalid', statusError(grpc.status.INVALID_ARGUMENT, 'num_requested must not be negative'));
        return;
      }
      if (n > 0) grant(s, n);
    });
  }

  // ---- log ----

  function append(event: ProducerEvent): Buffer {
    const replayId = encodeReplayId(firstReplayId + BigInt(log.length));
    log.push({ replayId, event });
    for (const s of streams) if (!s.closed) schedulePump(s);
    return replayId;
  }

  function publish(eventType: string | null, payloadJson: string | null, opts: PublishOptions = {}): Published {
    const record: Record<string, unknown> = {
      CreatedDate: opts.createdDate ?? Date.now(),
      CreatedById: opts.createdById ?? '005000000000001AAA',
      [payloadField]: payloadJson,
      [typeField]: eventType,
    };
    if (current.extraField) record[current.extraField] = null;
    let payload = current.type.toBuffer(record);
    // Three bytes of a real encoding: "truncated buffer" for any reader.
    if (opts.malformed) payload = payload.subarray(0, 3);
    const eventId = opts.eventId ?? randomUUID();
    const replayId = append({ id: eventId, schema_id: current.id, payload, headers: [] });
    return { replayId, eventId, schemaId: current.id };
  }

  // ---- unary RPCs ----

  type UnaryCall<Req> = grpc.ServerUnaryCall<Req, unknown>;
  type Callback<Res> = grpc.sendUnaryData<Res>;

  function guard<Req, Res>(fn: (call: UnaryCall<Req>) => Res | Partial<grpc.StatusObject>) {
    return (call: UnaryCall<Req>, cb: Callback<Res>) => {
      if (!authenticate(call.metadata)) {
        cb(statusError(grpc.status.UNAUTHENTICATED, AUTH_DETAILS) as grpc.ServiceError);
        return;
      }
      const out = fn(call);
      if (out && typeof out === 'object' && 'code' in out && typeof out.code === 'number') cb(out as grpc.ServiceError);
      else cb(null, out as Res);
    };
  }

  function publishBatch(req: PublishRequest): PublishResponse | Partial<grpc.StatusObject> {
    if (req.topic_name !== topic) return statusError(grpc.status.NOT_FOUND, `topic ${req.topic_name} not found`);
    const results: PublishResult[] = req.events.map((e) => {
      const schemaId = e.schema_id ?? '';
      if (!schemas.has(schemaId)) {
        return { replay_id: Buffer.alloc(0), error: { code: 'PUBLISH', msg: `unknown schema id ${schemaId}` }, correlation_key: e.id ?? '' };
      }
      const id = e.id || randomUUID();
      const replayId = append({ id, schema_id: schemaId, payload: Buffer.from(e.payload), headers: e.headers ?? [] });
      return { replay_id: replayId, error: null, correlation_key: id };
    });
    return { results, schema_id: current.id, rpc_id: randomUUID() };
  }

  const Service = loadPubSubService();
  const server = new grpc.Server();
  server.addService(Service.service, {
    GetTopic: guard<TopicRequest, TopicInfo>((call) => {
      records.getTopicCalls += 1;
      if (call.request.topic_name !== topic) return statusError(grpc.status.NOT_FOUND, `topic ${call.request.topic_name} not found`);
      return { topic_name: topic, tenant_guid: tenantGuid, can_publish: true, can_subscribe: true, schema_id: current.id, rpc_id: randomUUID() };
    }),
    GetSchema: guard<SchemaRequest, SchemaInfo>((call) => {
      const id = call.request.schema_id;
      records.getSchemaCalls[id] = (records.getSchemaCalls[id] ?? 0) + 1;
      const schema = schemas.get(id);
      if (!schema) return statusError(grpc.status.NOT_FOUND, `schema ${id} not found`);
      return { schema_json: schema.json, schema_id: schema.id, rpc_id: randomUUID() };
    }),
    Publish: guard<PublishRequest, PublishResponse>((call) => publishBatch(call.request)),
    PublishStream: (call: grpc.ServerDuplexStream<PublishRequest, PublishResponse>) => {
      if (!authenticate(call.metadata)) {
        call.emit('error', statusError(grpc.status.UNAUTHENTICATED, AUTH_DETAILS));
        return;
      }
      call.on('error', () => {});
      call.on('data', (req: PublishRequest) => {
        const out = publishBatch(req);
        if ('results' in out) call.write(out as PublishResponse);
        else call.emit('error', out);
      });
      call.on('end', () => call.end());
    },
    Subscribe: subscribe,
    ManagedSubscribe: managedSubscribe,
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`127.0.0.1:${options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });

  const snapshot = (r: StreamRecord): StreamRecord => ({ ...r, fetchRequests: [...r.fetchRequests], deliveredReplayIds: [...r.deliveredReplayIds] });

  return {
    address: `127.0.0.1:${port}`,
    topic,
    publish,
    inject(fault) {
      const open = streams.filter((s) => !s.closed);
      switch (fault.type) {
        case 'drop': {
          const code = fault.code === 'INTERNAL' ? grpc.status.INTERNAL : grpc.status.UNAVAILABLE;
          dropFault = { code, remaining: Math.max(0, fault.afterEvents ?? 0) };
          // Nothing left to send first: drop the open streams now.
          if (dropFault.remaining === 0) {
            const target = open.find((s) => s.started);
            if (target) dropNow(target);
          }
          return {};
        }
        case 'expireToken':
          tokens.delete(fault.token);
          for (const s of open) {
            if (s.rec.token === fault.token) closeStream(s, 'auth', statusError(grpc.status.UNAUTHENTICATED, AUTH_DETAILS));
          }
          return {};
        case 'rejectReplayId':
          rejectReplayFault = fault.errorCode ?? ERROR_CODES.replayIdCorrupted;
          return {};
        case 'silence':
          for (const s of open) s.silenced = true;
          return {};
        case 'changeSchema': {
          const version = addSchemaVersion(`sb__Extra${schemas.size + 1}__c`);
          return { schemaId: version.id };
        }
        case 'duplicate':
          duplicateFault += Math.max(1, fault.count ?? 1);
          return {};
        case 'reorder':
          reorderFault = true;
          return {};
      }
    },
    addToken(token) {
      tokens.add(token);
    },
    records() {
      return {
        streams: streams.map((s) => snapshot(s.rec)),
        getTopicCalls: records.getTopicCalls,
        getSchemaCalls: { ...records.getSchemaCalls },
        commits: [...records.commits],
        authFailures: records.authFailures,
        published: log.length,
        schemaId: current.id,
      };
    },
    openStreams() {
      return streams.filter((s) => !s.closed).map((s) => snapshot(s.rec));
    },
    async stop() {
      for (const s of streams) {
        if (!s.closed) {
          s.closed = true;
          clearTimeout(s.idleTimer);
          clearInterval(s.keepaliveTimer);
          s.rec.closedAt = Date.now();
          s.rec.closedBy = 'server';
        }
      }
      server.forceShutdown();
    },
  };

}
