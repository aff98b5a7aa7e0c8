// (6) A burst of conference requests against the org's rate limit: N Conference requests published
// by the sandbox org within one second, the Interaction Service client limited to 2,000 requests/s
// (`limits.requestsPerSecond`) and the sandbox enforcing the same org limit (`faults.rateLimit('*',
// 2000)`: 429 + Retry-After beyond it). Each conference costs three calls — POST /route,
// POST /agentWork, POST /routingResult — so N conferences need at least 3N / 2,000 s of API time, and
// every routingResult must still reach the org inside the 60-s routing window of its request.
//
// The sandbox runs in a child process (bench/latency.ts, "the sandbox host"), as a real org runs
// elsewhere; the switchboard here is built as an app builds it, with its own Pub/Sub intake.
// Measured from the sandbox's own records (http.records: receivedAt, endpoint, requestId, orgCalled):
// the share of requests answered (POST /routingResult reached the org) within 60 s of publication,
// the worst time, the peak number of requests the sandbox received in any sliding second, and 429s.
//
// What priority buys: the client queues 'finish' calls (routingResult, DELETE /route, PATCH
// /agentWork) ahead of 'start' calls. The baseline, in the same process, is the same burst with
// every call queued as 'start' (the client has no switch for this, so the port is wrapped and
// rewrites each call's priority). Both variants go through the same recording wrapper: it notes when
// the engine called the port, so each call's queue wait is that moment → the request's arrival at
// the sandbox (matched by the RequestId header).
import { DEFAULT_CONCURRENCY } from '../src/io/resilience/rate-limiter.js';
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { InteractionService, PickRep } from '../src/domain/ports.js';
import type { SandboxRep } from '../src/sandbox/index.js';
import { BENCH_QUEUE, openSandboxHost, pct, rigSwitchboard, startRig, waitUntil, type AuditCounts, type SandboxHost } from './sandbox-host.js';
import { fixed, forceGc, int, log, mmm, sleep, stats, summary, table, type BenchOptions, type BenchResult, type Stats } from './lib.js';

const ORG_LIMIT = 2_000;
const WINDOW_MS = 60_000;
const BURST_MS = 1_000;

const ACCEPTING_REPS: SandboxRep[] = Array.from({ length: 20 }, (_, i) => ({
  userId: `005BNCH0000A${String(i).padStart(3, '0')}`,
  name: `Accepting ${i}`,
  behaviour: 'accept' as const,
  answerAfterMs: 50,
}));

type Variant = 'priority' | 'flat';

interface PortCall {
  method: string;
  /** The priority the engine asked for. */
  priority: 'start' | 'finish';
  requestId: string;
  /** Date.now() when the engine called the port (same clock as the sandbox's receivedAt). */
  calledAt: number;
  /** Date.now() when the call settled. */
  settledAt?: number;
}

const METHODS = ['postInteraction', 'patchConsent', 'createRoute', 'clearRoute', 'createAgentWork', 'patchAgentWork', 'reportRoutingResult', 'removeParticipant', 'updateMessagingSession'] as const;

/** The port as the engine sees it: records each call; in the 'flat' variant, queues every call as 'start'. */
function recordingPort(client: InteractionService, variant: Variant, calls: PortCall[], onResult: () => void): InteractionService {
  const port = {} as Record<string, unknown>;
  for (const m of METHODS) {
    port[m] = (req: unknown, ctx: Parameters<InteractionService['createRoute']>[1]) => {
      const call: PortCall = { method: m, priority: ctx.priority, requestId: ctx.requestId ?? '', calledAt: Date.now() };
      calls.push(call);
      const sent = variant === 'flat' ? { ...ctx, priority: 'start' as const } : ctx;
      const p = (client[m] as (r: unknown, c: typeof ctx) => Promise<unknown>)(req, sent);
      const settle = () => {
        call.settledAt = Date.now();
        if (m === 'reportRoutingResult') onResult();
      };
      p.then(settle, settle);
      return p;
    };
  }
  return port as unknown as InteractionService;
}

