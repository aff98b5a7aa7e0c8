// D6 and D8: memory is bounded whatever the input, and every public method refuses bad arguments
// with a typed error instead of a TypeError from deep inside.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError, LimitError, SwitchboardError } from '../../src/domain/errors.js';
import { participantChanged, routingRequested, sessionStatusChanged } from '../../src/sandbox/payloads.js';
import { createMemorySessionStore } from '../../src/io/store/index.js';
import { harness, newConversation, QUEUE, REPS } from '../support/harness.js';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('sessions.max', () => {
  it('refuses events that would start a session past the bound, counts them, and keeps serving known sessions', async () => {
    const h = harness({ sessions: { max: 20 } });
    const rejected: string[] = [];
    h.sb.on('rejected', (e) => rejected.push(e.error.code));
    const known = Array.from({ length: 20 }, () => newConversation());
    for (const conv of known) expect(h.sb.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[0] }])).ok).toBe(true);
    for (let i = 0; i < 50; i++) {
      const r = h.sb.ingest(participantChanged(newConversation(), [{ operation: 'add', userId: REPS[1] }]));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toBeInstanceOf(LimitError);
    }
    expect(h.sb.stats()).toMatchObject({ sessions: 20, refusedSessions: 50, rejected: 50 });
    expect(rejected.every((c) => c === 'SB_LIMIT')).toBe(true);
    // A known session still routes.
    h.sb.ingest(sessionStatusChanged(known[0]!, '0Mw000000000444AAA', 'Active'));
    h.sb.ingest(routingRequested(known[0]!, 'Transfer', { queueId: QUEUE }));
    await h.flush();
    expect(h.api.callsTo('POST /route')).toHaveLength(1);
    // startConversation is refused up front: no POST /interactions for a conversation it cannot hold.
    await expect(h.sb.startConversation({ to: 'addr', from: 'user', text: 'hi' })).rejects.toMatchObject({ code: 'SB_LIMIT', limit: 'sessions.max' });
    expect(h.api.callsTo('POST /interactions')).toHaveLength(0);
  });

  it('is checked at start-up', () => {
    expect(() => harness({ sessions: { max: 0 } })).toThrow(/sessions.max/);
    expect(() => harness({ sessions: { idleExpiryMs: -5 } })).toThrow(/idleExpiryMs/);
  });
});

describe('sessions.idleExpiryMs', () => {
  for (const hibernateAfterMs of [10_000, false] as const) {
    it(`drops sessions with nothing pending and no event for that long, and releases their reps (sleep ${hibernateAfterMs === false ? 'off' : 'on'})`, async () => {
      const h = harness({ hibernateAfterMs, sessions: { idleExpiryMs: 60_000 } });
      const ended: Array<{ conv: string; reason: string }> = [];
      h.sb.on('session.ended', (e) => ended.push({ conv: e.conversationIdentifier, reason: e.reason }));
      const idle = newConversation();
      const busy = newConversation();
      h.sb.ingest(participantChanged(idle, [{ operation: 'add', userId: REPS[0] }]));
      h.sb.ingest(sessionStatusChanged(busy, '0Mw000000000333AAA', 'Active'));
      expect(h.sb.getContacts(undefined, 'Conference').some((c) => c.id === REPS[0] )).toBe(true);
      // The busy one keeps getting events.
      for (let t = 0; t < 8; t++) {
        await vi.advanceTimersByTimeAsync(20_000);
        h.sb.ingest(participantChanged(busy, [{ operation: t % 2 ? 'remove' : 'add', userId: REPS[1] }]));
      }
      await h.flush();
      expect(ended).toEqual([{ conv: idle.conversationIdentifier, reason: 'idle expiry' }]);
      expect(h.sb.session(idle.conversationIdentifier)).toBeUndefined();
      expect(h.sb.session(busy.conversationIdentifier)).toBeDefined();
      expect(h.sb.stats()).toMatchObject({ sessions: 1, expiredSessions: 1 });
    });
  }

  it('never drops a session with a routing request pending', async () => {
    const h = harness({ sessions: { idleExpiryMs: 5_000 }, routing: { offerTimeoutMs: 50_000, maxOffers: 1 } });
    const conv = newConversation();
    h.sb.ingest(sessionStatusChanged(conv, '0Mw000000000222AAA', 'Active'));
    h.sb.ingest(routingRequested(conv, 'Transfer', { queueId: QUEUE }));
    await h.flush();
    await vi.advanceTimersByTimeAsync(30_000);
    await h.flush();
    expect(h.sb.stats().expiredSessions).toBe(0);
    expect(h.sb.session(conv.conversationIdentifier)!.pendingRoutings).toHaveLength(1);
  });

  it('an expired session is kept in the store as ended, not restored as live', async () => {
    const store = createMemorySessionStore();
    const h = harness({ store, sessions: { idleExpiryMs: 60_000 } });
    await h.sb.start();
    const conv = newConversation();
    h.sb.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[0] }]));
    await vi.advanceTimersByTimeAsync(200_000);
    await h.flush();
    await h.sb.stop();
    const [saved] = await store.loadSessions();
    expect(saved).toMatchObject({ conversationIdentifier: conv.conversationIdentifier, endedAt: expect.any(Number) });
  });
});

