// A switchboard wired to the recording Interaction Service and a small directory, with helpers
// to play the Salesforce side. Time is vitest's fake clock, so 60-second paths run in milliseconds.
import { pino } from 'pino';
import { vi } from 'vitest';
import { createSwitchboard, type SwitchboardOptions } from '../../src/switchboard.js';
import { createRecordingInteractionService, type Endpoint } from '../../src/io/recording-interaction-service.js';
import { newConversation as newConversationFromTesting, type ConversationRef } from '../../src/testing.js';
import type { DirectoryEntries } from '../../src/directory.js';

export const QUEUE = '00G000000000Q01';
export const FALLBACK_QUEUE = '00G000000000F01';
export const FLOW = '300000000000FL1';
export const REPS = ['005000000000A01', '005000000000A02', '005000000000A03', '005000000000A04', '005000000000A05'] as const;

export const directoryEntries: DirectoryEntries = {
  reps: REPS.map((userId, i) => ({ userId, name: `Rep ${i + 1}`, queueIds: [QUEUE, FALLBACK_QUEUE] })),
  queues: [{ queueId: QUEUE, name: 'Billing' }],
  flows: [{ flowId: FLOW, name: 'Triage flow' }],
  externals: [{ id: 'EXT-1', name: 'Partner desk', phoneNumber: '+15550100' }],
};

/** A fresh conversation: the exported testing builder, so every suite that uses the harness keeps it tested. */
export function newConversation(): ConversationRef {
  return newConversationFromTesting();
}

export function harness(overrides: Partial<SwitchboardOptions> = {}) {
  const api = createRecordingInteractionService();
  const sb = createSwitchboard({
    interactions: api,
    directory: directoryEntries,
    logger: pino({ level: 'silent' }),
    routing: { fallbackQueueId: FALLBACK_QUEUE, ...overrides.routing },
    ...overrides,
  });
  /** Let promise chains (effects, their onDone) run; fake timers do not move. */
  const flush = async () => {
    for (let i = 0; i < 20; i++) await vi.advanceTimersByTimeAsync(0);
    await sb.settled();
    for (let i = 0; i < 5; i++) await vi.advanceTimersByTimeAsync(0);
  };
  const endpoints = () => api.calls.map((c) => c.endpoint);
  const bodies = (e: Endpoint) => api.callsTo(e).map((c) => c.body);
  return { api, sb, flush, endpoints, bodies };
}
