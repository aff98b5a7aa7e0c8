// Sessions, the replay cursor and the effect journal survive a crash. "Crash" here: a switchboard
// is abandoned without stop(), after its store committed; a second one starts on the same store.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { createSwitchboard, type SwitchboardOptions } from '../src/switchboard.js';
import { createRecordingInteractionService, type RecordingInteractionService } from '../src/io/recording-interaction-service.js';
import { createMemorySessionStore, openLmdbSessionStore, type SessionStore } from '../src/io/store/index.js';
import { participantChanged, routingRequested, sessionStatusChanged, type RequestTarget } from '../src/sandbox/payloads.js';
import { Persistence } from '../src/persistence.js';
import { currentChartHash, RESTORABLE_EARLIER_CHARTS, SCHEMA_VERSION } from '../src/snapshot-version.js';
import { sessionMachine } from '../src/machines/session.js';
import { DeadlineExceededError, InteractionApiError, StoppedError } from '../src/domain/errors.js';
import { directoryEntries, FALLBACK_QUEUE, newConversation, QUEUE, REPS } from './support/harness.js';
import { tempStoreDir } from './support/temp-dir.js';

const SESSION_ID = '0Mw000000000444AAA';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

function boot(store: SessionStore, api: RecordingInteractionService = createRecordingInteractionService(), extra: Partial<SwitchboardOptions> = {}) {
  const sb = createSwitchboard({ interactions: api, store, directory: directoryEntries, logger: pino({ level: 'silent' }), routing: { fallbackQueueId: FALLBACK_QUEUE }, ...extra });
  return { sb, api };
}

/**
 * An engine's view of a shared store that it can lose: after `die()` nothing it commits arrives (its
 * timers still run under the fake clock, as a killed process's would not).
 */
function dyingStore(store: SessionStore): { store: SessionStore; die: () => void } {
  let dead = false;
  return { store: { ...store, commit: (batch) => (dead ? new Promise(() => {}) : store.commit(batch)) }, die: () => void (dead = true) };
}

async function settle() {
  for (let i = 0; i < 20; i++) await vi.advanceTimersByTimeAsync(0);
  // Past the store's flush delay, so the batch is committed.
  await vi.advanceTimersByTimeAsync(50);
  for (let i = 0; i < 5; i++) await vi.advanceTimersByTimeAsync(0);
}

/** A snapshot no store can write: serializing it throws. */
const UNSERIALIZABLE = {
  get broken(): never {
    throw new Error('not serializable');
  },
};

function live(sb: ReturnType<typeof boot>['sb']) {
  const conv = newConversation();
  sb.ingest(sessionStatusChanged(conv, SESSION_ID, 'Active'));
  sb.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[0] }]));
  return conv;
}

/**
 * A store whose read of a routingResult's journal record waits for `read()`, and whose next
 * commit, once `holdCommit()` is called, waits for `commit()`: a busy Postgres.
 */
function slowStore(inner: SessionStore) {
  let readGate: Promise<void> | undefined;
  let openRead = () => {};
  let hold = false;
  let held = false;
  let openCommit = () => {};
  const store: SessionStore = {
    ...inner,
    effect: async (key) => {
      if (readGate && key.endsWith('/routingResult')) await readGate;
      return inner.effect(key);
    },
    commit: async (batch) => {
      if (hold) {
        hold = false;
        held = true;
        await new Promise<void>((r) => (openCommit = r));
      }
      return inner.commit(batch);
    },
  };
  return {
    store,
    slowReads: () => void (readGate = new Promise<void>((r) => (openRead = r))),
    read: () => openRead(),
    holdCommit: () => void (hold = true),
    /** Whether the held commit is being written (its batch taken). */
    holding: () => held,
    commit: () => openCommit(),
  };
}

/** Marks the store's saved session as saved by another chart, as after a deploy that changed it. */
async function savedByAnOlderChart(store: SessionStore, chartHash = 'an-older-chart'): Promise<void> {
  const [saved] = await store.loadSessions();
  await store.commit({ sessions: [{ ...saved!, chartHash }] });
}

/** A live session whose Conference through the queue was offered and reported, on `store`: the offer waits for the rep. */
async function offerPending(store: SessionStore) {
  const a = boot(store);
  const conv = live(a.sb);
  a.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
  await settle();
  return { a, conv };
}

