// (2) Memory per session: heap and RSS for 10k and 100k concurrent sessions, idle and with one
// pending conference each, against the baseline reducer's plain objects holding the same data.
//
// Every case runs in a fresh child process (same loader, --expose-gc), so neither the heap nor the
// RSS carries what an earlier case allocated. A case: forced GC, reading; create the sessions from
// platform events built on the fly in chunks of 1,000 (so the events themselves are garbage by the
// time of the second reading); forced GC, reading. Per session = Δ / N.
//
// A second child takes two heap snapshots around 2,000 idle sessions (and again after giving each a
// pending conference) and diffs them by V8 node type / constructor: that is where the memory goes.
import { spawn } from 'node:child_process';
import { Session } from 'node:inspector/promises';
import { pino } from 'pino';
import { createActor } from 'xstate';
import type { PlatformEvent } from '../src/domain/events.js';
import { parsePlatformEvent } from '../src/domain/parse.js';
import { callOf, routingMachine } from '../src/machines/routing.js';
import { sessionMachine, type RoutingSettings } from '../src/machines/session.js';
import { participantChanged, routingRequested } from '../src/sandbox/payloads.js';
import { bytes, fixed, forceGc, int, log, memory, msSince, now, summary, table, type BenchOptions, type BenchResult } from './lib.js';
import { RecentKeys } from '../src/recent-keys.js';
import { conversation, createEngine, flat, idleSessionEvents, repId, wire, type Engine } from './workload.js';

const TARGET_IDLE_BYTES = 4 * 1024;
const CHUNK = 1_000;
/** Long enough that no offer times out while 100k sessions are being built and measured. */
const OFFER_TIMEOUT_MS = 600_000;

/**
 * idle: sessions with nothing pending, actors live (before `hibernateAfterMs` has passed, or with it off);
 * asleep: the same sessions once the switchboard has put them to sleep (its default after 30 s idle);
 * pending: each with a conference waiting for the rep's answer, actors live;
 * pendingAsleep: the same once the switchboard has put them to sleep (a routing that only waits sleeps too).
 */
type Mode = 'idle' | 'asleep' | 'pending' | 'pendingAsleep';
/** Issue #13: heap per session with one pending conference. */
const TARGET_PENDING_BYTES = 6 * 1024;

interface CaseSpec {
  kind: 'case';
  impl: Engine['kind'];
  mode: Mode;
  n: number;
}

interface CaseResult {
  impl: Engine['kind'];
  mode: Mode;
  n: number;
  heapPerSession: number;
  rssPerSession: number;
  heapDelta: number;
  rssDelta: number;
  buildMs: number;
}

interface BreakdownSpec {
  kind: 'breakdown';
  n: number;
}

interface Category {
  category: string;
  bytesPerSession: number;
  countPerSession: number;
}

interface BreakdownResult {
  n: number;
  idle: Category[];
  asleep: Category[];
  asleepTotal: number;
  idleClosures: Category[];
  pendingClosures: Category[];
  /** The switchboard's dedupe set at its default window, per session of 10,000. */
  dedupeBytesPerSession: number;
  pending: Category[];
  idleTotal: number;
  pendingTotal: number;
  baselineIdle: Category[];
  baselineIdleTotal: number;
  pinoChildBytes: number;
  persistedIdleBytes: number;
  persistedPendingBytes: number;
}

// ---- building sessions ----

async function populate(engine: Engine, n: number, mode: Mode): Promise<void> {
  if (mode === 'asleep' || mode === 'pendingAsleep') {
    await populate(engine, n, mode === 'asleep' ? 'idle' : 'pending');
    const slept = engine.hibernate();
    if (engine.kind === 'xstate' && slept !== n) throw new Error(`memory: ${slept} of ${n} ${mode === 'asleep' ? 'idle' : 'waiting'} sessions went to sleep`);
    return;
  }
  for (let from = 0; from < n; from += CHUNK) {
    const to = Math.min(n, from + CHUNK);
    for (const e of idleSessionEvents(from, to)) engine.ingest(e);
    if (mode === 'pending') {
      for (let i = from; i < to; i++) engine.ingest(wire(routingRequested(conversation(i, 'idle'), 'Conference', { userId: repId(i + 1) })));
    }
    await engine.settled();
  }
}

