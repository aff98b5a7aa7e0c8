// Avro decoding of platform events: BigInt-safe longs, union wrappers, the CCD's field names, bad
// events as typed errors, and one schema lookup per schema id.
import avro from 'avsc';
import { describe, expect, test } from 'vitest';
import { createEventCodec, normalizeLongs, parseSchema, unwrapUnion } from '../../../src/io/pubsub/codec.js';
import { PubSubDecodeError, PubSubRpcError } from '../../../src/io/pubsub/errors.js';
import { decodeReplayId, encodeReplayId, replayIdToHex } from '../../../src/io/pubsub/replay-id.js';
import type { ConsumerEvent } from '../../../src/io/pubsub/wire.js';

const schema = {
  type: 'record',
  name: 'Conversation__e',
  namespace: 'com.sforce.eventbus',
  fields: [
    { name: 'CreatedDate', type: 'long', doc: 'CreatedDate:DateTime' },
    { name: 'CreatedById', type: 'string' },
    { name: 'ns__Sequence__c', type: ['null', 'long'], default: null },
    { name: 'ns__Stamp__c', type: ['null', { type: 'long', logicalType: 'timestamp-millis' }], default: null },
    { name: 'ns__Payload__c', type: ['null', 'string'], default: null },
    { name: 'ns__EventType__c', type: ['null', 'string'], default: null },
  ],
};
const SCHEMA_JSON = JSON.stringify(schema);
const type = parseSchema(SCHEMA_JSON);

function event(record: Record<string, unknown>, opts: { id?: string; schemaId?: string; payload?: Buffer; replay?: bigint } = {}): ConsumerEvent {
  const full = { CreatedDate: 1_700_000_000_000, CreatedById: '005000000000001', ns__Sequence__c: null, ns__Stamp__c: null, ns__Payload__c: null, ns__EventType__c: null, ...record };
  return {
    event: { id: opts.id ?? 'ev-1', schema_id: opts.schemaId ?? 'S1', payload: opts.payload ?? type.toBuffer(full), headers: [] },
    replay_id: encodeReplayId(opts.replay ?? 0x10000000042n),
  };
}

function codecWith(getSchema: (id: string) => Promise<{ schema_json: string }>) {
  return createEventCodec({ schemas: { getSchema }, payloadField: 'ns__Payload__c', typeField: 'ns__EventType__c' });
}

describe('BigInt-safe long', () => {
  test('numbers while safe, bigints beyond 2^53, in plain and nullable fields', () => {
    const big = 2n ** 60n + 7n;
    const buf = type.toBuffer({ CreatedDate: big, CreatedById: 'x', ns__Sequence__c: -(2n ** 62n), ns__Stamp__c: null, ns__Payload__c: null, ns__EventType__c: null });
    const back = type.fromBuffer(buf) as Record<string, unknown>;
    expect(back.CreatedDate).toBe(big);
    expect(back.ns__Sequence__c).toBe(-(2n ** 62n));
    const small = type.fromBuffer(type.toBuffer({ CreatedDate: 1_700_000_000_123, CreatedById: 'x', ns__Sequence__c: 42, ns__Stamp__c: null, ns__Payload__c: null, ns__EventType__c: null })) as Record<string, unknown>;
    expect(small.CreatedDate).toBe(1_700_000_000_123);
    expect(small.ns__Sequence__c).toBe(42);
  });

  test('the stock long refuses such values: the registry long is what makes them decode', () => {
    const stock = avro.Type.forSchema(schema as avro.Schema);
    const buf = type.toBuffer({ CreatedDate: 2n ** 60n, CreatedById: 'x', ns__Sequence__c: null, ns__Stamp__c: null, ns__Payload__c: null, ns__EventType__c: null });
    expect(() => stock.fromBuffer(buf)).toThrow();
  });

  test('a long with a logicalType is normalised so it gets the safe long too', () => {
    expect(normalizeLongs({ type: ['null', { type: 'long', logicalType: 'timestamp-millis' }] })).toEqual({ type: ['null', 'long'] });
    const buf = type.toBuffer({ CreatedDate: 1, CreatedById: 'x', ns__Sequence__c: null, ns__Stamp__c: 2n ** 59n, ns__Payload__c: null, ns__EventType__c: null });
    expect((type.fromBuffer(buf) as Record<string, unknown>).ns__Stamp__c).toBe(2n ** 59n);
  });
});

