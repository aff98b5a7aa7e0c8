// The step runner alone: RequestIds from step keys, deadlines by priority, the journal, and the
// POST /agentWork whose answer comes after its window.
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { stableRequestId } from '../../src/domain/ids.js';
import { StepRunner, type RoutingView } from '../../src/engine/effects.js';
import { createRecordingInteractionService } from '../../src/io/recording-interaction-service.js';
import { createMemorySessionStore, type SessionStore } from '../../src/io/store/index.js';
import { CLEANUP_BUDGET_MS, type RoutingInput } from '../../src/machines/routing.js';
import { StoppedError } from '../../src/domain/errors.js';
import { createActor } from 'xstate';
import { Persistence } from '../../src/persistence.js';

const log = pino({ level: 'silent' });

/** A step runner; with a store, `slow` may wrap it (a busy Postgres), and `store` is the one underneath. */
function runner(withStore = false, routingsOf?: (conversationIdentifier: string) => RoutingView[], slow?: (store: SessionStore) => SessionStore) {
  const api = createRecordingInteractionService();
  const store = createMemorySessionStore();
  const persistence = withStore ? new Persistence(slow ? slow(store) : store, log, () => undefined) : undefined;
  const r = new StepRunner({ api, persistence, log, pickRep: () => undefined, isLive: () => false, routingsOf });
  return { api, r, persistence, store };
}

