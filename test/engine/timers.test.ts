// The engine's one timer: entries in a heap, one setTimeout for the earliest.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AnyActorRef } from 'xstate';
import { Timers } from '../../src/engine/timers.js';

function fakeRef(name: string, log: string[]): AnyActorRef & { active: boolean } {
  const ref = {
    active: true,
    send: (e: { type: string }) => log.push(`${name}:${e.type}`),
    getSnapshot: () => ({ status: ref.active ? 'active' : 'stopped' }),
  };
  return ref as unknown as AnyActorRef & { active: boolean };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('Timers', () => {
  it('fires each timer at its absolute time, in order, whatever order they were armed in', async () => {
    const log: string[] = [];
    const t = new Timers();
    const a = fakeRef('a', log);
    const b = fakeRef('b', log);
    const now = Date.now();
    t.arm(a, 'offer', now + 300, 'OFFER_TIMED_OUT');
    t.arm(b, 'deadline', now + 100, 'DEADLINE_REACHED');
    t.arm(a, 'deadline', now + 200, 'DEADLINE_REACHED');
    expect(t.size).toBe(3);
    await vi.advanceTimersByTimeAsync(150);
    expect(log).toEqual(['b:DEADLINE_REACHED']);
    await vi.advanceTimersByTimeAsync(200);
    expect(log).toEqual(['b:DEADLINE_REACHED', 'a:DEADLINE_REACHED', 'a:OFFER_TIMED_OUT']);
    expect(t.size).toBe(0);
    // One setTimeout at most, however many timers are armed.
    expect(vi.getTimerCount()).toBe(0);
  });

  it('uses one setTimeout for many timers', () => {
    const t = new Timers();
    const log: string[] = [];
    for (let i = 0; i < 500; i++) t.arm(fakeRef(`r${i}`, log), 'deadline', Date.now() + 1_000 + i, 'DEADLINE_REACHED');
    expect(t.size).toBe(500);
    expect(vi.getTimerCount()).toBe(1);
  });

  it('a disarmed or re-armed timer does not fire its old time', async () => {
    const log: string[] = [];
    const t = new Timers();
    const a = fakeRef('a', log);
    t.arm(a, 'offer', Date.now() + 100, 'OFFER_TIMED_OUT');
    t.arm(a, 'grace', Date.now() + 100, 'ANSWER_GRACE_OVER');
    t.disarm(a, 'offer');
    t.arm(a, 'grace', Date.now() + 500, 'ANSWER_GRACE_OVER');
    await vi.advanceTimersByTimeAsync(200);
    expect(log).toEqual([]);
    await vi.advanceTimersByTimeAsync(400);
    expect(log).toEqual(['a:ANSWER_GRACE_OVER']);
  });

  it('a timer already due is sent at once (a restored deadline that passed while the engine was down)', () => {
    const log: string[] = [];
    const t = new Timers();
    t.arm(fakeRef('a', log), 'deadline', Date.now() - 5, 'DEADLINE_REACHED');
    expect(log).toEqual(['a:DEADLINE_REACHED']);
    expect(t.size).toBe(0);
  });

  it('sends nothing to a stopped actor, nothing after forget() or stop()', async () => {
    const log: string[] = [];
    const t = new Timers();
    const a = fakeRef('a', log);
    const b = fakeRef('b', log);
    const c = fakeRef('c', log);
    t.arm(a, 'deadline', Date.now() + 100, 'DEADLINE_REACHED');
    t.arm(b, 'deadline', Date.now() + 100, 'DEADLINE_REACHED');
    t.arm(c, 'deadline', Date.now() + 300, 'DEADLINE_REACHED');
    a.active = false;
    t.forget(b);
    await vi.advanceTimersByTimeAsync(200);
    expect(log).toEqual([]);
    t.stop();
    await vi.advanceTimersByTimeAsync(200);
    expect(log).toEqual([]);
    t.arm(c, 'deadline', Date.now() - 1, 'DEADLINE_REACHED');
    expect(log).toEqual([]);
  });

  it('drops disarmed entries from the heap once they are most of it (answered offers do not pile up)', async () => {
    const log: string[] = [];
    const t = new Timers();
    const refs = Array.from({ length: 3_000 }, (_, i) => fakeRef(`r${i}`, log));
    for (const r of refs) t.arm(r, 'offer', Date.now() + 60_000, 'OFFER_TIMED_OUT');
    for (const r of refs.slice(0, 2_900)) t.disarm(r, 'offer');
    expect(t.size).toBe(100);
    expect(t.heapSize).toBeLessThan(3_000);
    await vi.advanceTimersByTimeAsync(60_001);
    expect(log).toHaveLength(100);
  });
});
