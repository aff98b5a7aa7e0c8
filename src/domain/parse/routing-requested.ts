// RoutingRequested (reference §2.3): the request, its target, and — when a field cannot be read but
// the conversation can — a refusal, so the request is answered rather than dropped.
import { createHash } from 'node:crypto';
import { ROUTING_TYPES, type RoutingType } from '../enums.js';
import { ParseError } from '../errors.js';
import type { PlatformEvent, RoutingRequestedEvent, RoutingTarget } from '../events.js';
import type { ParseOptions } from '../parse.js';
import { checkLength, clip, compact, type Ctx, Fields } from './fields.js';


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

export function readRoutingRequested(root: Fields, event: Partial<PlatformEvent>, options: ParseOptions): RoutingRequestedEvent {
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
