// What the LMDB store adds to the contract: a refused commit is a typed error naming the entry it
// was writing, and a closed store refuses commits with a typed error too.
import { beforeEach, describe, expect, it } from 'vitest';
import { StoreCommitError } from '../../../src/domain/errors.js';
import { openLmdbSessionStore } from '../../../src/io/store/lmdb-store.js';
import type { PersistedSession } from '../../../src/io/store/session-store.js';
import { tempStoreDir } from '../../support/temp-dir.js';

describe('the LMDB store', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempStoreDir('switchboard-lmdb-');
  });

  it('a refused commit is SB_STORE_COMMIT naming the session it was writing', async () => {
    const store = openLmdbSessionStore({ path: dir });
    const bad = {
      conversationIdentifier: '0Mw000000000BADAAA',
      schemaVersion: 2,
      chartHash: 'h',
      savedAt: 1,
      get snapshot(): never {
        throw new Error('cannot encode this snapshot');
      },
    } as PersistedSession;
    const good: PersistedSession = { conversationIdentifier: 'good', schemaVersion: 2, chartHash: 'h', savedAt: 1, snapshot: {} };
    const err = await store.commit({ sessions: [good, bad] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreCommitError);
    expect(err).toMatchObject({ code: 'SB_STORE_COMMIT', entry: 'session 0Mw000000000BADAAA' });
    expect((err as Error).message).toMatch(/nothing of it was written: cannot encode this snapshot \(writing session 0Mw000000000BADAAA\)/);
    expect(await store.loadSessions()).toEqual([]);
    await store.close();
    await expect(store.commit({ seen: ['x'] })).rejects.toMatchObject({ code: 'SB_STORE_COMMIT', message: expect.stringContaining('closed') });
  });
});
