// The package as published and installed: what the tarball holds, that `require()` and `import`
// both reach every entry, that the installed CLI runs, and that a fresh checkout's CLI runs before
// any build. Real child processes against a real `npm pack`.
import { execFile, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { installedPackage, REPO, type InstalledPackage } from './support/package.js';

const run = promisify(execFile);
const pkgJson = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  exports: Record<string, string | Record<string, string>>;
  repository?: { url?: string };
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  devDependencies?: Record<string, string>;
  files: string[];
};

let pkg: InstalledPackage;
beforeAll(async () => {
  pkg = await installedPackage();
}, 240_000);

/** Runs `node <args>` and resolves with its exit code and output, whatever the code. */
function node(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the npm tarball', () => {
  it('holds the build, the CLI, the proto, LICENSE and every doc the README links — and no sources or tests', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: pkg.build });
    const files = (JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
    for (const f of ['package.json', 'README.md', 'LICENSE', 'bin/switchboard.js', 'dist/index.js', 'dist/index.d.ts', 'dist/cli.js', 'proto/pubsub_api.proto']) {
      expect(files, f).toContain(f);
    }
    // Every export target ships.
    for (const [entry, target] of Object.entries(pkgJson.exports)) {
      const paths = typeof target === 'string' ? [target] : Object.values(target);
      for (const p of paths) expect(files, `${entry} → ${p}`).toContain(p.replace(/^\.\//, ''));
    }
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const linked = [...readme.matchAll(/\]\(((?:docs\/)[^)#]+)\)/g)].map((m) => m[1]!.replace(/\/$/, '/README.md'));
    expect(linked.length).toBeGreaterThan(3);
    for (const doc of linked) expect(files, doc).toContain(doc);
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/') || f.endsWith('.tgz'))).toEqual([]);
  });

  it('says where it comes from, under which licence, and that the inspector is an optional peer', () => {
    expect(pkgJson.repository?.url).toMatch(/^git\+https:\/\//);
    expect(readFileSync(join(REPO, 'LICENSE'), 'utf8')).toMatch(/MIT License[\s\S]*Switchboard contributors/);
    expect(pkgJson.peerDependencies?.['@statelyai/inspect']).toBeDefined();
    expect(pkgJson.peerDependenciesMeta?.['@statelyai/inspect']?.optional).toBe(true);
    expect(readFileSync(join(REPO, '.gitignore'), 'utf8').split('\n')).toContain('*.tgz');
  });
});

describe('the installed package', () => {
  it('can be require()d from CommonJS, every entry (Node ≥ 20.19 loads the ESM build)', async () => {
    const file = join(pkg.consumer, 'check-require.cjs');
    writeFileSync(
      file,
      `const sb = require('switchboard-ccaas');
const sandbox = require('switchboard-ccaas/sandbox');
const testing = require('switchboard-ccaas/testing');
const err = new sb.AuthError('x');
console.log(JSON.stringify({
  createSwitchboard: typeof sb.createSwitchboard,
  startSandbox: typeof sandbox.startSandbox,
  routingRequested: typeof testing.routingRequested,
  code: err.code,
  isSwitchboardError: err instanceof sb.SwitchboardError,
  version: require('switchboard-ccaas/package.json').version,
}));
`,
    );
    const out = await node([file], pkg.consumer);
    expect(out.stderr).not.toMatch(/ERR_REQUIRE_ESM|ERR_PACKAGE_PATH_NOT_EXPORTED|ERR_REQUIRE_ASYNC_MODULE/);
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual({
      createSwitchboard: 'function',
      startSandbox: 'function',
      routingRequested: 'function',
      code: 'SB_AUTH',
      isSwitchboardError: true,
      version: '0.1.0',
    });
  });

  it('can be imported from ESM, every entry', async () => {
    const file = join(pkg.consumer, 'check-import.mjs');
    writeFileSync(
      file,
      `import { createSwitchboard, PubSubRpcError } from 'switchboard-ccaas';
import { startSandbox, sandboxConnection } from 'switchboard-ccaas/sandbox';
import { newConversation, offers } from 'switchboard-ccaas/testing';
console.log([createSwitchboard, PubSubRpcError, startSandbox, sandboxConnection, newConversation, offers].map((f) => typeof f).join(','));
`,
    );
    const out = await node([file], pkg.consumer);
    expect(out.stderr).toBe('');
    expect(out.stdout.trim()).toBe(Array(6).fill('function').join(','));
  });

  it('runs its CLI from dist/ (no sources ship)', async () => {
    const out = await node([join(pkg.installed, 'bin/switchboard.js'), '--help'], pkg.consumer);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('switchboard <command>');
  });

  it('without the optional @statelyai/inspect, `demo --inspect` says what to install, without a stack', async () => {
    const out = await node([join(pkg.installed, 'bin/switchboard.js'), 'demo', '--inspect', '0'], pkg.consumer);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('npm install --save-dev @statelyai/inspect');
    expect(out.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('a fresh checkout, right after npm install (no dist/)', () => {
  it('runs `npx switchboard …` from the TypeScript sources', async () => {
    const checkout = mkdtempSync(join(tmpdir(), 'switchboard-clone-'));
    onTestFinished(() => rmSync(checkout, { recursive: true, force: true }));
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'bin', 'proto', 'docs']) cpSync(join(REPO, f), join(checkout, f), { recursive: true });
    symlinkSync(join(REPO, 'src'), join(checkout, 'src'));
    symlinkSync(join(REPO, 'node_modules'), join(checkout, 'node_modules'));
    const help = await node([join(checkout, 'bin/switchboard.js'), '--help'], checkout);
    expect(help.stderr).not.toMatch(/ERR_MODULE_NOT_FOUND/);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('switchboard <command>');
    // The README's spelling: npx finds the project's own bin.
    const charts = await run('npx', ['--offline', 'switchboard', 'charts', '--out', join(checkout, 'charts')], { cwd: checkout });
    expect(charts.stdout).toMatch(/wrote .*session\.json/);
    expect(readFileSync(join(checkout, 'charts', 'routing.mmd'), 'utf8')).toContain('stateDiagram-v2');
  });
});
