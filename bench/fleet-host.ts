// A fleet host for the fleet benchmark, as a process of its own (SIGKILL is real, its heap is its
// own): `createFleet` with the library's defaults except the lease TTL, driven over the fork IPC
// channel. test/fleet/host-process.ts is the failover suite's host; this one differs where a
// benchmark needs it: the defaults for renewal and balancing (the suite balances every 100 ms),
// timestamps on every event, the switchboards' own got clients (no call log: the sandboxes' records
// are the measure), and bulk operations run inside the host (a thousand conversations started per
// message, stats, memory after a forced GC) so that IPC is not what is measured.
//
// The parent side is `spawnFleetHost`; the child is this file run with `--fleet-host`.
import { fork, type ChildProcess } from 'node:child_process';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { pino } from 'pino';
import { createFleet, type Fleet, type FleetOrg } from '../src/fleet/fleet.js';
import type { DirectoryEntries } from '../src/directory.js';
import type { OrgOptions, StartConversationRequest, SwitchboardOptions } from '../src/switchboard.js';

/** What a host needs to reach one sandbox org: JSON-safe (the private key as PEM). */
export interface BenchOrgWire {
  /** The org's key in the fleet (its lease, its rows). */
  orgId: string;
  org: OrgOptions;
  jwt: { clientId: string; username: string; privateKey: string; audience?: string };
  pubsub: NonNullable<SwitchboardOptions['pubsub']>;
  directory: DirectoryEntries;
}

export interface FleetHostConfig {
  hostId: string;
  pgUrl: string;
  schema: string;
  ttlMs: number;
  orgs: BenchOrgWire[];
}

/** Wall-clock ms with sub-ms resolution, comparable across processes on one box. */
export const wallNow = (): number => performance.timeOrigin + performance.now();

export type FleetHostEvent =
  | { event: 'org.acquired' | 'org.released'; orgId: string; epoch: number; at: number }
  | { event: 'org.lost'; orgId: string; epoch: number; reason: string; at: number }
  | { event: 'org.error'; orgId: string; message: string; at: number };

export interface StartManyResult {
  /** ms from the first call to the last answer. */
  ms: number;
  started: number;
  failed: number;
  firstError?: string;
  /** Each startConversation's time to answer (POST /interactions + the commit of its initial routing), ms, ascending. */
  latencies: number[];
}

export interface HostStats {
  owned: string[];
  sessions: number;
  hibernated: number;
  pendingRoutings: number;
  inFlightEffects: number;
  commits: number;
  restored: number;
  /** Interaction Service calls started by the owned orgs' clients (their stats). */
  calls: number;
}

/**
 * The host's fenced store transactions (those that check the lease row FOR KEY SHARE) since the last
 * reset: commits (they write) and lease checks (they only check: \`checkLease()\`, made before a
 * call that has no write-ahead record, such as POST /interactions).
 */
export interface CommitLog {
  commits: number;
  /** Session rows written (inserted or updated), journal records written, snapshot bytes sent, by the commits. */
  sessionRows: number;
  effectRows: number;
  snapshotBytes: number;
  /** Each commit's time from BEGIN sent to COMMIT answered, ms, ascending. */
  ms: number[];
  leaseChecks: number;
  /** Each lease check's time, ms, ascending. */
  leaseCheckMs: number[];
}

export interface HostMemory {
  heapUsed: number;
  rss: number;
  external: number;
  arrayBuffers: number;
}

type Op =
  | { op: 'start' }
  | { op: 'stop' }
  | { op: 'startMany'; orgId: string; n: number; concurrency: number; tag: string; target: StartConversationRequest['target'] }
  | { op: 'startOne'; orgId: string; req: StartConversationRequest; timeoutMs: number }
  | { op: 'stats' }
  | { op: 'settle' }
  | { op: 'hibernate' }
  | { op: 'memory' }
  | { op: 'cpu' }
  | { op: 'commitLog'; reset: boolean };

