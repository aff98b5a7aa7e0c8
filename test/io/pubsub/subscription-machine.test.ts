// The subscription chart on its own, with fake effects provided through .provide() and vitest's
// fake clock driving the absolute-time timers.
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { createActor, fromCallback, fromPromise } from 'xstate';
import {
  backoffDelay,
  subscriptionMachine,
  type StreamCommand,
  type StreamInput,
  type SubscriptionEmitted,
  type SubscriptionEvent,
  type SubscriptionInput,
} from '../../../src/machines/subscription.js';
import { describeSubscriptionState } from '../../../src/io/pubsub/intake.js';

const CORRUPTED = 'sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted';

function rig(overrides: Partial<SubscriptionInput> = {}, refresh: () => Promise<void> = async () => {}) {
  const streams: Array<{ input: StreamInput; commands: StreamCommand[]; send: (e: SubscriptionEvent) => void; cancelled: boolean }> = [];
  const emitted: SubscriptionEmitted[] = [];
  let refreshes = 0;
  const machine = subscriptionMachine.provide({
    actors: {
      stream: fromCallback<StreamCommand, StreamInput>(({ input, receive, sendBack }) => {
        const s = { input, commands: [] as StreamCommand[], send: (e: SubscriptionEvent) => sendBack(e), cancelled: false };
        streams.push(s);
        receive((c) => s.commands.push(c));
        return () => {
          s.cancelled = true;
        };
      }),
      refreshToken: fromPromise(async () => {
        refreshes += 1;
        await refresh();
      }),
    },
  });
  const input: SubscriptionInput = {
    topic: '/event/ns__Conversation__e',
    replayPreset: 'LATEST',
    replayFallback: 'EARLIEST',
    batchSize: 100,
    maxInFlight: 100,
    keepaliveTimeoutMs: 300_000,
    backoff: { initialMs: 1_000, maxMs: 8_000, jitter: 0 },
    commitEvery: 50,
    ...overrides,
  };
  const actor = createActor(machine, { input });
  const errors: unknown[] = [];
  actor.subscribe({ error: (e) => errors.push(e) });
  actor.on('*', (e) => emitted.push(e as SubscriptionEmitted));
  actor.start();
  const last = () => streams[streams.length - 1]!;
  const requests = (s = last()) => s.commands.filter((c) => c.type === 'REQUEST').map((c) => (c as { n: number }).n);
  return {
    input,
    actor,
    streams,
    emitted,
    errors,
    last,
    requests,
    refreshes: () => refreshes,
    state: () => describeSubscriptionState(actor.getSnapshot().value),
    ctx: () => actor.getSnapshot().context,
    respond: (received: number, extra: Partial<Extract<SubscriptionEvent, { type: 'RESPONSE' }>> = {}) =>
      last().send({ type: 'RESPONSE', received, ...extra }),
    handled: (count: number, replayId?: string) => actor.send({ type: 'EVENTS_HANDLED', count, ...(replayId ? { replayId } : {}) }),
    close: (code: number, details = 'closed', errorCode?: string) =>
      last().send({ type: 'STREAM_CLOSED', code, details, ...(errorCode ? { errorCode } : {}) }),
  };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('flow control', () => {
  test('the first FetchRequest asks for a full batch, and no more until credit is low', () => {
    const r = rig();
    expect(r.requests()).toEqual([100]);
    expect(r.state()).toBe('connecting');
    r.respond(30);
    r.handled(30, 'a1');
    // 70 outstanding: above the low-water mark, nothing asked.
    expect(r.requests()).toEqual([100]);
    expect(r.state()).toBe('subscribed.flowing');
    r.respond(20);
    r.handled(20, 'a2');
    // 50 outstanding and room for 50: top up to a full batch.
    expect(r.requests()).toEqual([100, 50]);
    expect(r.ctx().outstanding).toBe(100);
  });

  test('credit never exceeds 100 outstanding, even when a larger batch is configured', () => {
    const r = rig({ batchSize: 500, maxInFlight: 1_000 });
    let outstanding = 0;
    for (let i = 0; i < 40; i++) {
      outstanding = r.requests().reduce((a, b) => a + b, 0) - 25 * i;
      expect(outstanding).toBeLessThanOrEqual(100);
      r.respond(25);
      r.handled(25, `r${i}`);
    }
    expect(Math.max(...r.requests())).toBeLessThanOrEqual(100);
  });

  test('back-pressure: with maxInFlight unhandled events nothing more is requested until the engine catches up', () => {
    const r = rig({ batchSize: 100, maxInFlight: 10 });
    expect(r.requests()).toEqual([10]);
    r.respond(10);
    expect(r.state()).toBe('subscribed.heldBack');
    expect(r.requests()).toEqual([10]);
    r.handled(1, 'e1');
    // Credit is gone, so even one free slot is asked for at once: the 60-s idle window is running.
    expect(r.requests()).toEqual([10, 1]);
    // 1 outstanding and room for only 4: too little to bother while credit remains.
    r.handled(4, 'e5');
    expect(r.requests()).toEqual([10, 1]);
    // Credit gone again: the 4 free slots are asked for at once.
    r.respond(1);
    expect(r.requests()).toEqual([10, 1, 4]);
    r.handled(6, 'e11');
    expect(r.requests()).toEqual([10, 1, 4, 6]);
    expect(r.ctx().outstanding + r.ctx().inFlight).toBeLessThanOrEqual(10);
  });

  test('a new stream starts with fresh credit while handling of the old stream’s events continues', () => {
    const r = rig({ maxInFlight: 100 });
    r.respond(60);
    r.close(14, 'UNAVAILABLE');
    vi.advanceTimersByTime(1_000);
    expect(r.streams).toHaveLength(2);
    // 60 events of the old stream are still being handled: only 40 fit.
    expect(r.requests()).toEqual([40]);
    r.handled(60, 'x60');
    expect(r.requests()).toEqual([40, 60]);
  });
});

describe('replay position', () => {
  test('starts from the stored cursor, else the preset', () => {
    expect(rig({ cursor: '00000100000000aa' }).last().input.replay).toEqual({ preset: 'CUSTOM', replayId: '00000100000000aa' });
    expect(rig({ replayPreset: 'EARLIEST' }).last().input.replay).toEqual({ preset: 'EARLIEST' });
  });

  test('a reconnect resumes after the last handled event', () => {
    const r = rig();
    r.respond(3);
    r.handled(1, 'aa');
    r.handled(1, 'bb');
    r.close(13, 'Received RST_STREAM with code 0');
    vi.advanceTimersByTime(1_000);
    expect(r.last().input.replay).toEqual({ preset: 'CUSTOM', replayId: 'bb' });
  });

  test('before anything is handled, a reconnect resumes after the last event received, not at the preset', () => {
    const r = rig({ replayPreset: 'LATEST' });
    r.respond(2, { latestReplayId: 'r2' });
    r.close(14, 'UNAVAILABLE');
    vi.advanceTimersByTime(1_000);
    expect(r.last().input.replay).toEqual({ preset: 'CUSTOM', replayId: 'r2' });
  });

  test('a keepalive moves the cursor to the stream position only when nothing is being handled', () => {
    const r = rig();
    r.respond(2);
    r.respond(0, { latestReplayId: 'k1' });
    expect(r.ctx().cursor).toBeUndefined();
    r.handled(2, 'e2');
    r.respond(0, { latestReplayId: 'k2' });
    expect(r.ctx().cursor).toBe('k2');
    expect(r.emitted.filter((e) => e.type === 'cursor.advanced')).toEqual([
      { type: 'cursor.advanced', replayId: 'e2', source: 'handled' },
      { type: 'cursor.advanced', replayId: 'k2', source: 'keepalive' },
    ]);
  });

  test('a refused replay id falls back to EARLIEST at once and says so', () => {
    const r = rig({ cursor: 'dead' });
    r.close(3, 'The Replay ID is corrupted.', CORRUPTED);
    expect(r.streams).toHaveLength(2);
    expect(r.streams[0]!.cancelled).toBe(true);
    expect(r.last().input.replay).toEqual({ preset: 'EARLIEST' });
    expect(r.emitted).toContainEqual({ type: 'replay.rejected', replayId: 'dead', fallback: 'EARLIEST', errorCode: CORRUPTED, details: 'The Replay ID is corrupted.' });
    // Once a new event is handled, the stream resumes from it again.
    r.respond(1);
    r.handled(1, 'fresh');
    r.close(14, 'UNAVAILABLE');
    vi.advanceTimersByTime(1_000);
    expect(r.last().input.replay).toEqual({ preset: 'CUSTOM', replayId: 'fresh' });
  });

  test('a replay error on a preset start is not a stored-cursor problem: it backs off', () => {
    const r = rig({ replayFallback: 'LATEST' });
    r.close(3, 'bad', CORRUPTED);
    expect(r.state()).toBe('backingOff');
    expect(r.emitted.some((e) => e.type === 'replay.rejected')).toBe(false);
  });
});

describe('failures', () => {
  test('backoff grows exponentially to its cap and resets once the server answers', () => {
    const r = rig();
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      r.close(14, 'UNAVAILABLE');
      expect(r.state()).toBe('backingOff');
      const e = r.emitted.filter((x) => x.type === 'retry.scheduled').at(-1) as { delayMs: number };
      delays.push(e.delayMs);
      vi.advanceTimersByTime(e.delayMs - 1);
      expect(r.state()).toBe('backingOff');
      vi.advanceTimersByTime(1);
      expect(r.state()).toBe('connecting');
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 8_000]);
    expect(r.streams.every((s, i) => i === r.streams.length - 1 || s.cancelled)).toBe(true);
    r.respond(0);
    r.close(14, 'UNAVAILABLE');
    expect(r.emitted.filter((x) => x.type === 'retry.scheduled').at(-1)).toMatchObject({ attempt: 1, delayMs: 1_000 });
  });

  test('jitter shortens a delay by at most its fraction', () => {
    const b = { initialMs: 1_000, maxMs: 60_000, jitter: 0.5 };
    expect(backoffDelay(b, 3, 0)).toBe(4_000);
    expect(backoffDelay(b, 3, 1)).toBe(2_000);
    expect(backoffDelay(b, 30, 0)).toBe(60_000);
  });

  test('UNAUTHENTICATED refreshes the token and resubscribes; a second refusal in a row backs off first', async () => {
    const r = rig({ cursor: 'c1' });
    r.close(16, 'An authentication exception occurred');
    expect(r.state()).toBe('refreshingAuth');
    await vi.advanceTimersByTimeAsync(0);
    expect(r.refreshes()).toBe(1);
    expect(r.streams).toHaveLength(2);
    expect(r.last().input.replay).toEqual({ preset: 'CUSTOM', replayId: 'c1' });
    r.close(16, 'again');
    await vi.advanceTimersByTimeAsync(0);
    expect(r.refreshes()).toBe(2);
    expect(r.state()).toBe('backingOff');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(r.streams).toHaveLength(3);
  });

  test('a failing token refresh backs off', async () => {
    const r = rig({}, async () => {
      throw new Error('login host down');
    });
    r.close(16, 'expired');
    await vi.advanceTimersByTimeAsync(0);
    expect(r.state()).toBe('backingOff');
    expect(r.ctx().lastError).toContain('login host down');
  });

  test('the keepalive watchdog cancels a silent stream and resubscribes; any response postpones it', () => {
    const r = rig({ keepaliveTimeoutMs: 300_000 });
    vi.advanceTimersByTime(200_000);
    r.respond(0, { latestReplayId: 'k1' });
    vi.advanceTimersByTime(200_000);
    expect(r.streams).toHaveLength(1);
    vi.advanceTimersByTime(100_000);
    expect(r.streams).toHaveLength(2);
    expect(r.streams[0]!.cancelled).toBe(true);
    expect(r.last().input.replay).toEqual({ preset: 'CUSTOM', replayId: 'k1' });
    expect(r.emitted.find((e) => e.type === 'keepalive.missed')).toEqual({ type: 'keepalive.missed', silentForMs: 300_000 });
  });
});

