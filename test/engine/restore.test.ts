// Restore alone, over a real registry, runner and memory store: what comes back asleep, what comes
// back live, and a session of another chart finished cleanly (its owed report sent, its PSR cleared).
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Directory } from '../../src/directory.js';
import { AppEvents } from '../../src/engine/app-events.js';
import { StepRunner } from '../../src/engine/effects.js';
import { SessionRegistry } from '../../src/engine/registry.js';
import { restoreSessions } from '../../src/engine/restore.js';
import { createRecordingInteractionService } from '../../src/io/recording-interaction-service.js';
import { createMemorySessionStore } from '../../src/io/store/index.js';
import type { RoutingSettings } from '../../src/machines/session.js';
import { Persistence } from '../../src/persistence.js';
import { currentChartHash, SCHEMA_VERSION } from '../../src/snapshot-version.js';

const log = pino({ level: 'silent' });
const settings: RoutingSettings = { routingWindowMs: 60_000, reportReserveMs: 5_000, offerTimeoutMs: 20_000, maxOffers: 3, repickIntervalMs: 2_000, answerGraceMs: 5_000, initialRoutingTimeoutMs: 120_000, participantCap: 4 };

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

function rig() {
  const store = createMemorySessionStore();
  const api = createRecordingInteractionService();
  let registry!: SessionRegistry;
  const persistence = new Persistence(store, log, (conv) => registry.persistedSnapshot(conv));
  const runner = new StepRunner({ api, persistence, log, pickRep: () => undefined, isLive: (c) => registry.isLive(c) });
  registry = new SessionRegistry({ machine: runner.session, settings, limits: { hibernateAfterMs: 30_000, maxSessions: 100, idleExpiryMs: false }, directory: new Directory(), events: new AppEvents(log), log, persistence });
  const seen: string[][] = [];
  const restore = () => restoreSessions({ persistence, registry, runner, api, log, restoreAsleep: true, rememberSeen: (k) => void seen.push(k), dedupeWindow: 100 }, counters);
  const counters = { restored: 0, finishedStale: 0 };
  return { store, api, registry, runner, restore, counters, seen };
}

describe('restoreSessions', () => {
  it('brings an idle session back asleep, with its reps, and hands back the dedupe keys', async () => {
    const r = rig();
    const idle = { value: 'active', status: 'active', children: {}, context: { conversationIdentifier: 'c-idle', settings, reps: { '005000000000A01': { userId: '005000000000A01', role: 'Agent', joinedAt: 1 } }, routings: [], refusals: [], heldWork: [], seenRoutingIds: [], transfers: [], joining: {}, initialCount: 0, workItemId: '0Mw000000000001' } };
    await r.store.commit({ sessions: [{ conversationIdentifier: 'c-idle', schemaVersion: SCHEMA_VERSION, chartHash: currentChartHash(), savedAt: Date.now(), snapshot: idle }], seen: ['event:e1', 'entry:n1'] });
    await r.restore();
    expect(r.counters).toEqual({ restored: 1, finishedStale: 0 });
    expect(r.registry.asleep).toBe(1);
    expect(r.registry.isLive('c-idle')).toBe(false);
    expect(r.registry.conversationOfWorkItem('0Mw000000000001')).toBe('c-idle');
    expect(Object.keys(r.registry.peek('c-idle')!.context.reps)).toEqual(['005000000000A01']);
    expect(r.seen).toEqual([['event:e1', 'entry:n1']]);
  });

  // Schema 2 kept the offer's fields at the top of a routing's context; schema 3 nests them.
  const layouts = [
    { schemaVersion: 2, offer: { workOpen: true, workId: '0Bz000000000009' } },
    { schemaVersion: SCHEMA_VERSION, offer: { offer: { userId: '005000000000A07', workId: '0Bz000000000009', open: true } } },
  ];
  it.each(layouts)('finishes a session saved by another chart or layout (schema $schemaVersion): the report it owes, its open offer and its PSR', async ({ schemaVersion, offer }) => {
    const r = rig();
    const child = { snapshot: { context: { routingId: 'rq-1', requested: true, reported: false, workItemId: '0Mw000000000002', routingType: 'Transfer', target: { kind: 'queue', queueId: 'q' }, ...offer, routeOpen: true } } };
    const stale = { value: 'active', status: 'active', children: { 'routing:rq-1': child }, context: { conversationIdentifier: 'c-old', channelAddressIdentifier: 'addr', reps: {}, routings: {} } };
    await r.store.commit({ sessions: [{ conversationIdentifier: 'c-old', schemaVersion, chartHash: 'another-chart', savedAt: Date.now(), snapshot: stale }] });
    await r.restore();
    await r.runner.settled();
    expect(r.counters).toEqual({ restored: 0, finishedStale: 1 });
    expect(r.api.calls.map((c) => c.endpoint)).toEqual(['POST /routingResult', 'PATCH /agentWork', 'DELETE /route']);
    expect(r.api.callsTo('PATCH /agentWork')[0]!.body).toMatchObject({ workId: '0Bz000000000009' });
    expect(r.api.callsTo('POST /routingResult')[0]!.body).toMatchObject({ success: false, workItemId: '0Mw000000000002' });
    // Started afresh, with no routing left pending.
    expect(r.registry.peek('c-old')!.context.routings).toEqual([]);
  });
});