export interface FleetHost {
  readonly hostId: string;
  readonly child: ChildProcess;
  readonly events: FleetHostEvent[];
  /** Orgs this host reported acquired and not since released or lost. */
  readonly owned: Set<string>;
  /** Until killed or exited. */
  alive: boolean;
  /** fleet.start(): resolves with the wall time it finished. */
  start(): Promise<number>;
  /** fleet.stop() (every org handed over); resolves with the wall time it finished. */
  stop(): Promise<number>;
  startMany(orgId: string, n: number, concurrency: number, tag: string, target: StartConversationRequest['target']): Promise<StartManyResult>;
  /** fleet.startConversation at this host (forwarded through the inbox when it does not own the org). */
  startOne(orgId: string, req: StartConversationRequest, timeoutMs: number): Promise<{ conversationIdentifier?: string; error?: string; at: number }>;
  /** Relays an onAgentWorkEvent to this host (fleet.agentWork), as the rep's browser would. */
  agentWork(orgId: string, event: unknown): void;
  stats(): Promise<HostStats>;
  /** Every owned switchboard settled (no call in flight) and flushed (committed). */
  settle(): Promise<void>;
  /** Every owned switchboard puts its idle sessions to sleep now; resolves with how many slept. */
  hibernate(): Promise<number>;
  /** process.memoryUsage() after a forced GC in the host. */
  memory(): Promise<HostMemory>;
  /** The host's process.cpuUsage(), µs of user + system. */
  cpu(): Promise<number>;
  /** The store transactions since the last reset (`reset` starts a new log after reading). */
  commitLog(reset: boolean): Promise<CommitLog>;
  /** SIGKILL; resolves with the wall time the signal was sent. */
  kill(): number;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
}

const THIS_FILE = fileURLToPath(import.meta.url);

/** Forks a host process and hands it its config; resolves once its modules are loaded (the fleet not started). */
export async function spawnFleetHost(config: FleetHostConfig, onEvent?: (host: FleetHost, e: FleetHostEvent) => void): Promise<FleetHost> {
  // execArgv is inherited: the tsx loader and --expose-gc come along.
  const child = fork(THIS_FILE, ['--fleet-host'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let ready!: () => void;
  const loaded = new Promise<void>((r) => (ready = r));
  const events: FleetHostEvent[] = [];
  const owned = new Set<string>();
  const exited = new Promise<void>((resolve) =>
    child.on('exit', (code, signal) => {
      host.alive = false;
      owned.clear();
      for (const p of pending.values()) p.reject(new Error(`fleet host ${config.hostId} exited (${signal ?? code})`));
      pending.clear();
      resolve();
    }),
  );
  child.on('message', (raw) => {
    const m = raw as { loaded?: true; id?: number; ok?: boolean; result?: unknown; error?: string; fleetEvent?: FleetHostEvent };
    if (m.loaded) return ready();
    if (m.fleetEvent) {
      const e = m.fleetEvent;
      events.push(e);
      if (e.event === 'org.acquired') owned.add(e.orgId);
      if (e.event === 'org.released' || e.event === 'org.lost') owned.delete(e.orgId);
      onEvent?.(host, e);
      return;
    }
    const p = m.id !== undefined ? pending.get(m.id) : undefined;
    if (!p) return;
    pending.delete(m.id!);
    if (m.ok) p.resolve(m.result);
    else p.reject(new Error(`fleet host ${config.hostId}: ${m.error}`));
  });
  const ask = <T>(op: Op): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (!host.alive) return reject(new Error(`fleet host ${config.hostId} is gone`));
      const id = nextId++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ id, ...op });
    });
  const host: FleetHost = {
    hostId: config.hostId,
    child,
    events,
    owned,
    alive: true,
    start: () => ask<number>({ op: 'start' }),
    stop: () => ask<number>({ op: 'stop' }),
    startMany: (orgId, n, concurrency, tag, target) => ask<StartManyResult>({ op: 'startMany', orgId, n, concurrency, tag, target }),
    startOne: (orgId, req, timeoutMs) => ask({ op: 'startOne', orgId, req, timeoutMs }),
    agentWork(orgId, event) {
      if (host.alive && child.connected) child.send({ agentWork: { orgId, event } });
    },
    stats: () => ask<HostStats>({ op: 'stats' }),
    settle: () => ask<void>({ op: 'settle' }),
    hibernate: () => ask<number>({ op: 'hibernate' }),
    memory: () => ask<HostMemory>({ op: 'memory' }),
    cpu: () => ask<number>({ op: 'cpu' }),
    commitLog: (reset) => ask<CommitLog>({ op: 'commitLog', reset }),
    kill() {
      child.kill('SIGKILL');
      const at = wallNow();
      host.alive = false;
      owned.clear();
      return at;
    },
    exited,
  };
  child.send({ config });
  await loaded;
  return host;
}

