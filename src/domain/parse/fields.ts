// The field reader under the parsers: every value is read through it, so every error names the
// exact field (a dotted path) and echoes at most ~80 characters of what was there. It throws
// ParseError; the entry points in ../parse.ts catch it.
import { ParseError } from '../errors.js';
import type { Participant } from '../events.js';
import { isOneOf } from '../enums.js';
import type { ParseResult } from '../parse.js';

export type Obj = Record<string, unknown>;

export interface Ctx {
  readonly maxStringLength: number;
  readonly maxIdLength: number;
  readonly replayId: string | undefined;
}

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const filled = (v: unknown): boolean => typeof v === 'string' && v !== '';

export const clip = (s: string, max: number): string => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/** What a value looks like in an error message. Payloads carry end-user text: echo ≤ ~80 characters. */
export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') {
    const shown = clip(JSON.stringify(v.slice(0, 60)), 80);
    return v.length > 60 ? `${shown}… (${v.length} characters)` : shown;
  }
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return clip(String(v), 40);
  return `a ${typeof v}`;
}

export function fail(ctx: Ctx, path: string, reason: string): never {
  throw new ParseError(path, reason, ctx.replayId);
}

export function parseJson(text: string): { ok: true; value: unknown } | { ok: false; problem: string } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    // V8 quotes the offending input in its message, so it is clipped like any echoed value.
    return { ok: false, problem: clip(err instanceof Error ? err.message : String(err), 100) };
  }
}

export function checkLength(ctx: Ctx, path: string, s: string): string {
  if (s.length > ctx.maxStringLength) {
    fail(ctx, path, `longer than ${ctx.maxStringLength} characters (got ${s.length})`);
  }
  return s;
}

/** An object in the payload plus its dotted path, so every error names the exact field. */
export class Fields {
  constructor(
    readonly ctx: Ctx,
    readonly path: string,
    readonly raw: Obj,
  ) {}

  at(key: string): string {
    return this.path === '' ? key : `${this.path}.${key}`;
  }

  private get(key: string): unknown {
    return Object.hasOwn(this.raw, key) ? this.raw[key] : undefined;
  }

  fail(key: string | null, reason: string): never {
    return fail(this.ctx, key === null ? this.path : this.at(key), reason);
  }

  private expected(key: string, what: string, v: unknown = this.get(key)): never {
    return this.fail(key, `expected ${what}, got ${describe(v)}`);
  }

  /** null and absent are the same: Salesforce sends explicit nulls for unset fields. */
  optStr(key: string): string | undefined {
    const v = this.get(key);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') return this.expected(key, 'a string');
    return checkLength(this.ctx, this.at(key), v);
  }

  str(key: string): string {
    const v = this.optStr(key);
    return v ? v : this.expected(key, 'a non-empty string');
  }

  /** For ids where '' means "not given" just as null does. */
  id(key: string): string | undefined {
    const v = this.optStr(key) || undefined;
    if (v !== undefined && v.length > this.ctx.maxIdLength) {
      this.fail(key, `an id of ${v.length} characters: longer than any Salesforce id (at most ${this.ctx.maxIdLength})`);
    }
    return v;
  }

  /** A required id. */
  ident(key: string): string {
    return this.id(key) ?? this.expected(key, 'a non-empty string');
  }

  optOneOf<T extends string>(key: string, values: readonly T[]): T | undefined {
    const v = this.get(key);
    if (v === undefined || v === null) return undefined;
    return isOneOf(values, v) ? v : this.expected(key, `one of ${values.join('|')}`);
  }

  oneOf<T extends string>(key: string, values: readonly T[]): T {
    return this.optOneOf(key, values) ?? this.expected(key, `one of ${values.join('|')}`);
  }

  optBool(key: string): boolean | undefined {
    const v = this.get(key);
    if (v === undefined || v === null) return undefined;
    return typeof v === 'boolean' ? v : this.expected(key, 'a boolean');
  }

  /** `json`: the field may also arrive as a JSON string holding the object (channelData, entryPayload). */
  optObj(key: string, json = false): Fields | undefined {
    let v = this.get(key);
    if (v === undefined || v === null) return undefined;
    if (json && typeof v === 'string') {
      const parsed = parseJson(v);
      if (!parsed.ok) this.fail(key, `invalid JSON: ${parsed.problem}`);
      if (!isObj(parsed.value)) this.expected(key, 'a JSON object', parsed.value);
      v = parsed.value;
    }
    return isObj(v) ? new Fields(this.ctx, this.at(key), v) : this.expected(key, json ? 'an object or a JSON object string' : 'an object');
  }

  obj(key: string, json = false): Fields {
    return this.optObj(key, json) ?? this.expected(key, json ? 'an object or a JSON object string' : 'an object');
  }

  optArr(key: string): unknown[] | undefined {
    const v = this.get(key);
    if (v === undefined || v === null) return undefined;
    return Array.isArray(v) ? v : this.expected(key, 'an array');
  }

  objects(key: string): Fields[] {
    const items = this.optArr(key) ?? this.expected(key, 'an array');
    return items.map((item, i) => {
      const path = `${this.at(key)}[${i}]`;
      return isObj(item) ? new Fields(this.ctx, path, item) : fail(this.ctx, path, `expected an object, got ${describe(item)}`);
    });
  }

  strings(key: string): string[] {
    return (this.optArr(key) ?? []).map((item, i) => {
      const path = `${this.at(key)}[${i}]`;
      return typeof item === 'string' ? checkLength(this.ctx, path, item) : fail(this.ctx, path, `expected a string, got ${describe(item)}`);
    });
  }

  participant(): Participant {
    return { appType: this.str('appType'), subject: this.ident('subject'), role: this.str('role') };
  }

  /** Informational participants (sender, initiator) are dropped, not fatal, when incomplete. */
  optParticipant(key: string): Participant | undefined {
    const v = this.get(key);
    const complete = isObj(v) && filled(v.appType) && filled(v.subject) && filled(v.role);
    return complete ? new Fields(this.ctx, this.at(key), v).participant() : undefined;
  }

  optTimestamp(key: string): number | undefined {
    const v = this.get(key);
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (typeof v === 'string' && /^\d{1,16}$/.test(v)) return Number(v);
    return undefined;
  }
}

/**
 * Drops undefined-valued keys so parsed events log and compare cleanly. Copies only when there is
 * something to drop, and by a plain loop: this runs on every event (entries/filter/fromEntries cost
 * about a microsecond each time).
 */
export function compact<T extends object>(o: T): T {
  const src = o as Record<string, unknown>;
  let drop = false;
  for (const k in src) {
    if (src[k] === undefined) {
      drop = true;
      break;
    }
  }
  if (!drop) return o;
  const out: Record<string, unknown> = {};
  for (const k in src) if (src[k] !== undefined) out[k] = src[k];
  return out as T;
}

export function attempt<T>(ctx: Ctx, field: string, read: () => T): ParseResult<T> {
  try {
    return { ok: true, value: read() };
  } catch (err) {
    if (err instanceof ParseError) return { ok: false, error: err };
    // A reader bug must still not escape: the caller's contract is "never throws".
    const why = clip(err instanceof Error ? err.message : String(err), 80);
    return { ok: false, error: new ParseError(field, `unexpected parser failure: ${why}`, ctx.replayId) };
  }
}
