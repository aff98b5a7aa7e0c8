#!/usr/bin/env node
// From a checkout (src/ next to bin/), run the TypeScript sources through tsx: `npx switchboard`
// then works right after `npm install`, with no build step and never from a stale dist/. The
// published package ships dist/ and no src/, so an installed copy runs the compiled CLI.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli.ts', import.meta.url);
const compiled = new URL('../dist/cli.js', import.meta.url);

if (existsSync(source)) {
  let api;
  try {
    api = await import('tsx/esm/api');
  } catch {
    api = undefined;
  }
  if (api) {
    api.register();
    await import(source.href);
  } else if (existsSync(compiled)) {
    await import(compiled.href);
  } else {
    process.stderr.write('switchboard: this checkout has neither its dev dependencies (tsx) nor a build: run `npm install` (or `npm run build`) first.\n');
    process.exitCode = 1;
  }
} else {
  await import(compiled.href);
}
