import { describe, it, expect } from 'vitest';
import { ParseError } from '../../src/domain/errors.js';
import type { PlatformEvent, RoutingRequestedEvent } from '../../src/domain/events.js';
import {
  parseAgentWorkEvent,
  parsePlatformEvent,
  type ParseOptions,
  type ParseResult,
} from '../../src/domain/parse.js';

// ---- fixtures shaped after reference §2.2 / §2.3 ----

const CONV = '8c1f4a2e-6b3d-4e59-9a71-2d0c5e7f9b13';
const CHAN = '1f0e9d8c-7b6a-4594-8372-615049382716';
const END_USER = 'whatsapp:+15551234567';
const EVENT_ID = '3e2d1c0b-a987-4654-b321-0fedcba98765';
const ROUTER = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const REPLAY = '00000000001a2b3c';
const USER = '005x00000000001';
const QUEUE = '00GSG000002Xyz1';
const FLOW = '300SG00000jJder';

type Json = Record<string, unknown>;

/** `replayId: null` builds an event without one. */
function event(type: string, payload: unknown, replayId: string | null = REPLAY): PlatformEvent {
  const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
  return replayId === null ? { type, payload: text, eventId: 'evt-1' } : { type, payload: text, replayId, eventId: 'evt-1' };
}

function channelData(overrides: Json = {}): Json {
  return { eventId: EVENT_ID, routerParticipantSubject: ROUTER, routingType: 'Transfer', conversationId: CONV, ...overrides };
}

/** The README RoutingRequested example with its routingParameters overridden. */
function routingRequested(routingType: string, params: Json = {}): Json {
  return {
    channelAddressIdentifier: CHAN,
    recipient: { appType: 'custom', subject: END_USER, role: 'EndUser' },
    payload: {
      conversationIdentifier: CONV,
      routingType,
      workRecordId: null,
      routingParameters: {
        flowId: null,
        queueId: null,
        userId: null,
        botId: null,
        isTransfer: routingType === 'Transfer',
        isScrt2: true,
        channelData: JSON.stringify(channelData({ routingType })),
        routingConfigId: null,
        serviceChannelId: null,
        isFallbackOnPsrNotCreated: null,
        isEstimatedWaitTimeRequested: null,
        isUserRequired: null,
        skillsList: [{ id: '0C5SG0000004CqA', level: 0, priority: 0, isAdditionalSkill: false, requirementId: '1SRSG0000000001' }],
        ...params,
      },
    },
  };
}

const AGENT = { appType: 'agent', subject: USER, role: 'Agent' };

/** An Interaction event around one ConversationEntry. */
function interaction(entryType: string, entryPayload: unknown, entryOverrides: Json = {}): Json {
  return {
    conversationIdentifier: CONV,
    channelAddressIdentifier: CHAN,
    recipient: { appType: 'custom', subject: END_USER, role: 'EndUser' },
    payload: {
      identifier: 'e7d6c5b4-a392-4817-9605-f4e3d2c1b0a9',
      entryType,
      entryPayload,
      sender: AGENT,
      senderDisplayName: 'John Dow',
      recipients: { primary: [], secondary: [], hidden: [] },
      transcriptedTimestamp: 1690344475508,
      clientTimestamp: 1690344475409,
      clientDuration: 0,
      ...entryOverrides,
    },
  };
}

const ENTRY_BASE = {
  conversationIdentifier: CONV,
  channelAddressIdentifier: CHAN,
  entryId: 'e7d6c5b4-a392-4817-9605-f4e3d2c1b0a9',
  sender: AGENT,
  transcriptedTimestamp: 1690344475508,
  replayId: REPLAY,
};

function value<T>(r: ParseResult<T>): T {
  if (!r.ok) throw new Error(`expected ok, got ${r.error.message}`);
  return r.value;
}

function error<T>(r: ParseResult<T>): ParseError {
  if (r.ok) throw new Error(`expected an error, got ${JSON.stringify(r.value)}`);
  expect(r.error).toBeInstanceOf(ParseError);
  expect(r.error.code).toBe('SB_PARSE');
  return r.error;
}

function parseRR(routingType: string, params: Json = {}, options?: ParseOptions) {
  return parsePlatformEvent(event('RoutingRequested', routingRequested(routingType, params)), options);
}

// ---- RoutingRequested ----

