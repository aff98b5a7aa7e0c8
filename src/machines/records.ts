// Records keyed by ids that come off the wire (user ids, routing event ids, AgentWork ids). Contexts
// keep them as plain objects — they are persisted as snapshots and copied on every change, where
// plain objects in V8's fast mode beat Maps and null-prototype (dictionary-mode) objects — so every
// read and write goes through these helpers: an id of `constructor`, `toString` or `__proto__` must
// find nothing that Object.prototype holds, and `__proto__` must become a key, not a new prototype.

export type IdRecord<V> = Record<string, V>;

const hasOwn = Object.prototype.hasOwnProperty;

/** The value stored under `key`, never one inherited from Object.prototype. */
export function own<V>(record: IdRecord<V> | undefined, key: string): V | undefined {
  return record !== undefined && hasOwn.call(record, key) ? record[key] : undefined;
}

/** Sets an own property, `__proto__` included (a plain assignment of `__proto__` changes the prototype). */
export function put<V>(record: IdRecord<V>, key: string, value: V): void {
  if (key === '__proto__') Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
  else record[key] = value;
}

/** A copy of `record` (to change before it is assigned). */
export function copyRecord<V>(record: IdRecord<V>): IdRecord<V> {
  // Object.assign is the fast copy, but it would assign an own `__proto__` as the prototype.
  return hasOwn.call(record, '__proto__') ? filterRecord(record, () => true) : Object.assign({}, record);
}

/** A copy of `record` with one key set. */
export function withKey<V>(record: IdRecord<V>, key: string, value: V): IdRecord<V> {
  const out = copyRecord(record);
  put(out, key, value);
  return out;
}

/** A copy without one key (no `delete` on a live object: it would drop to dictionary mode for every later read). */
export function withoutKey<V>(record: IdRecord<V>, key: string): IdRecord<V> {
  const out: IdRecord<V> = {};
  for (const k of Object.keys(record)) if (k !== key) put(out, k, record[k]!);
  return out;
}

/** A copy without the keys whose value is undefined. */
export function dropUndefined<V>(record: IdRecord<V | undefined>): IdRecord<V> {
  const out: IdRecord<V> = {};
  for (const k of Object.keys(record)) if (record[k] !== undefined) put(out, k, record[k]!);
  return out;
}

/** A copy keeping the entries `keep` accepts. */
export function filterRecord<V>(record: IdRecord<V>, keep: (key: string, value: V) => boolean): IdRecord<V> {
  const out: IdRecord<V> = {};
  for (const k of Object.keys(record)) if (keep(k, record[k]!)) put(out, k, record[k]!);
  return out;
}