describe('restart', () => {
  it('restores a session with an offer pending, and the offer is answered without repeating any call', async () => {
    const store = createMemorySessionStore();
    const { a, conv } = await offerPending(store);
    expect(a.api.calls.map((c) => c.endpoint)).toEqual(['POST /route', 'POST /agentWork', 'POST /routingResult']);
    const workId = a.sb.session(conv.conversationIdentifier)!.pendingRoutings[0]!.workId!;

    const b = boot(store);
    await b.sb.start();
    expect(b.sb.stats().store).toMatchObject({ restored: 1 });
    expect(b.sb.session(conv.conversationIdentifier)!.reps.map((r) => r.userId)).toEqual([REPS[0]]);
    const finished: string[] = [];
    b.sb.on('routing.finished', (e) => finished.push(e.output.outcome));
    b.sb.agentWork({ workId, workItemId: SESSION_ID, workEvent: 'ACCEPTED' });
    await settle();
    expect(finished).toEqual(['routed']);
    expect(b.api.calls).toEqual([]);
  });

  it('re-arms the offer timeout from its absolute time', async () => {
    const store = createMemorySessionStore();
    const a = boot(store, undefined, { routing: { offerTimeoutMs: 10_000, maxOffers: 1, fallbackQueueId: FALLBACK_QUEUE } });
    const conv = live(a.sb);
    a.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
    await settle();
    await vi.advanceTimersByTimeAsync(4_000);
    await a.sb.stop({ drainMs: 0 }).catch(() => {});

    const b = boot(store, undefined, { routing: { offerTimeoutMs: 10_000, maxOffers: 1, fallbackQueueId: FALLBACK_QUEUE } });
    await b.sb.start();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(b.api.calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1_500);
    await settle();
    expect(b.api.calls.map((c) => c.endpoint)).toEqual(['PATCH /agentWork', 'DELETE /route']);
  });

  it('finishes a request whose window passed while the app was down: the failed routingResult, then the PSR cleared', async () => {
    const store = createMemorySessionStore();
    const a = boot(store, undefined, { pickRep: () => undefined });
    const conv = live(a.sb);
    const rr = routingRequested(conv, 'Conference', { queueId: QUEUE });
    a.sb.ingest(rr);
    await settle();
    expect(a.api.calls.map((c) => c.endpoint)).toEqual(['POST /route']);

    await vi.advanceTimersByTimeAsync(0);
    vi.setSystemTime(Date.now() + 120_000); // down for two minutes
    const b = boot(store, undefined, { pickRep: () => undefined });
    await b.sb.start();
    await settle();
    expect(b.api.calls.map((c) => c.endpoint)).toEqual(['POST /routingResult', 'DELETE /route']);
    expect(b.api.calls[0]!.body).toMatchObject({ success: false, errorMessage: 'routing deadline reached' });
    expect(b.api.calls[1]!.body).toMatchObject({ cancelReason: 'Unavailable' });
  });

  it('does not repeat a step that completed before the crash', async () => {
    const store = createMemorySessionStore();
    const api = createRecordingInteractionService();
    let answer!: () => void;
    api.respond('POST /agentWork', () => new Promise((r) => (answer = () => r({ agentWorkId: '0Bz0000000000A1' }))));
    const a = boot(store, api);
    const conv = live(a.sb);
    a.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
    await settle();
    // What the write-ahead commit left on disk while POST /agentWork was in flight.
    const whileOffering = await store.loadSessions();
    answer();
    await settle();
    expect(api.calls.map((c) => c.endpoint)).toEqual(['POST /agentWork', 'POST /routingResult']);
    // A crash after both steps were journaled done, before the session's own next commit.
    await store.commit({ sessions: whileOffering });

    const b = boot(store);
    await b.sb.start();
    await settle();
    // Restored mid-offer: both steps replay from the journal; nothing reaches the org again.
    expect(b.api.calls).toEqual([]);
    expect(b.sb.stats().store?.skippedSteps).toBe(2);
    expect(b.sb.session(conv.conversationIdentifier)!.pendingRoutings[0]!.workId).toBe('0Bz0000000000A1');
  });

  it('repeats an in-doubt step with the same RequestId', async () => {
    const store = createMemorySessionStore();
    const api = createRecordingInteractionService();
    api.respond('POST /agentWork', () => new Promise(() => {})); // the crash comes before the answer
    const a = boot(store, api);
    const conv = live(a.sb);
    a.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
    await settle();

    const b = boot(store);
    await b.sb.start();
    await settle();
    const [first] = api.callsTo('POST /agentWork');
    const [again] = b.api.callsTo('POST /agentWork');
    expect(again!.ctx.requestId).toBe(first!.ctx.requestId);
    expect(again!.ctx.key).toBe(first!.ctx.key);
    expect(b.api.callsTo('POST /routingResult')).toHaveLength(1);
  });

  it('finishes a request saved by another chart: its one failed routingResult and the PSR cleared; people kept', async () => {
    const store = createMemorySessionStore();
    const a = boot(store, undefined, { pickRep: () => undefined });
    const conv = live(a.sb);
    a.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
    await settle();
    await savedByAnOlderChart(store);

    const b = boot(store);
    await b.sb.start();
    await settle();
    expect(b.api.calls.map((c) => c.endpoint)).toEqual(['POST /routingResult', 'DELETE /route']);
    expect(b.api.calls[0]!.body).toMatchObject({ success: false, routingType: 'Conference' });
    expect(b.sb.stats().store).toMatchObject({ finishedStale: 1, restored: 0 });
    expect(b.sb.session(conv.conversationIdentifier)!.reps.map((r) => r.userId)).toEqual([REPS[0]]);
    expect(b.sb.session(conv.conversationIdentifier)!.pendingRoutings).toEqual([]);
    const [resaved] = (await store.loadSessions()).filter((x) => x.conversationIdentifier === conv.conversationIdentifier);
    expect(resaved!.chartHash).toBe(currentChartHash());
    expect(resaved!.schemaVersion).toBe(SCHEMA_VERSION);
  });

  it('a request saved by another chart whose routingResult went out a day ago (its journal record pruned since) is not reported again', async () => {
    const store = createMemorySessionStore();
    const { a, conv } = await offerPending(store);
    expect(a.api.callsTo('POST /routingResult')).toHaveLength(1);
    await savedByAnOlderChart(store);
    // Past the journal's retention (a day): the report's record is pruned at the next start.
    vi.setSystemTime(Date.now() + 25 * 3_600_000);

    const b = boot(store);
    await b.sb.start();
    await settle();
    expect(b.sb.stats().store).toMatchObject({ finishedStale: 1 });
    // A routingResult names no request: one sent now would answer whatever request the conversation has open.
    expect(b.api.callsTo('POST /routingResult')).toEqual([]);
  });

  it('a wait for the answer to a refused cancel, restored after its grace passed, still waits for the answer: no second rep', async () => {
    const store = createMemorySessionStore();
    const { store: aStore, die } = dyingStore(store);
    const routing = { fallbackQueueId: FALLBACK_QUEUE, offerTimeoutMs: 2_000, answerGraceMs: 3_000, routingWindowMs: 60_000 };
    const a = boot(aStore, createRecordingInteractionService(), { routing });
    // The rep accepted just as the offer timed out: Salesforce refuses the cancel.
    a.api.failNext('PATCH /agentWork', new InteractionApiError('not in a state that can be cancelled', { kind: 'terminal', endpoint: 'PATCH /agentWork', apiCode: 10085 }));
    const conv = live(a.sb);
    a.sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }));
    await settle();
    const [offer] = a.api.callsTo('POST /agentWork');
    const offered = (offer!.body as { userId: string }).userId;
    await vi.advanceTimersByTimeAsync(2_100); // offer timeout → cancel refused → waiting for the answer
    await settle();
    expect(a.api.callsTo('PATCH /agentWork')).toHaveLength(1);
    die(); // the engine dies while it waits

    await vi.advanceTimersByTimeAsync(10_000); // down longer than the grace
    const b = boot(store, createRecordingInteractionService(), { routing });
    await b.sb.start();
    await vi.advanceTimersByTimeAsync(500);
    // The rep's join is replayed from the stream shortly after the restore.
    b.sb.ingest(participantChanged(conv, [{ operation: 'add', userId: offered }]));
    await settle();
    expect(b.api.callsTo('POST /agentWork')).toHaveLength(0);
    expect(b.sb.session(conv.conversationIdentifier)!.reps.map((r) => r.userId)).toContain(offered);
    expect(b.sb.stats().pendingRoutings).toBe(0);
  });

  it('an offer whose POST /agentWork was in doubt at a crash and whose window closed meanwhile is still found and cancelled', async () => {
    const store = createMemorySessionStore();
    // The adapter refuses a call whose deadline has passed, as the got client does (SB_DEADLINE).
    const withDeadlines = (api: RecordingInteractionService): RecordingInteractionService =>
      new Proxy(api, {
        get(target, prop, receiver) {
          const v = Reflect.get(target, prop, receiver);
          if (typeof v !== 'function' || ['callsTo', 'respond', 'failNext', 'reset'].includes(String(prop))) return v;
          return (req: unknown, ctx: { deadlineAt?: number }) =>
            ctx?.deadlineAt !== undefined && Date.now() >= ctx.deadlineAt ? Promise.reject(new DeadlineExceededError(String(prop))) : v.call(target, req, ctx);
        },
      });
    // Engine a dies below: from then on nothing it does reaches the store (its timers still run here).
    const { store: aStore, die } = dyingStore(store);
    const a = boot(aStore);
    // POST /agentWork reaches Salesforce (it creates the AgentWork) and the engine dies before the answer.
    a.api.respond('POST /agentWork', () => new Promise(() => {}));
    const conv = live(a.sb);
    a.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
    await settle();
    const [sent] = a.api.callsTo('POST /agentWork');
    expect(sent).toBeDefined();
    die();

    // The engine comes back after the routing window closed.
    await vi.advanceTimersByTimeAsync(70_000);
    const b = boot(store, withDeadlines(createRecordingInteractionService()));
    await b.sb.start();
    await settle();
    // The step is repeated with its RequestId even though its window is gone: only its answer names
    // the AgentWork, and an AgentWork nobody knows of would stay offered for ever.
    const repeats = b.api.callsTo('POST /agentWork');
    expect(repeats.map((c) => c.ctx.requestId)).toEqual([sent!.ctx.requestId]);
    const cancels = b.api.callsTo('PATCH /agentWork');
    expect(cancels.map((c) => c.body)).toEqual([expect.objectContaining({ status: 'Cancel' })]);
    expect(b.api.callsTo('POST /routingResult').map((c) => c.body)).toEqual([expect.objectContaining({ success: false })]);
    expect(b.sb.stats().pendingRoutings).toBe(0);
  });

  // Salesforce is not known to deduplicate RequestIds (reference §8.10) and a routingResult names no
  // request: it answers the conversation's oldest open request of its type. So a report in doubt is
  // repeated inside its window, and taken as done after it (src/switchboard.ts reportInDoubt).
  it('repeats, with its RequestId, a routingResult left in doubt inside its window', async () => {
    const store = createMemorySessionStore();
    const a = boot(store);
    a.api.respond('POST /routingResult', () => new Promise(() => {}));
    const conv = live(a.sb);
    a.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
    await settle();
    const [first] = a.api.callsTo('POST /routingResult');
    expect(first).toBeDefined();

    const b = boot(store);
    await b.sb.start();
    await settle();
    expect(b.api.callsTo('POST /routingResult').map((c) => c.ctx.requestId)).toEqual([first!.ctx.requestId]);
  });

  /** A switchboard at a cap of one whose failed routingResult for a Conference refused at the cap never answers; `reboot` starts another on the same store. */
  async function refusedWithReportOut() {
    const store = createMemorySessionStore();
    const capOfOne = { routing: { fallbackQueueId: FALLBACK_QUEUE, maxParticipantsOverride: 1 } };
    const a = boot(store, createRecordingInteractionService(), capOfOne);
    a.api.respond('POST /routingResult', () => new Promise(() => {}));
    const conv = live(a.sb);
    a.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
    await settle();
    return { a, reboot: () => boot(store, createRecordingInteractionService(), capOfOne) };
  }

  it('a Conference refused at the cap gets no routing child; its failed routingResult, left in doubt inside its window, is repeated with its RequestId after a restart, and then the request finishes', async () => {
    const { a, reboot } = await refusedWithReportOut();
    const [first] = a.api.callsTo('POST /routingResult');
    expect(first?.body).toMatchObject({ success: false, routingType: 'Conference', errorMessage: expect.stringContaining('participant cap') });
    expect(a.sb.stats().pendingRoutings, 'a refused request is not pending: no routing child').toBe(0);
    expect(a.api.callsTo('POST /agentWork')).toEqual([]);

    const b = reboot();
    const finished: string[] = [];
    b.sb.on('routing.finished', (e) => finished.push(`${e.output.routingId === first!.ctx.key.split('/')[1] ? 'this request' : 'another'} ${e.output.outcome}`));
    await b.sb.start();
    await settle();
    expect(b.api.callsTo('POST /routingResult').map((c) => c.ctx.requestId)).toEqual([first!.ctx.requestId]);
    expect(finished).toEqual(['this request rejected']);
  });

  it('does not repeat the failed routingResult of a refused request once its window has closed', async () => {
    const { a, reboot } = await refusedWithReportOut();
    expect(a.api.callsTo('POST /routingResult')).toHaveLength(1);
    vi.setSystemTime(Date.now() + 61_000);

    const b = reboot();
    await b.sb.start();
    await settle();
    expect(b.api.callsTo('POST /routingResult')).toEqual([]);
  });

  it('does not repeat a routingResult left in doubt once its window has closed: Salesforce has answered the request itself', async () => {
    const store = createMemorySessionStore();
    const a = boot(store);
    a.api.respond('POST /routingResult', () => new Promise(() => {}));
    const conv = live(a.sb);
    a.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
    await settle();
    expect(a.api.callsTo('POST /routingResult')).toHaveLength(1);
    // Down past the 60-second window.
    vi.setSystemTime(Date.now() + 61_000);

    const b = boot(store);
    await b.sb.start();
    await settle();
    expect(b.api.callsTo('POST /routingResult')).toEqual([]);
  });

  it('repeats, with its RequestId, a routingResult a session from another chart left in doubt', async () => {
    const store = createMemorySessionStore();
    const a = boot(store);
    // The report goes out and never answers: the chart counts it as sent, the journal as 'started'.
    a.api.respond('POST /routingResult', () => new Promise(() => {}));
    const conv = live(a.sb);
    a.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
    await settle();
    const [first] = a.api.callsTo('POST /routingResult');
    expect(first).toBeDefined();
    await savedByAnOlderChart(store);

    const b = boot(store);
    await b.sb.start();
    await settle();
    const reports = b.api.callsTo('POST /routingResult');
    expect(reports).toHaveLength(1);
    expect(reports[0]!.ctx.requestId).toBe(first!.ctx.requestId);
    expect(reports[0]!.body).toMatchObject({ success: false, routingType: 'Conference' });
    // The AgentWork it offered is cancelled too: the request is abandoned.
    expect(b.api.callsTo('PATCH /agentWork').map((c) => c.body)).toEqual([expect.objectContaining({ status: 'Cancel' })]);
  });

  it('sends no second routingResult for a session from another chart whose report was answered', async () => {
    const store = createMemorySessionStore();
    const a = boot(store);
    const conv = live(a.sb);
    a.sb.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
    await settle();
    expect(a.api.callsTo('POST /routingResult')).toHaveLength(1);
    await savedByAnOlderChart(store);

    const b = boot(store);
    await b.sb.start();
    await settle();
    expect(b.api.callsTo('POST /routingResult')).toHaveLength(0);
    expect(b.api.callsTo('PATCH /agentWork')).toHaveLength(1);
  });

  it('cancels an AgentWork left offered by a session from an older layout', async () => {
    const store = createMemorySessionStore();
    const a = boot(store);
    const { conversationIdentifier } = await a.sb.startConversation({ to: 'chan', from: 'client', text: 'hi' });
    await settle();
    expect(a.api.calls.map((c) => c.endpoint)).toEqual(['POST /interactions', 'POST /route', 'POST /agentWork']);
    const [saved] = await store.loadSessions();
    await store.commit({ sessions: [{ ...saved!, schemaVersion: 0 }] });

    const b = boot(store);
    await b.sb.start();
    await settle();
    expect(b.api.calls.map((c) => c.endpoint)).toEqual(['PATCH /agentWork', 'DELETE /route']);
    expect(b.api.calls[0]!.body).toMatchObject({ status: 'Cancel' });
    expect(b.sb.session(conversationIdentifier)).toBeDefined();
  });

  it('keeps ended sessions for the retention period, then purges them', async () => {
    const store = createMemorySessionStore();
    const a = boot(store, undefined, { persistence: { retentionMs: 60_000 } });
    const conv = live(a.sb);
    a.sb.ingest(sessionStatusChanged(conv, SESSION_ID, 'Ended', 'Active'));
    await settle();
    expect((await store.loadSessions()).map((s) => s.endedAt !== undefined)).toEqual([true]);
    const b = boot(store, undefined, { persistence: { retentionMs: 60_000 } });
    await b.sb.start();
    expect(b.sb.stats().sessions).toBe(0);
    expect(await store.loadSessions()).toHaveLength(1);
    vi.setSystemTime(Date.now() + 61_000);
    const c = boot(store, undefined, { persistence: { retentionMs: 60_000 } });
    await c.sb.start();
    expect(await store.loadSessions()).toEqual([]);
  });

  it('remembers handled events across a restart, so a redelivery is ignored', async () => {
    const store = createMemorySessionStore();
    const a = boot(store);
    const conv = live(a.sb);
    const rr = routingRequested(conv, 'Conference', { userId: REPS[1] });
    a.sb.ingest(rr);
    await settle();
    const b = boot(store);
    await b.sb.start();
    expect(b.sb.ingest(rr)).toMatchObject({ ok: true, duplicate: true });
  });
});

