// The package as a partner installs it: built with tsc, packed with `npm pack` (the `files` and
// `exports` of package.json decide what is in it), and unpacked into a consumer project's
// node_modules. Built once per content of the sources and shared by every test file that needs it
// (a lock directory serialises the first build when two files ask at once).
//
// The consumer's other dependencies are links to this checkout's node_modules, minus the optional
// peer @statelyai/inspect, so a test can see what an install without it does.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const REPO = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const PACKAGE_FILES = ['package.json', 'README.md', 'LICENSE', 'bin', 'proto', 'docs'];

export interface PackedFile {
  path: string;
  size: number;
}

export interface InstalledPackage {
  /** A project whose node_modules holds the unpacked package (and links to its dependencies). */
  consumer: string;
  /** consumer/node_modules/switchboard-ccaas */
  installed: string;
  /** Where the package was built before packing (package.json, dist, bin, proto, docs…). */
  build: string;
  /** `npm pack --json` of the build: the tarball's file list. */
  packed: PackedFile[];
}

function walk(path: string, out: string[] = []): string[] {
  if (!existsSync(path)) return out;
  if (statSync(path).isDirectory()) for (const name of readdirSync(path).sort()) walk(join(path, name), out);
  else out.push(path);
  return out;
}

function contentHash(): string {
  const h = createHash('sha256');
  for (const f of [...PACKAGE_FILES, 'src', 'tsconfig.json', 'tsconfig.build.json'].flatMap((p) => walk(join(REPO, p)))) {
    h.update(relative(REPO, f));
    h.update(readFileSync(f));
  }
  return h.digest('hex').slice(0, 16);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function build(root: string): Promise<void> {
  const buildDir = join(root, 'build');
  mkdirSync(buildDir, { recursive: true });
  for (const f of PACKAGE_FILES) if (existsSync(join(REPO, f))) cpSync(join(REPO, f), join(buildDir, f), { recursive: true });
  await run(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', join(REPO, 'tsconfig.build.json'), '--outDir', join(buildDir, 'dist')], { cwd: REPO });
  // --ignore-scripts: prepack would build again, into the checkout.
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', root], { cwd: buildDir });
  const [pack] = JSON.parse(stdout) as Array<{ filename: string; files: PackedFile[] }>;
  writeFileSync(join(root, 'pack.json'), JSON.stringify(pack!.files));
  const modules = join(root, 'consumer', 'node_modules');
  mkdirSync(modules, { recursive: true });
  await run('tar', ['-xzf', join(root, pack!.filename), '-C', modules]);
  renameSync(join(modules, 'package'), join(modules, 'switchboard-ccaas'));
  for (const name of readdirSync(join(REPO, 'node_modules'))) {
    if (name.startsWith('.') || name === 'switchboard-ccaas') continue;
    if (name === '@statelyai') continue; // the optional peer: absent, as in a plain install
    symlinkSync(join(REPO, 'node_modules', name), join(modules, name));
  }
  writeFileSync(join(root, 'consumer', 'package.json'), JSON.stringify({ name: 'partner-app', private: true, type: 'module' }, null, 2));
}

let cached: Promise<InstalledPackage> | undefined;

export function installedPackage(): Promise<InstalledPackage> {
  cached ??= (async () => {
    const root = join(tmpdir(), `switchboard-pkg-${contentHash()}`);
    const ready = join(root, 'ready');
    const lock = `${root}.lock`;
    const deadline = Date.now() + 180_000;
    while (!existsSync(ready)) {
      let mine = false;
      try {
        mkdirSync(lock);
        mine = true;
      } catch {
        // A lock left by a run that was killed mid-build: a build takes well under this.
        try {
          if (Date.now() - statSync(lock).mtimeMs > 300_000) rmSync(lock, { recursive: true, force: true });
        } catch {
          // gone meanwhile
        }
        if (Date.now() > deadline) throw new Error(`timed out waiting for another build of the package (${lock})`);
        await sleep(250);
        continue;
      }
      try {
        if (!existsSync(ready)) {
          // A half-built tree from an interrupted run is moved aside, never trusted.
          if (existsSync(root)) renameSync(root, `${root}.stale-${process.pid}-${Date.now()}`);
          await build(root);
          writeFileSync(ready, new Date().toISOString());
        }
      } finally {
        if (mine) rmSync(lock, { recursive: true, force: true });
      }
    }
    return {
      consumer: join(root, 'consumer'),
      installed: join(root, 'consumer', 'node_modules', 'switchboard-ccaas'),
      build: join(root, 'build'),
      packed: JSON.parse(readFileSync(join(root, 'pack.json'), 'utf8')) as PackedFile[],
    };
  })();
  return cached;
}
