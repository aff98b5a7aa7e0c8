// Turns a ConsumerEvent into the PlatformEvent the engine ingests. Schemas are looked up by the
// event's own schema_id (never once per topic: a CCD change adds a field and a new schema id
// mid-stream), fetched once, shared by concurrent lookups, and parsed into one avsc Type each.
import avro from 'avsc';
import type { PlatformEvent } from '../../domain/events.js';
import { AuthError } from '../../domain/errors.js';
import { PubSubDecodeError, PubSubRpcError } from './errors.js';
import { HybridLong } from './long.js';
import { replayIdToHex } from './replay-id.js';
import type { ConsumerEvent } from './wire.js';

/** Where schemas come from: GetSchema in production, a map in tests. */
export interface SchemaSource {
  getSchema(schemaId: string): Promise<{ schema_json: string }>;
}

export interface EventCodecOptions {
  schemas: SchemaSource;
  /** The CCD's CustomEventPayloadField, e.g. `ns__Payload__c`. */
  payloadField: string;
  /** The CCD's CustomEventTypeField, e.g. `ns__EventType__c`. */
  typeField: string;
}

export type DecodeResult =
  | { ok: true; event: PlatformEvent; record: Record<string, unknown> }
  | { ok: false; error: PubSubDecodeError };

export interface EventCodec {
  /** The avsc Type for a schema id: fetched on first use, then cached. Rejects with PubSubRpcError. */
  typeFor(schemaId: string): Promise<avro.Type>;
  /** The Type if it is already cached: lets the hot path stay synchronous. */
  cachedType(schemaId: string): avro.Type | undefined;
  /**
   * Decodes one event. A bad event resolves to `{ ok: false }`; the promise rejects only when the
   * schema could not be fetched for a reason that may pass (a retryable PubSubRpcError).
   */
  decode(event: ConsumerEvent): Promise<DecodeResult>;
  /** Decodes with an already resolved Type (or a schema failure to report). */
  decodeWith(type: avro.Type, event: ConsumerEvent): DecodeResult;
  readonly schemaCount: number;
}

/**
 * Makes every `long` in a schema resolve to the registry's BigInt-safe long. avsc applies a
 * registry override only to the bare name "long"; an object form such as
 * `{type: 'long', logicalType: 'timestamp-millis'}` would get the stock long, which throws beyond
 * 2^53. Dropping the logical annotation keeps the raw epoch value, which is all we need.
 */
export function normalizeLongs(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(normalizeLongs);
  if (schema === null || typeof schema !== 'object') return schema;
  const s = schema as Record<string, unknown>;
  if (s.type === 'long') return 'long';
  const out: Record<string, unknown> = { ...s };
  if (typeof s.type === 'object') out.type = normalizeLongs(s.type);
  if (Array.isArray(s.fields)) {
    out.fields = s.fields.map((f: Record<string, unknown>) => ({ ...f, type: normalizeLongs(f.type) }));
  }
  if (s.items !== undefined) out.items = normalizeLongs(s.items);
  if (s.values !== undefined) out.values = normalizeLongs(s.values);
  return out;
}

/** Parses a schema with a fresh registry: a shared one collides on repeated record names. */
export function parseSchema(schemaJson: string): avro.Type {
  return avro.Type.forSchema(normalizeLongs(JSON.parse(schemaJson)) as avro.Schema, {
    registry: { long: HybridLong } as unknown as Record<string, avro.Type>,
    wrapUnions: 'auto',
    omitRecordMethods: true,
  } as Partial<avro.ForSchemaOptions>);
}

/**
 * avsc unwraps `["null","string"]` itself, but a value written through a wrapped union (or by a
 * client with avro-js conventions) arrives as `{ string: "…" }`: take the single branch.
 */
export function unwrapUnion(value: unknown): unknown {
  let v = value;
  while (v !== null && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v)) {
    const keys = Object.keys(v);
    if (keys.length !== 1) break;
    v = (v as Record<string, unknown>)[keys[0]!];
  }
  return v;
}

export function createEventCodec(options: EventCodecOptions): EventCodec {
  const { payloadField, typeField } = options;
  const types = new Map<string, avro.Type>();
  /** Lookups in flight, so a burst of events with a new schema id costs one GetSchema. */
  const loading = new Map<string, Promise<avro.Type>>();
  /** Schemas that can never decode (not found, unparseable): reported per event, not refetched. */
  const broken = new Map<string, string>();

  function typeFor(schemaId: string): Promise<avro.Type> {
    const known = types.get(schemaId);
    if (known) return Promise.resolve(known);
    let p = loading.get(schemaId);
    if (!p) {
      p = options.schemas
        .getSchema(schemaId)
        .then((info) => {
          const type = parseSchema(info.schema_json);
          types.set(schemaId, type);
          return type;
        })
        .finally(() => loading.delete(schemaId));
      loading.set(schemaId, p);
    }
    return p;
  }

  function fail(event: ConsumerEvent, message: string, extra: { field?: string; cause?: unknown } = {}): DecodeResult {
    const e = event.event;
    return {
      ok: false,
      error: new PubSubDecodeError(message, {
        replayId: replayIdToHex(event.replay_id),
        ...(e?.id ? { eventId: e.id } : {}),
        ...(e?.schema_id ? { schemaId: e.schema_id } : {}),
        ...extra,
      }),
    };
  }

  function decodeWith(type: avro.Type, event: ConsumerEvent): DecodeResult {
    const e = event.event!;
    let record: Record<string, unknown>;
    try {
      record = type.fromBuffer(e.payload) as Record<string, unknown>;
    } catch (cause) {
      return fail(event, `payload does not decode with schema ${e.schema_id}: ${(cause as Error)?.message ?? cause}`, { cause });
    }
    const eventType = unwrapUnion(record[typeField]);
    if (typeof eventType !== 'string' || eventType === '') {
      return fail(event, `event type field ${typeField} is missing or not a string`, { field: typeField });
    }
    const payload = unwrapUnion(record[payloadField]);
    if (typeof payload !== 'string') {
      return fail(event, `payload field ${payloadField} is missing or not a string`, { field: payloadField });
    }
    const out: PlatformEvent = { type: eventType, payload, replayId: replayIdToHex(event.replay_id) };
    if (e.id) out.eventId = e.id;
    // Salesforce's routing window runs from publication, so the engine needs CreatedDate (epoch ms).
    const created = record.CreatedDate;
    if (typeof created === 'number' && Number.isFinite(created)) out.createdAt = created;
    else if (typeof created === 'bigint') out.createdAt = Number(created);
    return { ok: true, event: out, record };
  }

  async function decode(event: ConsumerEvent): Promise<DecodeResult> {
    const e = event.event;
    if (!e) return fail(event, 'ConsumerEvent carries no event');
    if (!e.schema_id) return fail(event, 'event has no schema id');
    const why = broken.get(e.schema_id);
    if (why) return fail(event, why);
    let type: avro.Type;
    try {
      type = await typeFor(e.schema_id);
    } catch (cause) {
      // A token that could not be fetched now may be fetched later: retry, never mark the schema broken.
      if ((cause instanceof PubSubRpcError && cause.retryable) || cause instanceof AuthError) throw cause;
      const reason = `schema ${e.schema_id} is unusable: ${(cause as Error)?.message ?? cause}`;
      broken.set(e.schema_id, reason);
      return fail(event, reason, { cause });
    }
    return decodeWith(type, event);
  }

  return {
    typeFor,
    cachedType: (schemaId) => types.get(schemaId),
    decode,
    decodeWith,
    get schemaCount() {
      return types.size;
    },
  };
}