describe('the LMDB store', () => {
  let dir: string;
  beforeEach(() => {
    vi.useRealTimers();
    dir = tempStoreDir('switchboard-store-');
  });

  it('commits sessions, cursor and dedupe keys together, and reads them back after reopening', async () => {
    const one = openLmdbSessionStore({ path: dir });
    await one.commit({
      sessions: [{ conversationIdentifier: 'c1', schemaVersion: 1, chartHash: 'h', savedAt: 1, snapshot: { value: 'active', context: { n: 1 } } }],
      cursor: { topic: '/event/x', replayId: Buffer.from([0, 0, 0, 1, 0, 0, 0, 9]) },
      seen: ['event:a', 'event:b'],
    });
    await one.commit({ effects: [['c1/r1/route', { state: 'done', at: 5, output: { psrId: '0JR' } }]] });
    await one.close();
    const two = openLmdbSessionStore({ path: dir });
    expect(await two.loadSessions()).toEqual([{ conversationIdentifier: 'c1', schemaVersion: 1, chartHash: 'h', savedAt: 1, snapshot: { value: 'active', context: { n: 1 } } }]);
    expect(await two.loadCursor('/event/x')).toEqual(Buffer.from([0, 0, 0, 1, 0, 0, 0, 9]));
    expect(await two.loadSeen(10)).toEqual(['event:a', 'event:b']);
    expect(await two.effect('c1/r1/route')).toEqual({ state: 'done', at: 5, output: { psrId: '0JR' } });
    await two.commit({ seen: ['event:c'], removed: ['c1'] });
    expect(await two.loadSeen(2)).toEqual(['event:b', 'event:c']);
    expect(await two.loadSessions()).toEqual([]);
    expect(await two.pruneEffects(10)).toBe(1);
    expect(await two.effect('c1/r1/route')).toBeUndefined();
    await two.close();
  });

  it('a 2,000-byte conversation id routes and persists, and does not stop other conversations', async () => {
    // Such an id is refused at parse (over 255 characters), but one can still come from Salesforce's
    // own answer to POST /interactions: the store must hold it, and other conversations with it.
    const api = createRecordingInteractionService();
    const longId = `conv-${'x'.repeat(1_995)}`;
    api.respond('POST /interactions', () => ({ conversationIdentifier: longId, workItemIds: [SESSION_ID] }));
    const a = createSwitchboard({ interactions: api, store: { path: dir }, directory: directoryEntries, logger: pino({ level: 'silent' }), routing: { fallbackQueueId: FALLBACK_QUEUE } });
    await a.start();
    await a.startConversation({ to: 'addr-1', from: 'user-1', text: 'hello', target: { kind: 'queue', queueId: FALLBACK_QUEUE } });
    const plain = newConversation();
    a.ingest(sessionStatusChanged(plain, '0Mw000000000999AAA', 'Active'));
    a.ingest(routingRequested(plain, 'Conference', { userId: REPS[1] }));
    await a.settled();
    // Each conversation's offer went out: its write-ahead record was committed.
    expect(api.callsTo('POST /agentWork')).toHaveLength(2);
    expect(a.stats().store).toMatchObject({ commitFailures: 0 });
    await a.stop();
    const b = createSwitchboard({ interactions: createRecordingInteractionService(), store: { path: dir }, directory: directoryEntries, logger: pino({ level: 'silent' }) });
    await b.start();
    const pending = (id: string) => b.sessions().find((v) => v.conversationIdentifier === id)?.pendingRoutings;
    expect(pending(longId)).toHaveLength(1);
    expect(pending(plain.conversationIdentifier)).toHaveLength(1);
    await b.stop();
  });

  it('serves a switchboard across a restart', async () => {
    const api = createRecordingInteractionService();
    const a = createSwitchboard({ interactions: api, store: { path: dir }, directory: directoryEntries, logger: pino({ level: 'silent' }) });
    const conv = newConversation();
    a.ingest(sessionStatusChanged(conv, SESSION_ID, 'Active'));
    a.ingest(routingRequested(conv, 'Conference', { userId: REPS[1] }));
    await a.settled();
    await a.stop();
    const b = createSwitchboard({ interactions: createRecordingInteractionService(), store: { path: dir }, directory: directoryEntries, logger: pino({ level: 'silent' }) });
    await b.start();
    expect(b.session(conv.conversationIdentifier)?.pendingRoutings).toHaveLength(1);
    await b.stop();
  });
});