/** Leaves a step journaled 'started' with no answer, as a crash mid-call does. */
async function leaveInDoubt(persistence: Persistence, key: string): Promise<void> {
  void persistence.journaled(key, 'repeat', () => new Promise(() => undefined));
  while ((await persistence.stepState(key)) !== 'started') await vi.advanceTimersByTimeAsync(1);
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('StepRunner', () => {
  it('derives the RequestId from the step key; start steps keep the window, finish steps get the clean-up budget', async () => {
    const { api, r } = runner();
    const windowEnd = Date.now() + 1_000;
    await r.sendStep('POST /route', 'c1/r1/route', 'start', 'repeat', windowEnd, (ctx) => api.createRoute({ conversationIdentifier: 'c1', routingType: 'Transfer' }, ctx));
    await r.sendStep('DELETE /route', 'c1/r1/clearRoute', 'finish', 'repeat', windowEnd, (ctx) => api.clearRoute({ conversationIdentifier: 'c1', cancelReason: 'Unknown' }, ctx));
    const [route, clear] = api.calls;
    expect(route!.ctx).toMatchObject({ requestId: stableRequestId('c1/r1/route'), deadlineAt: windowEnd, priority: 'start' });
    expect(clear!.ctx.requestId).toBe(stableRequestId('c1/r1/clearRoute'));
    expect(clear!.ctx.deadlineAt).toBeGreaterThanOrEqual(Date.now() + CLEANUP_BUDGET_MS - 1);
  });

  it('with a store, a step journaled done is answered from the journal, not sent again', async () => {
    const { api, r } = runner(true);
    const send = (ctx: Parameters<typeof api.createRoute>[1]) => api.createRoute({ conversationIdentifier: 'c2', routingType: 'Transfer' }, ctx);
    const first = await r.sendStep('POST /route', 'c2/r/route', 'start', 'repeat', Date.now() + 5_000, send);
    const again = await r.sendStep('POST /route', 'c2/r/route', 'start', 'repeat', Date.now() + 5_000, send);
    expect(api.callsTo('POST /route')).toHaveLength(1);
    expect(again).toEqual(first);
  });

  it('settled() waits for every call in flight', async () => {
    const { api, r } = runner();
    let answer!: () => void;
    api.respond('PATCH /consent', () => new Promise<void>((res) => (answer = res)));
    const step = r.sendStep('PATCH /consent', 'c3/r/consent', 'start', 'repeat', Date.now() + 5_000, (ctx) => api.patchConsent({ endUserClientId: 'u', channelAddressIdentifier: 'a', consentStatus: 'ExplicitlyOptedIn' }, ctx));
    let done = false;
    const settled = r.settled().then(() => (done = true));
    await vi.advanceTimersByTimeAsync(10);
    expect(r.inFlight).toBe(1);
    expect(done).toBe(false);
    answer();
    await step;
    await settled;
    expect(done).toBe(true);
  });

  it('settled() waits for a routingResult from its journal look-up on: a drain ending meanwhile would close with the report about to leave', async () => {
    let release!: () => void;
    const gate = new Promise<void>((res) => (release = res));
    // The store's read of the step's journal record is slow (a busy Postgres).
    const { api, r } = runner(true, undefined, (inner) => ({ ...inner, effect: async (key) => (await gate, inner.effect(key)) }));
    const request = { conversationIdentifier: 'c9', workItemId: '0Mw000000000009', success: true, externallyRouted: false, routingType: 'Conference' as const };
    const report = r.report({ key: 'c9/r/report', deadlineAt: Date.now() + 5_000, request }, { routingId: 'r', deadlineAt: Date.now() + 5_000 });
    let done = false;
    const settled = r.settled().then(() => (done = true));
    await vi.advanceTimersByTimeAsync(10);
    expect(done).toBe(false);
    release();
    await report;
    await settled;
    expect(api.callsTo('POST /routingResult')).toHaveLength(1);
    expect(done).toBe(true);
  });

  it('a step whose write-ahead commit ends after a graceful stop\'s last commit began is not sent: the next owner sends it once', async () => {
    let release!: () => void;
    const gate = new Promise<void>((res) => (release = res));
    let commits = 0;
    // The write-ahead commit is slow (a busy Postgres) and the drain gave up meanwhile.
    const { api, r, persistence, store: inner } = runner(true, undefined, (store) => ({ ...store, commit: async (batch) => (commits++ === 0 && (await gate), store.commit(batch)) }));
    const step = r
      .sendStep('PATCH /consent', 'c8/r/consent', 'start', 'repeat', Date.now() + 5_000, (ctx) => api.patchConsent({ endUserClientId: 'u', channelAddressIdentifier: 'a', consentStatus: 'ExplicitlyOptedIn' }, ctx))
      .then(
        () => 'sent',
        (err: unknown) => err,
      );
    await vi.advanceTimersByTimeAsync(1);
    const closing = persistence!.close();
    release();
    await closing;
    expect(await step).toBeInstanceOf(StoppedError);
    expect(api.callsTo('PATCH /consent')).toHaveLength(0);
    // Its record says started: the next owner repeats it (the same RequestId), the only attempt.
    expect((await inner.effect('c8/r/consent'))?.state).toBe('started');
  });

  it('an offer answered after its window: the chart is told SB_DEADLINE, and the AgentWork is cancelled under the chart\'s own step key', async () => {
    const { api, r } = runner();
    api.respond('POST /agentWork', () => new Promise((res) => setTimeout(() => res({ agentWorkId: '0Bz0000000LATE1' }), 3_000)));
    const windowEnd = Date.now() + 1_000;
    const chart = r.offer({ key: 'c4/r9/agentWork:1:005000000000A01', deadlineAt: windowEnd, request: { userId: '005000000000A01', workItemId: '0Mw000000000001' } });
    const told = chart.then(() => 'answered', (err: { code?: string }) => err.code);
    await vi.advanceTimersByTimeAsync(1_100);
    expect(await told).toBe('SB_DEADLINE');
    expect(api.callsTo('PATCH /agentWork')).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(2_000);
    await r.settled();
    const [cancel] = api.callsTo('PATCH /agentWork');
    expect(cancel!.body).toEqual({ workId: '0Bz0000000LATE1', contextType: 'Agent', status: 'Cancel' });
    expect(cancel!.ctx.requestId).toBe(stableRequestId('c4/r9/cancel:0Bz0000000LATE1'));
    expect(r.abandonedOffersCancelled).toBe(1);
  });

  it('an offer answered after its window while the store is closing: the AgentWork is still cancelled (nobody after this engine knows it)', async () => {
    const { api, r, persistence } = runner(true);
    api.respond('POST /agentWork', () => new Promise((res) => setTimeout(() => res({ agentWorkId: '0Bz0000000LATE2' }), 3_000)));
    const windowEnd = Date.now() + 1_000;
    const told = r.offer({ key: 'c5/r9/agentWork:1:005000000000A01', deadlineAt: windowEnd, request: { userId: '005000000000A01', workItemId: '0Mw000000000001' } }).then(
      () => 'answered',
      (err: { code?: string }) => err.code,
    );
    await vi.advanceTimersByTimeAsync(1_100);
    expect(await told).toBe('SB_DEADLINE');
    // A graceful stop's drain ran out: the last commit begins, and from then on nothing is journaled.
    expect(r.mayProceed()).toBe(true);
    await persistence!.close();
    expect(r.mayProceed()).toBe(false);
    await vi.advanceTimersByTimeAsync(2_000);
    await r.settled();
    const [cancel] = api.callsTo('PATCH /agentWork');
    expect(cancel?.body).toEqual({ workId: '0Bz0000000LATE2', contextType: 'Agent', status: 'Cancel' });
    expect(cancel!.ctx.requestId).toBe(stableRequestId('c5/r9/cancel:0Bz0000000LATE2'));
  });

  it("runs a conversation's PSR steps one at a time: a POST /route waits for the DELETE /route before it, other conversations do not", async () => {
    const { api, r } = runner();
    api.respond('DELETE /route', () => new Promise<void>((res) => setTimeout(res, 1_000)));
    const windowEnd = Date.now() + 30_000;
    const clear = r.clearRoute({ key: 'c6/rA/clearRoute', deadlineAt: windowEnd, request: { conversationIdentifier: 'c6', cancelReason: 'Unavailable' } });
    await vi.advanceTimersByTimeAsync(1);
    const route = r.sendStep('POST /route', 'c6/rC/route', 'start', 'repeat', windowEnd, (ctx) => api.createRoute({ conversationIdentifier: 'c6', routingType: 'Conference' }, ctx));
    const other = r.sendStep('POST /route', 'c7/rX/route', 'start', 'repeat', windowEnd, (ctx) => api.createRoute({ conversationIdentifier: 'c7', routingType: 'Conference' }, ctx));
    await vi.advanceTimersByTimeAsync(500);
    expect(api.calls.map((c) => `${c.endpoint} ${(c.body as { conversationIdentifier: string }).conversationIdentifier}`)).toEqual(['DELETE /route c6', 'POST /route c7']);
    await vi.advanceTimersByTimeAsync(600);
    await Promise.all([clear, route, other]);
    expect(api.calls.map((c) => `${c.endpoint} ${(c.body as { conversationIdentifier: string }).conversationIdentifier}`)).toEqual(['DELETE /route c6', 'POST /route c7', 'POST /route c6']);
  });

  describe('a DELETE /route left in doubt by a crash', () => {
    const clear = (r: StepRunner, routingId: string) =>
      r.clearRoute({ key: `c5/${routingId}/clearRoute`, deadlineAt: Date.now() + 1_000, request: { conversationIdentifier: 'c5', cancelReason: 'Unavailable' } });

    it('is repeated at once when no other routing of the conversation has a route open', async () => {
      const { api, r, persistence } = runner(true, () => [{ routingId: 'rA', routeOpen: true }, { routingId: 'rB', routeOpen: false }]);
      await leaveInDoubt(persistence!, 'c5/rA/clearRoute');
      await clear(r, 'rA');
      expect(api.callsTo('DELETE /route').map((c) => c.ctx.requestId)).toEqual([stableRequestId('c5/rA/clearRoute')]);
    });

    it('waits while another routing has a route open (the PSR may be its), then repeats: its own PSR is not left open', async () => {
      const routings: RoutingView[] = [{ routingId: 'rA', routeOpen: true }, { routingId: 'rB', routeOpen: true }];
      const { api, r, persistence } = runner(true, () => routings);
      await leaveInDoubt(persistence!, 'c5/rA/clearRoute');
      let done = false;
      const step = clear(r, 'rA').then(() => (done = true));
      await vi.advanceTimersByTimeAsync(5_000);
      expect(api.callsTo('DELETE /route')).toHaveLength(0);
      expect(done).toBe(false);
      // rB finishes (its rep accepted, or it cleared its own route): rA's clear goes out then.
      routings.splice(1, 1);
      const freedAt = Date.now();
      await vi.advanceTimersByTimeAsync(1_000);
      await step;
      const [sent] = api.callsTo('DELETE /route');
      expect(sent!.body).toEqual({ conversationIdentifier: 'c5', cancelReason: 'Unavailable' });
      // Its clean-up budget starts when it goes out, not when it began waiting.
      expect(sent!.ctx.deadlineAt).toBeGreaterThanOrEqual(freedAt + CLEANUP_BUDGET_MS);
    });

    it('is not sent if its own routing goes away while it waits (the session stopped): the restored routing decides again', async () => {
      const routings: RoutingView[] = [{ routingId: 'rA', routeOpen: true }, { routingId: 'rB', routeOpen: true }];
      const { api, r, persistence } = runner(true, () => routings);
      await leaveInDoubt(persistence!, 'c5/rA/clearRoute');
      const step = clear(r, 'rA').then(
        () => 'sent',
        (err: { code?: string }) => err.code,
      );
      await vi.advanceTimersByTimeAsync(1_000);
      routings.length = 0;
      await vi.advanceTimersByTimeAsync(1_000);
      expect(await step).toBe('SB_STOPPED');
      expect(api.callsTo('DELETE /route')).toHaveLength(0);
    });

    it('does not wait for another routing that is failing too (two clears in doubt in one conversation both go)', async () => {
      const failure = { outcome: 'noAnswer', cancelReason: 'Unavailable', message: 'x' };
      const { api, r, persistence } = runner(true, () => [
        { routingId: 'rA', routeOpen: true, failure },
        { routingId: 'rB', routeOpen: true, failure },
      ]);
      await leaveInDoubt(persistence!, 'c5/rA/clearRoute');
      await leaveInDoubt(persistence!, 'c5/rB/clearRoute');
      await Promise.all([clear(r, 'rA'), clear(r, 'rB')]);
      expect(api.callsTo('DELETE /route')).toHaveLength(2);
    });

    it('is refused, not taken as done, once the store is closing (a graceful stop past its drain): the next start decides again', async () => {
      let looks = 0;
      const { api, r, persistence } = runner(true, () => (++looks === 1 ? [{ routingId: 'rA', routeOpen: true }] : [{ routingId: 'rA', routeOpen: true }, { routingId: 'rC', routeOpen: true }]));
      await leaveInDoubt(persistence!, 'c5/rA/clearRoute');
      await persistence!.close();
      await expect(clear(r, 'rA')).rejects.toBeInstanceOf(StoppedError);
      expect(api.callsTo('DELETE /route')).toHaveLength(0);
    });

    it('is taken as done, unsent, when another routing opened a route between the check and the send (its event came after the restore)', async () => {
      // The first look finds no other route; by the time the repeat would leave, one is open.
      let looks = 0;
      const { api, r, persistence } = runner(true, () => (++looks === 1 ? [{ routingId: 'rA', routeOpen: true }] : [{ routingId: 'rA', routeOpen: true }, { routingId: 'rC', routeOpen: true }]));
      await leaveInDoubt(persistence!, 'c5/rA/clearRoute');
      await expect(clear(r, 'rA')).resolves.toBeUndefined();
      expect(looks).toBeGreaterThan(1);
      expect(api.callsTo('DELETE /route')).toHaveLength(0);
    });

    it('a first attempt is sent at once whatever the other routings hold', async () => {
      const { api, r } = runner(true, () => [{ routingId: 'rA', routeOpen: true }, { routingId: 'rB', routeOpen: true }]);
      await clear(r, 'rA');
      expect(api.callsTo('DELETE /route')).toHaveLength(1);
    });
  });

  describe('resume(): a routing actor restored from a snapshot', () => {
    const input = (): RoutingInput => ({
      routingId: 'evt-9',
      conversationIdentifier: 'c9',
      routingType: 'Conference',
      requested: true,
      target: { kind: 'queue', queueId: '00G000000000Q01' },
      workItemId: '0Mw000000000009',
      correlationId: 'evt-9',
      deadlineAt: Date.now() + 60_000,
      reportReserveMs: 5_000,
      offerTimeoutMs: 10_000,
      maxOffers: 1,
      repickIntervalMs: 1_000,
      answerGraceMs: 2_000,
      exclude: [],
    });
    const logicOf = (r: StepRunner) => r.routing.provide({ actions: { notifyOffered: () => {} } });

    it('re-arms the offer timeout at its absolute time: a restored offer still times out when it was due, and is cancelled', async () => {
      const firstApi = createRecordingInteractionService();
      const pickRep = () => '005000000000B01';
      const a = new StepRunner({ api: firstApi, log, pickRep, isLive: () => false });
      firstApi.respond('POST /agentWork', () => ({ agentWorkId: '0Bz000000000009' }));
      const actor = createActor(logicOf(a), { input: input() });
      actor.start();
      await vi.advanceTimersByTimeAsync(10);
      expect(actor.getSnapshot().value).toEqual({ working: 'awaitingAcceptance' });
      const dueAt = actor.getSnapshot().context.dueAt!;
      const saved = actor.getPersistedSnapshot();
      actor.stop();
      a.timers.stop();

      // A new engine, 4 s later: the offer has 6 s left.
      await vi.advanceTimersByTimeAsync(4_000);
      const api = createRecordingInteractionService();
      const b = new StepRunner({ api, log, pickRep, isLive: () => false });
      const restored = createActor(logicOf(b), { snapshot: saved as never, input: input() });
      restored.start();
      b.resume(restored);
      expect(b.timers.size).toBe(2); // the routing deadline and the offer timeout
      await vi.advanceTimersByTimeAsync(dueAt - Date.now() - 10);
      expect(api.callsTo('PATCH /agentWork')).toHaveLength(0);
      await vi.advanceTimersByTimeAsync(20);
      expect(api.callsTo('PATCH /agentWork').map((c) => c.body)).toEqual([{ workId: '0Bz000000000009', contextType: 'Agent', status: 'Cancel' }]);
    });

    it('makes the call of the state it was saved in again, with the same step key (POST /route in flight at the crash)', async () => {
      const api = createRecordingInteractionService();
      api.respond('POST /route', () => new Promise(() => undefined));
      const a = new StepRunner({ api, log, pickRep: () => undefined, isLive: () => false });
      const actor = createActor(logicOf(a), { input: input() });
      actor.start();
      await vi.advanceTimersByTimeAsync(10);
      expect(actor.getSnapshot().value).toEqual({ working: 'creatingRoute' });
      const saved = actor.getPersistedSnapshot();
      actor.stop();
      a.timers.stop();

      const api2 = createRecordingInteractionService();
      api2.respond('POST /route', () => ({ psrId: '0JR000000000009', workItemId: '0Mw000000000009', routingCorrelationId: 'x' }));
      const b = new StepRunner({ api: api2, log, pickRep: () => '005000000000B01', isLive: () => false });
      const restored = createActor(logicOf(b), { snapshot: saved as never, input: input() });
      restored.start();
      b.resume(restored);
      await vi.advanceTimersByTimeAsync(10);
      expect(api2.callsTo('POST /route').map((c) => c.ctx.requestId)).toEqual([stableRequestId('c9/evt-9/route')]);
      expect(api.callsTo('POST /route')[0]!.ctx.requestId).toBe(stableRequestId('c9/evt-9/route'));
      // It went on as if the first answer had come: the offer followed.
      expect(api2.callsTo('POST /agentWork')).toHaveLength(1);
    });

    it('a deadline that passed while the engine was down fires first: the restored routing reports its failure at once', async () => {
      const api = createRecordingInteractionService();
      const a = new StepRunner({ api, log, pickRep: () => undefined, isLive: () => false });
      const actor = createActor(logicOf(a), { input: input() });
      actor.start();
      await vi.advanceTimersByTimeAsync(10);
      expect(actor.getSnapshot().value).toEqual({ working: 'waitingForRep' });
      const saved = actor.getPersistedSnapshot();
      actor.stop();
      a.timers.stop();

      await vi.advanceTimersByTimeAsync(70_000);
      const api2 = createRecordingInteractionService();
      const b = new StepRunner({ api: api2, log, pickRep: () => '005000000000B01', isLive: () => false });
      const restored = createActor(logicOf(b), { snapshot: saved as never, input: input() });
      restored.start();
      b.resume(restored);
      await vi.advanceTimersByTimeAsync(10);
      // No offer after the window: the failure is reported and the PSR cleared; the saved repick
      // timer is not armed on a routing that has left its state.
      expect(api2.calls.map((c) => c.endpoint)).toEqual(['POST /routingResult', 'DELETE /route']);
      expect(b.timers.size).toBe(0);
      expect(restored.getSnapshot().output).toMatchObject({ outcome: 'timedOut' });
    });
  });
});
