// The typed events the engine consumes. Raw input (a decoded platform event, a connector relay
// message) becomes one of these through src/domain/parse.ts; machines only ever see these shapes.
import type {
  FailureType,
  OutboundCancelReason,
  ParticipantOperation,
  ParticipantRole,
  RoutingType,
  SessionStatus,
  WorkEvent,
  WorkType,
} from './enums.js';

/**
 * A platform event as the Pub/Sub intake hands it over after Avro decoding: the two CCD custom
 * fields already located by their configured names.
 */
export interface PlatformEvent {
  /** The value of the CCD's CustomEventTypeField: `Interaction` | `RoutingRequested`. */
  type: string;
  /** The value of the CCD's CustomEventPayloadField: a JSON string. */
  payload: string;
  /** Replay id for logs and the cursor (hex of the opaque bytes). */
  replayId?: string;
  /** The platform event's own id (ProducerEvent.id), used for dedupe. */
  eventId?: string;
  /** CreatedDate (epoch ms): when Salesforce published it. The 60-second routing window runs from here. */
  createdAt?: number;
}

export interface Participant {
  appType: string;
  subject: string;
  role: ParticipantRole | string;
}

/** Where a RoutingRequested asks the session to go. */
export type RoutingTarget =
  | { kind: 'rep'; userId: string }
  | { kind: 'queue'; queueId: string }
  /** `fallbackQueueId` is required by POST /route (10024); it comes from the event or the switchboard's config. */
  | { kind: 'flow'; flowId: string; fallbackQueueId?: string }
  | { kind: 'external'; externalId: string }
  /** Initial routing with no routingInfo: the Messaging channel's own Omni setting applies. */
  | { kind: 'channelDefault' }
  /** routingParameters.botId: a transfer to a bot. Refused (see `refusal`): partner-owned routing has no documented way to route it. */
  | { kind: 'bot'; botId: string }
  /** A request whose target could not be read; it carries a `refusal` and is answered with a failed routingResult. */
  | { kind: 'none' };

export interface RoutingRequestedEvent {
  kind: 'RoutingRequested';
  conversationIdentifier: string;
  channelAddressIdentifier: string;
  /** recipient.subject: the end user's client id. */
  endUserClientId?: string;
  routingType: RoutingType;
  target: RoutingTarget;
  /**
   * Our key for the request: channelData.eventId (also the routing correlation id for POST
   * /agentWork). When the event carries none, a key derived from the platform event (its uuid, else
   * its replay id, else a digest of its payload), with `routingEventIdDerived` set.
   */
  routingEventId: string;
  /** The key was derived, not Salesforce's eventId: it is not sent as a routing correlation id. */
  routingEventIdDerived?: true;
  /**
   * Why this request cannot be routed (no target, a bot target, an unreadable field). It is still
   * answered — with a failed routingResult saying this — so Salesforce does not wait out its window.
   */
  refusal?: string;
  /** routingType was missing or unknown: the report omits it (`routingType` here is a placeholder). */
  routingTypeUnknown?: true;
  /** channelData.routerParticipantSubject, when present. */
  routerParticipantSubject?: string;
  /** payload.workRecordId: the MessagingSession id, often null. */
  workRecordId?: string;
  skills?: unknown[];
  replayId?: string;
}

interface EntryBase {
  conversationIdentifier: string;
  channelAddressIdentifier: string;
  /** payload.identifier: the conversation entry id, used for dedupe. */
  entryId: string;
  sender?: Participant;
  transcriptedTimestamp?: number;
  replayId?: string;
}

export interface RoutingResultEntry extends EntryBase {
  kind: 'RoutingResult';
  routingType: RoutingType;
  failureType: FailureType;
  cancelReason?: OutboundCancelReason;
  workOwnerId?: string;
  recordId?: string;
  pendingServiceRoutingId?: string;
  isExternallyRouted?: boolean;
  errorMessages: string[];
  initiator?: Participant;
}

export interface ParticipantChange {
  operation: ParticipantOperation;
  participant: Participant;
  displayName?: string;
}

export interface ParticipantChangedEntry extends EntryBase {
  kind: 'ParticipantChanged';
  entries: ParticipantChange[];
}

export interface SessionStatusChangedEntry extends EntryBase {
  kind: 'SessionStatusChanged';
  sessionId: string;
  sessionStatus: SessionStatus;
  sessionStatusPrev?: SessionStatus;
  sessionEndedByRole?: string;
}

export interface RoutingWorkResultEntry extends EntryBase {
  kind: 'RoutingWorkResult';
  workId: string;
  workTargetId?: string;
  workType: WorkType;
  routingType?: RoutingType;
}

/** Message and MessageUpdated entries: not routing state, handed to the app's listeners as they are. */
export interface MessageEntry extends EntryBase {
  kind: 'Message' | 'MessageUpdated';
  entryType: string;
  entryPayload: Record<string, unknown>;
  /** Where the app should deliver an outbound message: the end user's client id. */
  recipientSubject?: string;
}

/** Any other entry type (typing, acknowledgements, queue position…): passed to listeners, no routing effect. */
export interface OtherEntry extends EntryBase {
  kind: 'OtherEntry';
  entryType: string;
  entryPayload: Record<string, unknown>;
}

export type InteractionEntry =
  | RoutingResultEntry
  | ParticipantChangedEntry
  | SessionStatusChangedEntry
  | RoutingWorkResultEntry
  | MessageEntry
  | OtherEntry;

export type ParsedPlatformEvent = RoutingRequestedEvent | InteractionEntry;

/** What the partner's connector relay forwards from `onAgentWorkEvent`. */
export interface AgentWorkEvent {
  workId: string;
  /** MessagingSession id (15 or 18 chars). */
  workItemId: string;
  workEvent: WorkEvent;
}
