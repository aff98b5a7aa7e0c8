// `npm run bench [-- --quick] [-- --only dispatch,memory,growth,decode,latency,burst,store,fleet] [-- --no-write]`
//
// Runs the benchmarks, prints a one-line summary for each, and rewrites the generated part of
// docs/benchmarks.md (everything below the line `<!-- generated below -->`; the hand-written part
// above it is kept; the marker counts only as a whole line). With --only, the sections of the benchmarks not run are kept as they were.
// Re-executes itself under `node --expose-gc` when gc is not exposed.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { ensureGc, msSince, now, table, type BenchOptions, type BenchResult } from './lib.js';

const BENCHES = ['dispatch', 'memory', 'growth', 'decode', 'latency', 'burst', 'store', 'fleet'] as const;
type BenchName = (typeof BENCHES)[number];

const DOC = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));
const MARKER = '<!-- generated below -->';

interface Args {
  quick: boolean;
  only: BenchName[];
  write: boolean;
  child?: { name: string; arg: string };
}

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false, only: [...BENCHES], write: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') args.quick = true;
    else if (a === '--no-write') args.write = false;
    else if (a === '--only' || a.startsWith('--only=')) {
      const value = a.includes('=') ? a.slice('--only='.length) : argv[++i];
      const names = (value ?? '').split(',').filter(Boolean);
      const unknown = names.filter((n) => !(BENCHES as readonly string[]).includes(n));
      if (names.length === 0 || unknown.length) throw new Error(`--only takes ${BENCHES.join(', ')} (comma-separated); got ${value ?? 'nothing'}`);
      args.only = BENCHES.filter((b) => names.includes(b));
    } else if (a === '--child') {
      args.child = { name: argv[++i] ?? '', arg: argv[++i] ?? '' };
    } else throw new Error(`unknown argument ${a}; use --quick, --only <${BENCHES.join('|')}>, --no-write`);
  }
  return args;
}

function machine(mode: string): { line: string; table: string } {
  const cpus = os.cpus();
  const xstate = JSON.parse(readFileSync(fileURLToPath(new URL('../node_modules/xstate/package.json', import.meta.url)), 'utf8')) as { version: string };
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    // not a git checkout
  }
  const rows: Array<[string, string]> = [
    ['CPU', `${cpus[0]?.model.trim() ?? 'unknown'}`],
    ['cores', `${cpus.length} (os.cpus())`],
    ['memory', `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`],
    ['Node', `${process.version} (V8 ${process.versions.v8}), ${os.platform()} ${os.release()}`],
    ['xstate', `${xstate.version} (production build)`],
    // V8 flags change the figures (the young generation's size moves GC's share a lot): say which ran.
    ['V8 / Node flags', [...process.execArgv.filter((x, i, all) => x !== '--import' && all[i - 1] !== '--import'), process.env.NODE_OPTIONS ?? ''].filter(Boolean).join(' ') || 'none'],
    ['date', new Date().toISOString()],
    ['commit', `${commit} (plus the working tree)`],
    ['mode', mode],
    ['load average at start (1 / 5 / 15 min)', os.loadavg().map((l) => l.toFixed(2)).join(' / ')],
  ];
  return { line: `${rows[0]![1]} × ${cpus.length}, Node ${process.version}`, table: table(['', ''], rows) };
}

const DEFAULT_HAND_WRITTEN = `# Benchmarks\n\n(Hand-written notes go here, above the marker.)\n\n${MARKER}\n`;

function sectionsOf(generated: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /<!-- bench:(\w+) -->\n([\s\S]*?)\n<!-- \/bench:\1 -->/g;
  for (let m = re.exec(generated); m; m = re.exec(generated)) out.set(m[1]!, m[2]!);
  return out;
}

function writeDoc(results: BenchResult[], header: string, ranAt: string): void {
  const existing = existsSync(DOC) ? readFileSync(DOC, 'utf8') : DEFAULT_HAND_WRITTEN;
  // The marker counts only as a line of its own, so prose may mention it.
  const at = existing.search(/^<!-- generated below -->$/m);
  const handWritten = at >= 0 ? existing.slice(0, at) : `${existing.trimEnd()}\n\n`;
  const old = sectionsOf(at >= 0 ? existing.slice(at) : '');
  const fresh = new Map(results.map((r) => [r.name, `_${ranAt}_\n\n${r.markdown}`]));
  const parts: string[] = [];
  parts.push(MARKER);
  parts.push('<!-- Everything below is rewritten by `npm run bench`; edit above the marker. -->');
  parts.push('');
  parts.push('## Results');
  parts.push('');
  parts.push(header);
  parts.push('');
  const summaries = BENCHES.map((b) => fresh.get(b) ?? old.get(b)).filter(Boolean);
  if (summaries.length) {
    parts.push('Summaries (`**…**` line of each section):');
    parts.push('');
    for (const b of BENCHES) {
      const body = fresh.get(b) ?? old.get(b);
      const m = body?.match(/\*\*(\w+: [^\n]*)\*\*/);
      if (m) parts.push(`- ${m[1]}`);
    }
    parts.push('');
  }
  for (const b of BENCHES) {
    const body = fresh.get(b) ?? old.get(b);
    if (!body) continue;
    parts.push(`<!-- bench:${b} -->`);
    parts.push(body);
    parts.push(`<!-- /bench:${b} -->`);
    parts.push('');
  }
  writeFileSync(DOC, `${handWritten}${parts.join('\n')}`);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  await ensureGc();
  if (args.child) {
    if (args.child.name !== 'memory') throw new Error(`unknown child ${args.child.name}`);
    const { memoryChild } = await import('./memory.js');
    await memoryChild(args.child.arg);
    return;
  }
  const mode = args.quick ? 'quick (--quick)' : 'full';
  const m = machine(`${mode}${args.only.length < BENCHES.length ? `, only ${args.only.join(', ')}` : ''}`);
  console.log(`Switchboard benchmarks — ${m.line} — ${mode} — ${args.only.join(', ')}`);
  const opts: BenchOptions = { quick: args.quick };
  const t0 = now();
  const results: BenchResult[] = [];
  const runners: Record<BenchName, () => Promise<BenchResult>> = {
    dispatch: async () => (await import('./dispatch.js')).dispatchBench(opts),
    memory: async () => (await import('./memory.js')).memoryBench(opts),
    growth: async () => (await import('./growth.js')).growthBench(opts),
    decode: async () => (await import('./decode.js')).decodeBench(opts),
    latency: async () => (await import('./latency.js')).latencyBench(opts),
    burst: async () => (await import('./burst.js')).burstBench(opts),
    store: async () => (await import('./store.js')).storeBench(opts),
    fleet: async () => (await import('./fleet.js')).fleetBench(opts),
  };
  for (const name of args.only) {
    console.log(`\n== ${name} ==`);
    const t = now();
    const r = await runners[name]();
    console.log(`  (${name} took ${(msSince(t) / 1000).toFixed(1)} s)`);
    results.push(r);
  }
  const totalS = msSince(t0) / 1000;
  console.log('\n== summary ==');
  for (const r of results) console.log(r.summary);
  console.log(`(total ${totalS.toFixed(1)} s; load average now ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')})`);
  if (args.write) {
    const ranAt = `Run ${new Date().toISOString()} · ${mode} · load average at end ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')} · whole run ${totalS.toFixed(0)} s`;
    writeDoc(results, m.table, ranAt);
    console.log(`wrote ${DOC}`);
  }
}

main().then(
  () => {
    // Timers of sessions left pending by a benchmark must not keep the process alive.
    process.exit(0);
  },
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