async function runCase(spec: CaseSpec): Promise<CaseResult> {
  await forceGc();
  const m0 = memory();
  // Awake cases keep every actor live for the whole build; the asleep case uses the default and sleeps at the end.
  const env = createEngine(spec.impl, { routing: { offerTimeoutMs: OFFER_TIMEOUT_MS }, ...(spec.mode === 'asleep' || spec.mode === 'pendingAsleep' ? {} : { hibernateAfterMs: false }) });
  const t0 = now();
  await populate(env.engine, spec.n, spec.mode);
  const buildMs = msSince(t0);
  await forceGc();
  const m1 = memory();
  const st = env.engine.stats();
  if (st.sessions !== spec.n || st.pendingRoutings !== (spec.mode === 'pending' || spec.mode === 'pendingAsleep' ? spec.n : 0) || st.rejected !== 0) {
    throw new Error(`memory case ${JSON.stringify(spec)} built the wrong state: ${JSON.stringify(st)}`);
  }
  const heapDelta = m1.heapUsed - m0.heapUsed;
  const rssDelta = m1.rss - m0.rss;
  await env.engine.stop();
  return { ...spec, heapPerSession: heapDelta / spec.n, rssPerSession: rssDelta / spec.n, heapDelta, rssDelta, buildMs };
}

// ---- heap snapshot statistics ----

/** Bytes and counts per category (V8 node type; objects and closures by constructor / function name). */
type Census = Map<string, { size: number; count: number }>;

