// The engine's life alone, over a real registry, runner, intake and memory store, with the stream,
// the client and the store's lease check as stand-ins that write to one journal: start restores
// before it subscribes, stop ends the stream before it refuses input and commits before it closes,
// halt stops every call at once and only once.
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Directory } from '../../src/directory.js';
import { FencedError, StoppedError } from '../../src/domain/errors.js';
import { AppEvents } from '../../src/engine/app-events.js';
import { StepRunner } from '../../src/engine/effects.js';
import { Intake } from '../../src/engine/intake.js';
import { Lifecycle } from '../../src/engine/lifecycle.js';
import type { EngineLimits } from '../../src/engine/options.js';
import { SessionRegistry } from '../../src/engine/registry.js';
import type { InteractionClient } from '../../src/io/interaction-api/index.js';
import type { PubSubIntake } from '../../src/io/pubsub/index.js';
import { createRecordingInteractionService } from '../../src/io/recording-interaction-service.js';
import { createMemorySessionStore } from '../../src/io/store/index.js';
import type { RoutingSettings } from '../../src/machines/session.js';
import { Persistence } from '../../src/persistence.js';
import { currentChartHash, SCHEMA_VERSION } from '../../src/snapshot-version.js';
import { participantChanged } from '../../src/sandbox/payloads.js';
import { newConversation, REPS } from '../support/harness.js';

const log = pino({ level: 'silent' });
const settings: RoutingSettings = { routingWindowMs: 60_000, reportReserveMs: 5_000, offerTimeoutMs: 20_000, maxOffers: 3, repickIntervalMs: 2_000, answerGraceMs: 5_000, initialRoutingTimeoutMs: 120_000, participantCap: 4 };
const limits: EngineLimits = { hibernateAfterMs: 30_000, maxSessions: 100, idleExpiryMs: false, dedupeWindow: 100 };
const fenced = () => new FencedError('00D000000000001', 3, 4);

const rigs: Array<{ registry: SessionRegistry }> = [];
afterEach(() => {
  for (const r of rigs.splice(0)) r.registry.close();
  vi.useRealTimers();
});

/**
 * Replaces `obj[method]` by one that notes `name` in the journal, then does what it did. What a
 * watched method calls while it runs (registry.close() stops the sweep) is not noted again.
 */
function watcher(journal: string[]) {
  let depth = 0;
  return <T extends object>(name: string, obj: T, method: keyof T & string): void => {
    const original = (obj[method] as (...args: unknown[]) => unknown).bind(obj);
    (obj as Record<string, unknown>)[method] = (...args: unknown[]) => {
      if (depth === 0) journal.push(name);
      depth += 1;
      try {
        return original(...args);
      } finally {
        depth -= 1;
      }
    };
  };
}

function rig(options: { owned?: boolean } = {}) {
  const journal: string[] = [];
  const api = createRecordingInteractionService();
  const events = new AppEvents(log);
  const store = createMemorySessionStore();
  let registry!: SessionRegistry;
  let lifecycle!: Lifecycle;
  const persistence = new Persistence(store, log, (conv) => registry.persistedSnapshot(conv));
  const runner = new StepRunner({ api, persistence, log, pickRep: () => undefined, isLive: (c) => registry.isLive(c) });
  registry = new SessionRegistry({ machine: runner.session, settings, limits, directory: new Directory(), events, log, persistence });
  const intake = new Intake({ registry, runner, api, events, log, persistence, parseOptions: {}, maxIdLength: 255, maxSessions: 100, dedupeWindow: 100, isStopped: () => lifecycle.stopped });
  const subscription = {
    start: vi.fn(async () => void journal.push('stream.start')),
    stop: vi.fn(async () => void journal.push('stream.stop')),
  };
  const client = { close: vi.fn(async () => void journal.push('client.close')) };
  const engineStore = { store, owned: options.owned ?? true, checkWritable: vi.fn(async () => void journal.push('store.checkWritable')) };
  const watch = watcher(journal);
  watch('registry.stopSweeping', registry, 'stopSweeping');
  watch('registry.close', registry, 'close');
  watch('runner.settled', runner, 'settled');
  watch('runner.halt', runner, 'halt');
  watch('persistence.close', persistence, 'close');
  watch('store.close', store, 'close');
  const restoreCounters = { restored: 0, finishedStale: 0 };
  lifecycle = new Lifecycle({
    log,
    events,
    api,
    runner,
    registry,
    intake,
    limits,
    restoreCounters,
    persistence,
    subscription: subscription as unknown as PubSubIntake,
    client: client as unknown as InteractionClient,
    engineStore,
  });
  const r = { journal, api, events, store, persistence, runner, registry, intake, subscription, client, engineStore, restoreCounters, lifecycle };
  rigs.push(r);
  return r;
}

/** A conversation the engine holds a live session for. */
function liveSession(r: ReturnType<typeof rig>): string {
  const conv = newConversation();
  expect(r.intake.ingest(participantChanged(conv, [{ operation: 'add', userId: REPS[0] }]))).toMatchObject({ ok: true });
  return conv.conversationIdentifier;
}

