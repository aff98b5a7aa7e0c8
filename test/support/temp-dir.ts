// A scratch directory for a store (an LMDB environment, a file cursor store): fresh and empty under
// the system's temp dir, and removed with everything in it once the test that asked for it has
// finished — after its afterEach hooks, so they may still close what lives there.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';

/** Call it in a test or a beforeEach (vitest refuses it elsewhere). */
export function tempStoreDir(prefix = 'switchboard-store-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
