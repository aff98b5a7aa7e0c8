// One process, one store. LMDB itself lets several processes open one environment, and then two
// switchboards would both number dedupe rows from the counter they read at open (losing keys) and
// overwrite each other's replay cursor. So a store directory carries a lock file naming its holder
// (pid, host, since). The file is created with link(2), which is atomic and fails if the name
// exists, so a lock file is never seen half written. A lock left by a process that died without
// close() (SIGKILL, power loss) must not block the restart: on the same host the holder is checked
// — gone, a zombie, or its pid now used by a process that started later, or the host rebooted
// since — and such a lock is taken over. On another host (a shared volume) liveness cannot be
// known, so the error names the holder and says how to clear it by hand.
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { StoreAccessError, StoreLockedError, type StoreLockHolder } from '../../domain/errors.js';

export const LOCK_FILE = 'switchboard.lock';

interface LockRecord extends StoreLockHolder {
  /** The holder's start time as the kernel counts it (Linux), to tell a reused pid from the holder. */
  started?: string;
  /** The host's boot id (Linux): a lock from before a reboot is stale whatever its pid. */
  boot?: string;
  /** Unique per acquisition, so release() only removes its own lock. */
  token: string;
}

export interface StoreLock {
  readonly holder: StoreLockHolder;
  /** Set when a lock left by a dead process was taken over. */
  readonly tookOver: StoreLockHolder | undefined;
  release(): void;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot) and the state letter. */
function procStat(pid: number): { state: string; started: string } | undefined | null {
  const text = readText(`/proc/${pid}/stat`);
  if (text === undefined) return process.platform === 'linux' ? null : undefined;
  // The command name (field 2) is in parentheses and may itself hold spaces or parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', started: fields[19] ?? '' };
}

function bootId(): string | undefined {
  return readText('/proc/sys/kernel/random/boot_id')?.trim() || undefined;
}

/** Whether the process that wrote `rec` (on this host) is certainly gone. */
function holderIsGone(rec: LockRecord): boolean {
  const boot = bootId();
  if (rec.boot && boot && rec.boot !== boot) return true;
  const stat = procStat(rec.pid);
  if (stat === null) return true; // Linux, no /proc entry: no such process
  if (stat) return stat.state === 'Z' || stat.state === 'X' || (rec.started !== undefined && stat.started !== rec.started);
  try {
    process.kill(rec.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function parse(text: string | undefined): LockRecord | undefined {
  if (!text) return undefined;
  try {
    const rec = JSON.parse(text) as LockRecord;
    return typeof rec.pid === 'number' && typeof rec.host === 'string' ? rec : undefined;
  } catch {
    return undefined;
  }
}

function accessError(dir: string, err: unknown): StoreAccessError {
  const code = (err as NodeJS.ErrnoException).code;
  return new StoreAccessError(dir, `cannot write its lock file (${code ?? String(err)}): the directory must be writable by this process`, code, { cause: err });
}

/**
 * Creates `path` holding `body` if it does not exist: link(2) of a complete, synced temporary file,
 * so the name never shows a half-written file. Where the file system has no hard links: exclusive
 * create, then write (a crash in between leaves an empty lock, which the error asks to delete).
 */
function tryCreate(path: string, body: string): boolean {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fd = openSync(tmp, 'wx');
    try {
      writeSync(fd, body);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].includes(code)) throw err;
      writeFileSync(path, body, { flag: 'wx' });
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      /* never created */
    }
  }
}

function removeIfSame(path: string, body: string | undefined): void {
  if (body !== undefined && readText(path) === body) {
    try {
      unlinkSync(path);
    } catch {
      /* gone */
    }
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** Open is synchronous (createSwitchboard is), so a short wait blocks. */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Takes the store's lock or throws SB_STORE_LOCKED naming who holds it. */
export function acquireStoreLock(dir: string): StoreLock {
  const path = join(dir, LOCK_FILE);
  const self: LockRecord = { pid: process.pid, host: hostname(), since: new Date().toISOString(), token: randomBytes(12).toString('hex') };
  const stat = procStat(process.pid);
  if (stat) self.started = stat.started;
  const boot = bootId();
  if (boot) self.boot = boot;
  const body = JSON.stringify(self);
  let tookOver: StoreLockHolder | undefined;

  for (let attempt = 0; attempt < 20; attempt++) {
    let created: boolean;
    try {
      created = tryCreate(path, body);
    } catch (err) {
      throw accessError(dir, err);
    }
    if (created) {
      const holder: StoreLockHolder = { pid: self.pid, host: self.host, since: self.since };
      return {
        holder,
        tookOver,
        release() {
          // Only our own lock: a lock file someone replaced after declaring ours stale is theirs.
          if (parse(readText(path))?.token === self.token) {
            try {
              unlinkSync(path);
            } catch {
              /* already gone */
            }
          }
        },
      };
    }

    const text = readText(path);
    const rec = parse(text);
    if (text === undefined) continue; // released meanwhile: try again
    if (!rec) {
      throw new StoreLockedError(dir, { pid: 0, host: 'unknown', since: 'unknown' }, `its lock file ${path} is unreadable; if no process uses this store, delete that file`);
    }
    const holder: StoreLockHolder = { pid: rec.pid, host: rec.host, since: rec.since };
    if (rec.host !== self.host) {
      throw new StoreLockedError(dir, holder, `a store has one owner; stop the switchboard there, or if that host is gone for good, delete ${path}`);
    }
    if (!holderIsGone(rec)) {
      throw new StoreLockedError(dir, holder, rec.pid === process.pid ? 'this process already has it open; close() that store first' : 'a store has one owner; stop that process first');
    }
    // The holder died without releasing. Only the holder of the takeover file may remove a stale
    // lock, and only after reading it again under that file: nothing else removes a lock but its
    // own holder, so a lock read twice the same is still the dead one — never a fresh lock another
    // process made in between.
    const takeover = `${path}.takeover`;
    if (!tryCreate(takeover, body)) {
      // Someone else is taking it over. A takeover file is held for microseconds; one older than
      // a few seconds was left by a process that died mid-takeover.
      if (ageMs(takeover) > 5_000) removeIfSame(takeover, readText(takeover));
      else pause(5 + attempt * 10);
      continue;
    }
    try {
      if (readText(path) === text) {
        unlinkSync(path);
        tookOver = holder;
      }
    } finally {
      removeIfSame(takeover, body);
    }
  }
  const rec = parse(readText(path));
  throw new StoreLockedError(dir, rec ? { pid: rec.pid, host: rec.host, since: rec.since } : { pid: 0, host: 'unknown', since: 'unknown' }, 'several processes are competing for it');
}
