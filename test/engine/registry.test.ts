// The session registry alone: sessions started, put to sleep, woken, expired and bounded, without
// the rest of the engine. Routing children are a stand-in machine that never finishes.
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { setup } from 'xstate';
import { Directory } from '../../src/directory.js';
import { AppEvents } from '../../src/engine/app-events.js';
import { SessionRegistry } from '../../src/engine/registry.js';
import { sessionMachine, type RoutingSettings } from '../../src/machines/session.js';
import { routingRequested } from '../../src/sandbox/payloads.js';
import { parsePlatformEvent } from '../../src/domain/parse.js';
import type { RoutingRequestedEvent } from '../../src/domain/events.js';
import { newConversation, REPS } from '../support/harness.js';

const settings: RoutingSettings = { routingWindowMs: 60_000, reportReserveMs: 5_000, offerTimeoutMs: 20_000, maxOffers: 3, repickIntervalMs: 2_000, answerGraceMs: 5_000, initialRoutingTimeoutMs: 120_000, participantCap: 4 };
const pendingForever = setup({}).createMachine({ initial: 'waiting', states: { waiting: {} } });
const machine = sessionMachine.provide({ actors: { routing: pendingForever as never } });

function registry(limits: Partial<{ hibernateAfterMs: number | false; maxSessions: number; idleExpiryMs: number | false }> = {}) {
  const log = pino({ level: 'silent' });
  const events = new AppEvents(log);
  const directory = new Directory({ reps: REPS.map((userId) => ({ userId, name: userId })) });
  const r = new SessionRegistry({ machine, settings, limits: { hibernateAfterMs: 10_000, maxSessions: 100, idleExpiryMs: false, ...limits }, directory, events, log });
  return { r, events, directory };
}

function join(r: SessionRegistry, conv: string, userId: string) {
  r.sessionFor(conv).send({ type: 'PARTICIPANT_CHANGED', entry: { kind: 'ParticipantChanged', conversationIdentifier: conv, channelAddressIdentifier: 'c', entryId: `${conv}:${userId}`, entries: [{ operation: 'add', participant: { appType: 'agent', subject: userId, role: 'Agent' } }] } });
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('SessionRegistry', () => {
  it('puts idle sessions to sleep and wakes them with what they knew', async () => {
    const { r } = registry({ hibernateAfterMs: false }); // no sweep: hibernate() by hand
    const conv = newConversation().conversationIdentifier;
    join(r, conv, REPS[0]);
    expect(r.isLive(conv)).toBe(true);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(r.hibernate(10_000).slept).toBe(1);
    expect(r.isLive(conv)).toBe(false);
    expect(r.holds(conv)).toBe(true);
    expect(r.asleep).toBe(1);
    // Read without waking…
    expect(Object.keys(r.peek(conv)!.context.reps)).toEqual([REPS[0]]);
    expect(r.wakes).toBe(0);
    // …and woken by use, with its reps.
    const actor = r.live(conv)!;
    expect(r.wakes).toBe(1);
    expect(Object.keys(actor.getSnapshot().context.reps)).toEqual([REPS[0]]);
  });

  it('never puts a session with a routing request pending to sleep', async () => {
    const { r } = registry();
    const conv = newConversation();
    const parsed = parsePlatformEvent(routingRequested(conv, 'Transfer', { userId: REPS[1] }));
    if (!parsed.ok) throw parsed.error;
    r.sessionFor(conv.conversationIdentifier).send({ type: 'ROUTING_REQUESTED', request: parsed.value as RoutingRequestedEvent, receivedAt: Date.now() });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(r.hibernate(0).slept).toBe(0);
    expect(r.pendingRoutings()).toBe(1);
  });

  it('expires sessions idle past idleExpiryMs, releasing their reps, from its own sweep', async () => {
    const { r, events, directory } = registry({ idleExpiryMs: 60_000 });
    const ended: string[] = [];
    events.on('session.ended', (e) => ended.push(`${e.conversationIdentifier}:${e.reason}`));
    const conv = newConversation().conversationIdentifier;
    join(r, conv, REPS[2]);
    expect(directory.contacts({ listType: 'All', present: [] }).length).toBeGreaterThan(0);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(ended).toEqual([`${conv}:idle expiry`]);
    expect(r.holds(conv)).toBe(false);
    expect(r.expired).toBe(1);
  });

  it('says when it is full, and finds sessions by 15- or 18-character MessagingSession id', () => {
    const { r } = registry({ maxSessions: 2 });
    const a = r.sessionFor('conv-a', { workItemId: '0Mw000000000123AAA' });
    r.indexWorkItem(a, 'conv-a');
    expect(r.isFull()).toBe(false);
    r.sessionFor('conv-b');
    expect(r.isFull()).toBe(true);
    expect(r.conversationOfWorkItem('0Mw000000000123')).toBe('conv-a');
    expect(r.conversationOfWorkItem('0Mw000000000123AAA')).toBe('conv-a');
  });

  it('close() stops every actor and forgets everything', () => {
    const { r } = registry();
    const actor = r.sessionFor('conv-x');
    r.close();
    expect(actor.getSnapshot().status).toBe('stopped');
    expect(r.size).toBe(0);
  });
});
