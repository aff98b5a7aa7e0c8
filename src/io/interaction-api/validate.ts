// Local checks for what Salesforce would reject with a 4xx (reference §1.4–§1.11, error codes in
// §1.13). Catching them here costs nothing, keeps a bad body off the org's rate limit and off the
// breaker, and names the field instead of a numeric code.
import {
  AGENT_WORK_STATUSES,
  CANCEL_REASONS,
  CONSENT_STATUSES,
  ROUTING_TYPES,
  isOneOf,
} from '../../domain/enums.js';
import { RequestValidationError } from '../../domain/errors.js';
import type {
  AgentWorkRequest,
  ClearRouteRequest,
  ConsentRequest,
  InteractionRequest,
  MessagingSessionRequest,
  ParticipantRequest,
  PatchAgentWorkRequest,
  RouteRequest,
  RoutingResultRequest,
} from '../../domain/ports.js';
import { ENDPOINTS } from './endpoints.js';

/** Salesforce record ids the API takes in their 15-character form. */
const ID15_LENGTH = 15;
/** 10008: the largest attachment POST /interactions accepts. */
export const MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024;

class Checker {
  constructor(private readonly endpoint: string) {}

  fail(field: string, reason: string): never {
    throw new RequestValidationError(this.endpoint, field, reason);
  }

  /** A non-empty string, optionally at most `max` or exactly `exact` characters. */
  text(field: string, v: unknown, limits: { max?: number; exact?: number } = {}): void {
    if (typeof v !== 'string' || v.length === 0) this.fail(field, 'is required (non-empty string)');
    if (limits.exact !== undefined && v.length !== limits.exact) {
      this.fail(field, `must be exactly ${limits.exact} characters, got ${v.length}`);
    }
    if (limits.max !== undefined && v.length > limits.max) this.fail(field, `must be at most ${limits.max} characters, got ${v.length}`);
  }

  optionalText(field: string, v: unknown, limits: { max?: number } = {}): void {
    if (v !== undefined) this.text(field, v, limits);
  }

  oneOf(field: string, values: readonly string[], v: unknown): void {
    if (!isOneOf(values, v)) this.fail(field, `must be one of ${values.join(' | ')}, got ${JSON.stringify(v)}`);
  }

  optionalOneOf(field: string, values: readonly string[], v: unknown): void {
    if (v !== undefined) this.oneOf(field, values, v);
  }

  bool(field: string, v: unknown): void {
    if (typeof v !== 'boolean') this.fail(field, 'must be a boolean');
  }

  stringMap(field: string, v: unknown): void {
    if (v === undefined) return;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(field, 'must be an object of strings');
    for (const [k, value] of Object.entries(v)) {
      if (typeof value !== 'string') this.fail(`${field}.${k}`, 'must be a string');
    }
  }
}

export function validateInteraction(req: InteractionRequest): void {
  const c: Checker = new Checker(ENDPOINTS.postInteraction.name);
  c.text('to', req.to, { max: 240 });
  c.text('from', req.from, { max: 255 });
  c.stringMap('routingAttributes', req.routingAttributes);
  const i = req.interaction as InteractionRequest['interaction'] | undefined;
  if (!i || typeof i !== 'object') c.fail('interaction', 'is required (exactly one interaction)');
  if (i.timestamp !== undefined && !Number.isInteger(i.timestamp)) c.fail('interaction.timestamp', 'must be an integer (ms)');
  if (i.kind === 'text') {
    if (typeof i.text !== 'string') c.fail('interaction.text', 'must be a string');
    if (req.attachment === undefined) c.text('interaction.text', i.text);
    c.optionalText('interaction.id', i.id);
  } else if (i.kind === 'entry') {
    if (typeof i.payload !== 'object' || i.payload === null) c.fail('interaction.payload', 'is required');
    c.text('interaction.payload.id', i.payload.id);
    c.text('interaction.payload.entryType', i.payload.entryType);
    const message = i.payload.abstractMessage as { id?: unknown } | undefined;
    if (message && typeof message === 'object' && message.id !== undefined && message.id !== i.payload.id) {
      c.fail('interaction.payload.abstractMessage.id', 'must equal interaction.payload.id (10060)');
    }
    if (req.attachment !== undefined) {
      c.fail('attachment', "needs a 'text' interaction: an attachment is sent as the request's one AttachmentInteraction");
    }
  } else {
    c.fail('interaction.kind', `must be 'text' or 'entry'`);
  }
  const a = req.attachment;
  if (a !== undefined) {
    c.text('attachment.name', a.name);
    c.text('attachment.contentType', a.contentType);
    if (!(a.data instanceof Uint8Array)) c.fail('attachment.data', 'must be a Uint8Array');
    if (a.data.byteLength > MAX_ATTACHMENT_BYTES) c.fail('attachment.data', `must be at most 25 MB (10008), got ${a.data.byteLength} bytes`);
  }
}

export function validateConsent(req: ConsentRequest): void {
  const c: Checker = new Checker(ENDPOINTS.patchConsent.name);
  c.text('endUserClientId', req.endUserClientId, { max: 240 });
  c.text('channelAddressIdentifier', req.channelAddressIdentifier, { max: 240 });
  c.oneOf('consentStatus', CONSENT_STATUSES, req.consentStatus);
}

