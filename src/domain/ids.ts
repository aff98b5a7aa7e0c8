// Salesforce record ids come in two spellings: the 15-char case-sensitive id and the 18-char
// case-insensitive one (15 + a 3-char checksum suffix). The Interaction API wants exactly 15 for
// `workItemId` (reference §1.8, §1.10), while the connector relays whichever the console had.
import { createHash, randomUUID } from 'node:crypto';

const ID15 = /^[A-Za-z0-9]{15}$/;
const SALESFORCE_ID = /^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$/;

/** 15 or 18 alphanumeric characters. The 18-char checksum suffix is not verified. */
export function isSalesforceId(s: unknown): s is string {
  return typeof s === 'string' && SALESFORCE_ID.test(s);
}

/** Exactly 15 alphanumeric characters: what the Interaction API accepts as `workItemId`. */
export function isId15(s: unknown): s is string {
  return typeof s === 'string' && ID15.test(s);
}

/**
 * The 15-char form of a Salesforce id. Anything that is not an 18-char id is returned unchanged, so
 * a malformed value is never disguised as a valid one by truncation; check the result with `isId15`.
 */
export function toId15(id: string): string {
  return id.length === 18 && isSalesforceId(id) ? id.slice(0, 15) : id;
}

/** A fresh value for the Interaction API's `RequestId` header. */
export function newRequestId(): string {
  return randomUUID();
}

/**
 * A name-based UUID (version 5 layout, SHA-1 of a fixed namespace and the name): the same step key
 * always gives the same RequestId, so a call repeated after a crash is recognisable as a repeat.
 */
export function stableRequestId(name: string): string {
  const h = createHash('sha1').update('switchboard.request/').update(name).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}
