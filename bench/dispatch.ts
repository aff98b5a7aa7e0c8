// (1) Dispatch throughput: prepared platform events → switchboard.ingest() (dedupe, parse and
// validate, route to the session actor, transition, effects started) → effects answered by an
// in-process fake → the follow-up transitions. Compared, in the same process and on the same
// events, with bench/baseline-reducer.ts: the same pipeline with a hand-written reducer.
//
// Timing: each run feeds the traffic phase by phase; after each phase it awaits `settled()` until
// no effect is in flight. A run's rate is all steps over the whole wall time (the synchronous ingest
// loops plus the drains); the two parts are also reported separately.
import { parseAgentWorkEvent, parsePlatformEvent } from '../src/domain/parse.js';
import { RecentKeys } from '../src/recent-keys.js';
import {
  bytes,
  fixed,
  forceGc,
  gcMeter,
  int,
  log,
  mmm,
  msSince,
  now,
  short,
  spread,
  stats,
  summary,
  table,
  type BenchOptions,
  type BenchResult,
  type Stats,
} from './lib.js';
import { cpuProfile } from './profile.js';
import { createEngine, FALLBACK_QUEUE, lifecycleTraffic, play, typicalTraffic, type Engine, type EngineSetup, type Step, type Traffic } from './workload.js';

const TARGET_RATE = 100_000;
const TARGET_RATIO = 0.5;
/** Issue #13: the routing-heavy mix's ratio target. */
const HEAVY_TARGET_RATIO = 0.3;
/** Chat exchanges per conversation in the typical-mix sweep; the ratio target is judged on 4. */
const EXCHANGE_SWEEP = [0, 4, 12, 24] as const;

interface Run {
  rate: number;
  /** Steps per second of process CPU time (all threads): less sensitive to other load on the box. */
  cpuRate: number;
  wallMs: number;
  syncMs: number;
  drainMs: number;
  gcMs: number;
  /** Wall ms of each phase (feed + drain). */
  phaseMs: number[];
}

async function runOnce(kind: Engine['kind'], traffic: Traffic, expected: Expected, setup: EngineSetup = {}): Promise<Run> {
  const env = createEngine(kind, { script: traffic.script, ...setup });
  await forceGc(1);
  await gcMeter.reset();
  const cpu0 = process.cpuUsage();
  const t0 = now();
  const { syncNs, drainNs, phaseNs } = await play(env.engine, traffic, now);
  const wallMs = msSince(t0);
  const cpu = process.cpuUsage(cpu0);
  const gcMs = await gcMeter.read();
  // The run must have done what it claims: every session ended, no routing left, nothing refused.
  const st = env.engine.stats();
  const effects = Object.values(env.api.counts).reduce((a, b) => a + b, 0);
  if (st.sessions !== 0 || st.pendingRoutings !== 0 || st.rejected !== 0 || env.messages.count !== expected.messages || effects !== expected.effects) {
    throw new Error(`${kind} run did not complete the traffic: ${JSON.stringify({ ...st, messages: env.messages.count, effects, expected })}`);
  }
  await env.engine.stop();
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return {
    rate: traffic.steps / (wallMs / 1000),
    cpuRate: traffic.steps / (cpuMs / 1000),
    wallMs,
    syncMs: Number(syncNs) / 1e6,
    drainMs: Number(drainNs) / 1e6,
    gcMs,
    phaseMs: phaseNs.map((ns) => Number(ns) / 1e6),
  };
}

interface Expected {
  messages: number;
  effects: number;
}