/** Bytes and counts per category, and closures by function name (under keys starting with 'fn '). */
async function heapCensus(session: Session): Promise<Census> {
  const chunks: string[] = [];
  const onChunk = (m: { params: { chunk: string } }) => void chunks.push(m.params.chunk);
  session.on('HeapProfiler.addHeapSnapshotChunk', onChunk);
  await session.post('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
  session.off('HeapProfiler.addHeapSnapshotChunk', onChunk);
  const snap = JSON.parse(chunks.join('')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  chunks.length = 0;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const stride = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const out = new Map<string, { size: number; count: number }>();
  for (let i = 0; i < snap.nodes.length; i += stride) {
    const type = types[snap.nodes[i + iType]!]!;
    const size = snap.nodes[i + iSize]!;
    let key: string;
    if (type === 'object') key = `object: ${snap.strings[snap.nodes[i + iName]!]}`;
    else if (type === 'closure') key = 'closures (functions)';
    else if (type === 'string' || type === 'concatenated string' || type === 'sliced string') key = 'strings';
    else if (type === 'array') key = '(arrays: property and element backing stores)';
    else if (type === 'hidden') key = '(hidden: contexts, internal structures)';
    else if (type === 'object shape') key = '(object shapes / maps)';
    else key = `(${type})`;
    const row = out.get(key) ?? out.set(key, { size: 0, count: 0 }).get(key)!;
    row.size += size;
    row.count += 1;
    if (type === 'closure') {
      const fnKey = `fn ${snap.strings[snap.nodes[i + iName]!] || '(anonymous)'}`;
      const fnRow = out.get(fnKey) ?? out.set(fnKey, { size: 0, count: 0 }).get(fnKey)!;
      fnRow.size += size;
      fnRow.count += 1;
    }
  }
  return out;
}

function diff(before: Census, after: Census, n: number): { rows: Category[]; closures: Category[]; total: number } {
  const rows: Category[] = [];
  const closures: Category[] = [];
  let total = 0;
  for (const [category, a] of after) {
    const b = before.get(category) ?? { size: 0, count: 0 };
    const row = { category, bytesPerSession: (a.size - b.size) / n, countPerSession: (a.count - b.count) / n };
    if (category.startsWith('fn ')) {
      closures.push({ ...row, category: category.slice(3) });
      continue;
    }
    total += row.bytesPerSession;
    rows.push(row);
  }
  rows.sort((x, y) => y.bytesPerSession - x.bytesPerSession);
  closures.sort((x, y) => y.countPerSession - x.countPerSession);
  return { rows, closures, total };
}

const SETTINGS: RoutingSettings = {
  routingWindowMs: 60_000,
  reportReserveMs: 5_000,
  offerTimeoutMs: OFFER_TIMEOUT_MS,
  maxOffers: 3,
  answerGraceMs: 5_000,
  repickIntervalMs: 2_000,
  initialRoutingTimeoutMs: 120_000,
  participantCap: 3,
};

/** The persisted snapshot (getPersistedSnapshot → JSON) of one session actor, idle and then with a pending conference. */
async function persistedSizes(): Promise<{ idle: number; pending: number }> {
  const machine = sessionMachine.provide({
    actors: {
      routing: routingMachine.provide({
        actions: {
          // Every call answers ok on the next turn (POST /agentWork with an AgentWork id).
          call: ({ context, self }, params) => {
            const { step } = callOf(params.call, context);
            setImmediate(() => self.send({ type: `${step}.ok`, output: step === 'offer' ? { agentWorkId: '0Bz000000000001' } : undefined }));
          },
          arm: () => {},
          disarm: () => {},
        },
      }),
    },
  });
  const c = conversation(0, 'snap');
  const parsed = (e: PlatformEvent) => {
    const r = parsePlatformEvent(e);
    if (!r.ok) throw r.error;
    return r.value;
  };
  const [ssc, pc] = [...idleSessionEvents(0, 1, 'snap')].map(parsed) as [never, never];
  const actor = createActor(machine, { input: { conversationIdentifier: c.conversationIdentifier, channelAddressIdentifier: c.channelAddressIdentifier, workItemId: c.sessionId.slice(0, 15), settings: SETTINGS } });
  actor.start();
  actor.send({ type: 'SESSION_STATUS_CHANGED', entry: ssc });
  actor.send({ type: 'PARTICIPANT_CHANGED', entry: pc });
  const idle = JSON.stringify(actor.getPersistedSnapshot()).length;
  actor.send({ type: 'ROUTING_REQUESTED', request: parsed(routingRequested(c, 'Conference', { userId: repId(1) })) as never, receivedAt: Date.now() });
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  const snap = actor.getSnapshot();
  const offered = Object.values(snap.context.routings)[0];
  if (!offered?.workId) throw new Error('persisted-size probe: the conference did not reach awaitingAcceptance');
  const pending = JSON.stringify(actor.getPersistedSnapshot()).length;
  actor.stop();
  return { idle, pending };
}

/** Holds what a measurement must not lose to the GC before the reading is taken. */
const keepAlive: unknown[] = [];

async function runBreakdown(spec: BreakdownSpec): Promise<BreakdownResult> {
  // The dedupe set (default window, 10,000 keys) is shared by all sessions: measure it once, in
  // steady state (twice the window inserted, so evictions happened), with the switchboard's key shapes.
  // Measured first: the heap-snapshot work below leaves garbage that later readings would catch.
  await forceGc();
  const d0 = memory().heapUsed;
  const dedupe = new RecentKeys(10_000, undefined, 2);
  for (let i = 0; i < 20_000; i++) {
    // Flat ids, as decoded from the wire, kept as they come (event ids and entry ids in two namespaces).
    const id = flat(conversation(i, i % 2 ? 'evnt' : 'entr').conversationIdentifier);
    dedupe.seen(id, i % 2);
  }
  await forceGc();
  const dedupeBytes = memory().heapUsed - d0;
  keepAlive.push(dedupe);

  // A silent pino child, as each session holds one (log.child({ conversationIdentifier })).
  await forceGc();
  const h0 = memory().heapUsed;
  const logger = pino({ level: 'silent' });
  const children = Array.from({ length: spec.n }, (_, i) => logger.child({ conversationIdentifier: flat(conversation(i, 'pino').conversationIdentifier) }));
  await forceGc();
  const pinoChildBytes = (memory().heapUsed - h0) / spec.n;
  keepAlive.push(children);

  const session = new Session();
  session.connect();
  // A dedupe window of 1 keeps the switchboard's bounded dedupe set (up to 10,000 keys, shared by
  // all sessions) out of the per-session figures.
  const census = async () => {
    await forceGc();
    return heapCensus(session);
  };
  let base = await census();
  const x = createEngine('xstate', { routing: { offerTimeoutMs: OFFER_TIMEOUT_MS }, dedupeWindow: 1, hibernateAfterMs: false });
  await populate(x.engine, spec.n, 'idle');
  const idleSnap = await census();
  const idle = diff(base, idleSnap, spec.n);
  x.engine.hibernate();
  const asleep = diff(base, await census(), spec.n);
  for (let i = 0; i < spec.n; i++) x.engine.ingest(wire(participantChanged(conversation(i, 'idle'), [{ operation: 'update', userId: repId(i) }])));
  if (x.engine.stats().sessions !== spec.n) throw new Error('breakdown: sessions lost while waking');
  for (let i = 0; i < spec.n; i++) x.engine.ingest(wire(routingRequested(conversation(i, 'idle'), 'Conference', { userId: repId(i + 1) })));
  await x.engine.settled();
  if (x.engine.stats().pendingRoutings !== spec.n) throw new Error('breakdown: pending conferences missing');
  // Woken by the update above: every actor is live again, as in idleSnap.
  const pending = diff(idleSnap, await census(), spec.n);
  await x.engine.stop();

  base = await census();
  const b = createEngine('baseline', { routing: { offerTimeoutMs: OFFER_TIMEOUT_MS }, dedupeWindow: 1 });
  await populate(b.engine, spec.n, 'idle');
  const baselineIdle = diff(base, await census(), spec.n);
  await b.engine.stop();


  session.disconnect();
  const persisted = await persistedSizes();
  return {
    n: spec.n,
    idle: idle.rows,
    asleep: asleep.rows,
    asleepTotal: asleep.total,
    idleClosures: idle.closures,
    pendingClosures: pending.closures,
    dedupeBytesPerSession: dedupeBytes / 10_000,
    pending: pending.rows,
    idleTotal: idle.total,
    pendingTotal: pending.total,
    baselineIdle: baselineIdle.rows,
    baselineIdleTotal: baselineIdle.total,
    pinoChildBytes,
    persistedIdleBytes: persisted.idle,
    persistedPendingBytes: persisted.pending,
  };
}

// ---- the child side ----

/** Entry point of a child process (`bench/run.ts --child memory <json>`): prints one RESULT line. */
export async function memoryChild(arg: string): Promise<void> {
  const spec = JSON.parse(arg) as CaseSpec | BreakdownSpec;
  const result = spec.kind === 'case' ? await runCase(spec) : await runBreakdown(spec);
  // Return only once the line is flushed: stdout to a pipe is asynchronous, and the runner exits
  // right after (timers of pending conferences would otherwise keep the process alive).
  await new Promise<void>((resolve) => process.stdout.write(`RESULT ${JSON.stringify(result)}\n`, () => resolve()));
}

async function inChild<T>(spec: CaseSpec | BreakdownSpec): Promise<T> {
  const script = process.argv[1]!;
  const args = [...process.execArgv.filter((a) => a !== '--expose-gc'), '--expose-gc', script, '--child', 'memory', JSON.stringify(spec)];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => void (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const line = out.split('\n').find((l) => l.startsWith('RESULT '));
  if (code !== 0 || !line) throw new Error(`memory child ${JSON.stringify(spec)} failed (exit ${code}):\n${out}`);
  return JSON.parse(line.slice('RESULT '.length)) as T;
}

// ---- the parent side ----

export async function memoryBench(opts: BenchOptions): Promise<BenchResult> {
  const sizes = opts.quick ? [10_000] : [10_000, 100_000];
  const results: CaseResult[] = [];
  for (const n of sizes) {
    for (const mode of ['idle', 'asleep', 'pending', 'pendingAsleep'] as const) {
      for (const impl of ['xstate', 'baseline'] as const) {
        // The baseline has no sleeping state: its awake rows are what the asleep rows compare with.
        if (impl === 'baseline' && (mode === 'asleep' || mode === 'pendingAsleep')) continue;
        const r = await inChild<CaseResult>({ kind: 'case', impl, mode, n });
        results.push(r);
        log(`${impl.padEnd(8)} ${mode.padEnd(7)} ${int(n).padStart(7)} sessions: heap ${bytes(r.heapPerSession)}/session (Δ ${bytes(r.heapDelta)}), RSS ${bytes(r.rssPerSession)}/session (Δ ${bytes(r.rssDelta)}), built in ${fixed(r.buildMs / 1000, 1)} s`);
      }
    }
  }
  const breakdownN = opts.quick ? 1_000 : 2_000;
  log(`heap-snapshot breakdown with ${int(breakdownN)} sessions…`);
  const bd = await inChild<BreakdownResult>({ kind: 'breakdown', n: breakdownN });

  const get = (impl: string, mode: Mode, n: number) => results.find((r) => r.impl === impl && r.mode === mode && r.n === n)!;
  const largest = sizes[sizes.length - 1]!;
  // An idle session, in the default configuration, is asleep once it has been idle for hibernateAfterMs.
  const worstIdle = Math.max(...sizes.map((n) => get('xstate', 'asleep', n).heapPerSession));
  const worstAwake = Math.max(...sizes.map((n) => get('xstate', 'idle', n).heapPerSession));
  const idleMet = worstIdle <= TARGET_IDLE_BYTES;
  const worstPendingAsleep = Math.max(...sizes.map((n) => get('xstate', 'pendingAsleep', n).heapPerSession));
  const worstPendingAwake = Math.max(...sizes.map((n) => get('xstate', 'pending', n).heapPerSession));
  const pendingMet = worstPendingAsleep <= TARGET_PENDING_BYTES;
  const headline = get('xstate', 'asleep', largest);
  const headBase = get('baseline', 'idle', largest);
  const verdict = idleMet ? `met (worst ${bytes(worstIdle)})` : `MISSED by ${bytes(worstIdle - TARGET_IDLE_BYTES)} (${fixed((worstIdle / TARGET_IDLE_BYTES) * 100, 0)} % of the budget)`;
  const line = summary(
    'memory',
    `${bytes(headline.heapPerSession)} heap per idle session at ${int(largest)}, asleep (${fixed(headline.heapPerSession / headBase.heapPerSession, 1)}× baseline ${bytes(headBase.heapPerSession)}; ` +
      `awake before hibernateAfterMs ${bytes(get('xstate', 'idle', largest).heapPerSession)}); with a pending conference ${bytes(get('xstate', 'pendingAsleep', largest).heapPerSession)} asleep, ${bytes(get('xstate', 'pending', largest).heapPerSession)} awake (baseline ${bytes(get('baseline', 'pending', largest).heapPerSession)}) — target ≤4 KiB idle: ${verdict}; ≤6 KiB pending: ${pendingMet ? 'met asleep' : 'MISSED'} (awake ${bytes(worstPendingAwake)})`,
  );

  const md: string[] = [];
  md.push('### 2. Memory per session');
  md.push('');
  md.push(`**${line}**`);
  md.push('');
  md.push(
    'Idle session = created by a SessionStatusChanged Active + one ParticipantChanged add (one rep present). **Asleep** = the same sessions once the switchboard has put them to sleep, as it ' +
      'does by default after 30 s without an event and nothing pending (`hibernateAfterMs`; the benchmark calls `hibernate()` instead of waiting): the actor is stopped and its persisted snapshot kept. ' +
      '**Awake** idle = the same sessions with live actors (built with `hibernateAfterMs: false`), what an idle session costs before it falls asleep. Pending = the same plus a RoutingRequested Conference to a rep, drained until ' +
      "the fake's AgentWork is created and the routingResult sent: the routing child sits in `awaitingAcceptance` with its deadline and offer timers armed. **Pending, asleep** = the same once put to sleep: a routing that only waits (no call in flight) sleeps with its session, its timers replaced by one wake-up at the earliest. " +
      `Each row is its own child process; heap after forced GC; per session = Δ heapUsed / N. Default options: the switchboard's dedupe set (10,000 keys, shared by all sessions, ` +
      `measured at ${bytes(bd.dedupeBytesPerSession * 10_000)}) is included — ${fixed(bd.dedupeBytesPerSession, 0)} B/session at 10k, ${fixed(bd.dedupeBytesPerSession / 10, 0)} B at 100k, in both engines.`,
  );
  md.push('');
  const rows: Array<Array<string | number>> = [];
  for (const n of sizes) {
    for (const mode of ['asleep', 'idle', 'pendingAsleep', 'pending'] as const) {
      const x = get('xstate', mode, n);
      const b = get('baseline', mode === 'asleep' ? 'idle' : mode === 'pendingAsleep' ? 'pending' : mode, n);
      rows.push([int(n), mode === 'idle' ? 'idle, awake' : mode === 'asleep' ? 'idle, asleep' : mode === 'pendingAsleep' ? 'pending, asleep' : 'pending, awake', bytes(x.heapPerSession), bytes(b.heapPerSession), `${fixed(x.heapPerSession / b.heapPerSession, 1)}×`, bytes(x.rssPerSession), bytes(b.rssPerSession), `${bytes(x.heapDelta)} / ${bytes(b.heapDelta)}`, `${fixed(x.buildMs / 1000, 1)} / ${fixed(b.buildMs / 1000, 1)}`]);
    }
  }
  md.push(table(['sessions', 'state', 'heap/session XState', 'heap/session baseline', 'ratio', 'RSS/session XState', 'RSS/session baseline', 'heap Δ XState / baseline', 'build s XState / baseline'], rows));
  md.push('');
  md.push(`Target ≤ 4 KiB heap per idle session: **${idleMet ? 'met' : 'missed'}** — worst ${bytes(worstIdle)} asleep (${idleMet ? `${fixed(TARGET_IDLE_BYTES - worstIdle, 0)} B under` : `${fixed(worstIdle - TARGET_IDLE_BYTES, 0)} B over`}); awake, before \`hibernateAfterMs\` has passed, worst ${bytes(worstAwake)}. Target ≤ 6 KiB heap per session with one pending conference (issue #13): **${pendingMet ? 'met' : 'missed'}** asleep — worst ${bytes(worstPendingAsleep)}; awake (its first \`hibernateAfterMs\`, or with a call in flight) worst ${bytes(worstPendingAwake)}. One measurement per case (a fresh process each); RSS includes allocator slack and freed event garbage not yet returned to the OS, so read it as indicative.`);
  md.push('');
  md.push(`**Where it goes** — heap-snapshot diff (V8 node types; objects by constructor name) around ${int(bd.n)} sessions, dedupe window 1 so only per-session memory shows:`);
  md.push('');
  const top = (cats: Category[], k = 12) => cats.filter((c) => Math.abs(c.bytesPerSession) >= 8).slice(0, k);
  const baseBy = new Map(bd.baselineIdle.map((c) => [c.category, c]));
  md.push(
    table(
      ['category', 'XState idle B/session', 'objects/session', 'baseline idle B/session', 'objects/session', 'XState +pending conference B/session', 'objects/session'],
      top(bd.idle, 14).map((c) => {
        const b = baseBy.get(c.category);
        const p = bd.pending.find((q) => q.category === c.category);
        return [c.category, fixed(c.bytesPerSession, 0), fixed(c.countPerSession, 1), b ? fixed(b.bytesPerSession, 0) : '0', b ? fixed(b.countPerSession, 1) : '0', p ? fixed(p.bytesPerSession, 0) : '0', p ? fixed(p.countPerSession, 1) : '0'];
      }),
    ),
  );
  md.push('');
  md.push(
    `Snapshot totals: XState idle ${bytes(bd.idleTotal)}/session awake and ${bytes(bd.asleepTotal)}/session asleep (${top(bd.asleep, 5).map((c) => `${c.category} ${fixed(c.bytesPerSession, 0)} B`).join('; ')}), baseline idle ${bytes(bd.baselineIdleTotal)}/session, a pending conference adds ${bytes(bd.pendingTotal)}/session on XState. ` +
      `Of every session (both engines) a silent pino child logger is ${bytes(bd.pinoChildBytes)}. ` +
      `The persisted snapshot of an idle session (getPersistedSnapshot → JSON) is ${int(bd.persistedIdleBytes)} B, with a pending conference ${int(bd.persistedPendingBytes)} B: the data itself is small; the live actor's machinery is what costs.`,
  );
  const closures = (cs: Category[]) =>
    cs
      .filter((c) => c.countPerSession >= 0.5)
      .slice(0, 14)
      .map((c) => `\`${c.category}\` ${fixed(c.countPerSession, 1)}`)
      .join(', ');
  md.push('');
  md.push(`Closures per idle XState session, by function name (count per session): ${closures(bd.idleClosures)}.`);
  md.push('');
  md.push(`Closures a pending conference adds: ${closures(bd.pendingClosures)}.`);
  const pendingTop = top(bd.pending, 8)
    .map((c) => `${c.category} ${fixed(c.bytesPerSession, 0)} B (${fixed(c.countPerSession, 1)})`)
    .join('; ');
  md.push('');
  md.push(`Largest items a pending conference adds (XState): ${pendingTop}.`);
  return { name: 'memory', summary: line, markdown: md.join('\n') };
}

