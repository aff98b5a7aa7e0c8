// Sleeping sessions (hibernateAfterMs): an idle session's actor is stopped and its persisted
// snapshot kept; its next event re-creates the actor from it. Whatever a session does must not
// depend on whether it slept in between.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { ConfigError } from '../src/domain/errors.js';
import { createMemorySessionStore } from '../src/io/store/index.js';
import { createRecordingInteractionService } from '../src/io/recording-interaction-service.js';
import { participantChanged, routingRequested, routingResult, sessionStatusChanged } from '../src/sandbox/payloads.js';
import { createSwitchboard } from '../src/switchboard.js';
import { directoryEntries, FALLBACK_QUEUE, harness, newConversation, REPS } from './support/harness.js';

const SESSION_ID = '0Mw000000000777AAA';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

/** A session with one rep present, then left alone. */
function idleSession(h: ReturnType<typeof harness>, sessionId = SESSION_ID) {
  const conv = newConversation();
  h.sb.ingest(sessionStatusChanged(conv, sessionId, 'Active', 'Waiting'));
  h.sb.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[0], displayName: 'Ava' }]));
  return conv;
}

describe('sleeping sessions', () => {
  it('an idle session falls asleep after hibernateAfterMs, keeps what it knew, and its next event wakes it', async () => {
    const h = harness({ hibernateAfterMs: 10_000 });
    const conv = idleSession(h);
    const before = h.sb.session(conv.conversationIdentifier)!;
    await vi.advanceTimersByTimeAsync(9_000);
    expect(h.sb.stats().hibernated).toBe(0);
    await vi.advanceTimersByTimeAsync(12_000);
    expect(h.sb.stats()).toMatchObject({ sessions: 1, hibernated: 1, wakes: 0 });
    // Views and contacts are answered from the snapshot, without waking it.
    expect(h.sb.session(conv.conversationIdentifier)).toEqual(before);
    expect(h.sb.getContacts(conv.conversationIdentifier, 'Conference').map((c) => c.id)).not.toContain(REPS[0]);
    expect(h.sb.stats()).toMatchObject({ hibernated: 1, wakes: 0 });

    const joined: string[] = [];
    h.sb.on('participant.joined', (e) => joined.push(e.userId));
    h.sb.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[1], displayName: 'Ben' }]));
    expect(joined).toEqual([REPS[1]]);
    expect(h.sb.stats()).toMatchObject({ sessions: 1, hibernated: 0, wakes: 1 });
    expect(h.sb.session(conv.conversationIdentifier)!.reps.map((r) => r.userId)).toEqual([REPS[0], REPS[1]]);
    expect(h.sb.session(conv.conversationIdentifier)!.workItemId).toBe(SESSION_ID.slice(0, 15));
  });

  it('a session whose routing only waits for the rep\'s answer sleeps too; the answer wakes it and it routes on', async () => {
    const h = harness({ hibernateAfterMs: 5_000, routing: { offerTimeoutMs: 60_000 } });
    const conv = idleSession(h);
    h.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
    await h.flush();
    await vi.advanceTimersByTimeAsync(12_000);
    expect(h.sb.stats()).toMatchObject({ hibernated: 1, pendingRoutings: 1, wakes: 0 });
    // Asleep, it still shows the offer (read from its snapshot).
    const [work] = h.sb.session(conv.conversationIdentifier)!.pendingRoutings;
    expect(work!.workId).toBeDefined();
    h.sb.agentWork({ workId: work!.workId, workItemId: SESSION_ID, workEvent: 'ACCEPTED' });
    await h.flush();
    expect(h.sb.stats()).toMatchObject({ hibernated: 0, pendingRoutings: 0, wakes: 1 });
    await vi.advanceTimersByTimeAsync(12_000);
    expect(h.sb.stats()).toMatchObject({ hibernated: 1, pendingRoutings: 0 });
    // Salesforce's RoutingResult of the success tells the session nothing new: it stays asleep.
    expect(h.sb.ingest(routingResult(conv, 'Conference', 'None', { workOwnerId: REPS[1] }))).toMatchObject({ ok: true, kind: 'RoutingResult' });
    expect(h.sb.stats()).toMatchObject({ hibernated: 1, wakes: 1 });
    // The accepted rep holds a seat while their ParticipantChanged is on its way, asleep or not.
    expect(h.sb.session(conv.conversationIdentifier)!.seatsTaken).toBe(2);
  });

  it('a waiting routing asleep is woken by its own timer: the unanswered offer is cancelled when it is due, not later', async () => {
    const h = harness({ hibernateAfterMs: 5_000, routing: { offerTimeoutMs: 20_000, maxOffers: 1 } });
    const conv = idleSession(h);
    h.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
    await h.flush();
    const offeredAt = Date.now();
    await vi.advanceTimersByTimeAsync(12_000);
    expect(h.sb.stats()).toMatchObject({ hibernated: 1, pendingRoutings: 1 });
    expect(h.api.callsTo('PATCH /agentWork')).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(offeredAt + 20_000 - Date.now() + 50);
    const [cancel] = h.api.callsTo('PATCH /agentWork');
    expect(cancel?.body).toMatchObject({ status: 'Cancel' });
    expect(cancel!.at - offeredAt).toBeLessThan(20_000 + 100);
    expect(h.sb.stats()).toMatchObject({ wakes: 1, pendingRoutings: 0 });
  });

  it('a session with a call in flight stays awake, whatever hibernateAfterMs says', async () => {
    const h = harness({ hibernateAfterMs: 5_000 });
    h.api.respond('POST /agentWork', () => new Promise(() => undefined));
    const conv = idleSession(h);
    h.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
    await vi.advanceTimersByTimeAsync(100);
    expect(h.api.callsTo('POST /agentWork')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(12_000);
    expect(h.sb.stats()).toMatchObject({ hibernated: 0, pendingRoutings: 1 });
    expect(h.sb.hibernate({ idleForMs: 0 })).toBe(0);
  });

  it('a RoutingRequested wakes a sleeping session and routes with what it knew (cap, reps present)', async () => {
    const h = harness({ hibernateAfterMs: 1_000, routing: { maxParticipantsOverride: 2, fallbackQueueId: FALLBACK_QUEUE } });
    const conv = idleSession(h);
    h.sb.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[1] }]));
    expect(h.sb.hibernate({ idleForMs: 0 })).toBe(1);
    h.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[2] }));
    await h.flush();
    // Two reps present and a cap of 2: rejected at once, and reported as a failure.
    const [report] = h.bodies('POST /routingResult') as Array<{ success: boolean; errorMessage: string; workItemId: string }>;
    expect(report).toMatchObject({ success: false, workItemId: SESSION_ID.slice(0, 15) });
    expect(report!.errorMessage).toMatch(/participant cap reached \(2 of 2\)/);
    expect(h.api.callsTo('POST /agentWork')).toHaveLength(0);

    h.sb.ingest(participantChanged(conv, [{ operation: 'remove', userId: REPS[1] }]));
    h.sb.hibernate({ idleForMs: 0 });
    expect(h.sb.stats().hibernated).toBe(1);
    h.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[2] }));
    await h.flush();
    const [offer] = h.bodies('POST /agentWork') as Array<{ userId: string; workItemId: string }>;
    expect(offer).toMatchObject({ userId: REPS[2], workItemId: SESSION_ID.slice(0, 15) });
    expect(h.sb.stats().wakes).toBe(2);
  });

  it('agent work and a RoutingResult for a sleeping session reach it', async () => {
    const h = harness({ hibernateAfterMs: 1_000 });
    const conv = idleSession(h);
    h.sb.hibernate({ idleForMs: 0 });
    // Nothing is pending: the agent work is held for an offer, the RoutingResult has nobody to cancel.
    expect(h.sb.agentWork({ workId: '0Bz000000000123', workItemId: SESSION_ID, workEvent: 'ACCEPTED' })).toMatchObject({ ok: true, conversationIdentifier: conv.conversationIdentifier });
    h.sb.hibernate({ idleForMs: 0 });
    const ignored: string[] = [];
    h.sb.on('routing.ignored', (e) => ignored.push(e.reason));
    h.sb.ingest(routingResult(conv, 'Conference', 'Cancelled', { cancelReason: 'Cancel' }));
    expect(ignored).toHaveLength(1);
    expect(h.sb.stats()).toMatchObject({ wakes: 2, unroutable: 0 });
  });

  it('a sleeping session ends on SessionStatusChanged Ended and is dropped', async () => {
    const h = harness({ hibernateAfterMs: 1_000 });
    const conv = idleSession(h);
    h.sb.hibernate({ idleForMs: 0 });
    const ended: string[] = [];
    const left: string[] = [];
    h.sb.on('session.ended', (e) => ended.push(e.conversationIdentifier));
    h.sb.on('participant.left', (e) => left.push(e.userId));
    h.sb.ingest(sessionStatusChanged(conv, SESSION_ID, 'Ended', 'Active'));
    expect(ended).toEqual([conv.conversationIdentifier]);
    expect(h.sb.stats()).toMatchObject({ sessions: 0, hibernated: 0 });
    expect(h.sb.session(conv.conversationIdentifier)).toBeUndefined();
    expect(left).toEqual([]);
    // Its rep's load went back to the directory.
    expect(h.sb.directory.load(REPS[0])).toBe(0);
  });

  it('sleeping keeps the rep held in the directory for the conversation', async () => {
    const h = harness({ hibernateAfterMs: 1_000 });
    idleSession(h);
    expect(h.sb.directory.load(REPS[0])).toBe(1);
    h.sb.hibernate({ idleForMs: 0 });
    expect(h.sb.directory.load(REPS[0])).toBe(1);
  });

  it('hibernate() takes only sessions idle for idleForMs, oldest first', async () => {
    const h = harness({ hibernateAfterMs: false });
    const a = idleSession(h, '0Mw000000000701AAA');
    await vi.advanceTimersByTimeAsync(5_000);
    const b = idleSession(h, '0Mw000000000702AAA');
    expect(h.sb.hibernate({ idleForMs: 3_000 })).toBe(1);
    expect(h.sb.stats().hibernated).toBe(1);
    h.sb.ingest(participantChanged(a, [{ operation: 'add', userId: REPS[3] }]));
    expect(h.sb.stats()).toMatchObject({ hibernated: 0, wakes: 1 });
    expect(h.sb.hibernate({ idleForMs: 0 })).toBe(2);
    expect(h.sb.session(b.conversationIdentifier)!.reps).toHaveLength(1);
  });

  it('with hibernateAfterMs: false every session stays awake', async () => {
    const h = harness({ hibernateAfterMs: false });
    idleSession(h);
    await vi.advanceTimersByTimeAsync(600_000);
    expect(h.sb.stats().hibernated).toBe(0);
  });

  it('refuses a negative or non-numeric hibernateAfterMs', () => {
    const interactions = createRecordingInteractionService();
    expect(() => createSwitchboard({ interactions, hibernateAfterMs: -1 })).toThrow(ConfigError);
    expect(() => createSwitchboard({ interactions, hibernateAfterMs: Number.NaN })).toThrow(ConfigError);
  });

  it('a large idle population sleeps a chunk per turn of the event loop', async () => {
    const h = harness({ hibernateAfterMs: 1_000 });
    for (let i = 0; i < 4_500; i++) {
      const conv = newConversation();
      h.sb.ingest(sessionStatusChanged(conv, `0Mw00000${String(i).padStart(7, '0')}AAA`, 'Active'));
    }
    // The sweep's first turn takes one chunk, then yields; setImmediate continues it.
    vi.advanceTimersByTime(1_000);
    const firstTurn = h.sb.stats().hibernated;
    expect(firstTurn).toBeGreaterThan(0);
    expect(firstTurn).toBeLessThan(4_500);
    const marks: number[] = [];
    for (let i = 0; i < 5; i++) {
      vi.advanceTimersToNextTimer();
      marks.push(h.sb.stats().hibernated);
    }
    expect(marks[0]).toBeGreaterThan(firstTurn);
    expect(h.sb.stats()).toMatchObject({ sessions: 4_500, hibernated: 4_500 });
  });
});