describe('parsePlatformEvent: RoutingRequested', () => {
  it('parses the reference flow example into a typed event', () => {
    const v = value(parseRR('Transfer', { flowId: FLOW }, { fallbackQueueId: '00GSG000000Fall' }));
    expect(v).toStrictEqual({
      kind: 'RoutingRequested',
      conversationIdentifier: CONV,
      channelAddressIdentifier: CHAN,
      endUserClientId: END_USER,
      routingType: 'Transfer',
      target: { kind: 'flow', flowId: FLOW, fallbackQueueId: '00GSG000000Fall' },
      routingEventId: EVENT_ID,
      routerParticipantSubject: ROUTER,
      skills: [{ id: '0C5SG0000004CqA', level: 0, priority: 0, isAdditionalSkill: false, requirementId: '1SRSG0000000001' }],
      replayId: REPLAY,
    });
  });

  it.each([
    ['Transfer', { userId: USER }, { kind: 'rep', userId: USER }],
    ['Conference', { userId: USER }, { kind: 'rep', userId: USER }],
    ['Transfer', { queueId: QUEUE }, { kind: 'queue', queueId: QUEUE }],
    ['Conference', { queueId: QUEUE }, { kind: 'queue', queueId: QUEUE }],
    ['Transfer', { flowId: FLOW, queueId: QUEUE }, { kind: 'flow', flowId: FLOW, fallbackQueueId: QUEUE }],
    ['Conference', { flowId: FLOW, queueId: QUEUE }, { kind: 'flow', flowId: FLOW, fallbackQueueId: QUEUE }],
    ['Transfer', { flowId: FLOW }, { kind: 'flow', flowId: FLOW }],
    ['Transfer', { externalContactId: 'ext-42' }, { kind: 'external', externalId: 'ext-42' }],
    ['Transfer', { externalId: 'ext-43' }, { kind: 'external', externalId: 'ext-43' }],
    ['Initial', {}, { kind: 'channelDefault' }],
    ['Initial', { queueId: QUEUE }, { kind: 'queue', queueId: QUEUE }],
    // Salesforce may send '' rather than null for an unset id.
    ['Transfer', { userId: USER, queueId: '', flowId: '' }, { kind: 'rep', userId: USER }],
  ])('%s with %j → %j', (routingType, params, target) => {
    const v = value(parseRR(routingType, params));
    expect(v.kind).toBe('RoutingRequested');
    if (v.kind !== 'RoutingRequested') return;
    expect(v.routingType).toBe(routingType);
    expect(v.target).toStrictEqual(target);
  });

  it('leaves a flow without any fallback queue for the engine to report', () => {
    const v = value(parseRR('Transfer', { flowId: FLOW }));
    expect(v).toMatchObject({ target: { kind: 'flow', flowId: FLOW } });
    expect((v as { target: Json }).target).not.toHaveProperty('fallbackQueueId');
  });

  it("prefers the event's queueId over options.fallbackQueueId", () => {
    const v = value(parseRR('Transfer', { flowId: FLOW, queueId: QUEUE }, { fallbackQueueId: '00GSG000000Fall' }));
    expect(v).toMatchObject({ target: { kind: 'flow', flowId: FLOW, fallbackQueueId: QUEUE } });
  });

  it('lets options.isExternalTarget win over every other target', () => {
    const seen: Json[] = [];
    const isExternalTarget = (p: Json) => {
      seen.push(p);
      return typeof p['contactRef'] === 'string' ? p['contactRef'] : undefined;
    };
    const external = value(parseRR('Transfer', { userId: USER, contactRef: 'pbx-7' }, { isExternalTarget }));
    expect(external).toMatchObject({ target: { kind: 'external', externalId: 'pbx-7' } });
    expect(seen[0]).toMatchObject({ userId: USER, isScrt2: true });

    const rep = value(parseRR('Transfer', { userId: USER }, { isExternalTarget }));
    expect(rep).toMatchObject({ target: { kind: 'rep', userId: USER } });
  });

  it('refuses the request when isExternalTarget throws, naming it', () => {
    const isExternalTarget = () => {
      throw new Error('boom');
    };
    const v = value(parseRR('Transfer', { userId: USER }, { isExternalTarget })) as RoutingRequestedEvent;
    expect(v.refusal).toContain('payload.routingParameters: isExternalTarget threw: boom');
  });

  it('reads a bot target and refuses it, saying what to do instead', () => {
    const v = value(parseRR('Transfer', { botId: '0Xx000000000BOT' })) as RoutingRequestedEvent;
    expect(v.target).toEqual({ kind: 'bot', botId: '0Xx000000000BOT' });
    expect(v.refusal).toContain('bot');
  });

  it('refuses ids longer than any Salesforce id', () => {
    expect((value(parseRR('Transfer', { userId: 'u'.repeat(256) })) as RoutingRequestedEvent).refusal).toContain('payload.routingParameters.userId: an id of 256 characters');
    expect((value(parseRR('Transfer', { userId: 'u'.repeat(255) })) as RoutingRequestedEvent).refusal).toBeUndefined();
  });

  it('accepts channelData already decoded to an object', () => {
    const v = value(parseRR('Transfer', { userId: USER, channelData: channelData() }));
    expect(v).toMatchObject({ routingEventId: EVENT_ID, routerParticipantSubject: ROUTER });
  });

  it('treats routerParticipantSubject, recipient, workRecordId and skillsList as optional', () => {
    const raw = routingRequested('Transfer', {
      userId: USER,
      channelData: JSON.stringify({ eventId: EVENT_ID }),
      skillsList: null,
    });
    delete raw['recipient'];
    (raw['payload'] as Json)['workRecordId'] = '0MwSB000001Ab3CKAQ';
    const v = value(parsePlatformEvent(event('RoutingRequested', raw)));
    expect(v).toStrictEqual({
      kind: 'RoutingRequested',
      conversationIdentifier: CONV,
      channelAddressIdentifier: CHAN,
      routingType: 'Transfer',
      target: { kind: 'rep', userId: USER },
      routingEventId: EVENT_ID,
      workRecordId: '0MwSB000001Ab3CKAQ',
      replayId: REPLAY,
    });
  });
});

