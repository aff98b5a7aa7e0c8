// A CPU profile taken in-process with node:inspector's Profiler, reduced to self time per function
// (name + file) and per area (XState, the parser, the switchboard, GC, …).
import { Session } from 'node:inspector/promises';
import { findSourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';
import { msSince, now } from './lib.js';

export interface ProfileRow {
  fn: string;
  /** File and source line (the line with most self time when a name occurs on several). */
  file: string;
  selfMs: number;
  share: number;
}

export interface CpuProfile {
  totalMs: number;
  rows: ProfileRow[];
  areas: Array<{ area: string; selfMs: number; share: number }>;
  /** Loops of `work` completed while profiling. */
  loops: number;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function shortFile(url: string): string {
  if (!url) return '';
  let f = url.startsWith('file://') ? fileURLToPath(url) : url;
  if (f.startsWith(ROOT)) f = f.slice(ROOT.length);
  const nm = f.lastIndexOf('node_modules/');
  return nm >= 0 ? f.slice(nm + 'node_modules/'.length) : f;
}

function areaOf(fn: string, file: string): string {
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)' || fn === '(root)') return 'V8 (program)';
  if (file.startsWith('xstate/')) return 'xstate';
  if (file.startsWith('pino/') || file.includes('pino')) return 'pino';
  if (file.startsWith('src/domain/parse')) return 'src/domain/parse.ts (validation)';
  if (file.startsWith('src/switchboard')) return 'src/switchboard.ts (intake, dedupe, track)';
  if (file.startsWith('src/machines/')) return 'src/machines (actions, guards)';
  if (file.startsWith('src/')) return 'src (other)';
  if (file.startsWith('bench/')) return 'bench (driver, fakes)';
  if (file.startsWith('node:') || file === '(native)') return 'Node internals / builtins (JSON.parse, timers, promises…)';
  return file.split('/')[0] ?? 'other';
}

/**
 * The source line of a position in transpiled code: tsx compiles each .ts file onto very few lines,
 * so the profile's own line numbers say nothing. Falls back to the generated line.
 */
function originalLine(url: string, line: number, column: number): number {
  try {
    const entry = url.startsWith('file:') ? findSourceMap(url)?.findEntry(line, column) : undefined;
    if (entry && 'originalLine' in entry && typeof entry.originalLine === 'number') return entry.originalLine + 1;
  } catch {
    // no source map: keep the generated position
  }
  return line + 1;
}

/** Profiles `work`, run back to back until `durationMs` has passed. */
export async function cpuProfile(durationMs: number, work: () => Promise<void>, samplingIntervalUs = 250): Promise<CpuProfile> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: samplingIntervalUs });
    await session.post('Profiler.start');
    const t0 = now();
    let loops = 0;
    while (msSince(t0) < durationMs) {
      await work();
      loops += 1;
    }
    const { profile } = await session.post('Profiler.stop');
    await session.post('Profiler.disable');

    const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
    // Samples taken inside the inspector's own calls (building the profile on Profiler.stop) are not the work's.
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const inInspector = new Map<number, boolean>();
    const isInspector = (id: number): boolean => {
      const known = inInspector.get(id);
      if (known !== undefined) return known;
      const n = nodes.get(id);
      const up = parent.get(id);
      const v = !!n && (n.callFrame.url === 'node:inspector' || (up !== undefined && isInspector(up)));
      inInspector.set(id, v);
      return v;
    };
    const selfUs = new Map<string, { fn: string; file: string; us: number; lines: Map<number, number> }>();
    const deltas = profile.timeDeltas ?? [];
    const samples = profile.samples ?? [];
    let total = 0;
    for (let i = 0; i < samples.length; i++) {
      const node = nodes.get(samples[i]!);
      const dt = deltas[i] ?? 0;
      if (!node || isInspector(node.id) || node.callFrame.functionName === '(idle)') continue;
      const cf = node.callFrame;
      const file = shortFile(cf.url) || '(native)';
      const line = cf.url ? originalLine(cf.url, cf.lineNumber, cf.columnNumber) : 0;
      const fn = cf.functionName || '(anonymous)';
      const key = `${fn}\u0000${file}${fn === '(anonymous)' ? `:${line}` : ''}`;
      const row = selfUs.get(key) ?? selfUs.set(key, { fn, file, us: 0, lines: new Map() }).get(key)!;
      row.us += dt;
      row.lines.set(line, (row.lines.get(line) ?? 0) + dt);
      total += dt;
    }
    const rows = [...selfUs.values()]
      .sort((a, b) => b.us - a.us)
      .map((r) => {
        const top = [...r.lines].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 0;
        return { fn: r.fn, file: top > 0 ? `${r.file}:${top}` : r.file, selfMs: r.us / 1000, share: r.us / total };
      });
    const areaUs = new Map<string, number>();
    for (const r of rows) {
      const area = areaOf(r.fn, r.file.replace(/:\d+$/, ''));
      areaUs.set(area, (areaUs.get(area) ?? 0) + r.selfMs);
    }
    const areas = [...areaUs]
      .sort((a, b) => b[1] - a[1])
      .map(([area, selfMs]) => ({ area, selfMs, share: (selfMs * 1000) / total }));
    return { totalMs: total / 1000, rows, areas, loops };
  } finally {
    session.disconnect();
  }
}
