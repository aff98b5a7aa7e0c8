// Wire bodies → the org's port requests (reference §1.4–§1.11), refused as strictly as the reference
// describes, with the documented code for each refusal — and accepting what Salesforce's own
// reference connector sends (numeric strings for capacity, an empty errorMessage on a success).
import { AGENT_WORK_STATUSES, CANCEL_REASONS, CONSENT_STATUSES, PARTICIPANT_ROLES, ROUTING_TYPES, isOneOf } from '../../domain/enums.js';
import type {
  AgentWorkRequest,
  ClearRouteRequest,
  ConsentRequest,
  InteractionRequest,
  MessagingSessionRequest,
  ParticipantRequest,
  PatchAgentWorkRequest,
  RouteRequest,
  RoutingInfo,
  RoutingResultRequest,
} from '../../domain/ports.js';
import { fail } from './codes.js';
import { APP_TYPES, END_USER_MESSAGE_TYPES, FORMAT_TYPES, INBOUND_ENTRY_TYPES, MESSAGE_TYPES, isObj, isText, type Json, type MultipartPart } from './wire.js';

/** What the org supports (a feature off answers its 1007x code). */
export interface OrgFeatures {
  conferenceRouting: boolean;
  cancelReason: boolean;
  conferenceAgentAction: boolean;
}

export interface Parsed {
  json: Json;
  /** POST /interactions only. */
  attachment?: MultipartPart;
}

export interface ValidatorOptions {
  features: OrgFeatures;
  maxAttachment: number;
  maxRoutingAttributeLength?: number | undefined;
}