/** A small run of both engines with every call recorded: same calls, same bodies, same order per conversation. */
async function verifyEquivalence(build: (n: number, seed: number, prefix: string) => Traffic, conversations: number): Promise<{ effects: number; expected: Expected; perConversation: Record<string, number> }> {
  const traffic = build(conversations, 11, 'veri');
  const seqs: Array<Map<string, string[]>> = [];
  let expected: Expected | undefined;
  let perConversation: Record<string, number> = {};
  for (const kind of ['xstate', 'baseline'] as const) {
    const env = createEngine(kind, { script: traffic.script, record: true });
    await play(env.engine, traffic, now);
    const byConv = new Map<string, string[]>();
    for (const c of env.api.recorded) {
      const conv = c.key.split('/')[0]!;
      (byConv.get(conv) ?? byConv.set(conv, []).get(conv)!).push(`${c.endpoint} ${c.key} ${c.body}`);
    }
    seqs.push(byConv);
    const st = env.engine.stats();
    if (st.sessions !== 0 || st.pendingRoutings !== 0) throw new Error(`${kind}: sessions left after the verification traffic`);
    const got = { messages: env.messages.count, effects: env.api.recorded.filter((r) => r.endpoint !== 'pickRep').length };
    if (expected && JSON.stringify(expected) !== JSON.stringify(got)) throw new Error(`engines disagree: ${JSON.stringify({ expected, got })}`);
    expected = got;
    perConversation = Object.fromEntries(Object.entries(env.api.counts).map(([k, v]) => [k, v / conversations]));
    perConversation['pickRep'] = env.api.recorded.filter((r) => r.endpoint === 'pickRep').length / conversations;
    await env.engine.stop();
  }
  const [a, b] = seqs as [Map<string, string[]>, Map<string, string[]>];
  if (a.size !== conversations || b.size !== conversations) throw new Error('verification: not every conversation made calls');
  for (const [conv, calls] of a) {
    const other = b.get(conv) ?? [];
    for (let i = 0; i < Math.max(calls.length, other.length); i++) {
      if (calls[i] !== other[i]) throw new Error(`verification: conversation ${conv}, call ${i}: xstate "${calls[i]}" vs baseline "${other[i]}"`);
    }
  }
  return { effects: [...a.values()].reduce((s, c) => s + c.length, 0), expected: expected!, perConversation };
}

function scale(e: Expected, from: number, to: number): Expected {
  return { messages: (e.messages / from) * to, effects: (e.effects / from) * to };
}

/** The parser alone over the same steps: the floor under both engines (JSON.parse + validation). */
function parseOnlyRate(traffic: Traffic): number {
  const opts = { fallbackQueueId: FALLBACK_QUEUE };
  let ok = 0;
  const t0 = now();
  for (const phase of traffic.phases) {
    for (const step of phase) {
      const r = step.kind === 'event' ? parsePlatformEvent(step.event, opts) : parseAgentWorkEvent(step.event);
      if (r.ok) ok += 1;
    }
  }
  const ms = msSince(t0);
  if (ok !== traffic.steps) throw new Error('parse-only: some steps did not parse');
  return traffic.steps / (ms / 1000);
}

/** JSON.parse alone of the same payloads (and channelData for a RoutingRequested): what any parser pays. */
function jsonOnlyRate(traffic: Traffic): number {
  let n = 0;
  const t0 = now();
  for (const phase of traffic.phases) {
    for (const step of phase) {
      if (step.kind !== 'event') continue;
      const v = JSON.parse(step.event.payload) as { payload?: { routingParameters?: { channelData?: string } } };
      const cd = v.payload?.routingParameters?.channelData;
      if (typeof cd === 'string') JSON.parse(cd);
      n += 1;
    }
  }
  const ms = msSince(t0);
  if (n === 0) throw new Error('json-only: no platform events');
  return traffic.steps / (ms / 1000);
}

/** The switchboard's dedupe (src/recent-keys.ts, default window) over the same keys: 2 lookups per Interaction event, 1 per RoutingRequested. */
function dedupeKeys(traffic: Traffic): Array<[string, number]> {
  const keys: Array<[string, number]> = [];
  for (const phase of traffic.phases) {
    for (const step of phase) {
      if (step.kind !== 'event') continue;
      keys.push([step.event.eventId!, 0]);
      const parsed = parsePlatformEvent(step.event, { fallbackQueueId: FALLBACK_QUEUE });
      if (parsed.ok && parsed.value.kind !== 'RoutingRequested') keys.push([parsed.value.entryId, 1]);
    }
  }
  return keys;
}

function dedupeRate(keys: Array<[string, number]>, steps: number, window: number): number {
  const recent = new RecentKeys(window, undefined, 2);
  let dup = 0;
  const t0 = now();
  for (const [k, ns] of keys) if (recent.seen(k, ns)) dup += 1;
  const ms = msSince(t0);
  if (dup !== 0) throw new Error('dedupe: unexpected duplicates');
  return steps / (ms / 1000);
}