export function validateRoute(req: RouteRequest): void {
  const c: Checker = new Checker(ENDPOINTS.createRoute.name);
  c.text('conversationIdentifier', req.conversationIdentifier);
  c.oneOf('routingType', ROUTING_TYPES, req.routingType);
  const info = req.routingInfo as Record<string, unknown> | undefined;
  if (info === undefined) return; // the channel's Omni routing setting applies
  if (typeof info !== 'object' || info === null) c.fail('routingInfo', 'must be an object');
  if ('flow' in info && info.flow !== undefined) {
    const flow = info.flow as Record<string, unknown>;
    // 10024: flow routing needs the flow and its fallback queue.
    c.text('routingInfo.flow.flowId', flow?.flowId);
    c.text('routingInfo.flow.queueId', flow?.queueId);
    if (info.queueId !== undefined) c.fail('routingInfo.queueId', 'must not be combined with routingInfo.flow (10030)');
  } else if (info.queueId !== undefined) {
    c.text('routingInfo.queueId', info.queueId);
  } else {
    c.fail('routingInfo', 'must name a flow (flowId + fallback queueId) or a queueId (10030), or be omitted');
  }
  c.stringMap('routingInfo.routingAttributes', info.routingAttributes);
}

export function validateClearRoute(req: ClearRouteRequest): void {
  const c: Checker = new Checker(ENDPOINTS.clearRoute.name);
  c.text('conversationIdentifier', req.conversationIdentifier);
  c.optionalOneOf('cancelReason', CANCEL_REASONS, req.cancelReason);
}

export function validateAgentWork(req: AgentWorkRequest): void {
  const c: Checker = new Checker(ENDPOINTS.createAgentWork.name);
  c.text('userId', req.userId);
  c.text('workItemId', req.workItemId, { exact: ID15_LENGTH });
  const { capacityPercentage: pct, capacityWeight: weight } = req;
  if (pct !== undefined && weight !== undefined) {
    c.fail('capacityPercentage', 'must not be sent together with capacityWeight (10013)');
  }
  if (pct !== undefined && (typeof pct !== 'number' || !Number.isFinite(pct) || pct < 0 || pct > 100)) {
    c.fail('capacityPercentage', 'must be a number in 0..100 (10015)');
  }
  if (weight !== undefined && (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0)) {
    c.fail('capacityWeight', 'must be a number ≥ 0 (10014)');
  }
  const rc = req.routingContext;
  if (rc !== undefined) {
    c.text('routingContext.conversationIdentifier', rc.conversationIdentifier);
    c.oneOf('routingContext.routingType', ROUTING_TYPES, rc.routingType);
    c.text('routingContext.routingCorrelationId', rc.routingCorrelationId);
  }
  const visibilities = req.agentActionVisibilities;
  if (visibilities !== undefined) {
    if (!Array.isArray(visibilities)) c.fail('agentActionVisibilities', 'must be an array');
    visibilities.forEach((v, i) => {
      c.oneOf(`agentActionVisibilities[${i}].agentAction`, ['Transfer', 'Conference'], v?.agentAction);
      c.bool(`agentActionVisibilities[${i}].visible`, v?.visible);
    });
  }
}

export function validatePatchAgentWork(req: PatchAgentWorkRequest): void {
  const c: Checker = new Checker(ENDPOINTS.patchAgentWork.name);
  c.text('workId', req.workId);
  // 'Chatbot' is a valid contextType on the wire but needs workItemId and botId, which this
  // port does not carry: reject it here rather than send a body Salesforce rejects (10084).
  c.oneOf('contextType', ['Agent'], req.contextType);
  c.oneOf('status', AGENT_WORK_STATUSES, req.status);
}

export function validateRoutingResult(req: RoutingResultRequest): void {
  const c: Checker = new Checker(ENDPOINTS.reportRoutingResult.name);
  c.text('conversationIdentifier', req.conversationIdentifier, { max: 240 });
  c.text('workItemId', req.workItemId, { exact: ID15_LENGTH });
  c.bool('success', req.success);
  c.bool('externallyRouted', req.externallyRouted);
  if (req.success) {
    if (req.errorMessage !== undefined) c.fail('errorMessage', 'must be absent when success is true (10033)');
  } else {
    c.text('errorMessage', req.errorMessage);
  }
  c.optionalOneOf('routingType', ROUTING_TYPES, req.routingType);
}

export function validateParticipant(req: ParticipantRequest): void {
  const c: Checker = new Checker(ENDPOINTS.removeParticipant.name);
  c.text('conversationIdentifier', req.conversationIdentifier);
  c.oneOf('operation', ['Remove'], req.operation);
  if (!Array.isArray(req.participants) || req.participants.length !== 1) {
    c.fail('participants', 'must hold exactly one participant');
  }
  const [p] = req.participants;
  c.text('participants[0].appType', p?.appType);
  c.text('participants[0].subject', p?.subject);
  c.text('participants[0].role', p?.role);
}

export function validateMessagingSession(req: MessagingSessionRequest): void {
  const c: Checker = new Checker(ENDPOINTS.updateMessagingSession.name);
  c.text('channelAddressIdentifier', req.channelAddressIdentifier);
  c.text('endUserClientId', req.endUserClientId);
  c.text('conversationIdentifier', req.conversationIdentifier);
  c.oneOf('operation', ['End', 'Inactivate'], req.operation);
  c.optionalOneOf('operationBy', ['EndUser', 'System'], req.operationBy);
  if (req.operation === 'Inactivate') c.text('sessionId', req.sessionId);
  else c.optionalText('sessionId', req.sessionId);
}