// ---- Interaction ----

describe('parsePlatformEvent: Interaction', () => {
  it('parses a cancelled RoutingResult (reference §5.4)', () => {
    const v = value(
      parsePlatformEvent(
        event(
          'Interaction',
          interaction('RoutingResult', {
            entryType: 'RoutingResult',
            id: 'a1',
            routingType: 'Transfer',
            failureType: 'Cancelled',
            cancelReason: 'Cancel',
            workOwnerId: USER,
            errorMessages: [],
            initiator: AGENT,
            isExternallyRouted: false,
          }),
        ),
      ),
    );
    expect(v).toStrictEqual({
      ...ENTRY_BASE,
      kind: 'RoutingResult',
      routingType: 'Transfer',
      failureType: 'Cancelled',
      cancelReason: 'Cancel',
      workOwnerId: USER,
      errorMessages: [],
      initiator: AGENT,
      isExternallyRouted: false,
    });
  });

  it('parses a successful RoutingResult, defaulting errorMessages to []', () => {
    const v = value(
      parsePlatformEvent(
        event(
          'Interaction',
          interaction('RoutingResult', {
            routingType: 'Initial',
            failureType: 'None',
            recordId: '0MwSB000001Ab3C',
            pendingServiceRoutingId: '0JRSB0000001abc',
            cancelReason: 'EndUserEnded',
          }),
        ),
      ),
    );
    expect(v).toMatchObject({
      kind: 'RoutingResult',
      routingType: 'Initial',
      failureType: 'None',
      recordId: '0MwSB000001Ab3C',
      pendingServiceRoutingId: '0JRSB0000001abc',
      cancelReason: 'EndUserEnded',
      errorMessages: [],
    });
  });

  it('parses ParticipantChanged entries', () => {
    const v = value(
      parsePlatformEvent(
        event(
          'Interaction',
          interaction('ParticipantChanged', {
            entryType: 'ParticipantChanged',
            entries: [
              { operation: 'add', participant: AGENT, displayName: 'John Dow' },
              { operation: 'remove', participant: { appType: 'agent', subject: '005x00000000002', role: 'Agent' } },
            ],
          }),
        ),
      ),
    );
    expect(v).toStrictEqual({
      ...ENTRY_BASE,
      kind: 'ParticipantChanged',
      entries: [
        { operation: 'add', participant: AGENT, displayName: 'John Dow' },
        { operation: 'remove', participant: { appType: 'agent', subject: '005x00000000002', role: 'Agent' } },
      ],
    });
  });

  it('accepts an empty ParticipantChanged entries list', () => {
    const v = value(parsePlatformEvent(event('Interaction', interaction('ParticipantChanged', { entries: [] }))));
    expect(v).toMatchObject({ kind: 'ParticipantChanged', entries: [] });
  });

  it('parses SessionStatusChanged', () => {
    const v = value(
      parsePlatformEvent(
        event(
          'Interaction',
          interaction('SessionStatusChanged', {
            sessionId: '0MwSB000001Ab3C',
            channelAddressIdentifier: CHAN,
            conversationIdentifier: CONV,
            sessionStatus: 'Ended',
            sessionStatusPrev: 'Active',
            sessionEndedByRole: 'EndUser',
            sessionStartTime: 1690344400000,
            sessionEndTime: 1690344475508,
          }),
        ),
      ),
    );
    expect(v).toStrictEqual({
      ...ENTRY_BASE,
      kind: 'SessionStatusChanged',
      sessionId: '0MwSB000001Ab3C',
      sessionStatus: 'Ended',
      sessionStatusPrev: 'Active',
      sessionEndedByRole: 'EndUser',
    });
  });

  it('parses RoutingWorkResult', () => {
    const v = value(
      parsePlatformEvent(
        event(
          'Interaction',
          interaction('RoutingWorkResult', {
            workId: '0BzSB000002jTO5',
            workTargetId: USER,
            workType: 'Declined',
            errorMessages: [],
            routingType: 'Transfer',
          }),
        ),
      ),
    );
    expect(v).toStrictEqual({
      ...ENTRY_BASE,
      kind: 'RoutingWorkResult',
      workId: '0BzSB000002jTO5',
      workTargetId: USER,
      workType: 'Declined',
      routingType: 'Transfer',
    });
  });

  const TEXT_MESSAGE = {
    entryType: 'Message',
    id: 'm1',
    abstractMessage: {
      id: 'm1',
      messageType: 'StaticContentMessage',
      staticContent: { formatType: 'Text', text: 'Hello, how can I help?' },
    },
  };

  it('parses a Message with the recipient to deliver to', () => {
    const v = value(parsePlatformEvent(event('Interaction', interaction('Message', TEXT_MESSAGE))));
    expect(v).toStrictEqual({
      ...ENTRY_BASE,
      kind: 'Message',
      entryType: 'Message',
      entryPayload: TEXT_MESSAGE,
      recipientSubject: END_USER,
    });
  });

  it('accepts entryPayload arriving as a JSON string', () => {
    const v = value(parsePlatformEvent(event('Interaction', interaction('Message', JSON.stringify(TEXT_MESSAGE)))));
    expect(v).toMatchObject({ kind: 'Message', entryPayload: TEXT_MESSAGE });
  });

  it('parses MessageUpdated', () => {
    const body = {
      updatedMessage: {
        id: 'm2',
        messageType: 'StaticContentMessage',
        staticContent: {
          formatType: 'Attachments',
          attachments: [{ id: 'a', name: 'x.png', mimeType: 'image/png', url: 'https://x', attachmentUploadResult: { resultType: 'CompletedAttachmentUploadResult' } }],
        },
      },
    };
    const v = value(parsePlatformEvent(event('Interaction', interaction('MessageUpdated', body))));
    expect(v).toMatchObject({ kind: 'MessageUpdated', entryType: 'MessageUpdated', entryPayload: body, recipientSubject: END_USER });
  });

  it.each([
    ['TypingStartedIndicator', { timestamp: 1690344475508 }],
    ['QueuePosition', { pendingServiceRoutingId: '0JRSB0000001abc', workItemId: '0MwSB000001Ab3C', position: 3 }],
    ['TransferProgress', undefined],
    ['constructor', {}],
    ['__proto__', {}],
  ])('passes %s through as an OtherEntry', (entryType, body) => {
    const v = value(parsePlatformEvent(event('Interaction', interaction(entryType, body))));
    expect(v).toStrictEqual({ ...ENTRY_BASE, kind: 'OtherEntry', entryType, entryPayload: body ?? {} });
  });

  it('drops an incomplete sender and reads a numeric-string timestamp', () => {
    const v = value(
      parsePlatformEvent(
        event('Interaction', interaction('TypingStoppedIndicator', {}, { sender: { appType: 'agent', subject: USER }, transcriptedTimestamp: '1690344475508' })),
      ),
    );
    expect(v).not.toHaveProperty('sender');
    expect(v).toMatchObject({ transcriptedTimestamp: 1690344475508 });
  });

  it('drops a non-numeric timestamp', () => {
    const v = value(parsePlatformEvent(event('Interaction', interaction('Message', TEXT_MESSAGE, { transcriptedTimestamp: 'yesterday' }))));
    expect(v).not.toHaveProperty('transcriptedTimestamp');
  });
});

