// A store path that cannot be used is a typed SB_STORE_ACCESS with a hint, not LMDB's raw
// "Error 13" / "Error 20". The tests run as root, which ignores permission bits, so a read-only
// store is made with the immutable attribute (chattr +i), which binds root too.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreAccessError } from '../../../src/domain/errors.js';
import { openLmdbSessionStore } from '../../../src/io/store/lmdb-store.js';
import { DATA_FILE } from '../../../src/io/store/check.js';
import { tempStoreDir } from '../../support/temp-dir.js';

function chattr(flag: '+i' | '-i', path: string): boolean {
  try {
    execFileSync('chattr', [flag, path], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function openError(path: string): StoreAccessError {
  try {
    openLmdbSessionStore({ path });
  } catch (err) {
    return err as StoreAccessError;
  }
  throw new Error(`opening ${path} succeeded`);
}

describe('a store path that cannot be used', () => {
  let dir: string;
  const immutable: string[] = [];
  beforeEach(() => {
    dir = tempStoreDir('switchboard-access-');
  });
  afterEach(() => {
    for (const p of immutable.splice(0)) chattr('-i', p);
  });

  it('a regular file as the store path: SB_STORE_ACCESS saying it is not a directory', () => {
    const file = join(dir, 'store');
    writeFileSync(file, 'not a directory');
    const err = openError(file);
    expect(err).toBeInstanceOf(StoreAccessError);
    expect(err).toMatchObject({ code: 'SB_STORE_ACCESS', sysCode: 'ENOTDIR', path: file });
    expect(err.message).toMatch(/is a file, not a directory: give a directory/);
  });

  it('a path under a regular file: SB_STORE_ACCESS', () => {
    writeFileSync(join(dir, 'file'), 'x');
    const err = openError(join(dir, 'file', 'store'));
    expect(err).toMatchObject({ code: 'SB_STORE_ACCESS', sysCode: 'ENOTDIR' });
    expect(err.message).toMatch(/not a directory/);
  });

  // Where chattr is missing or the file system has no immutable attribute, root cannot be denied
  // access in a test, so the read-only cases are skipped there (the file-as-path cases still run).
  const canChattr = (() => {
    const probe = mkdtempSync(join(tmpdir(), 'switchboard-chattr-'));
    const ok = chattr('+i', probe);
    chattr('-i', probe);
    rmSync(probe, { recursive: true, force: true });
    return ok;
  })();

  it.skipIf(!canChattr)('a read-only (immutable) directory: SB_STORE_ACCESS, and nothing is left behind', () => {
    const store = join(dir, 'store');
    mkdirSync(store);
    expect(chattr('+i', store)).toBe(true);
    immutable.push(store);
    const err = openError(store);
    expect(err).toMatchObject({ code: 'SB_STORE_ACCESS', sysCode: 'EPERM' });
    expect(err.message).toMatch(/writable/);
  });

  it.skipIf(!canChattr)('a read-only (immutable) data file in a writable directory: SB_STORE_ACCESS, and the lock is released', async () => {
    const store = join(dir, 'store');
    await openLmdbSessionStore({ path: store }).close();
    expect(chattr('+i', join(store, DATA_FILE))).toBe(true);
    immutable.push(join(store, DATA_FILE));
    const err = openError(store);
    expect(err).toBeInstanceOf(StoreAccessError);
    expect(err).toMatchObject({ code: 'SB_STORE_ACCESS', sysCode: 'EPERM' });
    expect(err.message).toMatch(/not permitted/);
    chattr('-i', join(store, DATA_FILE));
    // The failed open released its lock: the next one succeeds.
    await openLmdbSessionStore({ path: store }).close();
  });
});