describe('a commit the store refuses', () => {
  let dir: string;
  beforeEach(() => {
    vi.useRealTimers();
    dir = tempStoreDir('switchboard-refused-');
  });

  it('loses nothing: its sessions, cursor, seen keys and done records are retried with what changed meanwhile (newer wins); its callers get the rejection', async () => {
    const store = openLmdbSessionStore({ path: dir });
    const lines: string[] = [];
    const log = pino({ level: 'error' }, { write: (line: string) => void lines.push(line) });
    const version = new Map([['a', 1], ['b', 1]]);
    // While `refuse` is set, the answer a step recorded cannot be serialized: the real store
    // refuses every batch that carries its 'done' record.
    let refuse = false;
    const answer = {
      get psrId(): string {
        if (refuse) throw new Error('not serializable');
        return '0JR000000000001';
      },
    };
    // No timed flushes: only explicit commits and the retries.
    const p = new Persistence(store, log, (id) => ({ id, v: version.get(id) }), { flushDelayMs: 60_000, maxRetryDelayMs: 200 });

    refuse = true;
    // A step that was answered: its 'done' record waits for the next commit.
    await p.journaled('a/r1/route', 'repeat', async () => answer);
    p.markDirty('a');
    p.markDirty('b');
    p.markSeen('event:1');
    const withCursor = p.commit({ topic: '/event/x', replayId: Buffer.from([1]) });
    let sent = false;
    const step = p.journaled('a/r1/agentWork', 'repeat', async () => {
      sent = true;
      return {};
    });
    await expect(withCursor).rejects.toMatchObject({ code: 'SB_STORE_COMMIT', entry: 'journal record a/r1/route' });
    // A write-ahead record that is not durable: the call does not leave.
    await expect(step).rejects.toMatchObject({ code: 'SB_STORE_COMMIT' });
    expect(sent).toBe(false);
    expect(p.commitFailures).toBeGreaterThanOrEqual(1);
    expect(p.failureStats()).toMatchObject({ retryPending: true, lastCommitError: { message: expect.stringContaining('SB_STORE_COMMIT') } });
    expect(lines.some((l) => l.includes('store commit failed; its batch is kept and retried'))).toBe(true);
    expect(await store.loadCursor('/event/x')).toBeUndefined();

    // a changes meanwhile; then the store accepts again and the retry writes everything.
    version.set('a', 2);
    p.markDirty('a');
    refuse = false;
    await vi.waitFor(async () => expect(await store.loadCursor('/event/x')).toEqual(Buffer.from([1])), { timeout: 10_000, interval: 20 });
    const saved = new Map((await store.loadSessions()).map((r) => [r.conversationIdentifier, r.snapshot]));
    expect(saved).toEqual(new Map([['a', { id: 'a', v: 2 }], ['b', { id: 'b', v: 1 }]]));
    expect(await store.loadSeen(10)).toEqual(['event:1']);
    expect(await store.effect('a/r1/route')).toMatchObject({ state: 'done', output: { psrId: '0JR000000000001' } });
    // The refused write-ahead record is not written: that call never left.
    expect(await store.effect('a/r1/agentWork')).toBeUndefined();
    expect(p.failureStats().retryPending).toBe(false);

    // The same step, tried again, goes out once and is journaled.
    await p.journaled('a/r1/agentWork', 'repeat', async () => {
      sent = true;
      return { agentWorkId: '0Bz' };
    });
    expect(sent).toBe(true);
    await p.close();
    expect(await store.effect('a/r1/agentWork')).toMatchObject({ state: 'done', output: { agentWorkId: '0Bz' } });
    await store.close();
  });

  it("one session the store cannot write does not stop the others: the batch is written without it, and only its own steps are refused", async () => {
    const store = openLmdbSessionStore({ path: dir });
    let bWritable = false;
    const snapshotOf = (id: string): unknown => (id === 'b' && !bWritable ? UNSERIALIZABLE : { id });
    const p = new Persistence(store, pino({ level: 'silent' }), snapshotOf, { flushDelayMs: 60_000, maxRetryDelayMs: 200 });
    p.markDirty('a');
    p.markDirty('b');
    p.markSeen('event:1');
    const withCursor = p.commit({ topic: '/event/x', replayId: Buffer.from([1]) });
    const sent: string[] = [];
    const stepA = p.journaled('a/r1/agentWork', 'repeat', async () => void sent.push('a'));
    const stepB = p.journaled('b/r1/agentWork', 'repeat', async () => void sent.push('b'));
    await withCursor;
    await stepA;
    await expect(stepB).rejects.toMatchObject({ code: 'SB_STORE_COMMIT', entry: 'session b' });
    expect(sent).toEqual(['a']);
    expect((await store.loadSessions()).map((r) => r.conversationIdentifier)).toEqual(['a']);
    expect(await store.loadCursor('/event/x')).toEqual(Buffer.from([1]));
    expect(await store.loadSeen(10)).toEqual(['event:1']);
    expect(await store.effect('a/r1/agentWork')).toBeDefined();
    expect(await store.effect('b/r1/agentWork')).toBeUndefined();
    expect(p.failureStats()).toMatchObject({ refusedSessions: expect.any(Number), lastCommitError: { message: expect.stringContaining('session b') } });
    expect(p.refusedSessions).toBeGreaterThanOrEqual(1);

    // Once b can be written again, its next change is saved and its steps go out.
    bWritable = true;
    await p.journaled('b/r1/agentWork', 'repeat', async () => void sent.push('b'));
    expect(sent).toEqual(['a', 'b']);
    await p.close();
    expect((await store.loadSessions()).map((r) => r.conversationIdentifier).sort()).toEqual(['a', 'b']);
    await store.close();
  });

  it('commitSession() rejects when the store refused that session, though the rest of the batch was written', async () => {
    const store = openLmdbSessionStore({ path: dir });
    const snapshotOf = (id: string): unknown => (id === 'b' ? UNSERIALIZABLE : { id });
    const p = new Persistence(store, pino({ level: 'silent' }), snapshotOf, { flushDelayMs: 60_000, maxRetryDelayMs: 200 });
    p.markDirty('a');
    await expect(p.commitSession('b')).rejects.toMatchObject({ code: 'SB_STORE_COMMIT', entry: 'session b' });
    expect((await store.loadSessions()).map((r) => r.conversationIdentifier)).toEqual(['a']);
    await p.commitSession('a');
    await p.close();
    await store.close();
  });

  it('once sealed (a halt), commits nothing more: a commit asked for then, or one still waiting its turn, is refused with the reason', async () => {
    const inner = createMemorySessionStore();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let held = true;
    const store: SessionStore = {
      ...inner,
      commit: async (batch) => {
        if (held) {
          held = false;
          await gate;
        }
        return inner.commit(batch);
      },
    };
    const p = new Persistence(store, pino({ level: 'silent' }), (id) => ({ id }), { flushDelayMs: 60_000 });
    p.markDirty('a');
    const inFlight = p.commit();
    await vi.waitFor(() => expect(held).toBe(false));
    // A session the engine started while that commit was being written: its commit waits its turn.
    const waiting = p.commitSession('b').then(() => 'committed', (err: unknown) => err);
    const reason = new Error('halted');
    p.seal(reason);
    release();
    // The commit already on its way keeps its fate; the one that waited is not written.
    await inFlight;
    expect(await waiting).toBe(reason);
    await expect(p.commit()).rejects.toBe(reason);
    p.markDirty('c');
    await expect(p.commitSession('c')).rejects.toBe(reason);
    expect((await inner.loadSessions()).map((r) => r.conversationIdentifier)).toEqual(['a']);
    expect(p.closedBy).toBe(reason);
    await expect(p.close()).resolves.toBeUndefined();
  });

  it('close() rejects when its last commit is refused, and leaves no retry behind', async () => {
    const store = createMemorySessionStore();
    const p = new Persistence(store, pino({ level: 'silent' }), () => UNSERIALIZABLE, { flushDelayMs: 60_000, maxRetryDelayMs: 50 });
    p.markDirty('a');
    await expect(p.close()).rejects.toThrow('not serializable');
    expect(p.failureStats()).toMatchObject({ commitFailures: 1, retryPending: false });
    await new Promise((r) => setTimeout(r, 150));
    expect(p.commitFailures).toBe(1);
    expect(store.commits).toBe(0);
  });
});