const usPer = (rate: number) => 1e6 / rate;

interface Mix {
  name: string;
  traffic: Traffic;
  conversations: number;
  expected: Expected;
  verified: { effects: number; perConversation: Record<string, number> };
}

interface MixResult {
  mix: Mix;
  xs: Run[];
  bs: Run[];
  xRate: Stats;
  bRate: Stats;
  ratio: Stats;
}

async function measureMix(mix: Mix, runs: number, warmups: number): Promise<MixResult> {
  const xs: Run[] = [];
  const bs: Run[] = [];
  for (let i = -warmups; i < runs; i++) {
    // Alternate, so drift (JIT, heap growth, other load on the box) hits both engines alike.
    const x = await runOnce('xstate', mix.traffic, mix.expected);
    const b = await runOnce('baseline', mix.traffic, mix.expected);
    if (i >= 0) {
      xs.push(x);
      bs.push(b);
    }
    log(`${mix.name} ${i < 0 ? 'warm-up' : `run ${i + 1}`}: xstate ${int(x.rate)} ev/s (sync ${fixed(x.syncMs, 0)} ms + drain ${fixed(x.drainMs, 0)} ms) · baseline ${int(b.rate)} ev/s (sync ${fixed(b.syncMs, 0)} + drain ${fixed(b.drainMs, 0)})`);
  }
  return { mix, xs, bs, xRate: stats(xs.map((r) => r.rate)), bRate: stats(bs.map((r) => r.rate)), ratio: stats(xs.map((x, i) => x.rate / bs[i]!.rate)) };
}

function describeTraffic(mix: Mix): string {
  const t = mix.traffic;
  const events = t.phases.flat().filter((s) => s.kind === 'event') as Array<Extract<Step, { kind: 'event' }>>;
  const payloadBytes = events.reduce((s, st) => s + Buffer.byteLength(st.event.payload), 0);
  const perConv = Object.entries(mix.verified.perConversation)
    .map(([k, v]) => `${fixed(v, 0)} × ${k}`)
    .join(', ');
  return `${int(mix.conversations)} conversations live at once, ${int(t.steps / mix.conversations)} steps each (${int(t.steps)} per run, ${int(events.length)} of them platform events, mean JSON payload ${bytes(payloadBytes / events.length)}). Effects per conversation: ${perConv}, answered at once by an in-process fake. Both engines were checked on 100 conversations of this mix to make the same ${int(mix.verified.effects)} calls (endpoint, key, priority, RequestId, body; order per conversation).`;
}

function rateTable(r: MixResult): string {
  const S = (rs: Run[], f: (r: Run) => number) => stats(rs.map(f));
  return table(
    ['engine', 'steps/s (wall) min / median / max', 'steps per CPU-second (median)', 'sync ingest ms (median)', 'drain ms (median)', 'GC pause ms (median)'],
    [
      ['XState switchboard', mmm(r.xRate), short(S(r.xs, (x) => x.cpuRate).median), fixed(S(r.xs, (x) => x.syncMs).median, 0), fixed(S(r.xs, (x) => x.drainMs).median, 0), fixed(S(r.xs, (x) => x.gcMs).median, 0)],
      ['baseline reducer', mmm(r.bRate), short(S(r.bs, (x) => x.cpuRate).median), fixed(S(r.bs, (x) => x.syncMs).median, 0), fixed(S(r.bs, (x) => x.drainMs).median, 0), fixed(S(r.bs, (x) => x.gcMs).median, 0)],
      ['ratio XState / baseline (per pair)', mmm(r.ratio, (n) => `${fixed(n)}×`), '', '', '', ''],
    ],
  );
}

function phaseTable(r: MixResult): string {
  const n = r.mix.conversations;
  const perConvUs = (rs: Run[], p: number) => stats(rs.map((x) => (x.phaseMs[p]! * 1000) / n)).median;
  return table(
    ['phase', 'steps', 'XState µs/conversation', 'baseline µs/conversation', 'XState − baseline', 'ratio'],
    r.mix.traffic.labels.map((label, p) => {
      const xu = perConvUs(r.xs, p);
      const bu = perConvUs(r.bs, p);
      return [`${p + 1}. ${label}`, r.mix.traffic.phases[p]!.length / n, fixed(xu, 0), fixed(bu, 0), fixed(xu - bu, 0), `${fixed(bu / xu)}×`];
    }),
  );
}

