import { openLmdbSessionStore } from '../../../src/io/store/lmdb-store.js';
import type { SessionStore } from '../../../src/io/store/session-store.js';
import { tempStoreDir } from '../../support/temp-dir.js';
import { describeStoreContract } from './contract.js';

describeStoreContract(
  'LMDB',
  async () => {
    const dir = tempStoreDir('switchboard-lmdb-');
    let current: SessionStore = openLmdbSessionStore({ path: dir });
    return {
      get store() {
        return current;
      },
      async reopen() {
        await current.close();
        current = openLmdbSessionStore({ path: dir });
        return current;
      },
      async cleanup() {
        // The directory goes once the test has finished.
        await current.close();
      },
    };
  },
  { durable: true },
);
