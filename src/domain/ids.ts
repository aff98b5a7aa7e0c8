// Salesforce record ids come in two spellings: the 15-char case-sensitive id and the 18-char
// case-insensitive one (15 + a 3-char checksum suffix). The Interaction API wants exactly 15 for
// `workItemId` (reference §1.8, §1.10), while the connector relays whichever the console had.
import { randomUUID } from 'node:crypto';

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
