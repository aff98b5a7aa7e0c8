import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { ConfigError, SwitchboardError } from '../src/domain/errors.js';
import { createSwitchboard } from '../src/switchboard.js';
import { createRecordingInteractionService } from '../src/io/recording-interaction-service.js';
import { participantChanged, repMessage, routingRequested, routingResult, sessionStatusChanged } from '../src/sandbox/payloads.js';
import { harness, newConversation, QUEUE, REPS } from './support/harness.js';

const SESSION_ID = '0Mw000000000888AAA';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

/** A small seeded generator, so a failing sequence can be replayed from its seed. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s ^ (s >>> 15), 2246822507) + 0x9e3779b9) >>> 0) / 2 ** 32);
}

describe('participant cap (DESIGN §3 invariant 4)', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`never offers beyond min(MaxParticipantsForCnfrOverride, platform cap) — seed ${seed}`, async () => {
      const random = rng(seed);
      const h = harness({ routing: { maxParticipantsOverride: 3, platformParticipantCap: 4 } });
      const conv = newConversation();
      h.sb.ingest(sessionStatusChanged(conv, SESSION_ID, 'Active'));
      h.sb.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[0] }]));
      let requests = 0;
      for (let step = 0; step < 60; step++) {
        const view = h.sb.session(conv.conversationIdentifier)!;
        const r = random();
        if (r < 0.35) {
          requests += 1;
          h.sb.ingest(routingRequested(conv, 'Conference', random() < 0.5 ? { queueId: QUEUE } : { userId: REPS[Math.floor(random() * REPS.length)]! }));
        } else if (r < 0.7) {
          const offer = view.pendingRoutings.find((p) => p.workId && p.offeredTo);
          if (offer) {
            const accepted = random() < 0.7;
            h.sb.agentWork({ workId: offer.workId, workItemId: SESSION_ID, workEvent: accepted ? 'ACCEPTED' : 'DECLINED' });
            if (accepted) h.sb.ingest(participantChanged(conv, [{ operation: 'add', userId: offer.offeredTo! }]));
          }
        } else if (r < 0.85 && view.reps.length > 0) {
          h.sb.ingest(participantChanged(conv, [{ operation: 'remove', userId: view.reps[Math.floor(random() * view.reps.length)]!.userId }]));
        } else {
          await vi.advanceTimersByTimeAsync(Math.floor(random() * 30_000));
        }
        await h.flush();
        const after = h.sb.session(conv.conversationIdentifier)!;
        expect(after.participantCap).toBe(3);
        expect(after.seatsTaken).toBeLessThanOrEqual(3);
        expect(after.reps.length).toBeLessThanOrEqual(3);
      }
      // Let every request run out its offers, then: exactly one routingResult per conference request.
      for (let i = 0; i < 10; i++) {
        await vi.advanceTimersByTimeAsync(30_000);
        await h.flush();
      }
      expect(h.sb.session(conv.conversationIdentifier)!.pendingRoutings).toEqual([]);
      expect(requests).toBeGreaterThan(5);
      expect(h.api.callsTo('POST /routingResult')).toHaveLength(requests);
    });
  }
});

describe('getContacts() for the connector', () => {
  it('lists reps, queues and flows for a conference, never reps already present or offline, and no external contacts', () => {
    const h = harness();
    const conv = newConversation();
    h.sb.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[0] }]));
    h.sb.directory.setAvailability(REPS[4], 'OFFLINE');
    const contacts = h.sb.getContacts(conv.conversationIdentifier, 'Conference');
    expect(contacts.filter((c) => c.type === 'Agent').map((c) => c.id)).toEqual([REPS[1], REPS[2], REPS[3]]);
    expect(contacts.map((c) => c.type)).toContain('Queue');
    expect(contacts.map((c) => c.type)).toContain('Flow');
    expect(contacts.map((c) => c.type)).not.toContain('PhoneBook');
  });

  it('lists external contacts for a transfer', () => {
    const h = harness();
    expect(h.sb.getContacts(undefined, 'Transfer').filter((c) => c.type === 'PhoneBook')).toEqual([
      { id: 'EXT-1', type: 'PhoneBook', name: 'Partner desk', listType: 'Transfer', availability: null, phoneNumber: '+15550100' },
    ]);
  });

  it('lists nobody for a conference once the cap is reached', () => {
    const h = harness({ routing: { maxParticipantsOverride: 2 } });
    const conv = newConversation();
    h.sb.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[0] }, { operation: 'add', userId: REPS[1] }]));
    expect(h.sb.getContacts(conv.conversationIdentifier, 'Conference')).toEqual([]);
    expect(h.sb.getContacts(conv.conversationIdentifier, 'Transfer').length).toBeGreaterThan(0);
  });

  it('filters by name and pages', () => {
    const h = harness();
    expect(h.sb.getContacts(undefined, 'All', { contains: 'rep 3' }).map((c) => c.id)).toEqual([REPS[2]]);
    expect(h.sb.getContacts(undefined, 'All', { limit: 2, offset: 1 }).map((c) => c.id)).toEqual([REPS[1], REPS[2]]);
  });
});

describe('the default rep picker', () => {
  it('picks the longest-idle available rep of the queue with room, and gives capacity back when an offer ends without them', async () => {
    const h = harness({ routing: { maxOffers: 1 } });
    h.sb.directory.setAvailability(REPS[1], 'BUSY');
    const conv = newConversation();
    h.sb.ingest(sessionStatusChanged(conv, SESSION_ID, 'Active'));
    h.sb.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[0] }]));
    h.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
    await h.flush();
    expect((h.bodies('POST /agentWork')[0] as { userId: string }).userId).toBe(REPS[2]);
    expect(h.sb.directory.load(REPS[2])).toBe(1);
    const workId = h.sb.session(conv.conversationIdentifier)!.pendingRoutings[0]!.workId!;
    h.sb.agentWork({ workId, workItemId: SESSION_ID, workEvent: 'DECLINED' });
    await h.flush();
    expect(h.sb.directory.load(REPS[2])).toBe(0);
    // The next request goes to the rep idle longest: REPS[3] has never been given work.
    h.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
    await h.flush();
    expect((h.bodies('POST /agentWork')[1] as { userId: string }).userId).toBe(REPS[3]);
  });
});

describe('intake', () => {
  it('agent work for a MessagingSession it does not hold is counted, not thrown', () => {
    const h = harness();
    expect(h.sb.agentWork({ workId: '0Bz000000000001', workItemId: '0Mw000000000999', workEvent: 'ACCEPTED' })).toEqual({ ok: true, kind: 'AgentWork', matched: false });
    expect(h.sb.stats().unroutable).toBe(1);
  });

  it('malformed agent work is rejected with a typed error naming the field', () => {
    const h = harness();
    const r = h.sb.agentWork({ workId: '0Bz000000000001', workItemId: '0Mw000000000999', workEvent: 'ACCEPT' });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toBeInstanceOf(SwitchboardError);
      expect(r.error.code).toBe('SB_PARSE');
      expect((r.error as unknown as { field: string }).field).toBe('workEvent');
    }
  });

  it('hands outbound messages to the app and keeps going when a listener throws', async () => {
    const h = harness();
    const conv = newConversation();
    const texts: string[] = [];
    h.sb.on('message', () => {
      throw new Error('app bug');
    });
    h.sb.on('message', (m) => texts.push(((m.entryPayload.abstractMessage as { staticContent: { text: string } }).staticContent.text)));
    h.sb.ingest(repMessage(conv, REPS[0], 'Hi, I can help'));
    h.sb.ingest(repMessage(conv, REPS[0], 'One moment'));
    expect(texts).toEqual(['Hi, I can help', 'One moment']);
  });

  it('a RoutingResult with failureType None is information, not a cancel', async () => {
    const h = harness();
    const conv = newConversation();
    h.sb.ingest(sessionStatusChanged(conv, SESSION_ID, 'Active'));
    h.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
    await h.flush();
    h.sb.ingest(routingResult(conv, 'Conference', 'None'));
    await h.flush();
    expect(h.api.callsTo('PATCH /agentWork')).toHaveLength(0);
    expect(h.sb.session(conv.conversationIdentifier)!.pendingRoutings).toHaveLength(1);
  });

  it('a redelivered entry (same entry identifier) is applied once', async () => {
    const h = harness();
    const conv = newConversation();
    const joined: string[] = [];
    h.sb.on('participant.joined', (e) => joined.push(e.userId));
    const add = participantChanged(conv, [{ operation: 'add', userId: REPS[1] }]);
    h.sb.ingest(add);
    h.sb.ingest({ ...add, eventId: 'redelivered' });
    expect(joined).toEqual([REPS[1]]);
    expect(h.sb.stats().duplicates).toBe(1);
  });

  it('keeps 200 concurrent conferences apart', async () => {
    const h = harness({ directory: { reps: Array.from({ length: 50 }, (_, i) => ({ userId: `005000000001${String(i).padStart(3, '0')}`, name: `R${i}`, queueIds: [QUEUE], capacity: 10 })) } });
    const convs = Array.from({ length: 200 }, () => newConversation());
    convs.forEach((c, i) => {
      h.sb.ingest(sessionStatusChanged(c, `0Mw000000${String(i).padStart(6, '0')}AAA`, 'Active'));
      h.sb.ingest(routingRequested(c, 'Conference', { queueId: QUEUE }));
    });
    await h.flush();
    expect(h.sb.stats().sessions).toBe(200);
    expect(h.api.callsTo('POST /routingResult')).toHaveLength(200);
    const byConv = new Map<string, number>();
    for (const c of h.api.callsTo('POST /agentWork')) {
      const id = (c.body as { routingContext: { conversationIdentifier: string } }).routingContext.conversationIdentifier;
      byConv.set(id, (byConv.get(id) ?? 0) + 1);
    }
    expect([...byConv.values()].every((n) => n === 1)).toBe(true);
    expect(byConv.size).toBe(200);
  });
});

describe('a long-running engine', () => {
  it('names routing children by slot, so the event names its sessions meet stay few however many routings finish', async () => {
    // XState caches, per event name and for the engine's lifetime, the transitions it finds; a child
    // named after its routing made every finished routing's done event a new name (a leak).
    const names = new Set<string>();
    const children = new Set<string>();
    const h = harness({
      inspect: (e) => {
        if (e.type === '@xstate.event') names.add(e.event.type);
        const id = (e.actorRef as { id?: string }).id ?? '';
        if (e.type === '@xstate.actor' && id.startsWith('routing:')) children.add(id);
      },
    });
    const conv = newConversation();
    h.sb.ingest(sessionStatusChanged(conv, SESSION_ID, 'Active'));
    h.sb.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[0] }]));
    for (let round = 0; round < 12; round++) {
      // Two at once (two slots), each declined by its rep.
      h.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
      h.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[2] }));
      await h.flush();
      // The slot is the engine's own naming: the app's view does not show it.
      for (const r of h.sb.session(conv.conversationIdentifier)!.pendingRoutings) expect(Object.keys(r)).not.toContain('slot');
      for (const r of h.sb.session(conv.conversationIdentifier)!.pendingRoutings) h.sb.agentWork({ workId: r.workId!, workItemId: SESSION_ID, workEvent: 'DECLINED' });
      await h.flush();
      expect(h.sb.session(conv.conversationIdentifier)!.pendingRoutings).toEqual([]);
    }
    expect(h.api.callsTo('POST /routingResult')).toHaveLength(24);
    expect([...children].sort()).toEqual(['routing:0', 'routing:1']);
    expect([...names].filter((n) => n.startsWith('xstate.done.actor.')).sort()).toEqual(['xstate.done.actor.routing:0', 'xstate.done.actor.routing:1']);
  });
});

describe('port calls', () => {
  it('leave inside ingest(), not on a later microtask (engine-added latency, docs/benchmarks.md §5)', () => {
    const h = harness();
    const conv = newConversation();
    h.sb.ingest(sessionStatusChanged(conv, SESSION_ID, 'Active'));
    h.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
    // No await in between: the POST /route is already on its way when ingest() returns.
    expect(h.endpoints()).toEqual(['POST /route']);
  });

  it('a rep picker that throws synchronously fails the request cleanly: reported, PSR cleared', async () => {
    const h = harness({
      pickRep: () => {
        throw new Error('ACD down');
      },
    });
    const conv = newConversation();
    h.sb.ingest(sessionStatusChanged(conv, SESSION_ID, 'Active'));
    expect(h.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }))).toMatchObject({ ok: true });
    await h.flush();
    expect(h.endpoints()).toEqual(['POST /route', 'POST /routingResult', 'DELETE /route']);
    expect(h.bodies('POST /routingResult')[0]).toMatchObject({ success: false });
    expect((h.bodies('POST /routingResult')[0] as { errorMessage: string }).errorMessage).toMatch(/rep picker failed.*ACD down/);
    expect(h.sb.stats().pendingRoutings).toBe(0);
  });
});

describe('lifecycle', () => {
  it('refuses bad options with a ConfigError', () => {
    const interactions = createRecordingInteractionService();
    expect(() => createSwitchboard({ interactions, routing: { routingWindowMs: 90_000 } })).toThrow(ConfigError);
    expect(() => createSwitchboard({ interactions, routing: { reportReserveMs: 60_000 } })).toThrow(/reportReserveMs/);
    expect(() => createSwitchboard({} as never)).toThrow(ConfigError);
  });

  it('stop() lets in-flight calls finish, then refuses new input', async () => {
    const interactions = createRecordingInteractionService();
    let release!: () => void;
    interactions.respond('POST /routingResult', () => new Promise((r) => (release = () => r(undefined))));
    const sb = createSwitchboard({ interactions, logger: pino({ level: 'silent' }), directory: { reps: [{ userId: REPS[1], name: 'R' }] } });
    const conv = newConversation();
    sb.ingest(sessionStatusChanged(conv, SESSION_ID, 'Active'));
    sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
    for (let i = 0; i < 10; i++) await vi.advanceTimersByTimeAsync(0);
    expect(sb.stats().inFlightEffects).toBe(1);
    const stopping = sb.stop({ drainMs: 10_000 });
    release();
    await vi.advanceTimersByTimeAsync(0);
    await stopping;
    expect(sb.stats()).toMatchObject({ sessions: 0, inFlightEffects: 0 });
    const r = sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe('SB_STOPPED');
  });

  it('a session view is a copy', () => {
    const h = harness();
    const conv = newConversation();
    h.sb.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[1] }]));
    const view = h.sb.session(conv.conversationIdentifier)!;
    view.reps[0]!.userId = 'tampered';
    expect(h.sb.session(conv.conversationIdentifier)!.reps[0]!.userId).toBe(REPS[1]);
  });
});

describe('inspection', () => {
  it('streams session and routing actors to an inspect observer when asked, and not otherwise', async () => {
    const seen: string[] = [];
    const h = harness({ inspect: (e) => seen.push(e.type === '@xstate.snapshot' ? `${e.type}:${(e.actorRef as unknown as { id: string }).id}` : e.type) });
    const conv = newConversation();
    h.sb.ingest(sessionStatusChanged(conv, SESSION_ID, 'Active'));
    h.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
    await h.flush();
    expect(seen).toContain('@xstate.actor');
    expect(seen).toContain('@xstate.event');
    expect(seen.some((s) => s.startsWith('@xstate.snapshot:routing:'))).toBe(true);
  });
});

describe('the routing window', () => {
  it('runs from publication (CreatedDate), so time lost before the event arrived counts', async () => {
    const h = harness({ pickRep: () => undefined });
    const conv = newConversation();
    h.sb.ingest(sessionStatusChanged(conv, SESSION_ID, 'Active'));
    const rr = routingRequested(conv, 'Conference', { queueId: QUEUE });
    const published = Date.now() - 50_000;
    h.sb.ingest({ ...rr, createdAt: published });
    expect(h.sb.session(conv.conversationIdentifier)!.pendingRoutings[0]!.deadlineAt).toBe(published + 60_000);
    await h.flush();
    await vi.advanceTimersByTimeAsync(5_000);
    await h.flush();
    expect(h.api.callsTo('POST /routingResult')).toHaveLength(1);
    expect(h.api.callsTo('POST /routingResult')[0]!.at - published).toBeLessThan(60_000);
  });

  it('does not trust a CreatedDate ahead of the local clock', () => {
    const h = harness({ pickRep: () => undefined });
    const conv = newConversation();
    h.sb.ingest(sessionStatusChanged(conv, SESSION_ID, 'Active'));
    h.sb.ingest({ ...routingRequested(conv, 'Conference', { queueId: QUEUE }), createdAt: Date.now() + 30_000 });
    expect(h.sb.session(conv.conversationIdentifier)!.pendingRoutings[0]!.deadlineAt).toBe(Date.now() + 60_000);
  });
});

describe("Salesforce's cancel", () => {
  it('reaches the request whose PSR it names, not just the newest of its type', async () => {
    const h = harness();
    h.api.respond('POST /route', (_b, n) => ({ psrId: `0JR00000000000${n}` }));
    const conv = newConversation();
    h.sb.ingest(sessionStatusChanged(conv, SESSION_ID, 'Active'));
    h.sb.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[0] }]));
    const first = routingRequested(conv, 'Conference', { queueId: QUEUE });
    h.sb.ingest(first);
    await h.flush();
    await vi.advanceTimersByTimeAsync(10);
    h.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
    await h.flush();
    const cancelled: string[] = [];
    h.sb.on('routing.finished', (e) => cancelled.push(e.output.routingId));
    h.sb.ingest(routingResult(conv, 'Conference', 'Cancelled', { cancelReason: 'Cancel', pendingServiceRoutingId: '0JR000000000001' }));
    await h.flush();
    expect(cancelled).toEqual([first.routingEventId]);
  });
});

describe('the dedupe window', () => {
  it('forgets the oldest event once it holds dedupeWindow keys, and only then', () => {
    const h = harness({ dedupeWindow: 4 });
    const conv = newConversation();
    const events = [1, 2, 3].map((i) => participantChanged(conv, [{ operation: 'add', userId: REPS[i]! }]));
    for (const e of events) h.sb.ingest(e);
    // Each event brings two keys (event id, entry id): 6 keys seen, the window holds the last 4.
    expect(h.sb.ingest(events[2]!)).toMatchObject({ duplicate: true });
    expect(h.sb.ingest(events[1]!)).toMatchObject({ duplicate: true });
    expect(h.sb.ingest(events[0]!)).not.toMatchObject({ duplicate: true });
  });
});