describe('decode', () => {
  test('locates payload and type by the configured field names and carries replay and event ids', async () => {
    const codec = codecWith(async () => ({ schema_json: SCHEMA_JSON }));
    const r = await codec.decode(event({ ns__Payload__c: '{"a":1}', ns__EventType__c: 'Interaction' }, { id: 'uuid-1' }));
    expect(r).toMatchObject({ ok: true, event: { type: 'Interaction', payload: '{"a":1}', replayId: '0000010000000042', eventId: 'uuid-1' } });
  });

  test('unwraps {string: "…"} union wrappers', () => {
    expect(unwrapUnion({ string: 'RoutingRequested' })).toBe('RoutingRequested');
    expect(unwrapUnion('plain')).toBe('plain');
    expect(unwrapUnion({ a: 1, b: 2 })).toEqual({ a: 1, b: 2 });
    // A schema with wrapped unions (as avro-js clients produce) decodes to the same event.
    const wrapped = avro.Type.forSchema(schema as avro.Schema, { wrapUnions: true, registry: {} });
    const codec = createEventCodec({
      schemas: { getSchema: async () => ({ schema_json: SCHEMA_JSON }) },
      payloadField: 'ns__Payload__c',
      typeField: 'ns__EventType__c',
    });
    const rec = wrapped.fromBuffer(type.toBuffer({ CreatedDate: 1, CreatedById: 'x', ns__Sequence__c: null, ns__Stamp__c: null, ns__Payload__c: '{}', ns__EventType__c: 'Interaction' })) as Record<string, unknown>;
    expect(rec.ns__EventType__c).toEqual({ string: 'Interaction' });
    const decoded = codec.decodeWith({ fromBuffer: () => rec } as unknown as avro.Type, event({}));
    expect(decoded).toMatchObject({ ok: true, event: { type: 'Interaction', payload: '{}' } });
  });

  test('bad events become PubSubDecodeError with their replay id, never a throw', async () => {
    const codec = codecWith(async () => ({ schema_json: SCHEMA_JSON }));
    const cases: Array<[ConsumerEvent, string | undefined]> = [
      [event({}, { payload: Buffer.from([0x02, 0x04]) }), undefined],
      [event({ ns__Payload__c: '{}' }), 'ns__EventType__c'],
      [event({ ns__EventType__c: 'Interaction' }), 'ns__Payload__c'],
      [{ event: null, replay_id: encodeReplayId(5) }, undefined],
    ];
    for (const [e, field] of cases) {
      const r = await codec.decode(e);
      expect(r.ok).toBe(false);
      if (r.ok) continue;
      expect(r.error).toBeInstanceOf(PubSubDecodeError);
      expect(r.error.code).toBe('SB_PUBSUB_DECODE');
      expect(r.error.replayId).toBe(replayIdToHex(e.replay_id));
      expect(r.error.field).toBe(field);
    }
  });

  test('a schema id the server does not know makes its events bad, once', async () => {
    let calls = 0;
    const codec = codecWith(async () => {
      calls += 1;
      throw new PubSubRpcError('GetSchema', 5, 'schema not found');
    });
    for (let i = 0; i < 3; i++) expect((await codec.decode(event({}, { schemaId: 'GONE' }))).ok).toBe(false);
    expect(calls).toBe(1);
  });

  test('a lookup failure that may pass rejects, so the caller can wait and retry', async () => {
    let fail = true;
    const codec = codecWith(async () => {
      if (fail) throw new PubSubRpcError('GetSchema', 14, 'unavailable', undefined, true);
      return { schema_json: SCHEMA_JSON };
    });
    const e = event({ ns__Payload__c: '{}', ns__EventType__c: 'Interaction' });
    await expect(codec.decode(e)).rejects.toBeInstanceOf(PubSubRpcError);
    fail = false;
    expect((await codec.decode(e)).ok).toBe(true);
  });
});

describe('schema cache', () => {
  test('concurrent events with a new schema id share one GetSchema; later ones use the cache', async () => {
    const calls: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const codec = codecWith(async (id) => {
      calls.push(id);
      await gate;
      return { schema_json: SCHEMA_JSON };
    });
    const pending = Array.from({ length: 20 }, () => codec.decode(event({ ns__Payload__c: '{}', ns__EventType__c: 'Interaction' }, { schemaId: 'S2' })));
    release();
    const results = await Promise.all(pending);
    expect(results.every((r) => r.ok)).toBe(true);
    await codec.decode(event({ ns__Payload__c: '{}', ns__EventType__c: 'Interaction' }, { schemaId: 'S2' }));
    expect(calls).toEqual(['S2']);
    expect(codec.cachedType('S2')).toBeDefined();
  });
});

test('replay ids: hex for the cursor, 8-byte big-endian when they are Salesforce-shaped', () => {
  const id = encodeReplayId(0x1234n);
  expect(id.toString('hex')).toBe('0000000000001234');
  expect(decodeReplayId(id)).toBe(0x1234n);
  expect(decodeReplayId(Buffer.from([1, 2, 3]))).toBeUndefined();
  expect(replayIdToHex(Buffer.alloc(0))).toBe('');
});
