// The port's request/response types ↔ the Interaction Service's wire bodies (reference §1.4–§1.11).
// Bodies are built field by field, never spread from the caller's object, so nothing the caller
// happens to carry leaks into a request.
import { randomUUID } from 'node:crypto';
import type {
  AgentWorkRequest,
  AgentWorkResponse,
  ClearRouteRequest,
  ConsentRequest,
  InteractionRequest,
  InteractionResponse,
  MessagingSessionRequest,
  ParticipantRequest,
  PatchAgentWorkRequest,
  RouteRequest,
  RouteResponse,
  RoutingResultRequest,
} from '../../domain/ports.js';

type Json = Record<string, unknown>;

/** Drops undefined fields: Salesforce reads a present `errorMessage: null` differently from an absent one. */
function compact<T extends Json>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

// ---- POST /interactions (multipart) ----

export interface InteractionWire {
  /** The `json` form part (InteractionRequestJson). */
  json: Json;
  attachment?: InteractionRequest['attachment'];
}

/**
 * Builds the request once per logical call: ids and the timestamp are fixed here, so a retry
 * re-sends the same interaction and Salesforce can recognise it.
 */
export function toInteractionWire(req: InteractionRequest, now: () => number = Date.now): InteractionWire {
  const i = req.interaction;
  const timestamp = i.timestamp ?? now();
  let interaction: Json;
  if (req.attachment) {
    // interactions holds exactly one item, so a message with a file is one AttachmentInteraction
    // whose text carries the message (10011: one AttachmentInteraction per file part).
    interaction = {
      interactionType: 'AttachmentInteraction',
      timestamp,
      id: (i.kind === 'text' ? i.id : undefined) ?? randomUUID(),
      attachmentIndex: 0,
      contentLength: req.attachment.data.byteLength,
      text: i.kind === 'text' && i.text.length > 0 ? i.text : null,
    };
  } else if (i.kind === 'text') {
    const id = i.id ?? randomUUID();
    interaction = {
      interactionType: 'EntryInteraction',
      timestamp,
      payload: {
        id,
        entryType: 'Message',
        // 10060: the message id must equal the payload id.
        abstractMessage: { messageType: 'StaticContentMessage', id, staticContent: { formatType: 'Text', text: i.text } },
      },
    };
  } else {
    interaction = { interactionType: 'EntryInteraction', timestamp, payload: i.payload };
  }
  const json = compact({ to: req.to, from: req.from, routingAttributes: req.routingAttributes, interactions: [interaction] });
  return req.attachment ? { json, attachment: req.attachment } : { json };
}

/** A fresh FormData per attempt: a request body stream is consumed by sending it. */
export function toFormData(wire: InteractionWire): FormData {
  const form = new FormData();
  form.append('json', new Blob([JSON.stringify(wire.json)], { type: 'application/json' }));
  if (wire.attachment) {
    const { name, contentType, data } = wire.attachment;
    form.append('attachments', new Blob([data], { type: contentType }), name);
  }
  return form;
}

export function fromInteractionResponse(body: Json): InteractionResponse {
  const ids = Array.isArray(body.workItemIds) ? body.workItemIds.filter((x): x is string => typeof x === 'string') : [];
  return compact({ conversationIdentifier: str(body.conversationIdentifier) ?? '', id: str(body.id), workItemIds: ids });
}

// ---- JSON endpoints ----

export function consentBody(req: ConsentRequest): Json {
  return {
    endUserClientId: req.endUserClientId,
    channelAddressIdentifier: req.channelAddressIdentifier,
    consentStatus: req.consentStatus,
  };
}

export function routeBody(req: RouteRequest): Json {
  const info = req.routingInfo;
  let routingInfo: Json | undefined;
  if (info && 'flow' in info) {
    routingInfo = compact({ flow: { flowId: info.flow.flowId, queueId: info.flow.queueId }, routingAttributes: info.routingAttributes });
  } else if (info) {
    routingInfo = compact({ queueId: info.queueId, routingAttributes: info.routingAttributes });
  }
  return compact({ conversationIdentifier: req.conversationIdentifier, routingType: req.routingType, routingInfo });
}

export function fromRouteResponse(body: Json): RouteResponse {
  const map = body.contextParamMap;
  const contextParamMap =
    typeof map === 'object' && map !== null
      ? Object.fromEntries(Object.entries(map).filter((e): e is [string, string] => typeof e[1] === 'string'))
      : undefined;
  return compact({
    psrId: str(body.psrId),
    workItemId: str(body.workItemId),
    routingCorrelationId: str(body.routingCorrelationId),
    reasonForNotRouting: str(body.reasonForNotRouting),
    contextParamMap,
  });
}

export function clearRouteBody(req: ClearRouteRequest): Json {
  return compact({ conversationIdentifier: req.conversationIdentifier, cancelReason: req.cancelReason });
}

export function agentWorkBody(req: AgentWorkRequest): Json {
  const rc = req.routingContext;
  return compact({
    userId: req.userId,
    workItemId: req.workItemId,
    capacityPercentage: req.capacityPercentage,
    capacityWeight: req.capacityWeight,
    routingContext: rc && {
      conversationIdentifier: rc.conversationIdentifier,
      routingType: rc.routingType,
      routingCorrelationId: rc.routingCorrelationId,
    },
    agentActionVisibilities: req.agentActionVisibilities?.map((v) => ({ agentAction: v.agentAction, visible: v.visible })),
  });
}

export function fromAgentWorkResponse(body: Json): AgentWorkResponse {
  const details = (typeof body.agentWorkDetails === 'object' && body.agentWorkDetails !== null ? body.agentWorkDetails : {}) as Json;
  return compact({
    agentWorkId: str(body.agentWorkId) ?? str(body.id),
    existPsr: typeof details.existPsr === 'boolean' ? details.existPsr : undefined,
    psrId: str(details.psrId),
  });
}

export function patchAgentWorkBody(req: PatchAgentWorkRequest): Json {
  return { workId: req.workId, contextType: req.contextType, status: req.status };
}

export function routingResultBody(req: RoutingResultRequest): Json {
  return compact({
    conversationIdentifier: req.conversationIdentifier,
    workItemId: req.workItemId,
    success: req.success,
    externallyRouted: req.externallyRouted,
    errorMessage: req.success ? undefined : req.errorMessage,
    routingType: req.routingType,
  });
}

export function participantBody(req: ParticipantRequest): Json {
  const [p] = req.participants;
  return {
    conversationIdentifier: req.conversationIdentifier,
    operation: req.operation,
    participants: [{ appType: p.appType, subject: p.subject, role: p.role }],
  };
}

export function messagingSessionBody(req: MessagingSessionRequest): Json {
  return compact({
    channelAddressIdentifier: req.channelAddressIdentifier,
    endUserClientId: req.endUserClientId,
    conversationIdentifier: req.conversationIdentifier,
    operation: req.operation,
    operationBy: req.operationBy,
    sessionId: req.sessionId,
  });
}