// ---- malformed input ----

function mutate(base: Json, edit: (j: Json) => void): Json {
  const copy = structuredClone(base);
  edit(copy);
  return copy;
}
const rrTransfer = routingRequested('Transfer', { userId: USER });
const rrParams = (j: Json) => (j['payload'] as Json)['routingParameters'] as Json;
const participantChanged = interaction('ParticipantChanged', {
  entries: [
    { operation: 'add', participant: AGENT },
    { operation: 'join', participant: AGENT },
  ],
});

interface BadCase {
  name: string;
  event: PlatformEvent;
  field: string;
  options?: ParseOptions;
  says?: string | RegExp;
}

const BAD: BadCase[] = [
  { name: 'bad JSON', event: event('Interaction', '{"conversationIdentifier": '), field: 'payload', says: /invalid JSON/ },
  { name: 'unknown type', event: event('Routing', rrTransfer), field: 'type', says: 'expected one of Interaction|RoutingRequested, got "Routing"' },
  { name: 'missing type', event: { payload: '{}', replayId: REPLAY } as unknown as PlatformEvent, field: 'type' },
  {
    name: 'missing conversationIdentifier (Interaction)',
    event: event('Interaction', mutate(interaction('Message', {}), (j) => delete j['conversationIdentifier'])),
    field: 'conversationIdentifier',
    says: 'expected a non-empty string, got nothing',
  },
  {
    name: 'missing conversationIdentifier (RoutingRequested)',
    event: event('RoutingRequested', mutate(rrTransfer, (j) => delete (j['payload'] as Json)['conversationIdentifier'])),
    field: 'payload.conversationIdentifier',
  },
  {
    name: 'missing channelAddressIdentifier',
    event: event('Interaction', mutate(interaction('Message', {}), (j) => (j['channelAddressIdentifier'] = ''))),
    field: 'channelAddressIdentifier',
  },
  {
    name: 'missing entry identifier',
    event: event('Interaction', interaction('Message', {}, { identifier: null })),
    field: 'payload.identifier',
  },
  { name: 'missing entryType', event: event('Interaction', interaction('Message', {}, { entryType: 7 })), field: 'payload.entryType', says: 'got 7' },
  { name: 'bad participant operation', event: event('Interaction', participantChanged), field: 'payload.entryPayload.entries[1].operation', says: 'got "join"' },
  {
    name: 'participant missing role',
    event: event('Interaction', interaction('ParticipantChanged', { entries: [{ operation: 'add', participant: { appType: 'agent', subject: USER } }] })),
    field: 'payload.entryPayload.entries[0].participant.role',
  },
  {
    name: 'ParticipantChanged without entries',
    event: event('Interaction', interaction('ParticipantChanged', {})),
    field: 'payload.entryPayload.entries',
  },
  {
    name: 'RoutingResult bad failureType',
    event: event('Interaction', interaction('RoutingResult', { routingType: 'Transfer', failureType: 'Timeout' })),
    field: 'payload.entryPayload.failureType',
  },
  {
    name: 'RoutingResult errorMessages holding a number',
    event: event('Interaction', interaction('RoutingResult', { routingType: 'Transfer', failureType: 'RoutingError', errorMessages: ['no agents', 503] })),
    field: 'payload.entryPayload.errorMessages[1]',
  },
  {
    name: 'RoutingResult isExternallyRouted as a string',
    event: event('Interaction', interaction('RoutingResult', { routingType: 'Transfer', failureType: 'None', isExternallyRouted: 'yes' })),
    field: 'payload.entryPayload.isExternallyRouted',
  },
  {
    name: 'SessionStatusChanged bad status',
    event: event('Interaction', interaction('SessionStatusChanged', { sessionId: 'x', sessionStatus: 'Closed' })),
    field: 'payload.entryPayload.sessionStatus',
  },
  {
    name: 'RoutingWorkResult without workId',
    event: event('Interaction', interaction('RoutingWorkResult', { workType: 'Accepted' })),
    field: 'payload.entryPayload.workId',
  },
  {
    name: 'entryPayload string that is not JSON',
    event: event('Interaction', interaction('Message', '{oops')),
    field: 'payload.entryPayload',
    says: /invalid JSON/,
  },
  {
    name: 'oversized string',
    event: event('Interaction', mutate(interaction('Message', {}), (j) => (j['conversationIdentifier'] = 'c'.repeat(4097)))),
    field: 'conversationIdentifier',
    says: 'longer than 4096 characters (got 4097)',
  },
  {
    name: 'oversized string under a custom limit',
    event: event('Interaction', interaction('ParticipantChanged', { entries: [{ operation: 'add', participant: { ...AGENT, subject: 'x'.repeat(65) } }] })),
    options: { maxStringLength: 64 },
    field: 'payload.entryPayload.entries[0].participant.subject',
    says: 'longer than 64 characters',
  },
  {
    name: 'oversized payload (default limit)',
    event: event('Interaction', interaction('Message', { text: 'x'.repeat(1_048_576) })),
    field: 'payload',
    says: 'larger than 1048576 bytes',
  },
  {
    // 600 characters, 1200 UTF-8 bytes: the limit is in bytes.
    name: 'oversized payload in bytes, not characters',
    event: event('Interaction', interaction('Message', { text: 'é'.repeat(600) })),
    options: { maxPayloadBytes: 1000 },
    field: 'payload',
  },
  { name: 'non-object payload (number)', event: event('Interaction', '42'), field: 'payload', says: 'expected a JSON object, got 42' },
  { name: 'non-object payload (string)', event: event('RoutingRequested', JSON.stringify('hello')), field: 'payload' },
  { name: 'null payload (JSON null)', event: event('Interaction', 'null'), field: 'payload', says: 'got null' },
  { name: 'null payload (not a string)', event: { type: 'Interaction', payload: null, replayId: REPLAY } as unknown as PlatformEvent, field: 'payload' },
  { name: 'empty payload string', event: event('Interaction', ''), field: 'payload' },
  { name: 'array payload', event: event('RoutingRequested', '[]'), field: 'payload', says: 'got an array' },
  {
    name: 'inner payload null',
    event: event('Interaction', mutate(interaction('Message', {}), (j) => (j['payload'] = null))),
    field: 'payload',
  },
  {
    name: 'inner payload an array',
    event: event('RoutingRequested', mutate(rrTransfer, (j) => (j['payload'] = [rrTransfer['payload']]))),
    field: 'payload',
    says: 'expected an object, got an array',
  },
  { name: 'entryPayload an array', event: event('Interaction', interaction('Message', [TEXT()])), field: 'payload.entryPayload' },
  {
    name: 'entries item an array',
    event: event('Interaction', interaction('ParticipantChanged', { entries: [[AGENT]] })),
    field: 'payload.entryPayload.entries[0]',
  },
  {
    name: 'participant an array',
    event: event('Interaction', interaction('ParticipantChanged', { entries: [{ operation: 'add', participant: [AGENT] }] })),
    field: 'payload.entryPayload.entries[0].participant',
  },
  {
    name: 'entries an object',
    event: event('Interaction', interaction('ParticipantChanged', { entries: { operation: 'add', participant: AGENT } })),
    field: 'payload.entryPayload.entries',
  },
];

