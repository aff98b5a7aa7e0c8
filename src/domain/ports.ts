// The effect ports: what the engine asks of the outside world. Machines name these effects as
// actors; the switchboard provides them from an implementation of these interfaces — the got-based
// adapter in src/io/interaction-api for a real org, or the in-memory recorder for tests.
import type {
  AgentWorkStatus,
  CancelReason,
  ConsentStatus,
  RoutingType,
} from './enums.js';
import type { Participant } from './events.js';

// ---- Interaction Service request and response bodies (reference §1) ----

export interface InteractionRequest {
  /** Channel address identifier (≤240). */
  to: string;
  /** End user client id (≤255). */
  from: string;
  /** Exactly one interaction. */
  interaction:
    | { kind: 'text'; text: string; id?: string; timestamp?: number }
    | { kind: 'entry'; payload: Record<string, unknown>; timestamp?: number };
  routingAttributes?: Record<string, string>;
  attachment?: { name: string; contentType: string; data: Uint8Array };
}

export interface InteractionResponse {
  conversationIdentifier: string;
  id?: string;
  workItemIds: string[];
}

export interface ConsentRequest {
  endUserClientId: string;
  channelAddressIdentifier: string;
  consentStatus: ConsentStatus;
}

export type RoutingInfo =
  | { flow: { flowId: string; queueId: string }; routingAttributes?: Record<string, string> }
  | { queueId: string; routingAttributes?: Record<string, string> };

export interface RouteRequest {
  conversationIdentifier: string;
  routingType: RoutingType;
  routingInfo?: RoutingInfo;
}

export interface RouteResponse {
  psrId?: string;
  workItemId?: string;
  routingCorrelationId?: string;
  reasonForNotRouting?: string;
  /** A flow's choice: `userId` (a rep) or `queueId`. Key names are not confirmed by Salesforce's docs. */
  contextParamMap?: Record<string, string>;
}

export interface ClearRouteRequest {
  conversationIdentifier: string;
  cancelReason?: CancelReason;
}

export interface AgentWorkRequest {
  userId: string;
  /** MessagingSession id, exactly 15 characters. */
  workItemId: string;
  capacityPercentage?: number;
  capacityWeight?: number;
  routingContext?: {
    conversationIdentifier: string;
    routingType: RoutingType;
    routingCorrelationId: string;
  };
  agentActionVisibilities?: Array<{ agentAction: 'Transfer' | 'Conference'; visible: boolean }>;
}

export interface AgentWorkResponse {
  /** The AgentWork id. Absent when a step repeated after a restart met 15109 (its first attempt had created it). */
  agentWorkId?: string;
  existPsr?: boolean;
  psrId?: string;
}

export interface PatchAgentWorkRequest {
  workId: string;
  contextType: 'Agent';
  status: AgentWorkStatus;
}

export interface RoutingResultRequest {
  conversationIdentifier: string;
  /** MessagingSession id, exactly 15 characters. */
  workItemId: string;
  success: boolean;
  externallyRouted: boolean;
  /** Present exactly when success is false (10033 / 10034). */
  errorMessage?: string;
  routingType?: RoutingType;
}

export interface ParticipantRequest {
  conversationIdentifier: string;
  operation: 'Remove';
  participants: [Participant];
}

export interface MessagingSessionRequest {
  channelAddressIdentifier: string;
  endUserClientId: string;
  conversationIdentifier: string;
  operation: 'End' | 'Inactivate';
  operationBy?: 'EndUser' | 'System';
  sessionId?: string;
}

/**
 * What a call needs beyond its body. `key` is stable for one logical step
 * (conversation + routing request + step) so an adapter or a store can recognise a repeat;
 * `deadlineAt` bounds retries; `priority` lets calls that finish work overtake calls that start it.
 */
export interface CallContext {
  key: string;
  /** No attempt starts (and no retry is scheduled) after this time. */
  deadlineAt?: number;
  /**
   * An attempt already sent is awaited until this time (default: `deadlineAt`). A call that may
   * create something (an AgentWork) is given longer than its window, so that what it created is
   * learned — and cleaned up — rather than abandoned with the connection.
   */
  answerBy?: number;
  priority: 'finish' | 'start';
  /**
   * The RequestId header for this logical call (kept across its retries). The engine derives it from
   * `key`, so a step repeated after a crash carries the same RequestId; a fresh UUID when absent.
   */
  requestId?: string;
  /**
   * Asked right before each attempt leaves (after its wait in the rate limiter and for a token):
   * false refuses it with SB_STOPPED, unsent. The engine says false once halted, or — in a fleet —
   * once its lease may have run out on this host's clock: a step committed just before a pause
   * (GC, SIGSTOP) must not go out after it, when another host may own the org.
   */
  mayProceed?: () => boolean;
}

/** The Interaction Service endpoints the engine calls. */
export interface InteractionService {
  postInteraction(req: InteractionRequest, ctx: CallContext): Promise<InteractionResponse>;
  patchConsent(req: ConsentRequest, ctx: CallContext): Promise<void>;
  createRoute(req: RouteRequest, ctx: CallContext): Promise<RouteResponse>;
  clearRoute(req: ClearRouteRequest, ctx: CallContext): Promise<void>;
  createAgentWork(req: AgentWorkRequest, ctx: CallContext): Promise<AgentWorkResponse>;
  patchAgentWork(req: PatchAgentWorkRequest, ctx: CallContext): Promise<void>;
  reportRoutingResult(req: RoutingResultRequest, ctx: CallContext): Promise<void>;
  removeParticipant(req: ParticipantRequest, ctx: CallContext): Promise<void>;
  updateMessagingSession(req: MessagingSessionRequest, ctx: CallContext): Promise<void>;
}

// ---- The partner's routing decisions ----

export interface PickRepRequest {
  /** The queue to pick from; undefined for the channel's default routing. */
  queueId?: string;
  routingType: RoutingType;
  conversationIdentifier: string;
  /** Reps who must not be offered this work: already in the session, or declined/ignored it. */
  exclude: string[];
}

/** The partner ACD: picks a rep for work, or answers undefined when nobody can take it now. */
export type PickRep = (req: PickRepRequest) => Promise<string | undefined> | string | undefined;

export interface ExternalRouteRequest {
  conversationIdentifier: string;
  externalId: string;
  routingType: RoutingType;
}

/** Hands a conversation to a target outside the org; resolves when handed over, rejects when it cannot be. */
export type RouteExternally = (req: ExternalRouteRequest) => Promise<void>;
