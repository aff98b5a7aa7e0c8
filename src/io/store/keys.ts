// Keys the stores write have a bounded size whatever the input. LMDB refuses keys over 1,978 bytes,
// and a refused key fails its whole commit — with every other conversation's records in the same
// batch — so one absurd conversation id or eventId (it ends up in session keys and in step keys
// `<conv>/<routingId>/<step>`) could stop all routing. Ids past the bound are keyed by their
// sha-256 instead; the id itself stays in the value. A short id that happens to start with the
// digest prefix is digested too, so a digest key can only come from hashing: two ids share a key
// only through a sha-256 collision.
import { createHash } from 'node:crypto';

/** UTF-8 bytes a key may have as it is; far above real Salesforce ids, far below LMDB's 1,978. */
export const MAX_PLAIN_KEY_BYTES = 400;

const DIGEST_PREFIX = '#sha256:';

/** The key a store writes for `id`: the id itself when short, else a fixed-length digest of it. */
export function storeKey(id: string): string {
  if (Buffer.byteLength(id, 'utf8') <= MAX_PLAIN_KEY_BYTES && !id.startsWith(DIGEST_PREFIX)) return id;
  return DIGEST_PREFIX + createHash('sha256').update(id, 'utf8').digest('hex');
}

/** Whether `storeKey(id)` is not `id` itself, so the id must be kept in the value. */
export function isDigestKey(key: string): boolean {
  return key.startsWith(DIGEST_PREFIX);
}
