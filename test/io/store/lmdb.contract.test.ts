import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLmdbSessionStore } from '../../../src/io/store/lmdb-store.js';
import type { SessionStore } from '../../../src/io/store/session-store.js';
import { describeStoreContract } from './contract.js';

describeStoreContract(
  'LMDB',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-lmdb-'));
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
        await current.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  { durable: true },
);