/** RoutingRequested events whose conversation is known but which cannot be routed: parsed, with a refusal naming the field. */
const REFUSED: BadCase[] = [
  {
    name: 'unknown routingType',
    event: event('RoutingRequested', mutate(rrTransfer, (j) => ((j['payload'] as Json)['routingType'] = 'Conferance'))),
    field: 'payload.routingType',
    says: 'payload.routingType: expected one of Initial|Transfer|Conference, got "Conferance"',
  },
  {
    name: 'no target on Transfer',
    event: event('RoutingRequested', routingRequested('Transfer')),
    field: 'payload.routingParameters',
    says: 'no target: expected one of userId, queueId, flowId',
  },
  { name: 'no target on Conference', event: event('RoutingRequested', routingRequested('Conference')), field: 'payload.routingParameters' },
  {
    name: 'two targets (user + queue)',
    event: event('RoutingRequested', routingRequested('Transfer', { userId: USER, queueId: QUEUE })),
    field: 'payload.routingParameters',
    says: 'got userId and queueId',
  },
  {
    name: 'two targets (user + flow)',
    event: event('RoutingRequested', routingRequested('Transfer', { userId: USER, flowId: FLOW })),
    field: 'payload.routingParameters',
  },
  {
    name: 'three targets',
    event: event('RoutingRequested', routingRequested('Conference', { userId: USER, flowId: FLOW, queueId: QUEUE })),
    field: 'payload.routingParameters',
  },
  {
    name: 'two targets (queue + external)',
    event: event('RoutingRequested', routingRequested('Transfer', { queueId: QUEUE, externalContactId: 'ext-1' })),
    field: 'payload.routingParameters',
  },
  {
    name: 'target id of the wrong type',
    event: event('RoutingRequested', routingRequested('Transfer', { userId: 5 })),
    field: 'payload.routingParameters.userId',
  },
  {
    name: 'routingParameters an array',
    event: event('RoutingRequested', mutate(rrTransfer, (j) => ((j['payload'] as Json)['routingParameters'] = [rrParams(rrTransfer)]))),
    field: 'payload.routingParameters',
  },
  {
    name: 'recipient an array',
    event: event('RoutingRequested', mutate(rrTransfer, (j) => (j['recipient'] = [END_USER]))),
    field: 'recipient',
  },
];

