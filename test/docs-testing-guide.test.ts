// The guides' code runs as the guides show it. Every ```ts block of docs/testing-your-integration.md
// and docs/real-org-setup.md whose first line is `// file: NAME` is written, unchanged, into a
// partner project that has the packed package installed, and run there with Node's test runner —
// in-process sandbox, the CLI sandbox in a child process, unit tests with the recording service,
// and the agent-work relay endpoint against a real switchboard.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installedPackage } from './support/package.js';

/** ```ts blocks whose first line is `// file: NAME` (run) or `// check: NAME` (type-checked only). */
function blocks(doc: string, kind: 'file' | 'check' = 'file'): Map<string, string> {
  const text = readFileSync(new URL(`../docs/${doc}`, import.meta.url), 'utf8');
  const out = new Map<string, string>();
  for (const m of text.matchAll(new RegExp(`\`\`\`ts\\n(// ${kind}: ([\\w.-]+)\\n[\\s\\S]*?)\`\`\``, 'g'))) out.set(m[2]!, m[1]!);
  return out;
}

const guide = blocks('testing-your-integration.md');
const setup = blocks('real-org-setup.md');
const checked = new Map([...blocks('testing-your-integration.md', 'check'), ...blocks('real-org-setup.md', 'check')]);

let project: string;
beforeAll(async () => {
  const pkg = await installedPackage();
  project = mkdtempSync(join(pkg.consumer, 'guide-'));
  for (const [name, code] of [...guide, ...setup, ...checked]) writeFileSync(join(project, name), code);
}, 240_000);
afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

function nodeTest(files: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', ...files], {
      cwd: project,
      env: { ...process.env, NO_COLOR: '1', SWITCHBOARD_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code) => resolve({ code, output }));
  });
}

function expectPassed(result: { code: number | null; output: string }, tests: number) {
  expect(result.output).toMatch(new RegExp(`# pass ${tests}\\b`));
  expect(result.output).toMatch(/# fail 0\b/);
  expect(result.code, result.output).toBe(0);
}

describe('the guides\' code', () => {
  it('type-checks with strict tsc against the installed package\'s types', async () => {
    expect(checked.has('wire-it-together.ts')).toBe(true);
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] }, include: ['*.ts'] }),
    );
    const tsc = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn(process.execPath, [join(project, '..', 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      child.on('close', (code) => resolve({ code, output }));
    });
    expect(tsc.output).toBe('');
    expect(tsc.code).toBe(0);
  });
});

describe('docs/testing-your-integration.md', () => {
  it('shows the three runnable files it promises', () => {
    expect([...guide.keys()].sort()).toEqual(['cli-sandbox.test.ts', 'routing.sandbox.test.ts', 'routing.unit.test.ts']);
    expect(setup.has('agent-work-relay.ts')).toBe(true);
  });

  it('§1: a sandbox org in the test process', async () => {
    expectPassed(await nodeTest(['routing.sandbox.test.ts']), 1);
  });

  it('§2: the switchboard here, the CLI sandbox in another process, agent work through the relay', async () => {
    expectPassed(await nodeTest(['cli-sandbox.test.ts']), 1);
  });

  it('§3: unit tests with the testing builders and the recording service', async () => {
    expectPassed(await nodeTest(['routing.unit.test.ts']), 2);
  });
});

describe('docs/real-org-setup.md §6: the agent-work relay', () => {
  it('takes a rep\'s ACCEPTED to the switchboard, and answers bad input with 400/422', async () => {
    // Test code (not from the doc) that drives the doc's relay, unchanged, against a switchboard.
    writeFileSync(
      join(project, 'relay-check.test.ts'),
      `import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSwitchboard } from 'switchboard-ccaas';
import { createRecordingInteractionService, newConversation, offers, routingRequested, sessionStatusChanged, accepted } from 'switchboard-ccaas/testing';
import { startAgentWorkRelay } from './agent-work-relay.js';

test('relay', async () => {
  const api = createRecordingInteractionService();
  const switchboard = createSwitchboard({ interactions: api, directory: { reps: [{ userId: '005000000000ANN', name: 'Ann', queueIds: ['00G000000000BIL'] }] } });
  const server = await startAgentWorkRelay(switchboard, 0);
  const url = 'http://127.0.0.1:' + (server.address() as { port: number }).port + '/agent-work';
  const routed = new Promise<{ outcome: string }>((resolve) => switchboard.on('routing.finished', (e) => resolve(e.output)));
  const conv = newConversation();
  switchboard.ingest(sessionStatusChanged(conv, '0Mw000000000777AAA', 'Active'));
  switchboard.ingest(routingRequested(conv, 'Transfer', { queueId: '00G000000000BIL' }));
  while (offers(api).length === 0) await new Promise((r) => setTimeout(r, 5));
  const post = (body: string) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const ok = await post(JSON.stringify(accepted(offers(api)[0]!.workId, '0Mw000000000777AAA')));
  assert.equal(ok.status, 202);
  assert.equal((await routed).outcome, 'routed');
  const bad = await post(JSON.stringify({ workId: 'x', workItemId: 'y', workEvent: 'EXPLODED' }));
  assert.equal(bad.status, 422);
  assert.equal((await bad.json()).code, 'SB_PARSE');
  assert.equal((await post('{not json')).status, 400);
  assert.equal((await fetch(url.replace('agent-work', 'other'), { method: 'POST' })).status, 404);
  server.close();
  await switchboard.stop();
});
`,
    );
    expectPassed(await nodeTest(['relay-check.test.ts']), 1);
  });
});
