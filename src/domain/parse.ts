// Raw input → the typed events of ./events.ts (reference §2.2, §2.3, §4).
//
// The entry points never throw: one malformed platform event must become a reportable ParseError
// carrying its replayId, not an exception that tears down the Pub/Sub intake. Inside, the field
// reader throws ParseError and the entry points catch it, which keeps each reader a straight list
// of fields instead of a ladder of early returns.
import {
  FAILURE_TYPES,
  OUTBOUND_CANCEL_REASONS,
  PARTICIPANT_OPERATIONS,
  PLATFORM_EVENT_TYPES,
  ROUTING_TYPES,
  SESSION_STATUSES,
  WORK_EVENTS,
  WORK_TYPES,
  isOneOf,
  type RoutingType,
} from './enums.js';
import { ParseError } from './errors.js';
import type {
  AgentWorkEvent,
  InteractionEntry,
  ParsedPlatformEvent,
  Participant,
  PlatformEvent,
  RoutingRequestedEvent,
  RoutingTarget,
} from './events.js';
import { isSalesforceId } from './ids.js';
import { createHash } from 'node:crypto';

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: ParseError };

export interface ParseOptions {
  /** Longest accepted string field, in characters. Default 4096. */
  maxStringLength?: number;
  /**
   * Longest accepted id (conversation, channel address, event, user, queue, flow, work item, entry,
   * participant), in characters. Default 255: Salesforce ids are 15 or 18 characters, event ids are
   * UUIDs and conversation identifiers are at most 240 (reference §1.10); anything longer is refused.
   */
  maxIdLength?: number;
  /** Largest accepted payload JSON string, in UTF-8 bytes. Default 1 MiB (the platform's per-event limit). */
  maxPayloadBytes?: number;
  /** Fallback queue for a flow target whose event carries no queueId (POST /route needs one, 10024). */
  fallbackQueueId?: string;
  /**
   * Which routingParameters field names an external contact is UNCONFIRMED (reference §2.3, §8.2);
   * an org that knows returns the external id here, and it wins over every other target.
   */
  isExternalTarget?: (routingParameters: Record<string, unknown>) => string | undefined;
}

export const DEFAULT_MAX_STRING_LENGTH = 4096;
export const DEFAULT_MAX_ID_LENGTH = 255;
export const DEFAULT_MAX_PAYLOAD_BYTES = 1_048_576;

type Obj = Record<string, unknown>;

interface Ctx {
  readonly maxStringLength: number;
  readonly maxIdLength: number;
  readonly replayId: string | undefined;
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const filled = (v: unknown): boolean => typeof v === 'string' && v !== '';

const clip = (s: string, max: number): string => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/** What a value looks like in an error message. Payloads carry end-user text: echo ≤ ~80 characters. */
function describe(v: unknown): string {
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

function fail(ctx: Ctx, path: string, reason: string): never {
  throw new ParseError(path, reason, ctx.replayId);
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; problem: string } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    // V8 quotes the offending input in its message, so it is clipped like any echoed value.
    return { ok: false, problem: clip(err instanceof Error ? err.message : String(err), 100) };
  }
}

function checkLength(ctx: Ctx, path: string, s: string): string {
  if (s.length > ctx.maxStringLength) {
    fail(ctx, path, `longer than ${ctx.maxStringLength} characters (got ${s.length})`);
  }
  return s;
}