/** RoutingRequested events without a usable channelData.eventId: routed under a key derived from the platform event. */
const DERIVED: BadCase[] = [
  {
    name: 'missing eventId',
    event: event('RoutingRequested', routingRequested('Transfer', { userId: USER, channelData: JSON.stringify({ routerParticipantSubject: ROUTER }) })),
    field: 'payload.routingParameters.channelData.eventId',
  },
  {
    name: 'missing channelData',
    event: event('RoutingRequested', routingRequested('Transfer', { userId: USER, channelData: null })),
    field: 'payload.routingParameters.channelData',
  },
  {
    name: 'channelData not JSON',
    event: event('RoutingRequested', routingRequested('Transfer', { userId: USER, channelData: 'eventId=abc' })),
    field: 'payload.routingParameters.channelData',
    says: /invalid JSON/,
  },
  {
    name: 'channelData JSON but not an object',
    event: event('RoutingRequested', routingRequested('Transfer', { userId: USER, channelData: '["x"]' })),
    field: 'payload.routingParameters.channelData',
  },
];

function TEXT(): Json {
  return { formatType: 'Text', text: 'hi' };
}

describe('parsePlatformEvent: malformed input', () => {
  it.each(BAD.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    let result: ParseResult<unknown> | undefined;
    expect(() => {
      result = parsePlatformEvent(c.event, c.options);
    }).not.toThrow();
    const e = error(result!);
    expect(e.field).toBe(c.field);
    expect(e.replayId).toBe(REPLAY);
    expect(e.message.startsWith(`${c.field}: `)).toBe(true);
    if (typeof c.says === 'string') expect(e.message).toContain(c.says);
    else if (c.says) expect(e.message).toMatch(c.says);
    expect(e.message.length).toBeLessThan(200);
  });

  it.each(REFUSED.map((c) => [c.name, c] as const))('%s: refused, not dropped', (_name, c) => {
    const v = value(parsePlatformEvent(c.event, c.options)) as RoutingRequestedEvent;
    expect(v.kind).toBe('RoutingRequested');
    expect(v.conversationIdentifier).toBeTruthy();
    expect(v.refusal).toContain(`${c.field}: `);
    if (typeof c.says === 'string') expect(v.refusal).toContain(c.says);
    else if (c.says) expect(v.refusal).toMatch(c.says);
  });

  it.each(DERIVED.map((c) => [c.name, c] as const))('%s: routed under a key derived from the platform event', (_name, c) => {
    const v = value(parsePlatformEvent({ ...c.event, eventId: 'evt-9' }, c.options)) as RoutingRequestedEvent;
    expect(v.refusal).toBeUndefined();
    expect(v).toMatchObject({ routingEventId: 'event-evt-9', routingEventIdDerived: true, target: { kind: 'rep' } });
    const byReplay = value(parsePlatformEvent({ ...c.event, eventId: undefined }, c.options)) as RoutingRequestedEvent;
    expect(byReplay.routingEventId).toBe(`replay-${REPLAY}`);
    const byPayload = value(parsePlatformEvent({ ...c.event, eventId: undefined, replayId: undefined }, c.options)) as RoutingRequestedEvent;
    expect(byPayload.routingEventId).toMatch(/^payload-[0-9a-f]{32}$/);
    expect((value(parsePlatformEvent({ ...c.event, eventId: undefined, replayId: undefined }, c.options)) as RoutingRequestedEvent).routingEventId).toBe(byPayload.routingEventId);
  });

  it('never echoes more than ~80 characters of a bad value', () => {
    const long = 'Q'.repeat(10_000);
    const cases = [
      event('RoutingRequested', mutate(rrTransfer, (j) => ((j['payload'] as Json)['routingType'] = long))),
      event(long, rrTransfer),
      event('Interaction', `{"conversationIdentifier": "${long}" oops}`),
      event('Interaction', `{"a": ${long}}`),
      event('Interaction', JSON.stringify(long)),
    ];
    for (const ev of cases) {
      const r = parsePlatformEvent(ev);
      const message = r.ok ? (r.value as RoutingRequestedEvent).refusal! : r.error.message;
      expect(message).toBeTruthy();
      expect(message).not.toContain('Q'.repeat(81));
    }
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a number', 42],
    ['a string', 'RoutingRequested'],
  ])('does not throw when the event itself is %s', (_label, ev) => {
    const e = error(parsePlatformEvent(ev as unknown as PlatformEvent));
    expect(e.field).toBe('type');
    expect(e.replayId).toBeUndefined();
  });

  it('does not throw on randomly damaged payloads', () => {
    // Deterministic PRNG so a failure reproduces.
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const junk: unknown[] = [null, 0, -1, true, '', 'x', [], {}, [null], { a: 1 }, '{', 'null', '[]', 1e308];
    const samples: [string, Json][] = [
      ['RoutingRequested', routingRequested('Transfer', { flowId: FLOW, queueId: QUEUE })],
      ['Interaction', participantChanged],
      ['Interaction', interaction('RoutingResult', { routingType: 'Transfer', failureType: 'None', initiator: AGENT })],
      ['Interaction', interaction('SessionStatusChanged', { sessionId: 's', sessionStatus: 'Active' })],
    ];
    const damage = (node: unknown): unknown => {
      if (rand(4) === 0) return junk[rand(junk.length)];
      if (Array.isArray(node)) return node.map(damage);
      if (node && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, damage(v)]));
      return node;
    };
    for (let i = 0; i < 500; i++) {
      const [type, payload] = samples[i % samples.length]!;
      const ev = event(type, damage(payload));
      let result: ParseResult<unknown> | undefined;
      expect(() => (result = parsePlatformEvent(ev, { isExternalTarget: () => undefined }))).not.toThrow();
      if (result && !result.ok) expect(result.error.replayId).toBe(REPLAY);
    }
  });
});

