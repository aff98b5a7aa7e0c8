// A fresh database per test file on the run's one server (see postgres-global.ts). Pools made
// here are closed and the database dropped by `drop()`.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

export interface TestDatabase {
  /** Connection string of this file's database. */
  readonly url: string;
  /** A pool on it; closed by drop(). */
  pool(options?: pg.PoolConfig): pg.Pool;
  /** Runs one statement on a short-lived connection (setup and inspection). */
  sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]>;
  drop(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject('postgresUrl');
  const name = `sb_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(adminUrl, name);
  const pools: pg.Pool[] = [];
  const shared = new pg.Pool({ connectionString: url, max: 2 });
  shared.on('error', () => {});
  return {
    url,
    pool(options = {}) {
      const p = new pg.Pool({ connectionString: url, ...options });
      // A test that terminates backends on purpose must not crash the worker through an idle client.
      p.on('error', () => {});
      pools.push(p);
      return p;
    },
    async sql(text, values) {
      return (await shared.query(text, values)).rows;
    },
    async drop() {
      await Promise.all([...pools, shared].map((p) => p.end().catch(() => undefined)));
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
