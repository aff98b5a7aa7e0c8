// Raw input → the typed events of ./events.ts (reference §2.2, §2.3, §4).
//
// The entry points never throw: one malformed platform event must become a reportable ParseError
// carrying its replayId, not an exception that tears down the Pub/Sub intake. Inside, the field
// reader throws ParseError and the entry points catch it, which keeps each reader a straight list
// of fields instead of a ladder of early returns. The readers live in ./parse/.
import { PLATFORM_EVENT_TYPES, WORK_EVENTS, isOneOf } from './enums.js';
import type { ParseError } from './errors.js';
import type { AgentWorkEvent, ParsedPlatformEvent, PlatformEvent } from './events.js';
import { isSalesforceId } from './ids.js';
import { attempt, describe, fail, Fields, isObj, parseJson, type Ctx } from './parse/fields.js';
import { readInteraction } from './parse/interaction.js';
import { readRoutingRequested } from './parse/routing-requested.js';

export { BOT_TARGET_REFUSAL } from './parse/routing-requested.js';

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