describe('a graceful stop whose drain runs out', () => {
  /** Engine A stops while its report reads its journal record, and the drain runs out; returns the store the next start opens. */
  async function stopWithReportUnsent(target: RequestTarget) {
    const inner = createMemorySessionStore();
    const s = slowStore(inner);
    const a = boot(s.store);
    const conv = live(a.sb);
    await settle();
    s.slowReads();
    a.sb.ingest(routingRequested(conv, 'Conference', target));
    await settle();
    // The offer is made; the report is reading its journal record.
    expect(a.api.callsTo('POST /agentWork')).toHaveLength(1);
    expect(a.api.callsTo('POST /routingResult')).toHaveLength(0);
    // A commit is being written when the stop begins, so the last one waits its turn.
    s.holdCommit();
    a.sb.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[2] }]));
    await settle();
    const stopping = a.sb.stop({ drainMs: 100 });
    await vi.advanceTimersByTimeAsync(150);
    // The drain ran out; the record arrives while the last commit still waits.
    s.read();
    for (let i = 0; i < 20; i++) await vi.advanceTimersByTimeAsync(0);
    s.commit();
    await settle();
    await stopping;
    // Not sent by the stopping engine after its last commit began.
    expect(a.api.callsTo('POST /routingResult')).toEqual([]);
    return { inner, conv };
  }

  it('leaves a routingResult it could not send to a next start on another chart, which reports the request failed, once', async () => {
    const { inner, conv } = await stopWithReportUnsent({ userId: REPS[1] });
    await savedByAnOlderChart(inner);
    const b = boot(inner);
    await b.sb.start();
    await settle();
    expect(b.sb.stats().store).toMatchObject({ finishedStale: 1 });
    expect(b.api.callsTo('POST /routingResult').map((c) => c.body)).toEqual([expect.objectContaining({ conversationIdentifier: conv.conversationIdentifier, success: false, routingType: 'Conference' })]);
    await b.sb.stop();
  });

  for (const target of [{ userId: REPS[1] }, { queueId: QUEUE }]) {
    it(`leaves a routingResult it could not send to the next start, which sends it once (Conference to ${target.userId ? 'a rep' : 'a queue'})`, async () => {
      const { inner, conv } = await stopWithReportUnsent(target);
      const b = boot(inner);
      await b.sb.start();
      await settle();
      // Sent once, by the next start.
      expect(b.api.callsTo('POST /routingResult').map((c) => c.body)).toEqual([expect.objectContaining({ conversationIdentifier: conv.conversationIdentifier, success: true, routingType: 'Conference' })]);
      await b.sb.stop();
    });
  }
});