interface Run {
  variant: Variant;
  conferences: number;
  /** Wall ms over which the org published the burst. */
  publishSpanMs: number;
  /** Share of requests whose POST /routingResult reached the org within 60 s of publication. */
  answeredShare: number;
  answered: number;
  /** ms publication → routingResult at the org, ascending (answered requests only). */
  answerMs: number[];
  /** Most Interaction Service requests the sandbox received in any sliding 1-s window. */
  peakPerSecond: number;
  status429: number;
  requests: number;
  /** First to last Interaction Service request at the sandbox, ms. */
  apiSpanMs: number;
  /** Queue wait (port call → arrival at the sandbox), ms, ascending, by the priority the engine asked for. */
  waitFinish: number[];
  waitStart: number[];
  /** Share of routingResults that reached the org before the last POST /agentWork did. */
  overtook: number;
  /** When the last POST /route and the last POST /agentWork arrived, ms after the first publish. */
  lastRouteMs: number;
  lastAgentWorkMs: number;
  audit: AuditCounts;
  /** Org-reaching requests per endpoint. */
  perEndpoint: Record<string, number>;
  /** Sandbox, switchboard and conversations ready, ms (not part of the measure). */
  setupMs: number;
  /** The engine process's CPU time (all threads) over the wall time, from the first publish to the last routingResult answered. */
  engineCpuShare: number;
  /** The same for the sandbox's process. */
  sandboxCpuShare: number;
  /** The engine process's event-loop delay over the burst (monitorEventLoopDelay), ms. */
  loopDelayMs: { p50: number; p99: number; max: number };
  /** 1-minute load average at the burst's start and end. */
  load: [number, number];
  /** Per request, ms from its arrival at the sandbox to the port call settling (the sandbox's work, the answer's way back, got's parsing), ascending. */
  serviceMs: number[];
  /** Per request, the sandbox's own arrival → answer time, ms, ascending. */
  serverMs: number[];
}

/** Peak count of times in any window [t, t + windowMs). */
function slidingPeak(times: number[], windowMs: number): number {
  const t = [...times].sort((a, b) => a - b);
  let i = 0;
  let peak = 0;
  for (let j = 0; j < t.length; j++) {
    while (t[j]! - t[i]! >= windowMs) i++;
    peak = Math.max(peak, j - i + 1);
  }
  return peak;
}