// ---- replayId ----

describe('replayId', () => {
  it('is carried on success, for both event types', () => {
    expect(value(parseRR('Transfer', { userId: USER })).replayId).toBe(REPLAY);
    expect(value(parsePlatformEvent(event('Interaction', interaction('Message', {})))).replayId).toBe(REPLAY);
  });

  it('is carried on errors, from the type check down to nested fields', () => {
    expect(error(parsePlatformEvent(event('Nope', {}, 'ffee'))).replayId).toBe('ffee');
    expect(error(parsePlatformEvent(event('Interaction', '{', 'ffee'))).replayId).toBe('ffee');
    expect(error(parsePlatformEvent(event('Interaction', participantChanged, 'ffee'))).replayId).toBe('ffee');
  });

  it('is left out when the event has none', () => {
    const v = value(parsePlatformEvent(event('Interaction', interaction('Message', {}), null)));
    expect(v).not.toHaveProperty('replayId');
    expect(error(parsePlatformEvent(event('Interaction', '{', null))).replayId).toBeUndefined();
  });
});

// ---- parseAgentWorkEvent ----

describe('parseAgentWorkEvent', () => {
  it.each(['0MwSB000001Ab3C', '0MwSB000001Ab3CKAQ'])('parses a relay message, keeping workItemId %s as given', (workItemId) => {
    const v = value(parseAgentWorkEvent({ workId: '0BzSB000002jTO5', workItemId, workEvent: 'ACCEPTED' }));
    expect(v).toStrictEqual({ workId: '0BzSB000002jTO5', workItemId, workEvent: 'ACCEPTED' });
  });

  it.each([
    ['not an object', 'ACCEPTED', 'agentWork'],
    ['null', null, 'agentWork'],
    ['an array', [{ workId: 'w' }], 'agentWork'],
    ['missing workId', { workItemId: '0MwSB000001Ab3C', workEvent: 'DECLINED' }, 'workId'],
    ['short workItemId', { workId: 'w', workItemId: '0MwSB000001Ab', workEvent: 'DECLINED' }, 'workItemId'],
    ['workItemId with a dash', { workId: 'w', workItemId: '0MwSB000001Ab3-', workEvent: 'DECLINED' }, 'workItemId'],
    ['lower-case workEvent', { workId: 'w', workItemId: '0MwSB000001Ab3C', workEvent: 'accepted' }, 'workEvent'],
    ['unknown workEvent', { workId: 'w', workItemId: '0MwSB000001Ab3C', workEvent: 'MISSED' }, 'workEvent'],
  ])('rejects %s', (_label, input, field) => {
    let result: ParseResult<unknown> | undefined;
    expect(() => (result = parseAgentWorkEvent(input))).not.toThrow();
    expect(error(result!).field).toBe(field);
  });

  it('names the allowed workEvent values', () => {
    const e = error(parseAgentWorkEvent({ workId: 'w', workItemId: '0MwSB000001Ab3C', workEvent: 'MISSED' }));
    expect(e.message).toBe('workEvent: expected one of ASSIGNED|ACCEPTED|DECLINED|COMPLETED|CLOSED|PAUSED|UNPAUSED, got "MISSED"');
  });
});