describe('sleeping sessions and the store', () => {
  it('a session that falls asleep before its batch is written is still written, and restores after a restart', async () => {
    const store = createMemorySessionStore();
    const api = createRecordingInteractionService();
    const boot = () =>
      createSwitchboard({ interactions: api, store, directory: directoryEntries, logger: pino({ level: 'silent' }), routing: { fallbackQueueId: FALLBACK_QUEUE }, hibernateAfterMs: 1_000, persistence: { flushDelayMs: 50 } });
    const a = boot();
    await a.start();
    const conv = newConversation();
    a.ingest(sessionStatusChanged(conv, SESSION_ID, 'Active'));
    a.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[0] }]));
    // Asleep before the flush delay has passed: the commit reads the sleeping snapshot.
    expect(a.hibernate({ idleForMs: 0 })).toBe(1);
    await vi.advanceTimersByTimeAsync(100);
    const saved = await store.loadSessions();
    expect(saved.map((s) => s.conversationIdentifier)).toEqual([conv.conversationIdentifier]);
    expect(JSON.stringify(saved[0]!.snapshot)).toContain(REPS[0]);
    // Abandoned without stop(), as after a crash; a new engine restores the session and routes for it.
    const b = boot();
    await b.start();
    // Nothing was pending: it is restored asleep, and the RoutingRequested wakes it.
    expect(b.stats()).toMatchObject({ sessions: 1, hibernated: 1, store: { restored: 1 } });
    expect(b.session(conv.conversationIdentifier)!.reps.map((r) => r.userId)).toEqual([REPS[0]]);
    expect(b.directory.load(REPS[0])).toBe(1);
    b.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
    for (let i = 0; i < 20; i++) await vi.advanceTimersByTimeAsync(0);
    await b.settled();
    expect(api.callsTo('POST /agentWork').map((c) => (c.body as { userId: string }).userId)).toEqual([REPS[1]]);
    await b.stop({ drainMs: 0 });
  });
});