describe('close()', () => {
  beforeEach(() => {
    vi.useRealTimers();
  });

  it('a step the journal says is done still answers from the journal once the last commit has begun: nothing is sent either way', async () => {
    const store = createMemorySessionStore();
    const p = new Persistence(store, pino({ level: 'silent' }), (id) => ({ id }), { flushDelayMs: 60_000 });
    await p.journaled('c/r/route', 'repeat', async () => ({ psrId: '0JR000000000001' }));
    await p.close();
    let sent = 0;
    await expect(p.journaled('c/r/route', 'repeat', async () => void (sent += 1))).resolves.toEqual({ psrId: '0JR000000000001' });
    await expect(p.journaled('c/r/other', 'repeat', async () => void (sent += 1))).rejects.toBeInstanceOf(StoppedError);
    expect(sent).toBe(0);
  });

  it('a step whose journal record is read only after close() began is refused unsent, and its record is not written', async () => {
    const inner = createMemorySessionStore();
    const s = slowStore(inner);
    const p = new Persistence(s.store, pino({ level: 'silent' }), (id) => ({ id }), { flushDelayMs: 60_000 });
    // A commit is being written when the last one is asked for, so the last one waits its turn.
    s.holdCommit();
    p.markDirty('a');
    const before = p.commit();
    await vi.waitFor(() => expect(s.holding()).toBe(true));
    // The store's read of the step's journal record is slow.
    s.slowReads();
    let sent = 0;
    const outcome = p
      .journaled('c/r/routingResult', 'repeat', async () => {
        sent += 1;
      })
      .then(
        () => 'sent',
        (err: unknown) => err,
      );
    // The engine's drain ended with the step still reading its record: the last commit is asked
    // for, then the record arrives while that commit still waits its turn.
    p.markDirty('c');
    const closing = p.close();
    s.read();
    await new Promise((r) => setTimeout(r, 10));
    s.commit();
    await before;
    await closing;
    // Not sent after the last commit (the next owner would find it started and send it again).
    expect(await outcome).toBeInstanceOf(StoppedError);
    expect(sent).toBe(0);
    // The next owner finds no record: it sends the step once, as a first attempt.
    expect(await inner.effect('c/r/routingResult')).toBeUndefined();
    expect((await inner.loadSessions()).map((r) => r.conversationIdentifier).sort()).toEqual(['a', 'c']);
  });
});

