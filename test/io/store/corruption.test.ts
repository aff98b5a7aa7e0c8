// A damaged data file (D5) must become a typed error in the process that opens it — never a
// SIGBUS or SIGSEGV that takes the partner's app down, never a silent start with no sessions. Each
// open runs in a child process, so a crash shows as a signal instead of killing the test run.
import { fork } from 'node:child_process';
import { closeSync, cpSync, openSync, readFileSync, statSync, truncateSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { StoreCorruptError } from '../../../src/domain/errors.js';
import { openLmdbSessionStore } from '../../../src/io/store/lmdb-store.js';
import { DATA_FILE, MARKER_FILE } from '../../../src/io/store/check.js';
import type { PersistedSession } from '../../../src/io/store/session-store.js';
import { tempStoreDir } from '../../support/temp-dir.js';

const OPENER = new URL('./opener.ts', import.meta.url).pathname;

interface Result {
  exit: { code: number | null; signal: NodeJS.Signals | null };
  out: { opened?: boolean; typed?: boolean; code?: string; message?: string; sessions?: number } | undefined;
}

function openInChild(dir: string): Promise<Result> {
  const child = fork(OPENER, [dir, 'once'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let stdout = '';
  child.stdout!.on('data', (d) => (stdout += d));
  return new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      const line = stdout.split('\n')[0];
      resolve({ exit: { code, signal }, out: line ? (JSON.parse(line) as Result['out']) : undefined });
    }),
  );
}

function session(i: number): PersistedSession {
  return { conversationIdentifier: `0Mw${String(i).padStart(12, '0')}AAA`, schemaVersion: 2, chartHash: 'h', savedAt: i, snapshot: { value: 'active', context: { filler: 'x'.repeat(300), i } } };
}

/** A store with enough sessions to span many pages, closed. */
async function populated(dir: string): Promise<void> {
  const store = openLmdbSessionStore({ path: dir });
  for (let b = 0; b < 40; b++) await store.commit({ sessions: Array.from({ length: 50 }, (_, i) => session(b * 50 + i)), seen: [`k${b}`] });
  await store.close();
}

function overwrite(path: string, position: number, bytes: Buffer): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, position);
  } finally {
    closeSync(fd);
  }
}

/** Deterministic pseudo-random bytes (a fixed seed, so a failure replays). */
function noise(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

describe('a damaged store', () => {
  let dir: string;
  let data: string;
  beforeEach(async () => {
    dir = tempStoreDir('switchboard-corrupt-');
    data = join(dir, DATA_FILE);
    await populated(dir);
  });

  const expectCorrupt = (r: Result, what: RegExp) => {
    expect(r.exit).toEqual({ code: 0, signal: null });
    expect(r.out, JSON.stringify(r.out)).toMatchObject({ typed: true, code: 'SB_STORE_CORRUPT' });
    expect(r.out!.message).toMatch(what);
    expect(r.out!.message).toMatch(/restore the directory from a backup/);
  };

  it('opens intact, in a child process too (the harness itself works)', async () => {
    const r = await openInChild(dir);
    expect(r.exit).toEqual({ code: 0, signal: null });
    expect(r.out).toMatchObject({ opened: true, sessions: 2_000 });
  });

  it('truncated to half: SB_STORE_CORRUPT, not SIGBUS', async () => {
    truncateSync(data, Math.floor(statSync(data).size / 2));
    expectCorrupt(await openInChild(dir), /truncated/);
  });

  it('a random first page: SB_STORE_CORRUPT, not SIGSEGV', async () => {
    overwrite(data, 0, noise(4096, 7));
    expectCorrupt(await openInChild(dir), /meta page 0/);
  });

  it('a random second meta page: SB_STORE_CORRUPT', async () => {
    overwrite(data, 4096, noise(4096, 11));
    expectCorrupt(await openInChild(dir), /meta page 1/);
  });

  it('scrambled bytes in the data pages, many ways: never a crash; a typed error or an intact open', async () => {
    const size = statSync(data).size;
    const pristine = join(dir, 'pristine');
    cpSync(data, pristine);
    // Seeded: 1 to 300 random bytes at random places past the meta pages. Some land in values or
    // free pages (the open succeeds; LMDB keeps no checksums), some in page headers and node tables,
    // where a mapped open without the page walk faults.
    const outcomes: string[] = [];
    for (let run = 0; run < 12; run++) {
      cpSync(pristine, data);
      const count = [1, 5, 30, 300][run % 4]!;
      const bytes = noise(count, 100 + run);
      const at = noise(count * 4, 200 + run);
      const fd = openSync(data, 'r+');
      try {
        for (let i = 0; i < count; i++) writeSync(fd, bytes, i, 1, 8192 + (at.readUInt32LE(i * 4) % (size - 8192)));
      } finally {
        closeSync(fd);
      }
      const r = await openInChild(dir);
      expect(r.exit, `run ${run}: ${count} bytes`).toEqual({ code: 0, signal: null });
      expect(r.out!.opened === true || (r.out!.typed === true && r.out!.code === 'SB_STORE_CORRUPT'), `run ${run}: ${JSON.stringify(r.out)}`).toBe(true);
      outcomes.push(r.out!.opened ? 'opened' : r.out!.code!);
    }
    expect(outcomes).toContain('SB_STORE_CORRUPT');
  }, 120_000);

  it('a garbled tree page (the newest commit\'s main root): SB_STORE_CORRUPT, not SIGSEGV', async () => {
    const head = readFileSync(data).subarray(0, 8192);
    // Meta pages 0 and 1 (page size 4096 on this platform's default): the newer txnid wins.
    const txn = (at: number) => head.readBigUInt64LE(at + 24 + 128);
    const meta = txn(0) >= txn(4096) ? 0 : 4096;
    const root = Number(head.readBigUInt64LE(meta + 24 + 24 + 48 + 40));
    overwrite(data, root * 4096 + 16, noise(4096 - 16, 13));
    expectCorrupt(await openInChild(dir), new RegExp(`page ${root}`));
  });

  it('truncated to 0 bytes where a database was: refused, not started empty', async () => {
    truncateSync(data, 0);
    expectCorrupt(await openInChild(dir), /empty \(0 bytes\)/);
  });

  it('data.mdb deleted where a database was: refused, not started empty', async () => {
    unlinkSync(data);
    expectCorrupt(await openInChild(dir), /missing/);
  });

  it('a store made before the marker existed gets one at its next open, and is then protected', async () => {
    unlinkSync(join(dir, MARKER_FILE));
    const store = openLmdbSessionStore({ path: dir });
    expect(await store.loadSessions()).toHaveLength(2_000);
    await store.close();
    expect(JSON.parse(readFileSync(join(dir, MARKER_FILE), 'utf8')).createdAt).toEqual(expect.any(String));
    truncateSync(data, 0);
    expect(() => openLmdbSessionStore({ path: dir })).toThrow(StoreCorruptError);
  });
});
