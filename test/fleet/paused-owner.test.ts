// A real pause: the owning host is a child process frozen with SIGSTOP past its lease's TTL. Another
// host takes the org over; when the frozen one resumes, its writes are refused and it learns it lost.
import { fork, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLeaseManager } from '../../src/fleet/lease.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import type { FromHost, ToHost } from './paused-host.js';

let db: TestDatabase;
let child: ChildProcess | undefined;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  }
  await db.drop();
});

it('a host frozen past its TTL cannot write once another host took the org', async () => {
  const orgId = '00D000000000PAU';
  const messages: FromHost[] = [];
  child = fork(new URL('./paused-host.ts', import.meta.url), {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, PG_URL: db.url, ORG_ID: orgId, HOST_ID: 'frozen-host', TTL_MS: '400' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  child.on('message', (m: FromHost) => messages.push(m));
  const seen = (pred: (m: FromHost) => boolean) => expect.poll(() => messages.find(pred), { timeout: 15_000, interval: 20 }).toBeDefined();
  const tell = (m: ToHost) => child!.send(m);

  await seen((m) => m.type === 'ready');
  const { epoch } = messages.find((m) => m.type === 'ready') as { epoch: number };
  tell({ type: 'commit', id: 'while-owner' });
  await seen((m) => m.type === 'committed' && m.id === 'while-owner');

  child.kill('SIGSTOP');
  // Frozen, it renews nothing: its lease runs out on the database's clock.
  await expect
    .poll(async () => (await db.sql<{ expired: boolean }>('SELECT expires_at < now() AS expired FROM switchboard.leases WHERE org_id = $1', [orgId]))[0]?.expired, { timeout: 15_000, interval: 20 })
    .toBe(true);
  const other = createLeaseManager({ pool: db.pool(), hostId: 'other-host', ttlMs: 60_000 });
  const taken = await other.acquire(orgId);
  expect(taken!.epoch).toBeGreaterThan(epoch);

  // Queued while frozen, the commit runs the moment the host resumes, before it could react.
  tell({ type: 'commit', id: 'after-resume' });
  child.kill('SIGCONT');
  await seen((m) => m.type === 'refused' && m.id === 'after-resume');
  expect(messages.find((m) => m.type === 'refused')).toEqual({ type: 'refused', id: 'after-resume', code: 'SB_FENCED' });
  await seen((m) => m.type === 'lost');
  expect(messages.find((m) => m.type === 'lost')).toMatchObject({ epoch });

  const rows = await db.sql<{ conversation_id: string }>('SELECT conversation_id FROM switchboard.sessions WHERE org_id = $1', [orgId]);
  expect(rows.map((r) => r.conversation_id)).toEqual(['while-owner']);
  tell({ type: 'exit' });
  await other.stop();
});