async function runOnce(host: SandboxHost, variant: Variant, conferences: number, tag: string): Promise<Run> {
  // The sandbox in its own process, enforcing the org limit; the client here limited to the same rate.
  const rig = await startRig(host, ACCEPTING_REPS.map((r) => ({ ...r })), { limits: { requestsPerSecond: ORG_LIMIT }, rateLimit: ORG_LIMIT });
  const calls: PortCall[] = [];
  let reported = 0;
  const api = recordingPort(rig.client, variant, calls, () => void (reported += 1));
  let rr = 0;
  const pickRep: PickRep = () => ACCEPTING_REPS[rr++ % ACCEPTING_REPS.length]!.userId;
  // The switchboard as an app builds it, with its own Pub/Sub intake; routing window 60 s (the default).
  const sb = rigSwitchboard(rig, api, pickRep, { pubsub: rig.wiring.pubsub, routing: { routingWindowMs: WINDOW_MS } });
  host.onAgentWork((e) => sb.agentWork(e));
  const tStart = Date.now();
  try {
    await sb.start();
    const convs = await host.conversations(conferences, tag);
    await waitUntil('the setup events', () => (sb.stats().pubsub?.handled ?? 0) >= conferences, 120_000, 20);
    await forceGc(1);
    const setupMs = Date.now() - tStart;
    const cpu0 = process.cpuUsage();
    const hostCpu0 = await host.cpu();
    const load0 = os.loadavg()[0]!;
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();

    // The burst: the org publishes the requests evenly over one second (catching up if a tick is late).
    const at = await host.request(convs, BURST_MS, BENCH_QUEUE);
    const published = new Map(convs.map((c, i) => [c, at[i]!]));
    const first = Math.min(...at);
    const publishSpanMs = Math.max(...at) - first;
    await waitUntil('every routingResult (or the window)', () => reported >= conferences || Date.now() - first > WINDOW_MS + 5_000, WINDOW_MS + 10_000, 50);
    const cpu = process.cpuUsage(cpu0);
    lag.disable();
    const hostCpu = (await host.cpu()) - hostCpu0;
    const burstWallMs = Date.now() - first;
    // Let the reps' acceptances land, so the org's audit sees finished work.
    let audit = await host.audit();
    while (audit.offeredWork > 0 && Date.now() - first < WINDOW_MS + 10_000) {
      await sleep(200);
      audit = await host.audit();
    }

    const recs = await host.records();
    const arrival = new Map<string, number>();
    for (const r of recs) if (r.requestId && !arrival.has(r.requestId)) arrival.set(r.requestId, r.at);
    const waitFinish: number[] = [];
    const waitStart: number[] = [];
    const service: number[] = [];
    for (const c of calls) {
      const t = arrival.get(c.requestId);
      if (t === undefined) continue;
      (c.priority === 'finish' ? waitFinish : waitStart).push(t - c.calledAt);
      if (c.settledAt !== undefined) service.push(c.settledAt - t);
    }
    const serverMs = recs.map((r) => r.durationMs);
    const answeredAt = new Map<string, number>();
    let lastRoute = first;
    let lastAgentWork = first;
    for (const r of recs) {
      if (!r.orgCalled) continue;
      if (r.endpoint === 'POST /route') lastRoute = Math.max(lastRoute, r.at);
      if (r.endpoint === 'POST /agentWork') lastAgentWork = Math.max(lastAgentWork, r.at);
      if (r.endpoint === 'POST /routingResult' && r.conv && !answeredAt.has(r.conv)) answeredAt.set(r.conv, r.at);
    }
    const answerMs: number[] = [];
    let inWindow = 0;
    let overtaking = 0;
    for (const conv of convs) {
      const t = answeredAt.get(conv);
      if (t === undefined) continue;
      const d = t - published.get(conv)!;
      answerMs.push(d);
      if (d <= WINDOW_MS) inWindow += 1;
      if (t < lastAgentWork) overtaking += 1;
    }
    const times = recs.map((r) => r.at);
    const perEndpoint: Record<string, number> = {};
    for (const r of recs) if (r.orgCalled) perEndpoint[r.endpoint] = (perEndpoint[r.endpoint] ?? 0) + 1;
    const asc = (x: number[]) => x.sort((a, b) => a - b);
    return {
      variant,
      conferences,
      publishSpanMs,
      answeredShare: inWindow / conferences,
      answered: answeredAt.size,
      answerMs: asc(answerMs),
      peakPerSecond: slidingPeak(times, 1_000),
      status429: recs.filter((r) => r.status === 429).length,
      requests: recs.length,
      apiSpanMs: times.length ? Math.max(...times) - Math.min(...times) : 0,
      waitFinish: asc(waitFinish),
      waitStart: asc(waitStart),
      overtook: answeredAt.size ? overtaking / answeredAt.size : 0,
      lastRouteMs: lastRoute - first,
      lastAgentWorkMs: lastAgentWork - first,
      audit,
      perEndpoint,
      setupMs,
      engineCpuShare: (cpu.user + cpu.system) / 1000 / burstWallMs,
      sandboxCpuShare: hostCpu / 1000 / burstWallMs,
      loopDelayMs: { p50: lag.percentile(50) / 1e6, p99: lag.percentile(99) / 1e6, max: lag.max / 1e6 },
      load: [load0, os.loadavg()[0]!],
      serviceMs: asc(service),
      serverMs: asc(serverMs),
    };
  } finally {
    await sb.stop({ drainMs: 1_000 });
    await rig.stop();
  }
}

