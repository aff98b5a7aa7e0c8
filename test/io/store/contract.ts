// The SessionStore contract every store passes. Minimal version: round trip, all-or-nothing, long
// ids and reopen; the full suite replaces this file.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { PersistedSession, SessionStore } from '../../../src/io/store/session-store.js';

export interface StoreUnderTest {
  store: SessionStore;
  reopen(): Promise<SessionStore>;
  cleanup(): Promise<void>;
}

const session = (id: string, text = 'hello'): PersistedSession => ({
  conversationIdentifier: id,
  schemaVersion: 1,
  chartHash: 'abc',
  savedAt: 1_700_000_000_000,
  snapshot: { value: 'active', context: { text, n: 1, nested: [1, { a: null }] } },
});

export function describeStoreContract(name: string, open: () => Promise<StoreUnderTest>, opts: { durable?: boolean } = {}): void {
  describe(`SessionStore contract: ${name}`, () => {
    let current: StoreUnderTest | undefined;
    const start = async () => (current = await open());
    afterEach(async () => {
      await current?.cleanup();
      current = undefined;
    });

    it('reads back what a commit wrote', async () => {
      const { store } = await start();
      await store.commit({
        sessions: [session('c1'), { ...session('c2'), endedAt: 5 }],
        cursor: { topic: '/event/A', replayId: Buffer.from([0, 1, 255]) },
        seen: ['e1', 'e2'],
        effects: [['c1/r1/route', { state: 'done', at: 10, output: { psrId: '0JR' } }]],
      });
      await store.commit({ seen: ['e3'], removed: ['c2'], effects: [['c1/r1/offer', { state: 'started', at: 11 }]] });
      expect(await store.loadSessions()).toEqual([session('c1')]);
      expect(await store.loadCursor('/event/A')).toEqual(Buffer.from([0, 1, 255]));
      expect(await store.loadCursor('/event/B')).toBeUndefined();
      expect(await store.loadSeen(2)).toEqual(['e2', 'e3']);
      expect(await store.loadSeen(10)).toEqual(['e1', 'e2', 'e3']);
      expect(await store.effect('c1/r1/route')).toEqual({ state: 'done', at: 10, output: { psrId: '0JR' } });
      expect(await store.effect('c1/r1/offer')).toEqual({ state: 'started', at: 11 });
      expect(await store.effect('missing')).toBeUndefined();
      expect(await store.pruneEffects(11)).toBe(1);
      // Times are the engine's numbers, kept exactly (a fractional one included).
      await store.commit({ sessions: [{ ...session('t'), savedAt: 1_733_000_000_123.5, endedAt: Number.MAX_SAFE_INTEGER }], effects: [['f', { state: 'done', at: 0.25 }]] });
      expect((await store.loadSessions()).find((s) => s.conversationIdentifier === 't')).toMatchObject({ savedAt: 1_733_000_000_123.5, endedAt: Number.MAX_SAFE_INTEGER });
      expect(await store.effect('f')).toEqual({ state: 'done', at: 0.25 });
      expect(await store.effect('c1/r1/route')).toBeUndefined();
    });

    it('writes nothing of a commit that fails', async () => {
      const { store } = await start();
      await store.commit({ sessions: [session('keep')], cursor: { topic: 't', replayId: Buffer.from([1]) } });
      // A snapshot that cannot be serialised (a cycle) fails the whole commit.
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      await expect(
        store.commit({
          sessions: [session('new'), { ...session('bad'), snapshot: cyclic }],
          cursor: { topic: 't', replayId: Buffer.from([2]) },
          seen: ['x'],
          effects: [['k', { state: 'started', at: 1 }]],
        }),
      ).rejects.toThrow();
      expect((await store.loadSessions()).map((s) => s.conversationIdentifier)).toEqual(['keep']);
      expect(await store.loadCursor('t')).toEqual(Buffer.from([1]));
      expect(await store.loadSeen(10)).toEqual([]);
      expect(await store.effect('k')).toBeUndefined();
    });

    it('keeps ids of any length apart', async () => {
      const { store } = await start();
      // Random, so compression cannot shrink it below an index entry's size limit.
      const long = randomBytes(5_000).toString('hex');
      const longer = `${long}x`;
      const step = `${long}/routing/offer`;
      await store.commit({ sessions: [session(long, 'a'), session(longer, 'b')], effects: [[step, { state: 'done', at: 1 }]], cursor: { topic: long, replayId: Buffer.from([7]) } });
      const loaded = new Map((await store.loadSessions()).map((s) => [s.conversationIdentifier, s]));
      expect(loaded.get(long)).toEqual(session(long, 'a'));
      expect(loaded.get(longer)).toEqual(session(longer, 'b'));
      expect(await store.effect(step)).toEqual({ state: 'done', at: 1 });
      expect(await store.loadCursor(long)).toEqual(Buffer.from([7]));
      await store.commit({ removed: [long] });
      expect((await store.loadSessions()).map((s) => s.conversationIdentifier)).toEqual([longer]);
    });

    it.runIf(opts.durable !== false)('finds everything again after a reopen', async () => {
      const under = await start();
      await under.store.commit({ sessions: [session('c1', 'nul \u0000 and \ud800 stay')], cursor: { topic: 't', replayId: Buffer.from([9]) }, seen: ['a', 'b'], effects: [['k', { state: 'done', at: 3, output: 'ok' }]] });
      const again = await under.reopen();
      expect(await again.loadSessions()).toEqual([session('c1', 'nul \u0000 and \ud800 stay')]);
      expect(await again.loadCursor('t')).toEqual(Buffer.from([9]));
      expect(await again.loadSeen(5)).toEqual(['a', 'b']);
      expect(await again.effect('k')).toEqual({ state: 'done', at: 3, output: 'ok' });
    });
  });
}