/** An object in the payload plus its dotted path, so every error names the exact field. */
class Fields {
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
function compact<T extends object>(o: T): T {
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

function attempt<T>(ctx: Ctx, field: string, read: () => T): ParseResult<T> {
  try {
    return { ok: true, value: read() };
  } catch (err) {
    if (err instanceof ParseError) return { ok: false, error: err };
    // A reader bug must still not escape: the caller's contract is "never throws".
    const why = clip(err instanceof Error ? err.message : String(err), 80);
    return { ok: false, error: new ParseError(field, `unexpected parser failure: ${why}`, ctx.replayId) };
  }
}

// ---- RoutingRequested (reference §2.3) ----

const TARGET_IDS = ['userId', 'queueId', 'flowId'] as const;

function externalFromOption(params: Fields, options: ParseOptions): string | undefined {
  if (!options.isExternalTarget) return undefined;
  let id: unknown;
  try {
    id = options.isExternalTarget(params.raw);
  } catch (err) {
    params.fail(null, `isExternalTarget threw: ${clip(err instanceof Error ? err.message : String(err), 80)}`);
  }
  return typeof id === 'string' && id !== '' ? checkLength(params.ctx, params.path, id) : undefined;
}

function readTarget(params: Fields, routingType: RoutingType, options: ParseOptions): RoutingTarget {
  const custom = externalFromOption(params, options);
  if (custom !== undefined) return { kind: 'external', externalId: custom };

  const ids = { userId: params.id('userId'), queueId: params.id('queueId'), flowId: params.id('flowId') };
  const externalId = params.id('externalContactId') ?? params.id('externalId');
  const botId = params.id('botId');
  const given: string[] = TARGET_IDS.filter((k) => ids[k] !== undefined);
  if (externalId !== undefined) given.push('an external contact id');
  if (botId !== undefined) given.push('botId');

  const { userId, queueId, flowId } = ids;
  // The one legitimate pair: a flow and the queue it falls back to (POST /route routingInfo.flow).
  if (flowId && queueId && given.length === 2) return { kind: 'flow', flowId, fallbackQueueId: queueId };
  if (given.length > 1) params.fail(null, `expected exactly one of userId, queueId, flowId, got ${given.join(' and ')}`);

  if (userId) return { kind: 'rep', userId };
  if (queueId) return { kind: 'queue', queueId };
  if (flowId) return compact({ kind: 'flow', flowId, fallbackQueueId: options.fallbackQueueId });
  if (externalId) return { kind: 'external', externalId };
  if (botId) return { kind: 'bot', botId };
  if (routingType === 'Initial') return { kind: 'channelDefault' };
  return params.fail(null, 'no target: expected one of userId, queueId, flowId, got none');
}

/** Why a bot target is refused: the answer Salesforce and the rep see in the failed routingResult. */
export const BOT_TARGET_REFUSAL =
  'transfers to a bot (routingParameters.botId) are not supported with partner-owned routing: route the conversation to a queue or flow that reaches the bot';

/**
 * The request's key when channelData carries no eventId: the platform event's uuid, else its replay
 * id, else a digest of its payload — each the same on every redelivery of that event.
 */
function derivedRoutingKey(event: Partial<PlatformEvent>, ctx: Ctx, payload: string): string {
  if (typeof event.eventId === 'string' && event.eventId !== '' && event.eventId.length <= ctx.maxIdLength) return `event-${event.eventId}`;
  if (ctx.replayId) return `replay-${ctx.replayId}`;
  return `payload-${createHash('sha256').update(payload).digest('hex').slice(0, 32)}`;
}

function readRoutingRequested(root: Fields, event: Partial<PlatformEvent>, options: ParseOptions): RoutingRequestedEvent {
  const body = root.obj('payload');
  const conversationIdentifier = body.ident('conversationIdentifier');
  // The conversation is known: from here on a field that cannot be read makes the request refused —
  // answered with a failed routingResult that says why — never dropped (Salesforce would wait out
  // its 60 seconds, and the rep with it).
  const refusals: string[] = [];
  const read = <T>(reader: () => T): T | undefined => {
    try {
      return reader();
    } catch (err) {
      if (!(err instanceof ParseError)) throw err;
      refusals.push(err.message);
      return undefined;
    }
  };
  const channelAddressIdentifier = read(() => root.ident('channelAddressIdentifier'));
  const endUserClientId = read(() => root.optObj('recipient')?.id('subject'));
  const routingType = read(() => body.oneOf('routingType', ROUTING_TYPES));
  const workRecordId = read(() => body.id('workRecordId'));
  const params = read(() => body.obj('routingParameters'));
  // channelData is "internal context" (reference §8.11): without a readable eventId the request is
  // keyed by the platform event itself, and routed all the same.
  let channelData: Fields | undefined;
  try {
    channelData = params?.optObj('channelData', true);
  } catch {
    channelData = undefined;
  }
  // An eventId that is there but unusable (not a string, far too long) refuses the request.
  const routingEventId = read(() => channelData?.id('eventId'));
  const routerParticipantSubject = read(() => channelData?.optStr('routerParticipantSubject'));
  let target: RoutingTarget = { kind: 'none' };
  if (params) target = read(() => readTarget(params, routingType ?? 'Transfer', options)) ?? target;
  if (target.kind === 'bot') refusals.push(BOT_TARGET_REFUSAL);
  const skills = params ? read(() => params.optArr('skillsList')) : undefined;
  const parsed: RoutingRequestedEvent = compact<RoutingRequestedEvent>({
    kind: 'RoutingRequested',
    conversationIdentifier,
    channelAddressIdentifier: channelAddressIdentifier ?? '',
    endUserClientId,
    routingType: routingType ?? 'Transfer',
    routingEventId: routingEventId ?? derivedRoutingKey(event, root.ctx, event.payload ?? ''),
    routerParticipantSubject,
    target,
    workRecordId,
    skills,
    replayId: root.ctx.replayId,
  });
  if (routingEventId === undefined) parsed.routingEventIdDerived = true;
  if (routingType === undefined) parsed.routingTypeUnknown = true;
  if (refusals.length) parsed.refusal = `request refused: ${refusals.join('; ')}`;
  return parsed;
}

// ---- Interaction (reference §2.2) ----

type Entry = Record<string, unknown>;

/** Fills `out` (which holds the fields common to every entry) with its entry type's fields. */
type EntryReader = (body: Fields, out: Entry, entryType: string, root: Fields) => void;

/**
 * Sets a field only when it has a value, so parsed events log and compare cleanly. Entries are
 * built field by field into one object rather than spread from a common base: a spread per event
 * cost about a microsecond, a fifth of the whole parse.
 */
function put(out: Entry, key: string, v: unknown): void {
  if (v !== undefined) out[key] = v;
}

const readMessage: EntryReader = (body, out, entryType, root) => {
  out.kind = entryType as 'Message' | 'MessageUpdated';
  out.entryType = entryType;
  out.entryPayload = body.raw;
  put(out, 'recipientSubject', root.optObj('recipient')?.optStr('subject'));
};

// A Map, not an object literal: an entryType of "constructor" or "__proto__" must not find a reader.
const ENTRY_READERS = new Map<string, EntryReader>([
  [
    'RoutingResult',
    (b, out) => {
      out.kind = 'RoutingResult';
      out.routingType = b.oneOf('routingType', ROUTING_TYPES);
      out.failureType = b.oneOf('failureType', FAILURE_TYPES);
      put(out, 'cancelReason', b.optOneOf('cancelReason', OUTBOUND_CANCEL_REASONS));
      put(out, 'workOwnerId', b.optStr('workOwnerId'));
      put(out, 'recordId', b.optStr('recordId'));
      put(out, 'pendingServiceRoutingId', b.optStr('pendingServiceRoutingId'));
      put(out, 'isExternallyRouted', b.optBool('isExternallyRouted'));
      out.errorMessages = b.strings('errorMessages');
      put(out, 'initiator', b.optParticipant('initiator'));
    },
  ],
  [
    'ParticipantChanged',
    (b, out) => {
      out.kind = 'ParticipantChanged';
      out.entries = b.objects('entries').map((e) => {
        const change: Entry = { operation: e.oneOf('operation', PARTICIPANT_OPERATIONS), participant: e.obj('participant').participant() };
        put(change, 'displayName', e.optStr('displayName'));
        return change;
      });
    },
  ],
  [
    'SessionStatusChanged',
    (b, out) => {
      out.kind = 'SessionStatusChanged';
      out.sessionId = b.ident('sessionId');
      out.sessionStatus = b.oneOf('sessionStatus', SESSION_STATUSES);
      put(out, 'sessionStatusPrev', b.optOneOf('sessionStatusPrev', SESSION_STATUSES));
      put(out, 'sessionEndedByRole', b.optStr('sessionEndedByRole'));
    },
  ],
  [
    'RoutingWorkResult',
    (b, out) => {
      out.kind = 'RoutingWorkResult';
      out.workId = b.ident('workId');
      out.workType = b.oneOf('workType', WORK_TYPES);
      put(out, 'workTargetId', b.optStr('workTargetId'));
      put(out, 'routingType', b.optOneOf('routingType', ROUTING_TYPES));
    },
  ],
  ['Message', readMessage],
  ['MessageUpdated', readMessage],
]);

const readOther: EntryReader = (body, out, entryType) => {
  out.kind = 'OtherEntry';
  out.entryType = entryType;
  out.entryPayload = body.raw;
};

function readInteraction(root: Fields): InteractionEntry {
  const conversationIdentifier = root.ident('conversationIdentifier');
  const channelAddressIdentifier = root.ident('channelAddressIdentifier');
  const entry = root.obj('payload');
  const entryId = entry.ident('identifier');
  const entryType = entry.str('entryType');
  const body = entry.optObj('entryPayload', true) ?? new Fields(root.ctx, entry.at('entryPayload'), {});
  const out: Entry = { conversationIdentifier, channelAddressIdentifier, entryId };
  put(out, 'sender', entry.optParticipant('sender'));
  put(out, 'transcriptedTimestamp', entry.optTimestamp('transcriptedTimestamp'));
  put(out, 'replayId', root.ctx.replayId);
  (ENTRY_READERS.get(entryType) ?? readOther)(body, out, entryType, root);
  return out as unknown as InteractionEntry;
}

// ---- entry points ----

/** A decoded platform event (reference §2) → RoutingRequestedEvent or an InteractionEntry. */
export function parsePlatformEvent(event: PlatformEvent, options: ParseOptions = {}): ParseResult<ParsedPlatformEvent> {
  const e: Partial<PlatformEvent> = isObj(event) ? event : {};
  const ctx: Ctx = {
    maxStringLength: options.maxStringLength ?? DEFAULT_MAX_STRING_LENGTH,
    maxIdLength: options.maxIdLength ?? DEFAULT_MAX_ID_LENGTH,
    replayId: typeof e.replayId === 'string' ? e.replayId : undefined,
  };
  return attempt<ParsedPlatformEvent>(ctx, 'payload', () => {
    const type = e.type;
    if (!isOneOf(PLATFORM_EVENT_TYPES, type)) {
      fail(ctx, 'type', `expected one of ${PLATFORM_EVENT_TYPES.join('|')}, got ${describe(type)}`);
    }
    const text: unknown = e.payload;
    if (typeof text !== 'string') fail(ctx, 'payload', `expected a JSON string, got ${describe(text)}`);
    const maxBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > maxBytes) fail(ctx, 'payload', `larger than ${maxBytes} bytes (got ${bytes})`);
    const parsed = parseJson(text);
    if (!parsed.ok) fail(ctx, 'payload', `invalid JSON: ${parsed.problem}`);
    if (!isObj(parsed.value)) fail(ctx, 'payload', `expected a JSON object, got ${describe(parsed.value)}`);

    const root = new Fields(ctx, '', parsed.value);
    return type === 'RoutingRequested' ? readRoutingRequested(root, e, options) : readInteraction(root);
  });
}

/** The connector relay's `onAgentWorkEvent` message (reference §4). `workItemId` is kept as given (15 or 18). */
export function parseAgentWorkEvent(input: unknown): ParseResult<AgentWorkEvent> {
  const ctx: Ctx = { maxStringLength: DEFAULT_MAX_STRING_LENGTH, maxIdLength: DEFAULT_MAX_ID_LENGTH, replayId: undefined };
  return attempt(ctx, 'agentWork', () => {
    if (!isObj(input)) fail(ctx, 'agentWork', `expected an object, got ${describe(input)}`);
    const f = new Fields(ctx, '', input);
    const workId = f.ident('workId');
    const workItemId = f.ident('workItemId');
    if (!isSalesforceId(workItemId)) {
      f.fail('workItemId', `expected a 15 or 18 character Salesforce id, got ${describe(workItemId)}`);
    }
    return { workId, workItemId, workEvent: f.oneOf('workEvent', WORK_EVENTS) };
  });
}