describe('the dedupe window holds only bounded keys', () => {
  it('refuses 1 MB event ids before they reach the window, and applies the event once its id is sane', async () => {
    const h = harness();
    const conv = newConversation();
    h.sb.ingest(sessionStatusChanged(conv, '0Mw000000000111AAA', 'Active'));
    const huge = 'x'.repeat(1_000_000);
    for (let i = 0; i < 20; i++) {
      const r = h.sb.ingest({ ...routingRequested(conv, 'Transfer', { queueId: QUEUE }), eventId: `${huge}${i}` });
      expect(r).toMatchObject({ ok: false, error: { code: 'SB_PARSE', field: 'eventId' } });
    }
    expect(h.sb.ingest(routingRequested(conv, 'Transfer', { queueId: QUEUE })).ok).toBe(true);
  });
});

describe('public methods refuse bad arguments with SB_INVALID_ARGUMENT', () => {
  const h = () => harness();
  const cases: Array<[string, (sb: ReturnType<typeof harness>['sb']) => unknown, string]> = [
    ['getContacts with a number in filter.contains', (sb) => sb.getContacts('c', 'Conference', { contains: 5 as never }), 'filter.contains'],
    ['getContacts with an unknown list type', (sb) => sb.getContacts('c', 'Everyone' as never), 'listType'],
    ['getContacts with a negative limit', (sb) => sb.getContacts(undefined, 'All', { limit: -1 }), 'filter.limit'],
    ['getContacts with a filter that is a string', (sb) => sb.getContacts(undefined, 'All', 'x' as never), 'filter'],
    ['getContacts with a numeric conversation id', (sb) => sb.getContacts(42 as never, 'All'), 'conversationIdentifier'],
    ['on with an unknown event', (sb) => sb.on('messages' as never, () => {}), 'event'],
    ['on with no listener', (sb) => sb.on('message', 5 as never), 'listener'],
    ['session with no id', (sb) => sb.session(undefined as never), 'conversationIdentifier'],
    ['hibernate with a string', (sb) => sb.hibernate({ idleForMs: 'soon' as never }), 'options.idleForMs'],
    ['hibernate with options that are a number', (sb) => sb.hibernate(5 as never), 'options'],
  ];
  for (const [what, call, argument] of cases) {
    it(what, () => {
      const { sb } = h();
      let thrown: unknown;
      try {
        call(sb);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(InvalidArgumentError);
      expect(thrown).toBeInstanceOf(SwitchboardError);
      expect(thrown).toMatchObject({ code: 'SB_INVALID_ARGUMENT', argument });
    });
  }

  const asyncCases: Array<[string, (sb: ReturnType<typeof harness>['sb']) => Promise<unknown>, string]> = [
    ['startConversation(null)', (sb) => sb.startConversation(null as never), 'request'],
    ['startConversation without text', (sb) => sb.startConversation({ to: 'a', from: 'b' } as never), 'request.text'],
    ['startConversation to a rep', (sb) => sb.startConversation({ to: 'a', from: 'b', text: 'hi', target: { kind: 'rep', userId: REPS[0] } as never }), 'request.target.kind'],
    ['stop with a negative drain', (sb) => sb.stop({ drainMs: -1 }), 'options.drainMs'],
  ];
  for (const [what, call, argument] of asyncCases) {
    it(what, async () => {
      const { sb, api } = h();
      await expect(call(sb)).rejects.toMatchObject({ code: 'SB_INVALID_ARGUMENT', argument });
      expect(api.calls).toHaveLength(0);
    });
  }

  it('agentWork for a MessagingSession nobody holds says it matched nothing', () => {
    const { sb } = h();
    expect(sb.agentWork({ workId: '0Bz000000000001', workItemId: '0Mw000000000999', workEvent: 'ACCEPTED' })).toEqual({ ok: true, kind: 'AgentWork', matched: false });
  });
});
