// The contract every SessionStore keeps, whatever holds the data: the memory store, LMDB, and the
// fleet's Postgres store run this same suite. A store plugs in with a function that opens a fresh,
// empty store and says how to restart it and clean up.
import { afterEach, describe, expect, it } from 'vitest';
import type { EffectRecord, PersistedSession, SessionStore, StoreCommit } from '../../../src/io/store/session-store.js';

export interface StoreUnderTest {
  store: SessionStore;
  /** Close this store and open the same data again (a restart). */
  reopen(): Promise<SessionStore>;
  /** Close and remove everything. */
  cleanup(): Promise<void>;
}

function session(conversationIdentifier: string, n = 1, extra: Partial<PersistedSession> = {}): PersistedSession {
  return { conversationIdentifier, schemaVersion: 2, chartHash: 'h.h', savedAt: 1_000 + n, snapshot: { value: 'active', context: { n, reps: ['005A'], deadlineAt: 1_700_000_000_000 + n } }, ...extra };
}

/**
 * A session no store can write: reading its snapshot throws, so it fails in whatever serialization
 * a store uses (structured clone, msgpack, JSON) — the way a store refuses an entry.
 */
function poisoned(conversationIdentifier: string): PersistedSession {
  return {
    conversationIdentifier,
    schemaVersion: 2,
    chartHash: 'h.h',
    savedAt: 1,
    get snapshot(): unknown {
      throw new Error('this snapshot cannot be serialized');
    },
  } as PersistedSession;
}

const byId = (a: PersistedSession, b: PersistedSession) => (a.conversationIdentifier < b.conversationIdentifier ? -1 : 1);