// ---- the child ----

function fleetOrgOf(w: BenchOrgWire): FleetOrg {
  return {
    orgId: w.orgId,
    switchboard: {
      org: w.org,
      auth: { jwt: w.jwt },
      pubsub: w.pubsub,
      directory: w.directory,
      logger: pino({ level: 'silent' }),
    },
  };
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) throw new Error('the fleet host needs --expose-gc (bench/run.ts passes it on)');
  g();
}

/**
 * The pool the fleet would make from a connection string (same settings), handed to it as an app's
 * pool, with each client's `query` watched: a transaction that takes the lease row FOR KEY SHARE is a
 * fenced store transaction — a commit if it writes, else a lease check; a commit's session rows,
 * journal rows and snapshot bytes are read off the statements' parameters, and each transaction is
 * timed from BEGIN sent to COMMIT answered. Nothing else is changed.
 */
function watchedPool(url: string, into: { log: CommitLog }): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 20, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 10_000 });
  pool.on('error', () => undefined);
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    let tx: { t0: number; fenced: boolean; writes: number; sessions: number; effects: number; bytes: number } | undefined;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const text = typeof args[0] === 'string' ? args[0] : '';
      const values = Array.isArray(args[1]) ? (args[1] as unknown[]) : undefined;
      if (text.startsWith('BEGIN')) tx = { t0: performance.now(), fenced: false, writes: 0, sessions: 0, effects: 0, bytes: 0 };
      else if (tx) {
        if (/FOR (KEY )?SHARE/.test(text)) tx.fenced = true;
        else if (/^\s*(INSERT|UPDATE|DELETE)/.test(text)) tx.writes += 1;
        if (text.includes('.sessions (') && text.startsWith('INSERT') && values) {
          tx.sessions += (values[1] as unknown[]).length;
          tx.bytes += (values[7] as Buffer[]).reduce((n, b) => n + b.length, 0);
        } else if (text.includes('.effects (') && text.startsWith('INSERT') && values) tx.effects += (values[1] as unknown[]).length;
      }
      const result = query(...args);
      if (text === 'COMMIT' && tx) {
        const done = tx;
        tx = undefined;
        void (result as Promise<unknown>).then(
          () => {
            if (!done.fenced) return;
            const log = into.log;
            if (!done.writes) {
              log.leaseChecks += 1;
              log.leaseCheckMs.push(performance.now() - done.t0);
              return;
            }
            log.commits += 1;
            log.sessionRows += done.sessions;
            log.effectRows += done.effects;
            log.snapshotBytes += done.bytes;
            log.ms.push(performance.now() - done.t0);
          },
          () => undefined,
        );
      } else if (text === 'ROLLBACK') tx = undefined;
      return result;
    };
  });
  return pool;
}

const emptyLog = (): CommitLog => ({ commits: 0, sessionRows: 0, effectRows: 0, snapshotBytes: 0, ms: [], leaseChecks: 0, leaseCheckMs: [] });

