// Builders for the platform events Salesforce publishes to the partner (reference §2), in their wire
// shape: the JSON string that sits in the CCD's payload field, and the event type. The sandbox
// publishes these; tests feed them to the switchboard.
import { randomUUID } from 'node:crypto';
import type { FailureType, OutboundCancelReason, ParticipantOperation, RoutingType, SessionStatus } from '../domain/enums.js';
import type { PlatformEvent } from '../domain/events.js';

export interface ConversationRef {
  conversationIdentifier: string;
  channelAddressIdentifier: string;
  endUserClientId: string;
}

export type RequestTarget =
  | { userId: string }
  | { queueId: string }
  | { flowId: string; queueId?: string }
  | { externalContactId: string }
  | Record<string, never>;

export function routingRequested(
  conv: ConversationRef,
  routingType: RoutingType,
  target: RequestTarget,
  opts: { eventId?: string; workRecordId?: string | null } = {},
): PlatformEvent & { routingEventId: string } {
  const eventId = opts.eventId ?? randomUUID();
  const t = target as Record<string, string | undefined>;
  const payload = {
    channelAddressIdentifier: conv.channelAddressIdentifier,
    recipient: { appType: 'custom', subject: conv.endUserClientId, role: 'EndUser' },
    payload: {
      conversationIdentifier: conv.conversationIdentifier,
      routingType,
      workRecordId: opts.workRecordId ?? null,
      routingParameters: {
        flowId: t.flowId ?? null,
        queueId: t.queueId ?? null,
        userId: t.userId ?? null,
        botId: null,
        ...(t.externalContactId ? { externalContactId: t.externalContactId } : {}),
        isTransfer: routingType === 'Transfer',
        isScrt2: true,
        channelData: JSON.stringify({
          eventId,
          routerParticipantSubject: randomUUID(),
          routingType,
          conversationId: conv.conversationIdentifier,
        }),
        routingConfigId: null,
        serviceChannelId: null,
        skillsList: [],
      },
    },
  };
  return { type: 'RoutingRequested', payload: JSON.stringify(payload), eventId: randomUUID(), routingEventId: eventId };
}

function interaction(conv: ConversationRef, entryType: string, entryPayload: Record<string, unknown>, sender = { appType: 'chatbot', subject: 'system', role: 'System' }): PlatformEvent {
  const now = Date.now();
  const identifier = randomUUID();
  const payload = {
    conversationIdentifier: conv.conversationIdentifier,
    channelAddressIdentifier: conv.channelAddressIdentifier,
    recipient: { appType: 'custom', subject: conv.endUserClientId, role: 'EndUser' },
    payload: {
      identifier,
      entryType,
      entryPayload: { entryType, id: randomUUID(), ...entryPayload },
      sender,
      senderDisplayName: sender.subject,
      transcriptedTimestamp: now,
      clientTimestamp: now,
      clientDuration: 0,
    },
  };
  return { type: 'Interaction', payload: JSON.stringify(payload), eventId: randomUUID() };
}

export function participantChanged(
  conv: ConversationRef,
  changes: Array<{ operation: ParticipantOperation; userId: string; displayName?: string; role?: string }>,
): PlatformEvent {
  return interaction(conv, 'ParticipantChanged', {
    entries: changes.map((c) => ({
      operation: c.operation,
      participant: { appType: 'agent', subject: c.userId, role: c.role ?? 'Agent' },
      ...(c.displayName ? { displayName: c.displayName } : {}),
    })),
  });
}

export function routingResult(
  conv: ConversationRef,
  routingType: RoutingType,
  failureType: FailureType,
  opts: { cancelReason?: OutboundCancelReason; workOwnerId?: string; pendingServiceRoutingId?: string } = {},
): PlatformEvent {
  return interaction(conv, 'RoutingResult', { routingType, failureType, errorMessages: [], ...opts });
}

export function sessionStatusChanged(conv: ConversationRef, sessionId: string, sessionStatus: SessionStatus, sessionStatusPrev?: SessionStatus): PlatformEvent {
  return interaction(conv, 'SessionStatusChanged', {
    sessionId,
    channelAddressIdentifier: conv.channelAddressIdentifier,
    conversationIdentifier: conv.conversationIdentifier,
    sessionStatus,
    ...(sessionStatusPrev ? { sessionStatusPrev } : {}),
    sessionStartTime: Date.now(),
  });
}

export function repMessage(conv: ConversationRef, userId: string, text: string): PlatformEvent {
  const id = randomUUID();
  return interaction(
    conv,
    'Message',
    { abstractMessage: { id, messageType: 'StaticContentMessage', staticContent: { formatType: 'Text', text } } },
    { appType: 'agent', subject: userId, role: 'Agent' },
  );
}

/** TypingStartedIndicator / TypingStoppedIndicator from a rep (reference §2.2): `{ timestamp }`. */
export function typingIndicator(conv: ConversationRef, userId: string, started: boolean): PlatformEvent {
  return interaction(conv, started ? 'TypingStartedIndicator' : 'TypingStoppedIndicator', { timestamp: Date.now() }, { appType: 'agent', subject: userId, role: 'Agent' });
}

/**
 * DeliveryAcknowledgement / ReadAcknowledgement from a rep's console for an end user's message
 * (reference §2.2): `{ recipient, acknowledgedConversationEntryIdentifier, acknowledgementTimestamp }`.
 */
export function acknowledgement(conv: ConversationRef, userId: string, kind: 'Delivery' | 'Read', acknowledgedEntryId: string): PlatformEvent {
  return interaction(
    conv,
    `${kind}Acknowledgement`,
    {
      recipient: { appType: 'custom', subject: conv.endUserClientId, role: 'EndUser' },
      acknowledgedConversationEntryIdentifier: acknowledgedEntryId,
      acknowledgementTimestamp: Date.now(),
    },
    { appType: 'agent', subject: userId, role: 'Agent' },
  );
}
