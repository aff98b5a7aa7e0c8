// The checks at the switchboard's public methods. Whatever an app passes — a wrong type, null, a
// number where a string belongs — is refused with an InvalidArgumentError naming the argument,
// before anything is done; a TypeError from deep inside the engine would tell the caller nothing.
import { CONTACT_LIST_TYPES, isOneOf, type ContactListType } from './domain/enums.js';
import { InvalidArgumentError } from './domain/errors.js';
import type { RoutingTarget } from './domain/events.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `a string of ${v.length} characters`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v).slice(0, 40)}`;
}

function expectString(name: string, v: unknown, maxLength: number, optional = false): void {
  if (optional && (v === undefined || v === null)) return;
  if (typeof v !== 'string' || v === '') throw new InvalidArgumentError(name, `expected a non-empty string, got ${describe(v)}`);
  if (v.length > maxLength) throw new InvalidArgumentError(name, `longer than ${maxLength} characters (got ${v.length})`);
}

function expectCount(name: string, v: unknown, max = Number.MAX_SAFE_INTEGER): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new InvalidArgumentError(name, `expected a whole number from 0 to ${max}, got ${describe(v)}`);
}

export function checkDuration(name: string, v: unknown): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new InvalidArgumentError(name, `expected milliseconds ≥ 0, got ${describe(v)}`);
}

export function checkOptions(name: string, v: unknown): Record<string, unknown> {
  if (v === undefined) return {};
  if (!isObject(v)) throw new InvalidArgumentError(name, `expected an object, got ${describe(v)}`);
  return v;
}

export function checkGetContacts(conversationIdentifier: unknown, listType: unknown, filter: unknown, maxIdLength: number): { listType: ContactListType; filter: { contains?: string; limit?: number; offset?: number } } {
  expectString('conversationIdentifier', conversationIdentifier, maxIdLength, true);
  if (!isOneOf(CONTACT_LIST_TYPES, listType)) throw new InvalidArgumentError('listType', `expected one of ${CONTACT_LIST_TYPES.join('|')}, got ${describe(listType)}`);
  const f = checkOptions('filter', filter ?? undefined);
  if (f.contains !== undefined && f.contains !== null && typeof f.contains !== 'string') throw new InvalidArgumentError('filter.contains', `expected a string, got ${describe(f.contains)}`);
  expectCount('filter.limit', f.limit, 10_000);
  expectCount('filter.offset', f.offset);
  const out: { contains?: string; limit?: number; offset?: number } = {};
  if (typeof f.contains === 'string' && f.contains !== '') out.contains = f.contains;
  if (f.limit !== undefined) out.limit = f.limit as number;
  if (f.offset !== undefined) out.offset = f.offset as number;
  return { listType, filter: out };
}

export function checkStartConversation(req: unknown, maxIdLength: number): void {
  if (!isObject(req)) throw new InvalidArgumentError('request', `expected { to, from, text }, got ${describe(req)}`);
  expectString('request.to', req.to, maxIdLength);
  expectString('request.from', req.from, maxIdLength);
  if (typeof req.text !== 'string' || req.text === '') throw new InvalidArgumentError('request.text', `expected a non-empty string, got ${describe(req.text)}`);
  if (req.target === undefined) return;
  const t = req.target as Partial<Record<string, unknown>>;
  if (!isObject(t)) throw new InvalidArgumentError('request.target', `expected a target object, got ${describe(t)}`);
  const kind = t.kind as RoutingTarget['kind'];
  if (kind === 'queue') expectString('request.target.queueId', t.queueId, maxIdLength);
  else if (kind === 'flow') {
    expectString('request.target.flowId', t.flowId, maxIdLength);
    expectString('request.target.fallbackQueueId', t.fallbackQueueId, maxIdLength, true);
  } else if (kind !== 'channelDefault') {
    throw new InvalidArgumentError('request.target.kind', `expected queue, flow or channelDefault, got ${describe(t.kind)}`);
  }
}

export function checkConversationId(v: unknown, maxIdLength: number): asserts v is string {
  expectString('conversationIdentifier', v, maxIdLength);
}

export function checkListener(event: unknown, listener: unknown, events: readonly string[]): void {
  if (typeof event !== 'string' || !events.includes(event)) throw new InvalidArgumentError('event', `expected one of ${events.join(', ')}, got ${describe(event)}`);
  if (typeof listener !== 'function') throw new InvalidArgumentError('listener', `expected a function, got ${describe(listener)}`);
}
