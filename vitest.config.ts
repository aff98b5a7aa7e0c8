import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One real PostgreSQL for the run (DATABASE_URL, or a throwaway embedded one); files that use it
    // each create their own database on it.
    globalSetup: ['test/support/postgres-global.ts'],
    // Loopback servers and fake timers: keep each file isolated, two cores.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // The chart drift gate writes files only under `npm run charts` (--update); in CI a mismatch fails.
  },
});
