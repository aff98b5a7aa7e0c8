// Shared helpers for the benchmarks: a monotonic clock, repeated runs reduced to min / median / max,
// forced GC, heap and RSS readings, number formatting, and the one-line summary every benchmark
// prints. Speed is only ever reported as a ratio to a baseline measured in the same process.
import { spawn } from 'node:child_process';
import { PerformanceObserver } from 'node:perf_hooks';

export interface Stats {
  min: number;
  median: number;
  max: number;
  /** Every sample, in the order taken. */
  samples: number[];
}

/** Nanoseconds since an arbitrary origin (process.hrtime.bigint). */
export function now(): bigint {
  return process.hrtime.bigint();
}

export function msSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export function stats(samples: number[]): Stats {
  if (samples.length === 0) throw new Error('stats() of no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { min: sorted[0]!, median, max: sorted[sorted.length - 1]!, samples };
}

/** Runs `fn` `n` times (after `warmup` unrecorded runs) and reduces what it returns. */
export async function repeat(n: number, fn: (i: number) => number | Promise<number>, warmup = 0): Promise<Stats> {
  for (let i = 0; i < warmup; i++) await fn(-1 - i);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await fn(i));
  return stats(out);
}

// ---- GC and memory ----

type GcFn = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => void;

function gcFn(): GcFn | undefined {
  return (globalThis as { gc?: GcFn }).gc;
}

export function hasGc(): boolean {
  return typeof gcFn() === 'function';
}

/**
 * Makes sure `global.gc` exists: if it does not, re-runs this very process (same loader flags, same
 * arguments) under `node --expose-gc` and exits with the child's code. Returns only when gc is there.
 */
export async function ensureGc(): Promise<void> {
  if (hasGc()) return;
  const script = process.argv[1];
  if (!script) throw new Error('cannot re-exec: no script path in process.argv');
  const hasTsx = process.execArgv.some((a) => a.includes('tsx'));
  const args = [...process.execArgv, ...(hasTsx ? [] : ['--import', 'tsx']), '--expose-gc', script, ...process.argv.slice(2)];
  const child = spawn(process.execPath, args, { stdio: 'inherit' });
  const code = await new Promise<number>((resolve) => child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0))));
  process.exit(code);
}

/**
 * A full GC, repeated (weak callbacks and finalizers need a second pass). Plain `gc()` — V8's
 * precise "collect all garbage" — is used on purpose: `gc({ type: 'major', execution: 'sync' })`
 * left 30–50 % more heapUsed behind in a probe on this Node.
 */
export async function forceGc(passes = 3): Promise<void> {
  const gc = gcFn();
  if (!gc) throw new Error('global.gc is not exposed: run under node --expose-gc (bench/run.ts re-execs itself)');
  for (let i = 0; i < passes; i++) {
    gc();
    // Let FinalizationRegistry callbacks and pending microtasks run between passes.
    await new Promise((r) => setImmediate(r));
  }
}

export interface MemoryReading {
  heapUsed: number;
  heapTotal: number;
  rss: number;
  external: number;
}

export function memory(): MemoryReading {
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, heapTotal: m.heapTotal, rss: m.rss, external: m.external };
}

// ---- formatting ----

export function int(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** 182000 → "182k", 1_250_000 → "1.25M". */
export function short(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e6) return `${+(n / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${Math.round(n / 1e3)}k`;
  if (a >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return `${+n.toFixed(2)}`;
}

export function fixed(n: number, digits = 2): string {
  return n.toFixed(digits);
}

export function bytes(n: number): string {
  const a = Math.abs(n);
  if (a >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (a >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (a >= 1024) return `${(n / 1024).toFixed(2)} KiB`;
  return `${Math.round(n)} B`;
}

/** "182,000 (min 170k, max 190k)" — the median first, the spread after. */
export function spread(s: Stats, unit = '', fmt: (n: number) => string = int): string {
  return `${fmt(s.median)}${unit} (min ${short(s.min)}, max ${short(s.max)})`;
}

/** "170k / 182k / 190k" for tables: min / median / max. */
export function mmm(s: Stats, fmt: (n: number) => string = short): string {
  return `${fmt(s.min)} / ${fmt(s.median)} / ${fmt(s.max)}`;
}

/** Prints the one-line summary of a benchmark. */
export function summary(name: string, text: string): string {
  const line = `${name}: ${text}`;
  console.log(`\n▶ ${line}\n`);
  return line;
}

export function log(msg: string): void {
  console.log(`  ${msg}`);
}

/** A Markdown table. */
export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const head = `| ${headers.join(' | ')} |`;
  const rule = `| ${headers.map(() => '---').join(' | ')} |`;
  return [head, rule, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** What a benchmark hands back to the runner: its summary line and its section of docs/benchmarks.md. */
export interface BenchResult {
  name: string;
  summary: string;
  markdown: string;
}

export interface BenchOptions {
  quick: boolean;
}

/** A small seeded generator (the test suite's), so a run's random choices can be replayed. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s ^ (s >>> 15), 2246822507) + 0x9e3779b9) >>> 0) / 2 ** 32);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---- GC pause accounting ----


let gcPauseMs = 0;
let gcObserver: PerformanceObserver | undefined;

/**
 * Milliseconds of GC pause (PerformanceObserver 'gc' entries) since the last reset. Entries are
 * delivered some milliseconds after the pause, so both ends wait for the queue to flush.
 */
export const gcMeter = {
  async reset(): Promise<void> {
    if (!gcObserver) {
      gcObserver = new PerformanceObserver((list) => {
        for (const e of list.getEntries()) gcPauseMs += e.duration;
      });
      gcObserver.observe({ entryTypes: ['gc'] });
    }
    await sleep(40);
    gcPauseMs = 0;
  },
  async read(): Promise<number> {
    await sleep(40);
    return gcPauseMs;
  },
};
