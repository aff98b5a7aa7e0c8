// Enumerations of the Salesforce BYOC for CCaaS vocabulary, spelled exactly as the APIs spell them
// (reference §1, §2, §4). Each is a readonly tuple so a parser can check membership and TypeScript
// can derive the union.

export const ROUTING_TYPES = ['Initial', 'Transfer', 'Conference'] as const;
export type RoutingType = (typeof ROUTING_TYPES)[number];

/** DELETE /route `cancelReason` (inbound). */
export const CANCEL_REASONS = ['Unknown', 'Unavailable', 'Decline', 'Cancel'] as const;
export type CancelReason = (typeof CANCEL_REASONS)[number];

/** RoutingResult entry `cancelReason` (outbound adds EndUserEnded). */
export const OUTBOUND_CANCEL_REASONS = [...CANCEL_REASONS, 'EndUserEnded'] as const;
export type OutboundCancelReason = (typeof OUTBOUND_CANCEL_REASONS)[number];

export const FAILURE_TYPES = ['None', 'Unknown', 'SubmissionError', 'RoutingError', 'Cancelled'] as const;
export type FailureType = (typeof FAILURE_TYPES)[number];

export const PARTICIPANT_OPERATIONS = ['add', 'remove', 'update'] as const;
export type ParticipantOperation = (typeof PARTICIPANT_OPERATIONS)[number];

export const PARTICIPANT_ROLES = ['EndUser', 'Chatbot', 'Agent', 'Supervisor', 'System', 'Router'] as const;
export type ParticipantRole = (typeof PARTICIPANT_ROLES)[number];

export const SESSION_STATUSES = ['Active', 'Ended', 'Waiting', 'New', 'Consent', 'Inactive', 'Error', 'Paused'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

/** Connector `onAgentWorkEvent` workEvent values (reference §4). */
export const WORK_EVENTS = ['ASSIGNED', 'ACCEPTED', 'DECLINED', 'COMPLETED', 'CLOSED', 'PAUSED', 'UNPAUSED'] as const;
export type WorkEvent = (typeof WORK_EVENTS)[number];

/** RoutingWorkResult `workType`. */
export const WORK_TYPES = ['Assigned', 'Accepted', 'Cancelled', 'Closed', 'Declined', 'TransferError', 'Transferred'] as const;
export type WorkType = (typeof WORK_TYPES)[number];

/** PATCH /agentWork `status`. */
export const AGENT_WORK_STATUSES = ['Accept', 'Close', 'Decline', 'Cancel'] as const;
export type AgentWorkStatus = (typeof AGENT_WORK_STATUSES)[number];

export const CONSENT_STATUSES = ['OptedOut', 'ImplicitlyOptedIn', 'ExplicitlyOptedIn', 'DoublyOptedIn'] as const;
export type ConsentStatus = (typeof CONSENT_STATUSES)[number];

/** The value of the CCD's CustomEventTypeField. */
export const PLATFORM_EVENT_TYPES = ['Interaction', 'RoutingRequested'] as const;
export type PlatformEventType = (typeof PLATFORM_EVENT_TYPES)[number];

/** Connector getContacts `listType`. */
export const CONTACT_LIST_TYPES = ['Transfer', 'Conference', 'All'] as const;
export type ContactListType = (typeof CONTACT_LIST_TYPES)[number];

export const AVAILABILITIES = ['AVAILABLE', 'BUSY', 'OFFLINE'] as const;
export type Availability = (typeof AVAILABILITIES)[number];

export function isOneOf<T extends string>(values: readonly T[], v: unknown): v is T {
  return typeof v === 'string' && (values as readonly string[]).includes(v);
}
