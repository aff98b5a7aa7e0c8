import { createMemorySessionStore } from '../../../src/io/store/session-store.js';
import { describeStoreContract } from './contract.js';

describeStoreContract('memory', async () => {
  const store = createMemorySessionStore();
  return {
    store,
    // The memory store lives in this process only: a restart has nothing to reopen.
    reopen: async () => store,
    cleanup: () => store.close(),
  };
});