/** A finite number, or a string holding one. */
function numeric(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(v) ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

export function createValidators(options: ValidatorOptions) {
  const { features, maxAttachment } = options;

  function routingAttributes(v: unknown, field: string): Record<string, string> | undefined {
    if (v === undefined) return undefined;
    if (!isObj(v) || Object.values(v).some((x) => typeof x !== 'string')) fail(10089, `${field} must be an object of strings`);
    const max = options.maxRoutingAttributeLength;
    if (max !== undefined) {
      for (const [k, x] of Object.entries(v)) if ((x as string).length > max) fail(10096, `${field}.${k}`);
    }
    return v as Record<string, string>;
  }

  function interactionRequest(p: Parsed): InteractionRequest {
    const j = p.json;
    if (!isText(j.to) || j.to.length > 240) fail(10027, 'to');
    if (!isText(j.from) || j.from.length > 255) fail(10028, 'from');
    const attrs = routingAttributes(j.routingAttributes, 'routingAttributes');
    if (!Array.isArray(j.interactions) || j.interactions.length !== 1) fail(10029, 'interactions must hold exactly one interaction');
    const i: unknown = j.interactions[0];
    if (!isObj(i)) fail(10029, 'interactions[0] must be an object');
    if (!Number.isInteger(i.timestamp)) fail(10029, 'interactions[0].timestamp must be an integer (ms)');
    const timestamp = i.timestamp as number;
    const base = { to: j.to, from: j.from, ...(attrs && { routingAttributes: attrs }) };
    const file = p.attachment;

    if (i.interactionType === 'AttachmentInteraction') {
      if (!file) fail(10011, 'an AttachmentInteraction needs one file in the attachments part');
      if (!isText(i.id)) fail(10007, 'interactions[0].id');
      if (i.attachmentIndex !== 0) fail(10011, 'interactions[0].attachmentIndex must be 0 (one file)');
      if (i.contentLength === undefined || i.contentLength === null) fail(10010, 'interactions[0].contentLength');
      if (!Number.isInteger(i.contentLength)) fail(10089, 'interactions[0].contentLength must be an integer');
      if (file.data.byteLength === 0) fail(10009, 'attachments');
      if (file.data.byteLength > maxAttachment) fail(10008, `${file.data.byteLength} bytes`);
      if (i.contentLength !== file.data.byteLength) fail(10051, `contentLength ${String(i.contentLength)} ≠ ${file.data.byteLength} bytes`);
      if (!file.contentType) fail(10095, 'attachments part has no Content-Type');
      if (i.text !== undefined && i.text !== null && typeof i.text !== 'string') fail(10089, 'interactions[0].text must be a string or null');
      return {
        ...base,
        interaction: { kind: 'text', text: typeof i.text === 'string' ? i.text : '', id: i.id, timestamp },
        attachment: { name: file.filename ?? 'attachment', contentType: file.contentType, data: new Uint8Array(file.data) },
      };
    }
    if (i.interactionType !== 'EntryInteraction') fail(10029, `interactions[0].interactionType ${JSON.stringify(i.interactionType)}`);
    if (file) fail(10011, 'an attachment file needs an AttachmentInteraction');
    const payload = i.payload;
    if (!isObj(payload)) fail(10029, 'interactions[0].payload is required');
    if (!isOneOf(INBOUND_ENTRY_TYPES, payload.entryType)) fail(10029, `payload.entryType ${JSON.stringify(payload.entryType)}`);
    if (!isText(payload.id)) fail(10059, 'payload.id');
    if (payload.entryType !== 'Message') return { ...base, interaction: { kind: 'entry', payload, timestamp } };

    const m = payload.abstractMessage;
    if (!isObj(m)) fail(10045, 'payload.abstractMessage is required');
    if (!isText(m.id)) fail(10059, 'payload.abstractMessage.id');
    if (m.id !== payload.id) fail(10060);
    if (!isOneOf(MESSAGE_TYPES, m.messageType)) fail(10047, `messageType ${JSON.stringify(m.messageType)}`);
    if (!isOneOf(END_USER_MESSAGE_TYPES, m.messageType)) fail(10062);
    if (m.messageType === 'StaticContentMessage') {
      const sc = m.staticContent;
      if (!isObj(sc)) fail(10045, 'staticContent is required');
      if (!isOneOf(FORMAT_TYPES, sc.formatType)) fail(10048, `formatType ${JSON.stringify(sc.formatType)}`);
      if (sc.formatType === 'Text') {
        if (typeof sc.text !== 'string') fail(10045, 'staticContent.text must be a string');
        return { ...base, interaction: { kind: 'text', text: sc.text, id: payload.id, timestamp } };
      }
    }
    return { ...base, interaction: { kind: 'entry', payload, timestamp } };
  }

  function consentRequest(j: Json): ConsentRequest {
    if (!isText(j.endUserClientId) || j.endUserClientId.length > 240) fail(10020, 'endUserClientId');
    if (!isText(j.channelAddressIdentifier) || j.channelAddressIdentifier.length > 240) fail(10069, 'channelAddressIdentifier');
    if (!isOneOf(CONSENT_STATUSES, j.consentStatus)) fail(10021, `consentStatus ${JSON.stringify(j.consentStatus)}`);
    return { endUserClientId: j.endUserClientId, channelAddressIdentifier: j.channelAddressIdentifier, consentStatus: j.consentStatus };
  }

  function routeRequest(j: Json): RouteRequest {
    if (!isText(j.conversationIdentifier)) fail(10018, 'conversationIdentifier');
    if (!isOneOf(ROUTING_TYPES, j.routingType)) fail(10089, `routingType ${JSON.stringify(j.routingType)}`);
    if (j.routingType === 'Conference' && !features.conferenceRouting) fail(10075);
    const req: RouteRequest = { conversationIdentifier: j.conversationIdentifier, routingType: j.routingType };
    const info = j.routingInfo;
    if (info === undefined) return req;
    if (!isObj(info)) fail(10089, 'routingInfo must be an object');
    const attrs = routingAttributes(info.routingAttributes, 'routingInfo.routingAttributes');
    const hasFlow = info.flow !== undefined && info.flow !== null;
    const hasQueue = info.queueId !== undefined && info.queueId !== null;
    if (hasFlow === hasQueue) fail(10030, hasFlow ? 'both a flow and a queue were given' : 'neither a flow nor a queue was given');
    let routingInfo: RoutingInfo;
    if (hasFlow) {
      const flow = info.flow;
      if (!isObj(flow) || !isText(flow.flowId) || !isText(flow.queueId)) fail(10024);
      routingInfo = { flow: { flowId: flow.flowId, queueId: flow.queueId } };
    } else {
      if (!isText(info.queueId)) fail(10032, 'routingInfo.queueId');
      routingInfo = { queueId: info.queueId };
    }
    if (attrs) routingInfo.routingAttributes = attrs;
    return { ...req, routingInfo };
  }

  function clearRouteRequest(j: Json): ClearRouteRequest {
    if (!isText(j.conversationIdentifier)) fail(10018, 'conversationIdentifier');
    if (j.cancelReason === undefined) return { conversationIdentifier: j.conversationIdentifier };
    if (!isOneOf(CANCEL_REASONS, j.cancelReason)) fail(10089, `cancelReason ${JSON.stringify(j.cancelReason)}`);
    if (!features.cancelReason) fail(10076);
    return { conversationIdentifier: j.conversationIdentifier, cancelReason: j.cancelReason };
  }

  function agentWorkRequest(j: Json): AgentWorkRequest {
    if (!isText(j.userId)) fail(15106, 'userId');
    if (typeof j.workItemId !== 'string' || j.workItemId.length !== 15) fail(15110, 'workItemId must be exactly 15 characters');
    const req: AgentWorkRequest = { userId: j.userId, workItemId: j.workItemId };
    const pct = j.capacityPercentage;
    const weight = j.capacityWeight;
    if (pct !== undefined && weight !== undefined) fail(10013);
    // Salesforce's own reference connector sends both as numeric strings ("50", "1"), and the
    // service evidently takes them (reference §8.12): accepted, as numbers.
    if (pct !== undefined) {
      const n = numeric(pct);
      if (n === undefined || n < 0 || n > 100) fail(10015);
      req.capacityPercentage = n;
    }
    if (weight !== undefined) {
      const n = numeric(weight);
      if (n === undefined || n < 0) fail(10014);
      req.capacityWeight = n;
    }
    const rc = j.routingContext;
    if (rc !== undefined) {
      if (!isObj(rc) || !isText(rc.conversationIdentifier) || !isText(rc.routingCorrelationId)) {
        fail(10089, 'routingContext needs conversationIdentifier, routingType and routingCorrelationId');
      }
      if (!isOneOf(ROUTING_TYPES, rc.routingType)) fail(10089, `routingContext.routingType ${JSON.stringify(rc.routingType)}`);
      req.routingContext = { conversationIdentifier: rc.conversationIdentifier, routingType: rc.routingType, routingCorrelationId: rc.routingCorrelationId };
    }
    const vis = j.agentActionVisibilities;
    if (vis !== undefined) {
      if (!Array.isArray(vis)) fail(10089, 'agentActionVisibilities must be an array');
      req.agentActionVisibilities = vis.map((v: unknown, i) => {
        if (!isObj(v) || !isOneOf(['Transfer', 'Conference'] as const, v.agentAction) || typeof v.visible !== 'boolean') {
          fail(10089, `agentActionVisibilities[${i}]`);
        }
        if (v.agentAction === 'Conference' && !features.conferenceAgentAction) fail(10077);
        return { agentAction: v.agentAction, visible: v.visible };
      });
    }
    return req;
  }

  function patchAgentWorkRequest(j: Json): PatchAgentWorkRequest {
    if (!isText(j.workId)) fail(10082, 'workId');
    if (!isOneOf(['Agent', 'Chatbot'] as const, j.contextType)) fail(10083, `contextType ${JSON.stringify(j.contextType)}`);
    if (j.contextType === 'Chatbot') {
      if (typeof j.workItemId !== 'string' || j.workItemId.length !== 15) fail(10012, 'workItemId is required for Chatbot');
      if (!isText(j.botId)) fail(10084, 'botId is required for Chatbot');
    }
    if (!isOneOf(AGENT_WORK_STATUSES, j.status)) fail(10085, `status ${JSON.stringify(j.status)}`);
    // The org models rep work only; a Chatbot workId is unknown to it (10082).
    return { workId: j.workId, contextType: j.contextType as 'Agent', status: j.status };
  }

  function routingResultRequest(j: Json): RoutingResultRequest {
    if (!isText(j.conversationIdentifier) || j.conversationIdentifier.length > 240) fail(10018, 'conversationIdentifier');
    if (typeof j.workItemId !== 'string' || j.workItemId.length !== 15) fail(10012, 'workItemId must be exactly 15 characters');
    if (typeof j.success !== 'boolean') fail(10089, 'success must be a boolean');
    if (typeof j.externallyRouted !== 'boolean') fail(10089, 'externallyRouted must be a boolean');
    // "Must be absent": a present null or text counts as present — but not the empty string that
    // Salesforce's own reference connector sends on every success (reference §8.12).
    if (j.success && 'errorMessage' in j && j.errorMessage !== '') fail(10033);
    if (!j.success && !isText(j.errorMessage)) fail(10034);
    if (j.routingType !== undefined && !isOneOf(ROUTING_TYPES, j.routingType)) fail(10089, `routingType ${JSON.stringify(j.routingType)}`);
    return {
      conversationIdentifier: j.conversationIdentifier,
      workItemId: j.workItemId,
      success: j.success,
      externallyRouted: j.externallyRouted,
      ...(!j.success && { errorMessage: j.errorMessage as string }),
      ...(j.routingType !== undefined && { routingType: j.routingType }),
    };
  }

  function participantRequest(j: Json): ParticipantRequest {
    if (!isText(j.conversationIdentifier)) fail(10018, 'conversationIdentifier');
    if (j.operation !== 'Remove') fail(10089, `operation ${JSON.stringify(j.operation)}`);
    if (!Array.isArray(j.participants) || j.participants.length === 0) fail(10039);
    if (j.participants.length !== 1) fail(10089, 'participants must hold exactly one participant');
    const p: unknown = j.participants[0];
    if (!isObj(p)) fail(10089, 'participants[0] must be an object');
    if (!isOneOf(APP_TYPES, p.appType)) fail(10037, `appType ${JSON.stringify(p.appType)}`);
    if (!isOneOf(PARTICIPANT_ROLES, p.role)) fail(10038, `role ${JSON.stringify(p.role)}`);
    if (!isText(p.subject)) fail(10054);
    return { conversationIdentifier: j.conversationIdentifier, operation: 'Remove', participants: [{ appType: p.appType, subject: p.subject, role: p.role }] };
  }

  function messagingSessionRequest(j: Json): MessagingSessionRequest {
    if (!isText(j.channelAddressIdentifier)) fail(10069, 'channelAddressIdentifier');
    if (!isText(j.endUserClientId)) fail(10020, 'endUserClientId');
    if (!isText(j.conversationIdentifier)) fail(10018, 'conversationIdentifier');
    if (!isOneOf(['End', 'Inactivate'] as const, j.operation)) fail(10089, `operation ${JSON.stringify(j.operation)}`);
    if (j.operationBy !== undefined && !isOneOf(['EndUser', 'System'] as const, j.operationBy)) fail(10089, `operationBy ${JSON.stringify(j.operationBy)}`);
    if (j.operation === 'Inactivate' && !isText(j.sessionId)) fail(10071, 'sessionId is required for Inactivate');
    if (j.sessionId !== undefined && !isText(j.sessionId)) fail(10071, 'sessionId');
    return {
      channelAddressIdentifier: j.channelAddressIdentifier,
      endUserClientId: j.endUserClientId,
      conversationIdentifier: j.conversationIdentifier,
      operation: j.operation,
      ...(j.operationBy !== undefined && { operationBy: j.operationBy }),
      ...(j.sessionId !== undefined && { sessionId: j.sessionId as string }),
    };
  }

  return { interactionRequest, consentRequest, routeRequest, clearRouteRequest, agentWorkRequest, patchAgentWorkRequest, routingResultRequest, participantRequest, messagingSessionRequest };
}

export type Validators = ReturnType<typeof createValidators>;
