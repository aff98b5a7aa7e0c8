// One process per store (D4): a second opener fails fast naming the holder; a holder killed with
// SIGKILL leaves a stale lock that does not block the restart; close() releases the lock.
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreLockedError } from '../../../src/domain/errors.js';
import { openLmdbSessionStore } from '../../../src/io/store/lmdb-store.js';
import { LOCK_FILE } from '../../../src/io/store/lock.js';
import { tempStoreDir } from '../../support/temp-dir.js';

const OPENER = new URL('./opener.ts', import.meta.url).pathname;

interface Outcome {
  opened?: boolean;
  pid?: number;
  typed?: boolean;
  code?: string;
  message?: string;
  holder?: { pid: number; host: string; since: string };
}

/** Starts an opener; resolves with its first line (and the child, still running for 'hold'). */
function opener(dir: string, mode: 'hold' | 'once'): Promise<{ child: ChildProcess; out: Outcome; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }> {
  const child = fork(OPENER, [dir, mode], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve({ child, out: JSON.parse(buf.slice(0, nl)) as Outcome, exit });
    });
    void exit.then(({ code, signal }) => reject(new Error(`opener exited (${code ?? signal}) before answering: ${stderr}`)));
  });
}

describe('the store lock', () => {
  let dir: string;
  const children: ChildProcess[] = [];
  beforeEach(() => {
    dir = tempStoreDir('switchboard-lock-');
  });
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });

  it('a second process fails fast with SB_STORE_LOCKED naming the holder; after the holder is SIGKILLed a new open succeeds', async () => {
    const first = await opener(dir, 'hold');
    children.push(first.child);
    expect(first.out.opened).toBe(true);

    const second = await opener(dir, 'once');
    expect(second.out).toMatchObject({ typed: true, code: 'SB_STORE_LOCKED', holder: { pid: first.out.pid, host: hostname() } });
    expect(second.out.message).toContain(`pid ${first.out.pid}`);
    expect(Date.parse(second.out.holder!.since)).not.toBeNaN();
    expect((await second.exit).code).toBe(0);

    first.child.kill('SIGKILL');
    expect((await first.exit).signal).toBe('SIGKILL');
    // The dead holder's lock file is still there; it must not block the restart.
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: first.out.pid });

    const third = await opener(dir, 'once');
    expect(third.out).toMatchObject({ opened: true });
    // Nothing the killed holder committed was lost, and both writers' keys are in order.
    const store = openLmdbSessionStore({ path: dir });
    expect(await store.loadSeen(10)).toEqual([`held-by-${first.out.pid}`, 'after-open']);
    await store.close();
  });

  it('processes racing to take over a stale lock: exactly one gets the store', async () => {
    const first = await opener(dir, 'hold');
    children.push(first.child);
    first.child.kill('SIGKILL');
    await first.exit;
    const racers = await Promise.all(Array.from({ length: 4 }, () => opener(dir, 'hold')));
    children.push(...racers.map((r) => r.child));
    const winners = racers.filter((r) => r.out.opened);
    expect(winners).toHaveLength(1);
    for (const loser of racers.filter((r) => !r.out.opened)) expect(loser.out).toMatchObject({ code: 'SB_STORE_LOCKED', holder: { pid: winners[0]!.out.pid } });
  });

  it('a second open in the same process fails while the first is open; close() releases the lock', async () => {
    const one = openLmdbSessionStore({ path: dir });
    let err: unknown;
    try {
      openLmdbSessionStore({ path: dir });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StoreLockedError);
    expect(err).toMatchObject({ code: 'SB_STORE_LOCKED', holder: { pid: process.pid, host: hostname() } });
    expect((err as Error).message).toMatch(/close\(\) that store first/);
    await one.close();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    const two = openLmdbSessionStore({ path: dir });
    await two.close();
  });

  it('a lock from another host is never taken over: the error names it and says how to clear it', async () => {
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 4242, host: 'other-host.example', since: '2026-01-01T00:00:00.000Z', token: 't' }));
    expect(() => openLmdbSessionStore({ path: dir })).toThrow(expect.objectContaining({ code: 'SB_STORE_LOCKED', holder: { pid: 4242, host: 'other-host.example', since: '2026-01-01T00:00:00.000Z' } }));
    expect(() => openLmdbSessionStore({ path: dir })).toThrow(/other-host\.example.*delete .*switchboard\.lock/);
  });

  it('a lock whose pid now belongs to a process that started later (pid reuse) is stale', async () => {
    if (process.platform !== 'linux') return; // start times come from /proc
    // Our own pid, with a start time that is not ours: the holder that wrote it is gone.
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: process.pid, host: hostname(), since: '2026-01-01T00:00:00.000Z', started: '1', token: 't' }));
    const store = openLmdbSessionStore({ path: dir });
    const lock = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as { token: string; started: string };
    expect(lock.token).not.toBe('t');
    expect(lock.started).not.toBe('1');
    await store.close();
  });
});