async function hostMain(config: FleetHostConfig): Promise<void> {
  const send = (m: unknown) => process.send?.(m);
  const commits = { log: emptyLog() };
  const pool = watchedPool(config.pgUrl, commits);
  const fleet: Fleet = createFleet({
    postgres: pool,
    hostId: config.hostId,
    schema: config.schema,
    orgs: config.orgs.map(fleetOrgOf),
    leaseTtlMs: config.ttlMs,
    logger: pino({ level: process.env.FLEET_LOG ?? 'silent' }),
  });
  fleet.on('org.acquired', (e) => send({ fleetEvent: { event: 'org.acquired', ...e, at: wallNow() } }));
  fleet.on('org.released', (e) => send({ fleetEvent: { event: 'org.released', ...e, at: wallNow() } }));
  fleet.on('org.lost', (e) => send({ fleetEvent: { event: 'org.lost', ...e, at: wallNow() } }));
  fleet.on('org.error', (e) => send({ fleetEvent: { event: 'org.error', orgId: e.orgId, message: String((e.error as Error)?.message ?? e.error), at: wallNow() } }));

  const switchboards = () => fleet.owned().map((id) => fleet.switchboard(id)!).filter(Boolean);

  const run = async (m: Op): Promise<unknown> => {
    switch (m.op) {
      case 'start':
        await fleet.start();
        return wallNow();
      case 'stop': {
        await fleet.stop();
        const at = wallNow();
        await pool.end().catch(() => undefined);
        return at;
      }
      case 'startMany': {
        const latencies: number[] = [];
        let failed = 0;
        let firstError: string | undefined;
        let next = 0;
        const t0 = performance.now();
        const worker = async () => {
          while (next < m.n) {
            const i = next++;
            const t = performance.now();
            try {
              await fleet.startConversation(m.orgId, { to: `bench-channel-${m.tag}`, from: `end-user-${m.tag}-${i}`, text: 'hello', ...(m.target ? { target: m.target } : {}) });
              latencies.push(performance.now() - t);
            } catch (err) {
              failed += 1;
              firstError ??= `${(err as { code?: string }).code ?? ''} ${(err as Error).message}`;
            }
          }
        };
        await Promise.all(Array.from({ length: Math.min(m.concurrency, m.n) }, worker));
        latencies.sort((a, b) => a - b);
        return { ms: performance.now() - t0, started: latencies.length, failed, ...(firstError ? { firstError } : {}), latencies } satisfies StartManyResult;
      }
      case 'startOne':
        return fleet.startConversation(m.orgId, m.req, { timeoutMs: m.timeoutMs }).then(
          (r) => ({ conversationIdentifier: r.conversationIdentifier, at: wallNow() }),
          (err: unknown) => ({ error: `${(err as { code?: string }).code ?? ''} ${(err as Error).message}`, at: wallNow() }),
        );
      case 'stats': {
        const out: HostStats = { owned: fleet.owned(), sessions: 0, hibernated: 0, pendingRoutings: 0, inFlightEffects: 0, commits: 0, restored: 0, calls: 0 };
        for (const sb of switchboards()) {
          const s = sb.stats();
          out.sessions += s.sessions;
          out.hibernated += s.hibernated;
          out.pendingRoutings += s.pendingRoutings;
          out.inFlightEffects += s.inFlightEffects;
          out.commits += s.store?.commits ?? 0;
          out.restored += s.store?.restored ?? 0;
          out.calls += s.interactions?.calls ?? 0;
        }
        return out;
      }
      case 'settle':
        for (const sb of switchboards()) {
          await sb.settled();
          await sb.flush();
        }
        return true;
      case 'hibernate':
        return switchboards().reduce((n, sb) => n + sb.hibernate({ idleForMs: 0 }), 0);
      case 'memory': {
        for (let i = 0; i < 3; i++) {
          gc();
          await new Promise((r) => setImmediate(r));
        }
        const u = process.memoryUsage();
        return { heapUsed: u.heapUsed, rss: u.rss, external: u.external, arrayBuffers: u.arrayBuffers } satisfies HostMemory;
      }
      case 'cpu': {
        const u = process.cpuUsage();
        return u.user + u.system;
      }
      case 'commitLog': {
        const out = { ...commits.log, ms: [...commits.log.ms].sort((a, b) => a - b), leaseCheckMs: [...commits.log.leaseCheckMs].sort((a, b) => a - b) };
        if (m.reset) commits.log = emptyLog();
        return out;
      }
    }
  };
  process.on('message', (raw) => {
    const m = raw as (Op & { id: number }) | { agentWork: { orgId: string; event: unknown } };
    if ('agentWork' in m) {
      fleet.agentWork(m.agentWork.orgId, m.agentWork.event).catch(() => undefined);
      return;
    }
    run(m).then(
      (result) => send({ id: m.id, ok: true, result }),
      (err: unknown) => send({ id: m.id, ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) }),
    );
  });
  // The bench gone: nothing left to serve (a host killed by the bench never gets here).
  process.on('disconnect', () => process.exit(0));
  send({ loaded: true });
}

if (process.argv.includes('--fleet-host') && process.argv[1] && resolvePath(process.argv[1]) === THIS_FILE) {
  process.once('message', (m) => void hostMain((m as { config: FleetHostConfig }).config));
}