describe('managed subscription and stopping', () => {
  test('commits the handled position when the engine idles, and every commitEvery events while busy', () => {
    const r = rig({ managed: { developerName: 'Switchboard_Events' }, commitEvery: 5 });
    expect(r.last().input.managed).toEqual({ developerName: 'Switchboard_Events' });
    r.respond(10);
    r.handled(3, 'a3');
    expect(r.last().commands.filter((c) => c.type === 'COMMIT')).toEqual([]);
    r.handled(3, 'a6');
    r.handled(4, 'a10');
    expect(r.last().commands.filter((c) => c.type === 'COMMIT')).toEqual([
      { type: 'COMMIT', replayId: 'a6' },
      { type: 'COMMIT', replayId: 'a10' },
    ]);
    r.respond(0, { committedReplayId: 'a10' });
    expect(r.ctx().committed).toBe('a10');
  });

  test('DRAIN stops asking for events, commits the last position, and ends when the stream closes', () => {
    const r = rig({ managed: { subscriptionId: '18x000000000001' } });
    r.respond(4);
    r.actor.send({ type: 'DRAIN' });
    expect(r.state()).toBe('draining');
    r.handled(4, 'd4');
    expect(r.requests()).toEqual([100]);
    expect(r.last().commands.at(-1)).toEqual({ type: 'COMMIT', replayId: 'd4' });
    r.actor.send({ type: 'STOP' });
    expect(r.state()).toBe('stopped');
    expect(r.last().cancelled).toBe(true);
  });

  test('DRAIN while backing off stops at once; no timer survives', () => {
    const r = rig();
    r.close(14, 'UNAVAILABLE');
    r.actor.send({ type: 'DRAIN' });
    expect(r.actor.getSnapshot().status).toBe('done');
    vi.advanceTimersByTime(60_000);
    expect(r.streams).toHaveLength(1);
    expect(r.errors).toEqual([]);
  });

  test('a snapshot taken while backing off re-arms the retry with the time left when restored', () => {
    const r = rig();
    r.close(14, 'UNAVAILABLE');
    vi.advanceTimersByTime(400);
    const persisted = JSON.parse(JSON.stringify(r.actor.getPersistedSnapshot()));
    r.actor.stop();
    const opened: StreamInput[] = [];
    const restored = createActor(
      subscriptionMachine.provide({
        actors: { stream: fromCallback<StreamCommand, StreamInput>(({ input }) => void opened.push(input)) },
      }),
      { snapshot: persisted, input: r.input },
    ).start();
    vi.advanceTimersByTime(599);
    expect(opened).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(opened).toHaveLength(1);
    restored.stop();
  });
});