describe('Lifecycle.start', () => {
  it('restores what the store holds, with its dedupe keys, before it subscribes', async () => {
    const r = rig();
    const idle = { value: 'active', status: 'active', children: {}, context: { conversationIdentifier: 'c-idle', settings, reps: {}, routings: [], refusals: [], heldWork: [], seenRoutingIds: [], transfers: [], joining: {}, initialCount: 0 } };
    await r.store.commit({ sessions: [{ conversationIdentifier: 'c-idle', schemaVersion: SCHEMA_VERSION, chartHash: currentChartHash(), savedAt: Date.now(), snapshot: idle }], seen: ['event:e-before-the-restart'] });
    let heldAtSubscribe = -1;
    r.subscription.start.mockImplementation(async () => {
      heldAtSubscribe = r.registry.size;
      r.journal.push('stream.start');
    });
    await r.lifecycle.start();
    expect(r.journal).toEqual(['store.checkWritable', 'stream.start']);
    expect(heldAtSubscribe).toBe(1);
    expect(r.restoreCounters).toEqual({ restored: 1, finishedStale: 0 });
    // The key came back to intake: the same delivery after the restart is a duplicate.
    const again = { ...participantChanged(newConversation(), [{ operation: 'add', userId: REPS[0] }]), eventId: 'e-before-the-restart' };
    expect(r.intake.ingest(again)).toMatchObject({ ok: true, kind: 'duplicate' });
  });

  it('a store that may no longer write rejects start() with its FencedError: nothing restored, nothing subscribed', async () => {
    const r = rig();
    const error = fenced();
    r.engineStore.checkWritable.mockRejectedValueOnce(error);
    await r.store.commit({ sessions: [{ conversationIdentifier: 'c-1', schemaVersion: SCHEMA_VERSION, chartHash: currentChartHash(), savedAt: Date.now(), snapshot: { value: 'active', status: 'active', children: {}, context: { conversationIdentifier: 'c-1', settings, reps: {}, routings: [], refusals: [] } } }] });
    await expect(r.lifecycle.start()).rejects.toBe(error);
    expect(r.subscription.start).not.toHaveBeenCalled();
    expect(r.registry.size).toBe(0);
  });

  it('a start that fails to subscribe rejects with that error and leaves the engine startable', async () => {
    const r = rig();
    r.subscription.start.mockRejectedValueOnce(new Error('topic not found'));
    await expect(r.lifecycle.start()).rejects.toThrow('topic not found');
    expect(r.lifecycle).toMatchObject({ stopped: false, halted: false });
    await r.lifecycle.start();
    expect(r.subscription.start).toHaveBeenCalledTimes(2);
  });

  it('after stop() or halt(), rejects with StoppedError (SB_STOPPED) and touches nothing', async () => {
    for (const end of ['stop', 'halt'] as const) {
      const r = rig();
      await (end === 'stop' ? r.lifecycle.stop(1_000) : r.lifecycle.halt());
      r.journal.length = 0;
      const err = await r.lifecycle.start().catch((e: unknown) => e);
      expect(err, end).toBeInstanceOf(StoppedError);
      expect((err as StoppedError).code).toBe('SB_STOPPED');
      expect(r.journal, end).toEqual([]);
    }
  });
});