export async function dispatchBench(opts: BenchOptions): Promise<BenchResult> {
  const conversations = opts.quick ? 500 : 2_000;
  const runs = opts.quick ? 3 : 7;
  const warmups = opts.quick ? 1 : 2;
  const profileMs = opts.quick ? 1_500 : 4_000;

  log('verifying that both engines make the same calls…');
  const mixes: Mix[] = [];
  for (const [name, build] of [
    ['typical', (n: number, seed: number, prefix: string) => typicalTraffic(n, seed, prefix)],
    ['routing-heavy', (n: number, seed: number, prefix: string) => lifecycleTraffic(n, seed, prefix)],
  ] as const) {
    const v = await verifyEquivalence(build, 100);
    log(`  ${name}: identical, ${v.effects} calls over 100 conversations, same endpoint, key, priority, RequestId and body, same order per conversation`);
    mixes.push({ name, traffic: build(conversations, 7, name.slice(0, 4)), conversations, expected: scale(v.expected, 100, conversations), verified: v });
  }
  const [typical, heavy] = mixes as [Mix, Mix];
  for (const m of mixes) log(`traffic ${m.name}: ${int(conversations)} conversations, ${int(m.traffic.steps)} steps per run, ${runs} runs per engine after ${warmups} warm-up`);

  const t = await measureMix(typical, runs, warmups);
  const h = await measureMix(heavy, runs, warmups);

  // The typical mix's chat share is a free parameter: the more chat (cheap steps for both engines),
  // the closer the ratio gets to 1. The sweep shows it, and the target is judged on 4 exchanges (a
  // conference-heavy day), not on the 12 of the headline mix.
  const sweepRuns = opts.quick ? 2 : 3;
  const sweep: Array<{ exchanges: number; r: MixResult }> = [];
  for (const exchanges of EXCHANGE_SWEEP) {
    const traffic = typicalTraffic(conversations, 7, `sw${exchanges}`, exchanges);
    const v = await verifyEquivalence((n, seed, prefix) => typicalTraffic(n, seed, prefix, exchanges), 100);
    const mix: Mix = { name: `typical, ${exchanges} exchanges`, traffic, conversations, expected: scale(v.expected, 100, conversations), verified: v };
    // 4 exchanges carries the issue #13 target: as many runs as the headline mixes, since one run on
    // a shared box can move this ratio by a fifth.
    const judged = exchanges === 4;
    log(`exchange sweep: ${exchanges} exchanges per conversation, ${int(traffic.steps)} steps per run`);
    sweep.push({ exchanges, r: await measureMix(mix, judged ? runs : sweepRuns, judged ? warmups : 1) });
  }
  const four = sweep.find((x) => x.exchanges === 4)!.r;

  // Where the time goes (typical mix): JSON.parse alone, the parser alone, the dedupe alone, both engines with a dedupe window of 1.
  log('decomposition: JSON.parse alone, parser alone, dedupe alone, engines with dedupeWindow 1…');
  const json = stats(Array.from({ length: runs }, () => jsonOnlyRate(typical.traffic)));
  const parse = stats(Array.from({ length: runs }, () => parseOnlyRate(typical.traffic)));
  const keys = dedupeKeys(typical.traffic);
  const dedupe = stats(Array.from({ length: runs }, () => dedupeRate(keys, typical.traffic.steps, 10_000)));
  const xs1: Run[] = [];
  const bs1: Run[] = [];
  const decompRuns = opts.quick ? 2 : 4;
  for (let i = 0; i < decompRuns; i++) {
    xs1.push(await runOnce('xstate', typical.traffic, typical.expected, { dedupeWindow: 1 }));
    bs1.push(await runOnce('baseline', typical.traffic, typical.expected, { dedupeWindow: 1 }));
  }
  const x1 = stats(xs1.map((r) => r.rate));
  const b1 = stats(bs1.map((r) => r.rate));
  const ratio1 = stats(xs1.map((x, i) => x.rate / bs1[i]!.rate));

  log(`profiling the XState engine on the typical mix for ${profileMs / 1000} s…`);
  const profTraffic = opts.quick ? typical.traffic : typicalTraffic(500, 3, 'prof');
  const profExpected = scale(typical.expected, conversations, opts.quick ? conversations : 500);
  // Lean runs: no forced GC and no GC-meter pauses inside the profile, only the engine at work.
  const profile = await cpuProfile(profileMs, async () => {
    const env = createEngine('xstate', { script: profTraffic.script });
    await play(env.engine, profTraffic, now);
    if (env.messages.count !== profExpected.messages || env.engine.stats().sessions !== 0) throw new Error('profile run did not complete the traffic');
    await env.engine.stop();
  });

  const fourMet = four.ratio.median >= TARGET_RATIO;
  const heavyMet = h.ratio.median >= HEAVY_TARGET_RATIO;
  const rateMet = t.xRate.median >= TARGET_RATE;
  const ratioMet = t.ratio.median >= TARGET_RATIO;
  const verdict = rateMet && ratioMet ? 'met' : `MISSED (${[!rateMet ? `rate ${int(t.xRate.median)} < 100,000` : '', !ratioMet ? `ratio ${fixed(t.ratio.median)}× < 0.5×` : ''].filter(Boolean).join(', ')})`;
  const line = summary(
    'dispatch',
    `typical mix ${spread(t.xRate, ' ev/s')} — ${fixed(t.ratio.median)}× baseline (${int(t.bRate.median)} ev/s) — target ≥100k & ≥0.5×: ${verdict}; ` +
      `routing-heavy mix ${int(h.xRate.median)} ev/s, ${fixed(h.ratio.median)}× baseline (${int(h.bRate.median)} ev/s) — target ≥0.3×: ${heavyMet ? 'met' : 'MISSED'}; ` +
      `typical with 4 exchanges ${fixed(four.ratio.median)}× — target ≥0.5×: ${fourMet ? 'met' : 'MISSED'}`,
  );

  const md: string[] = [];
  md.push(`### 1. Dispatch throughput`);
  md.push('');
  md.push(`**${line}**`);
  md.push('');
  md.push(`${runs} runs per engine and mix, alternating, after ${warmups} warm-up pair${warmups > 1 ? 's' : ''}; a forced GC before each run. Rates count every step (platform event or agent-work event) over the whole wall time, feeds and drains.`);
  md.push('');
  md.push(`**Typical mix** (the issue's "realistic mix"; bench/workload.ts \`typicalTraffic\`): a short support chat with one conference. SessionStatusChanged Active, rep A joins, 12 chat exchanges (each: the rep's DeliveryAcknowledgement and ReadAcknowledgement of the end user's message, TypingStartedIndicator, TypingStoppedIndicator, the rep's Message), a Conference through a queue (route, pick, agentWork, routingResult), agent-work ACCEPTED, the picked rep joins, RoutingResult None, rep A leaves (a warm transfer), SessionStatusChanged Ended. ${describeTraffic(typical)}`);
  md.push('');
  md.push(rateTable(t));
  md.push('');
  md.push(`Targets (issue #7, typical mix): ≥ 100,000 steps/s — **${rateMet ? 'met' : 'missed'}** (median ${int(t.xRate.median)}, ${fixed((t.xRate.median / TARGET_RATE) * 100, 0)} % of target; min ${int(t.xRate.min)}); ≥ 0.5× baseline — **${ratioMet ? 'met' : 'missed'}** (median ${fixed(t.ratio.median)}×, min ${fixed(t.ratio.min)}×).`);
  md.push('');
  md.push(`**Routing-heavy mix** (bench/workload.ts \`lifecycleTraffic\`, no chat): every conversation makes three Conference requests in 18 steps — to a rep, through a queue, and one rejected at the participant cap — plus a warm transfer; two Messages, agent-work ACCEPTED twice. Nearly every step reaches a session or routing actor. ${describeTraffic(heavy)}`);
  md.push('');
  md.push(rateTable(h));
  md.push('');
  md.push(`Target (issue #13): routing-heavy ≥ 0.3× baseline — **${heavyMet ? 'met' : 'missed'}** (median ${fixed(h.ratio.median)}×, min ${fixed(h.ratio.min)}×).`);
  md.push('');
  md.push(`**Chat share sweep** (the typical mix with 0, 4, 12 and 24 chat exchanges per conversation; ${sweepRuns} runs per engine each after 1 warm-up pair, and ${runs} after ${warmups} at 4 exchanges, the point the target is judged on). Chat steps are cheap for both engines, so more chat pulls the ratio towards 1: the target (issue #13, ≥ 0.5×) is judged on 4 exchanges — **${fourMet ? 'met' : 'missed'}** (median ${fixed(four.ratio.median)}×, min ${fixed(four.ratio.min)}×).`);
  md.push('');
  md.push(
    table(
      ['exchanges', 'steps per conversation', 'XState steps/s (median)', 'baseline steps/s (median)', 'ratio min / median / max'],
      sweep.map(({ exchanges, r }) => [String(exchanges), String(r.mix.traffic.steps / conversations), int(r.xRate.median), int(r.bRate.median), mmm(r.ratio, (n) => `${fixed(n)}×`)]),
    ),
  );
  md.push('');
  md.push(`**Decomposition** (typical mix; median µs per step over the same traffic; "dedupe 1" = \`dedupeWindow: 1\`, i.e. the dedupe set kept tiny, to show the engines without its cost):`);
  md.push('');
  const row = (name: string, s: Stats, note = '') => [name, mmm(s), fixed(usPer(s.median), 2), note];
  md.push(
    table(
      ['what', 'steps/s min / median / max', 'µs per step (median)', 'note'],
      [
        row('JSON.parse alone (payload, and channelData of a RoutingRequested)', json, 'what any parser pays'),
        row('parsePlatformEvent / parseAgentWorkEvent alone', parse, 'JSON.parse + field validation + the typed event'),
        row('switchboard dedupe alone (RecentKeys, window 10,000)', dedupe, '1–2 lookups per step'),
        row('baseline reducer, default options', t.bRate),
        row('XState switchboard, default options', t.xRate),
        row('baseline reducer, dedupe 1', b1),
        row('XState switchboard, dedupe 1', x1, `ratio ${mmm(ratio1, (n) => `${fixed(n)}×`)}`),
      ],
    ),
  );
  md.push('');
  md.push(`XState's own cost per step (XState − baseline, medians): typical mix ${fixed(usPer(t.xRate.median) - usPer(t.bRate.median), 1)} µs (${fixed((usPer(t.xRate.median) - usPer(t.bRate.median)) * (typical.traffic.steps / conversations), 0)} µs per conversation); routing-heavy mix ${fixed(usPer(h.xRate.median) - usPer(h.bRate.median), 1)} µs (${fixed((usPer(h.xRate.median) - usPer(h.bRate.median)) * (heavy.traffic.steps / conversations), 0)} µs per conversation).`);
  md.push('');
  md.push('**Per phase** (median over the runs of wall µs per conversation for the phase — feed plus drain — default options). Typical mix:');
  md.push('');
  md.push(phaseTable(t));
  md.push('');
  md.push('Routing-heavy mix:');
  md.push('');
  md.push(phaseTable(h));
  md.push('');
  md.push(`**CPU profile** of the XState engine on the typical mix (node:inspector, ${fixed(profile.totalMs / 1000, 1)} s of CPU sampled every 250 µs over ${profile.loops} back-to-back run${profile.loops === 1 ? '' : 's'} of ${int(profTraffic.steps)} steps, no forced GC; self time; idle samples left out; anonymous functions named by their source line):`);
  md.push('');
  md.push(
    table(
      ['#', 'function', 'file', 'self ms', 'share'],
      profile.rows.slice(0, 15).map((r, i) => [i + 1, `\`${r.fn}\``, r.file ? `\`${r.file}\`` : '', fixed(r.selfMs, 0), `${fixed(r.share * 100, 1)} %`]),
    ),
  );
  md.push('');
  md.push('By area (self time summed):');
  md.push('');
  md.push(table(['area', 'self ms', 'share'], profile.areas.slice(0, 10).map((a) => [a.area, fixed(a.selfMs, 0), `${fixed(a.share * 100, 1)} %`])));

  console.log('  top of the profile:');
  for (const r of profile.rows.slice(0, 15)) console.log(`    ${fixed(r.share * 100, 1).padStart(5)} %  ${r.fn}  ${r.file}`);

  return { name: 'dispatch', summary: line, markdown: md.join('\n') };
}