const sec = (ms: number) => `${fixed(ms / 1000, 1)} s`;
const msOrS = (ms: number) => (ms >= 1000 ? sec(ms) : `${fixed(ms, 0)} ms`);
const pctS = (s: Stats) => mmm(s, (n) => `${fixed(n * 100, 1)} %`);

export async function burstBench(opts: BenchOptions): Promise<BenchResult> {
  const conferences = opts.quick ? 1_000 : 10_000;
  const pairs = 2;
  log(`${int(conferences)} Conference requests published within ${BURST_MS / 1000} s per run (3 calls each: ${int(conferences * 3)} requests), client limit ${int(ORG_LIMIT)} req/s, sandbox limit ${int(ORG_LIMIT)} req/s; ${pairs} runs per variant, alternating priority / flat`);
  const ps: Run[] = [];
  const fs: Run[] = [];
  const host = await openSandboxHost();
  try {
    for (let i = 0; i < pairs; i++) {
      for (const variant of ['priority', 'flat'] as const) {
        const t = Date.now();
        const r = await runOnce(host, variant, conferences, `${variant}${i}`);
        (variant === 'priority' ? ps : fs).push(r);
        log(
          `run ${i + 1} ${variant.padEnd(8)}: answered ${fixed(r.answeredShare * 100, 1)} % in 60 s (median ${sec(pct(r.answerMs, 0.5))}, worst ${sec(pct(r.answerMs, 1))}), ` +
            `peak ${int(r.peakPerSecond)} req/s, ${r.status429} × 429, ${int(r.requests)} requests over ${sec(r.apiSpanMs)}, ` +
            `queue wait median finish ${msOrS(pct(r.waitFinish, 0.5))} / start ${msOrS(pct(r.waitStart, 0.5))}, published over ${fixed(r.publishSpanMs, 0)} ms, ` +
            `CPU engine ${fixed(r.engineCpuShare * 100, 0)} % / sandbox ${fixed(r.sandboxCpuShare * 100, 0)} % of a core, arrival → settled median ${msOrS(pct(r.serviceMs, 0.5))} (sandbox ${msOrS(pct(r.serverMs, 0.5))}), loop delay p99 ${msOrS(r.loopDelayMs.p99)}, load ${fixed(r.load[0], 1)}, org-reaching ${JSON.stringify(r.perEndpoint)}, audit ${JSON.stringify(r.audit)} (setup ${sec(r.setupMs)}, run ${sec(Date.now() - t)})`,
        );
      }
    }
  } finally {
    await host.close();
  }
  const S = (rs: Run[], f: (r: Run) => number) => stats(rs.map(f));
  const all = [...ps, ...fs];
  const share = S(ps, (r) => r.answeredShare);
  const worst = S(ps, (r) => pct(r.answerMs, 1));
  const median = S(ps, (r) => pct(r.answerMs, 0.5));
  const peak = Math.max(...all.map((r) => r.peakPerSecond));
  const n429 = all.reduce((a, r) => a + r.status429, 0);
  const fWorst = S(fs, (r) => pct(r.answerMs, 1));
  const fMedian = S(fs, (r) => pct(r.answerMs, 0.5));
  const waitF = S(ps, (r) => pct(r.waitFinish, 0.5));
  const waitS = S(ps, (r) => pct(r.waitStart, 0.5));
  const fWaitF = S(fs, (r) => pct(r.waitFinish, 0.5));
  const allInWindow = all.every((r) => r.answeredShare === 1);
  const auditClean = all.every((r) => Object.values(r.audit).every((v) => v === 0));
  const exact = all.every((r) => Object.keys(r.perEndpoint).length === 3 && ['POST /route', 'POST /agentWork', 'POST /routingResult'].every((e) => r.perEndpoint[e] === r.conferences));
  const limitHeld = peak <= ORG_LIMIT && n429 === 0;
  const line = summary(
    'burst',
    `${int(conferences)} conferences in 1 s at a ${int(ORG_LIMIT)} req/s limit: ${fixed(share.median * 100, 1)} % answered inside 60 s ` +
      `(worst ${sec(worst.median)}, median ${sec(median.median)}; without priority median ${sec(fMedian.median)}, worst ${sec(fWorst.median)}) — ` +
      `peak ${int(peak)} req/s in any second, ${n429} × 429 — finish calls wait ${msOrS(waitF.median)} (median) vs start ${msOrS(waitS.median)} — ` +
      `targets: ${allInWindow ? 'all inside 60 s' : 'NOT all inside 60 s'}, limit ${limitHeld ? 'never exceeded' : 'EXCEEDED'}`,
  );

  const md: string[] = [];
  md.push('### 6. Burst of conference requests against the org rate limit');
  md.push('');
  md.push(`**${line}**`);
  md.push('');
  md.push(
    `Per run: a fresh sandbox on loopback with the org limit enforced (\`faults.rateLimit('*', ${ORG_LIMIT})\`: 429 + Retry-After beyond ${int(ORG_LIMIT)} requests in any sliding second); ` +
      `the switchboard with its own Pub/Sub intake (grpc-js), the got client at \`limits.requestsPerSecond: ${ORG_LIMIT}\` (other limits default: ${DEFAULT_CONCURRENCY} connections), routing window 60 s; ` +
      `${int(conferences)} conversations created first; then the org publishes ${int(conferences)} Conference requests to a queue, evenly over one second. ` +
      `The rep picker answers at once and the reps accept after 50 ms, so each conference makes exactly POST /route, POST /agentWork and POST /routingResult ` +
      `(${int(conferences * 3)} requests: at least ${fixed((conferences * 3) / ORG_LIMIT, 1)} s of API time at the limit). ` +
      `The sandbox runs in a process of its own (a real org's CPU is not the engine's); the engine, its intake and the got client share this one. ` +
      `${pairs} runs per variant, alternating: **priority** (as shipped: finish calls first) and **flat** (the port rewrites every call to 'start', so the queue is first come, first served).`,
  );
  md.push('');
  const row = (name: string, f: (r: Run) => number, fmt: (s: Stats) => string) => [name, fmt(S(ps, f)), fmt(S(fs, f))];
  const mmS = (s: Stats) => mmm(s, sec);
  const mmMs = (s: Stats) => mmm(s, msOrS);
  const mmI = (s: Stats) => mmm(s, int);
  md.push(
    table(
      ['min / median / max over the runs', 'priority (as shipped)', 'flat (baseline)'],
      [
        row('answered inside 60 s of publication (routingResult reached the org)', (r) => r.answeredShare, pctS),
        row('time to answer: median', (r) => pct(r.answerMs, 0.5), mmS),
        row('time to answer: p90', (r) => pct(r.answerMs, 0.9), mmS),
        row('time to answer: worst', (r) => pct(r.answerMs, 1), mmS),
        row('peak requests at the sandbox in any sliding second', (r) => r.peakPerSecond, mmI),
        row('429 answers', (r) => r.status429, mmI),
        row('Interaction Service requests at the sandbox (token requests left out)', (r) => r.requests, mmI),
        row('span first → last request', (r) => r.apiSpanMs, mmS),
        row('mean rate over the span (req/s)', (r) => r.requests / (r.apiSpanMs / 1000), mmI),
        row('queue wait of finish calls (routingResult): median', (r) => pct(r.waitFinish, 0.5), mmMs),
        row('queue wait of finish calls: p99', (r) => pct(r.waitFinish, 0.99), mmMs),
        row('queue wait of start calls (route, agentWork): median', (r) => pct(r.waitStart, 0.5), mmMs),
        row('queue wait of start calls: p99', (r) => pct(r.waitStart, 0.99), mmMs),
        row('routingResults that reached the org before the last POST /agentWork', (r) => r.overtook, pctS),
        row('last POST /route at the sandbox (after the first publish)', (r) => r.lastRouteMs, mmS),
        row('last POST /agentWork at the sandbox', (r) => r.lastAgentWorkMs, mmS),
        row('the org published the burst over', (r) => r.publishSpanMs, mmMs),
        row('per request, arrival at the sandbox → call settled here: median', (r) => pct(r.serviceMs, 0.5), mmMs),
        row("per request, the sandbox's own arrival → answer: median", (r) => pct(r.serverMs, 0.5), mmMs),
        row("the engine process's CPU (all threads) over the burst, share of one core", (r) => r.engineCpuShare, pctS),
        row("the sandbox process's CPU, share of one core", (r) => r.sandboxCpuShare, pctS),
        row("the engine process's event-loop delay over the burst: p99", (r) => r.loopDelayMs.p99, mmMs),
        row('1-minute load average of the box at the burst\'s start (2 vCPUs)', (r) => r.load[0], (x) => mmm(x, (n) => fixed(n, 1))),
      ],
    ),
  );
  md.push('');
  md.push(
    `The org's audit after every run (PSRs left open, AgentWorks left offered, requests unreported, reported twice, reported late): ${auditClean ? '**clean in every run**' : `**not clean**: ${all.map((r) => `${r.variant} ${JSON.stringify(r.audit)}`).join('; ')}`}. ` +
      `Requests that reached the org: ${exact ? `exactly ${int(conferences)} each of POST /route, POST /agentWork and POST /routingResult in every run` : all.map((r) => `${r.variant} ${JSON.stringify(r.perEndpoint)}`).join('; ')}.`,
  );
  md.push('');
  md.push(
    `Targets: every request answered inside 60 s — **${allInWindow ? 'met' : 'missed'}** (worst ${sec(Math.max(...all.map((r) => pct(r.answerMs, 1))))} over all runs of both variants); ` +
      `the sandbox never saw more than ${int(ORG_LIMIT)} requests in a second — **${peak <= ORG_LIMIT ? 'met' : 'missed'}** (peak ${int(peak)}); 429s: ${n429}. ` +
      `With priority, routingResults wait ${msOrS(waitF.median)} (median) against ${msOrS(fWaitF.median)} when queued first come, first served.`,
  );
  md.push('');
  const rate = S(all, (r) => r.requests / (r.apiSpanMs / 1000)).median;
  const svc = S(all, (r) => pct(r.serviceMs, 0.5)).median;
  const minApiS = (conferences * 3) / ORG_LIMIT;
  md.push(
    `Throughput: the requests went out at ${int(rate)} req/s on average (median over all runs), ${rate < ORG_LIMIT * 0.9 ? 'well below' : 'close to'} the ${int(ORG_LIMIT)} req/s limit, so the API part took ` +
      `${sec(S(all, (r) => r.apiSpanMs).median)} against the ${fixed(minApiS, 1)} s the limit alone would need. ` +
      `A request holds one of the client's ${DEFAULT_CONCURRENCY} connections from leaving the queue until its answer is handled here; arrival → settled alone was ${msOrS(svc)} (median), ` +
      `which caps the client near ${DEFAULT_CONCURRENCY} / ${msOrS(svc)} ≈ ${int(DEFAULT_CONCURRENCY / (svc / 1000))} req/s whatever the rate limit. Most of that time is this process getting round to the answer ` +
      `(the sandbox answers in ${msOrS(S(all, (r) => pct(r.serverMs, 0.5)).median)}), on a box whose 1-minute load average was ${fixed(S(all, (r) => r.load[0]).median, 1)} at the bursts' start (median; ${os.cpus().length} vCPUs).`,
  );
  return { name: 'burst', summary: line, markdown: md.join('\n') };
}
