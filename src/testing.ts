// `switchboard-ccaas/testing`: what a partner's own test suite needs to drive a switchboard without
// an org — the platform events Salesforce publishes, in their wire shape (the JSON string in the
// CCD's payload field, with its event type), the connector's agent-work events, and an in-memory
// Interaction Service that records every call with its answer. The project's own tests use these
// same builders, so they stay true to what the engine accepts.
import { randomUUID } from 'node:crypto';
import type { WorkEvent } from './domain/enums.js';
import type { AgentWorkEvent } from './domain/events.js';
import type { AgentWorkRequest, AgentWorkResponse } from './domain/ports.js';
import type { ConversationRef } from './sandbox/payloads.js';
import type { RecordingInteractionService } from './io/recording-interaction-service.js';

export {
  routingRequested,
  participantChanged,
  routingResult,
  sessionStatusChanged,
  repMessage,
  typingIndicator,
  acknowledgement,
  type ConversationRef,
  type RequestTarget,
} from './sandbox/payloads.js';
export {
  createRecordingInteractionService,
  type RecordingInteractionService,
  type RecordedCall,
  type Responder,
  type Endpoint,
} from './io/recording-interaction-service.js';
export type { PlatformEvent, AgentWorkEvent } from './domain/events.js';

/** A new conversation's identifiers, random unless given: the first argument of every event builder. */
export function newConversation(overrides: Partial<ConversationRef> = {}): ConversationRef {
  return {
    conversationIdentifier: randomUUID(),
    channelAddressIdentifier: randomUUID(),
    endUserClientId: `client-${randomUUID().slice(0, 8)}`,
    ...overrides,
  };
}

/** What your connector relay forwards from `onAgentWorkEvent`, for `switchboard.agentWork()`. */
export function agentWorkEvent(workId: string, workItemId: string, workEvent: WorkEvent): AgentWorkEvent {
  return { workId, workItemId, workEvent };
}

/** The rep accepted the offer `workId` for the MessagingSession `workItemId`. */
export const accepted = (workId: string, workItemId: string): AgentWorkEvent => agentWorkEvent(workId, workItemId, 'ACCEPTED');

/** The rep declined the offer `workId` for the MessagingSession `workItemId`. */
export const declined = (workId: string, workItemId: string): AgentWorkEvent => agentWorkEvent(workId, workItemId, 'DECLINED');

/** An offer the engine made (POST /agentWork) and the AgentWork id the service answered with. */
export interface Offer {
  workId: string;
  workItemId: string;
  userId: string;
}

/**
 * Every offer the engine made through a recording service, in order, with the AgentWork id it was
 * answered with — so a test can accept or decline the very offer that went out. Failed offers are
 * left out.
 */
export function offers(service: RecordingInteractionService): Offer[] {
  return service.callsTo('POST /agentWork').flatMap((call) => {
    const answer = call.answer as AgentWorkResponse | undefined;
    const body = call.body as AgentWorkRequest;
    return answer?.agentWorkId ? [{ workId: answer.agentWorkId, workItemId: body.workItemId, userId: body.userId }] : [];
  });
}