describe('Lifecycle.stop', () => {
  it('ends the stream first, then stops sweeping, waits for calls, commits, and closes the store, the registry and the client', async () => {
    const r = rig();
    await r.lifecycle.start();
    r.journal.length = 0;
    await r.lifecycle.stop(1_000);
    expect(r.journal).toEqual(['stream.stop', 'registry.stopSweeping', 'runner.settled', 'persistence.close', 'store.close', 'registry.close', 'client.close']);
    expect(r.lifecycle).toMatchObject({ stopped: true, halted: false });
  });

  it('takes what the stream drains while it stops, and commits it with the sessions already held', async () => {
    const r = rig();
    const held = liveSession(r);
    let drained = '';
    r.subscription.stop.mockImplementation(async () => {
      // The stream hands over its last events while it stops: input is still taken.
      drained = liveSession(r);
    });
    await r.lifecycle.stop(1_000);
    expect(r.registry.size).toBe(0);
    const saved = (await r.store.loadSessions()).map((s) => s.conversationIdentifier);
    expect(saved.sort()).toEqual([held, drained].sort());
    // Stopped: nothing is taken any more.
    expect(r.intake.ingest(participantChanged(newConversation(), [{ operation: 'add', userId: REPS[0] }]))).toMatchObject({ ok: false, error: { code: 'SB_STOPPED' } });
  });

  it('waits for calls in flight up to drainMs, and no longer', async () => {
    vi.useFakeTimers();
    const r = rig();
    r.runner.track('test call', 'c-1/never', () => new Promise<never>(() => {}));
    let done = false;
    const stopping = r.lifecycle.stop(1_000).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    expect(r.journal).not.toContain('persistence.close');
    await vi.advanceTimersByTimeAsync(1);
    await stopping;
    expect(r.journal.slice(-4)).toEqual(['persistence.close', 'store.close', 'registry.close', 'client.close']);
    expect(r.runner.inFlight).toBe(1);
  });

  it('does not wait out drainMs once the calls in flight have answered', async () => {
    vi.useFakeTimers();
    const r = rig();
    r.runner.track('test call', 'c-1/soon', () => new Promise<void>((resolve) => setTimeout(resolve, 200)));
    let done = false;
    const stopping = r.lifecycle.stop(60_000).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(250);
    expect(done).toBe(true);
    await stopping;
  });

  it('a last commit refused because the org moved on: stop() resolves, and what the halt closed is not closed again', async () => {
    const r = rig();
    const error = fenced();
    // As in a switchboard: the fenced store halts the engine, then the commit rejects.
    r.persistence.close = async () => {
      r.journal.push('persistence.close');
      await r.lifecycle.halt(error);
      throw error;
    };
    await r.lifecycle.stop(1_000);
    expect(r.journal.filter((e) => e === 'registry.close')).toHaveLength(1);
    expect(r.journal.filter((e) => e === 'store.close')).toHaveLength(1);
    expect(r.journal.filter((e) => e === 'client.close')).toHaveLength(1);
    expect(r.lifecycle).toMatchObject({ stopped: true, halted: true });
  });

  it('any other failure of the last commit rejects stop()', async () => {
    const r = rig();
    liveSession(r);
    const failure = new Error('disk full');
    r.store.commit = async () => {
      throw failure;
    };
    await expect(r.lifecycle.stop(1_000)).rejects.toBe(failure);
  });

  it('happens once: a second stop(), or one after halt(), does nothing', async () => {
    const r = rig();
    await r.lifecycle.stop(1_000);
    const once = [...r.journal];
    await r.lifecycle.stop(1_000);
    expect(r.journal).toEqual(once);

    const h = rig();
    await h.lifecycle.halt();
    h.journal.length = 0;
    await h.lifecycle.stop(1_000);
    expect(h.journal).toEqual([]);
  });

  it('leaves open a store the app passed in', async () => {
    const r = rig({ owned: false });
    await r.lifecycle.stop(1_000);
    expect(r.journal).toContain('persistence.close');
    expect(r.journal).not.toContain('store.close');
  });
});

describe('Lifecycle.halt', () => {
  it('with the FencedError: no call leaves any more, the sessions stop, the app hears it, and nothing is committed', async () => {
    const r = rig();
    liveSession(r);
    const heard: unknown[] = [];
    r.events.on('fenced', (e) => heard.push(e.error));
    const error = fenced();
    await r.lifecycle.halt(error);
    expect(r.journal).toEqual(['runner.halt', 'registry.close', 'stream.stop', 'client.close', 'store.close']);
    expect(heard).toEqual([error]);
    expect(r.registry.size).toBe(0);
    expect(r.lifecycle).toMatchObject({ stopped: true, halted: true });
    // A step whose turn comes now is refused before it is sent: its write-ahead record can no
    // longer be committed (the halt sealed the engine's persistence with its reason).
    const send = vi.fn(async () => 'sent');
    await expect(r.runner.sendStep('POST /route', 'c-1/rq-1/route', 'start', 'repeat', Date.now() + 60_000, send)).rejects.toBe(error);
    expect(send).not.toHaveBeenCalled();
    expect(await r.store.loadSessions()).toEqual([]);
  });

  it('happens once: a second halt() closes nothing again and tells the app nothing more', async () => {
    const r = rig();
    let told = 0;
    r.events.on('fenced', () => void (told += 1));
    await Promise.all([r.lifecycle.halt(fenced()), r.lifecycle.halt(fenced())]);
    await r.lifecycle.halt(fenced());
    expect(told).toBe(1);
    expect(r.journal).toEqual(['runner.halt', 'registry.close', 'stream.stop', 'client.close', 'store.close']);
  });

  it('gets to the end when the stream, the client and the store fail to close', async () => {
    const r = rig();
    r.subscription.stop.mockRejectedValueOnce(new Error('cursor commit refused'));
    r.client.close.mockRejectedValueOnce(new Error('socket'));
    r.store.close = async () => {
      r.journal.push('store.close');
      throw new Error('already closed');
    };
    await expect(r.lifecycle.halt(fenced())).resolves.toBeUndefined();
    expect(r.journal).toContain('store.close');
    expect(r.subscription.stop).toHaveBeenCalledTimes(1);
    expect(r.client.close).toHaveBeenCalledTimes(1);
  });

  it('without a FencedError, tells the app nothing', async () => {
    const r = rig();
    let told = 0;
    r.events.on('fenced', () => void (told += 1));
    await r.lifecycle.halt();
    expect(told).toBe(0);
    expect(r.journal).toContain('runner.halt');
  });
});
