import { afterAll, beforeAll } from 'vitest';
import { openPostgresSessionStore } from '../../../src/io/store/postgres-store.js';
import type { SessionStore } from '../../../src/io/store/session-store.js';
import { createTestDatabase, type TestDatabase } from '../../support/postgres.js';
import { describeStoreContract } from './contract.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

let n = 0;
describeStoreContract('postgres', async () => {
  // A fresh org per test on the file's database: the rows of other tests are there and must not show.
  const orgId = `00D${String(++n).padStart(12, '0')}`;
  const open = () => openPostgresSessionStore({ connectionString: db.url, orgId });
  const opened: SessionStore[] = [await open()];
  return {
    store: opened[0]!,
    async reopen() {
      await opened.at(-1)!.close();
      const next = await open();
      opened.push(next);
      return next;
    },
    async cleanup() {
      await Promise.all(opened.map((s) => s.close()));
    },
  };
});
