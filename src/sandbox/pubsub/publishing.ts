// Events into the log: `publish()` encodes a record with the current schema (optionally as bytes
// that do not decode), and the Publish / PublishStream RPCs append a client's already-encoded
// events, each checked against the known schema ids.
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { PublishRequest, PublishResponse, PublishResult } from '../../io/pubsub/wire.js';
import type { Auth } from './auth.js';
import { AUTH_DETAILS, statusError } from './codes.js';
import type { EventLog } from './log.js';
import type { Schemas } from './schemas.js';
import type { Published, PublishOptions } from './types.js';

export interface PublishingOptions {
  topic: string;
  payloadField: string;
  typeField: string;
  schemas: Schemas;
  log: EventLog;
  auth: Auth;
}

export function createPublishing({ topic, payloadField, typeField, schemas, log, auth }: PublishingOptions) {
  function publish(eventType: string | null, payloadJson: string | null, opts: PublishOptions = {}): Published {
    const current = schemas.current;
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
    const replayId = log.append({ id: eventId, schema_id: current.id, payload, headers: [] });
    return { replayId, eventId, schemaId: current.id };
  }

  function publishBatch(req: PublishRequest): PublishResponse | Partial<grpc.StatusObject> {
    if (req.topic_name !== topic) return statusError(grpc.status.NOT_FOUND, `topic ${req.topic_name} not found`);
    const results: PublishResult[] = req.events.map((e) => {
      const schemaId = e.schema_id ?? '';
      if (!schemas.has(schemaId)) {
        return { replay_id: Buffer.alloc(0), error: { code: 'PUBLISH', msg: `unknown schema id ${schemaId}` }, correlation_key: e.id ?? '' };
      }
      const id = e.id || randomUUID();
      const replayId = log.append({ id, schema_id: schemaId, payload: Buffer.from(e.payload), headers: e.headers ?? [] });
      return { replay_id: replayId, error: null, correlation_key: id };
    });
    return { results, schema_id: schemas.current.id, rpc_id: randomUUID() };
  }

  function publishStream(call: grpc.ServerDuplexStream<PublishRequest, PublishResponse>): void {
    if (!auth.authenticate(call.metadata)) {
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
  }

  return { publish, publishBatch, publishStream };
}
