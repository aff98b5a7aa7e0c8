// The topic and its Avro schemas: the schema versions by id (a new one on a `changeSchema` fault),
// and the GetTopic / GetSchema RPCs that hand them out, counted per call.
import { createHash, randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type avro from 'avsc';
import { parseSchema } from '../../io/pubsub/codec.js';
import type { SchemaInfo, SchemaRequest, TopicInfo, TopicRequest } from '../../io/pubsub/wire.js';
import { statusError, type StatusError } from './codes.js';
import type { Counters } from './types.js';

export interface SchemaVersion {
  id: string;
  json: string;
  type: avro.Type;
  extraField?: string;
}

function schemaFingerprint(json: string): string {
  return createHash('sha256').update(json).digest('base64url').slice(0, 22);
}

/** The topic's schema versions; `current` is the one events are published with. */
export class Schemas {
  private readonly versions = new Map<string, SchemaVersion>();
  current: SchemaVersion;

  constructor(
    private readonly topic: string,
    private readonly payloadField: string,
    private readonly typeField: string,
  ) {
    this.current = this.add();
  }

  get size(): number {
    return this.versions.size;
  }

  has(id: string): boolean {
    return this.versions.has(id);
  }

  get(id: string): SchemaVersion | undefined {
    return this.versions.get(id);
  }

  /** A new version, current from now on; with `extraField`, one more field than the last. */
  add(extraField?: string): SchemaVersion {
    const fields: Array<Record<string, unknown>> = [
      { name: 'CreatedDate', type: 'long', doc: 'CreatedDate:DateTime' },
      { name: 'CreatedById', type: 'string', doc: 'CreatedBy:EntityId' },
    ];
    // A new field goes before the custom ones, so bytes written with the new schema do not decode
    // with the old: a client must fetch the new schema to read them.
    if (extraField) fields.push({ name: extraField, type: ['null', 'string'], default: null, doc: 'Data:Text' });
    fields.push(
      { name: this.payloadField, type: ['null', 'string'], default: null, doc: 'Data:LongTextArea:131072' },
      { name: this.typeField, type: ['null', 'string'], default: null, doc: 'Data:Text:255' },
    );
    const name = this.topic.replace(/^\/event\//, '');
    const json = JSON.stringify({ type: 'record', name, namespace: 'com.sforce.eventbus', fields });
    const version: SchemaVersion = { id: schemaFingerprint(json), json, type: parseSchema(json), ...(extraField ? { extraField } : {}) };
    this.versions.set(version.id, version);
    this.current = version;
    return version;
  }
}

export interface TopicServiceOptions {
  topic: string;
  tenantGuid: string;
  schemas: Schemas;
  counters: Counters;
}

/** GetTopic and GetSchema, to be put behind the auth guard. */
export function createTopicService({ topic, tenantGuid, schemas, counters }: TopicServiceOptions) {
  return {
    getTopic(call: grpc.ServerUnaryCall<TopicRequest, unknown>): TopicInfo | StatusError {
      counters.getTopicCalls += 1;
      if (call.request.topic_name !== topic) return statusError(grpc.status.NOT_FOUND, `topic ${call.request.topic_name} not found`);
      return { topic_name: topic, tenant_guid: tenantGuid, can_publish: true, can_subscribe: true, schema_id: schemas.current.id, rpc_id: randomUUID() };
    },
    getSchema(call: grpc.ServerUnaryCall<SchemaRequest, unknown>): SchemaInfo | StatusError {
      const id = call.request.schema_id;
      counters.getSchemaCalls[id] = (counters.getSchemaCalls[id] ?? 0) + 1;
      const schema = schemas.get(id);
      if (!schema) return statusError(grpc.status.NOT_FOUND, `schema ${id} not found`);
      return { schema_json: schema.json, schema_id: schema.id, rpc_id: randomUUID() };
    },
  };
}
