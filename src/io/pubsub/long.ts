// A BigInt-safe Avro `long`. avsc's stock long throws "potential precision loss" beyond 2^53, and
// Salesforce longs can exceed it (forcedotcom/pub-sub-api#44). Decoded values are numbers when
// safe and bigints beyond — the "hybrid" shape pozil's client uses — so ordinary timestamps stay
// plain numbers. Pass it as `registry: { long: HybridLong }` (see ./codec.ts for the logicalType gotcha).
import avro from 'avsc';

const MIN = BigInt(Number.MIN_SAFE_INTEGER);
const MAX = BigInt(Number.MAX_SAFE_INTEGER);

function toHybrid(value: bigint): number | bigint {
  return value >= MIN && value <= MAX ? Number(value) : value;
}

function toBig(value: unknown): bigint {
  return typeof value === 'bigint' ? value : BigInt(value as number | string);
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

export const HybridLong = avro.types.LongType.__with({
  // avsc hands over (and takes back) the long as 8 little-endian two's-complement bytes.
  fromBuffer: (buf: Buffer) => toHybrid(buf.readBigInt64LE(0)),
  toBuffer: (value: number | bigint) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(toBig(value), 0);
    return buf;
  },
  fromJSON: (value: unknown) => toHybrid(toBig(value)),
  // JSON has no bigint; keep precision as a string beyond 2^53.
  toJSON: (value: number | bigint) => (typeof value === 'bigint' ? value.toString() : value),
  isValid: (value: unknown) =>
    (typeof value === 'number' && Number.isSafeInteger(value)) ||
    (typeof value === 'bigint' && value >= INT64_MIN && value <= INT64_MAX),
  compare: (a: number | bigint, b: number | bigint) => {
    const x = toBig(a);
    const y = toBig(b);
    return x === y ? 0 : x < y ? -1 : 1;
  },
});