/** Drops the session context's keys that charts before 2026-12-07 did not have (they are optional). */
async function withoutKeysAddedSince(store: SessionStore): Promise<void> {
  const [saved] = await store.loadSessions();
  const snapshot = structuredClone(saved!.snapshot) as { context: Record<string, unknown> };
  delete snapshot.context.closedWork;
  delete snapshot.context.unnamedOfferEnded;
  await store.commit({ sessions: [{ ...saved!, snapshot }] });
}

describe('a session saved by an earlier chart listed as restorable', () => {
  it.each([...RESTORABLE_EARLIER_CHARTS.keys()])('%s: is restored as it is, not finished: its pending offer is answered without any call, and it is saved again under the current chart', async (earlier) => {
    const store = createMemorySessionStore();
    const { a, conv } = await offerPending(store);
    const workId = a.sb.session(conv.conversationIdentifier)!.pendingRoutings[0]!.workId!;
    await savedByAnOlderChart(store, earlier);
    await withoutKeysAddedSince(store);
    expect(((await store.loadSessions())[0]!.snapshot as { context: object }).context).not.toHaveProperty('closedWork');

    const b = boot(store);
    await b.sb.start();
    expect(b.sb.stats().store).toMatchObject({ restored: 1, finishedStale: 0 });
    const finished: string[] = [];
    b.sb.on('routing.finished', (e) => finished.push(e.output.outcome));
    b.sb.agentWork({ workId, workItemId: SESSION_ID, workEvent: 'ACCEPTED' });
    await settle();
    expect(finished).toEqual(['routed']);
    expect(b.api.calls, 'nothing finished as stale, nothing repeated').toEqual([]);
    const [resaved] = (await store.loadSessions()).filter((x) => x.conversationIdentifier === conv.conversationIdentifier);
    expect(resaved!.chartHash).toBe(currentChartHash());
  });

  it('lists only charts whose states the current charts still have, and whose routing chart is the current one', () => {
    const [, routingNow] = currentChartHash().split('.');
    for (const [hash, states] of RESTORABLE_EARLIER_CHARTS) {
      const [, routing] = hash.split('.');
      expect(routing, `${hash}: only a session chart change is listed`).toBe(routingNow);
      expect(hash).not.toBe(currentChartHash());
      for (const state of states.session) expect(Object.keys(sessionMachine.states), `${hash}: session state ${state}`).toContain(state);
    }
  });
});