export function describeStoreContract(name: string, open: () => Promise<StoreUnderTest>, opts: { durable?: boolean } = {}): void {
  describe(`SessionStore contract: ${name}`, () => {
    let sut: StoreUnderTest | undefined;
    let store: SessionStore;
    const start = async () => {
      sut = await open();
      store = sut.store;
      return store;
    };
    afterEach(async () => {
      await sut?.cleanup();
      sut = undefined;
    });

    it('starts empty', async () => {
      await start();
      expect(await store.loadSessions()).toEqual([]);
      expect(await store.loadCursor('/event/x')).toBeUndefined();
      expect(await store.loadSeen(10)).toEqual([]);
      expect(await store.effect('c/r/route')).toBeUndefined();
    });

    it('round-trips sessions, the cursor, seen keys and journal records, as copies', async () => {
      await start();
      const s1 = session('0Mw000000000001AAA', 1, { endedAt: 5_000 });
      const s2 = session('conv-2', 2);
      const replayId = Buffer.from([0, 0, 0, 1, 0, 0, 0, 9]);
      const effect: EffectRecord = { state: 'done', at: 5, output: { psrId: '0JR000000000001', nested: [1, 'two', null] } };
      await store.commit({ sessions: [s1, s2], cursor: { topic: '/event/x', replayId }, seen: ['event:a', 'entry:b'], effects: [['conv-2/r1/route', effect], ['conv-2/r1/agentWork', { state: 'started', at: 6 }]] });
      replayId[7] = 0; // the caller's buffer is not the stored one
      expect((await store.loadSessions()).sort(byId)).toEqual([s1, s2].sort(byId));
      expect(await store.loadCursor('/event/x')).toEqual(Buffer.from([0, 0, 0, 1, 0, 0, 0, 9]));
      expect(await store.loadCursor('/event/other')).toBeUndefined();
      expect(await store.loadSeen(10)).toEqual(['event:a', 'entry:b']);
      expect(await store.effect('conv-2/r1/route')).toEqual(effect);
      expect(await store.effect('conv-2/r1/agentWork')).toEqual({ state: 'started', at: 6 });

      // A later commit overwrites a session and a journal record, and moves the cursor.
      const s2b = session('conv-2', 3);
      await store.commit({ sessions: [s2b], cursor: { topic: '/event/x', replayId: Buffer.from([9]) }, effects: [['conv-2/r1/agentWork', { state: 'done', at: 7, output: null }]] });
      expect((await store.loadSessions()).sort(byId)).toEqual([s1, s2b].sort(byId));
      expect(await store.loadCursor('/event/x')).toEqual(Buffer.from([9]));
      expect(await store.effect('conv-2/r1/agentWork')).toEqual({ state: 'done', at: 7, output: null });
    });

    it('removes sessions, in the same commit as other changes', async () => {
      await start();
      await store.commit({ sessions: [session('a'), session('b'), session('c')] });
      await store.commit({ removed: ['a', 'never-stored'], sessions: [session('d')] });
      expect((await store.loadSessions()).map((s) => s.conversationIdentifier).sort()).toEqual(['b', 'c', 'd']);
    });

    it('loadSeen gives the most recent keys, oldest first, up to the limit', async () => {
      await start();
      await store.commit({ seen: ['k1', 'k2', 'k3'] });
      await store.commit({ seen: ['k4'] });
      await store.commit({ seen: ['k5', 'k6'] });
      expect(await store.loadSeen(4)).toEqual(['k3', 'k4', 'k5', 'k6']);
      expect(await store.loadSeen(1)).toEqual(['k6']);
      expect(await store.loadSeen(100)).toEqual(['k1', 'k2', 'k3', 'k4', 'k5', 'k6']);
    });

    it('a commit is all or nothing: one refused entry leaves nothing of its batch, and the store goes on', async () => {
      await start();
      await store.commit({ sessions: [session('before')], cursor: { topic: '/event/x', replayId: Buffer.from([1]) }, seen: ['old'] });
      const batch: StoreCommit = {
        sessions: [session('s1'), poisoned('bad'), session('s2')],
        removed: ['before'],
        cursor: { topic: '/event/x', replayId: Buffer.from([2]) },
        seen: ['new-1', 'new-2'],
        effects: [['s1/r1/route', { state: 'started', at: 1 }]],
      };
      await expect(store.commit(batch)).rejects.toThrow();
      expect((await store.loadSessions()).map((s) => s.conversationIdentifier)).toEqual(['before']);
      expect(await store.loadCursor('/event/x')).toEqual(Buffer.from([1]));
      expect(await store.loadSeen(10)).toEqual(['old']);
      expect(await store.effect('s1/r1/route')).toBeUndefined();

      // The same batch without the refused entry goes through whole.
      await store.commit({ ...batch, sessions: [session('s1'), session('s2')] });
      expect((await store.loadSessions()).map((s) => s.conversationIdentifier).sort()).toEqual(['s1', 's2']);
      expect(await store.loadCursor('/event/x')).toEqual(Buffer.from([2]));
      expect(await store.loadSeen(10)).toEqual(['old', 'new-1', 'new-2']);
      expect(await store.effect('s1/r1/route')).toEqual({ state: 'started', at: 1 });
    });

    it('keeps records of very long ids (10 KB conversation ids and step keys) apart and intact, beside short ones', async () => {
      await start();
      const longA = `A${'x'.repeat(10_000)}`;
      const longB = `B${'x'.repeat(10_000)}`; // same length, differs in the first character
      const longC = `${'x'.repeat(10_000)}C`; // same prefix as others, differs at the end
      const wide = 'ü'.repeat(3_000); // 6,000 bytes of UTF-8
      const stepKey = `${longA}/${'r'.repeat(2_000)}/agentWork`;
      await store.commit({
        sessions: [session(longA, 1), session(longB, 2), session(longC, 3), session(wide, 4), session('short', 5)],
        cursor: { topic: `/event/${'t'.repeat(3_000)}`, replayId: Buffer.from([7]) },
        seen: [`event:${'e'.repeat(5_000)}`],
        effects: [
          [stepKey, { state: 'done', at: 3, output: { agentWorkId: '0Bz' } }],
          [`${longB}/r/route`, { state: 'started', at: 4 }],
        ],
      });
      const loaded = (await store.loadSessions()).sort(byId);
      expect(loaded).toEqual([session(longA, 1), session(longB, 2), session(longC, 3), session(wide, 4), session('short', 5)].sort(byId));
      expect(await store.loadCursor(`/event/${'t'.repeat(3_000)}`)).toEqual(Buffer.from([7]));
      expect(await store.loadSeen(1)).toEqual([`event:${'e'.repeat(5_000)}`]);
      expect(await store.effect(stepKey)).toEqual({ state: 'done', at: 3, output: { agentWorkId: '0Bz' } });
      expect(await store.effect(`${longB}/r/route`)).toEqual({ state: 'started', at: 4 });
      expect(await store.effect(`${longC}/r/route`)).toBeUndefined();

      await store.commit({ removed: [longA, wide] });
      expect((await store.loadSessions()).map((s) => s.conversationIdentifier).sort()).toEqual([longB, longC, 'short'].sort());
      expect(await store.pruneEffects(4)).toBe(1);
      expect(await store.effect(stepKey)).toBeUndefined();
      expect(await store.effect(`${longB}/r/route`)).toEqual({ state: 'started', at: 4 });
    });

    it('a long id in one conversation does not fail another conversation in the same commit', async () => {
      await start();
      const huge = 'c'.repeat(2_000);
      await store.commit({
        sessions: [session(huge), session('other')],
        effects: [[`${huge}/${'e'.repeat(2_000)}/route`, { state: 'started', at: 1 }], ['other/r/route', { state: 'started', at: 1 }]],
      });
      expect(await store.effect('other/r/route')).toEqual({ state: 'started', at: 1 });
      expect((await store.loadSessions()).map((s) => s.conversationIdentifier).sort()).toEqual([huge, 'other'].sort());
    });

    it('pruneEffects drops journal records older than the given time, and counts them', async () => {
      await start();
      await store.commit({ effects: [['c/r/1', { state: 'done', at: 10 }], ['c/r/2', { state: 'started', at: 20 }], ['c/r/3', { state: 'done', at: 30 }]] });
      expect(await store.pruneEffects(25)).toBe(2);
      expect(await store.effect('c/r/1')).toBeUndefined();
      expect(await store.effect('c/r/2')).toBeUndefined();
      expect(await store.effect('c/r/3')).toEqual({ state: 'done', at: 30 });
      expect(await store.pruneEffects(25)).toBe(0);
    });

    if (opts.durable) {
      it('keeps everything across a restart', async () => {
        await start();
        const long = 'L'.repeat(10_000);
        await store.commit({
          sessions: [session('s1'), session(long, 2)],
          cursor: { topic: '/event/x', replayId: Buffer.from([1, 2, 3]) },
          seen: ['a', 'b'],
          effects: [['s1/r/route', { state: 'done', at: 1, output: { psrId: 'P' } }], [`${long}/r/route`, { state: 'started', at: 2 }]],
        });
        await store.commit({ seen: ['c'], removed: ['gone'] });
        const again = await sut!.reopen();
        expect((await again.loadSessions()).sort(byId)).toEqual([session('s1'), session(long, 2)].sort(byId));
        expect(await again.loadCursor('/event/x')).toEqual(Buffer.from([1, 2, 3]));
        expect(await again.loadSeen(10)).toEqual(['a', 'b', 'c']);
        expect(await again.effect('s1/r/route')).toEqual({ state: 'done', at: 1, output: { psrId: 'P' } });
        expect(await again.effect(`${long}/r/route`)).toEqual({ state: 'started', at: 2 });
        // Seen keys written after the restart come after the ones before it.
        await again.commit({ seen: ['d'] });
        expect(await again.loadSeen(2)).toEqual(['c', 'd']);
      });
    }
  });
}
