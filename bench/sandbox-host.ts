// The sandbox host, shared by the latency and burst benchmarks: the sandbox (org model, HTTP
// Interaction Service, gRPC Pub/Sub, fault plan) in a process of its own, as a real org runs
// elsewhere — its CPU is not the engine's — and the real adapters wired to it in this process.
import { fork } from 'node:child_process';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import type { AgentWorkEvent } from '../src/domain/events.js';
import type { InteractionService, PickRep } from '../src/domain/ports.js';
import { createJwtBearerTokenProvider, type TokenProvider } from '../src/io/auth/index.js';
import { createInteractionClient, type InteractionClient, type InteractionClientLimits } from '../src/io/interaction-api/index.js';
import { startSandbox, type Sandbox, type SandboxRep } from '../src/sandbox/index.js';
import { createSwitchboard, type OrgOptions, type Switchboard, type SwitchboardOptions } from '../src/switchboard.js';
import { sleep } from './lib.js';

export const BENCH_QUEUE = '00G5g000001BNCH';
// The sandbox (org model, HTTP Interaction Service, gRPC Pub/Sub, fault plan) runs in a child
// process, as a real org runs elsewhere: its CPU is not the engine's. The child is this file run with
// `--sandbox-host`; the two talk over the fork IPC channel (a few messages per run, plus the
// connector's agent-work relay, which reaches a real switchboard from outside too).

/** An Interaction Service request as the sandbox recorded it (token requests left out). */
export interface HostRecord {
  /** The sandbox's receivedAt (Date.now() in the child; same wall clock as the parent's). */
  at: number;
  endpoint: string;
  requestId: string;
  status: number;
  orgCalled: boolean;
  /** The sandbox's time from arrival to answer, ms. */
  durationMs: number;
  /** body.conversationIdentifier, for POST /routingResult. */
  conv?: string;
}

export interface AuditCounts {
  openPsrs: number;
  offeredWork: number;
  unreported: number;
  reportedTwice: number;
  late: number;
}

interface HostWiring {
  org: OrgOptions;
  jwt: { clientId: string; username: string; privateKey: string; audience?: string };
  pubsub: NonNullable<SwitchboardOptions['pubsub']>;
}

type HostOp =
  | { op: 'start'; reps: SandboxRep[]; rateLimit?: number }
  | { op: 'conversations'; n: number; tag: string }
  | { op: 'request'; convs: string[]; spreadMs: number; queueId: string }
  | { op: 'records' }
  | { op: 'audit' }
  | { op: 'cpu' }
  | { op: 'stopSandbox' }
  | { op: 'exit' };

export interface SandboxHost {
  /** A fresh sandbox in the child (the previous one stopped first); the org enforces `rateLimit` requests/s when given. */
  start(reps: SandboxRep[], rateLimit?: number): Promise<HostWiring>;
  /** `n` conversations in the org (POST /interactions straight into the org model): each publishes SessionStatusChanged Active. */
  conversations(n: number, tag: string): Promise<string[]>;
  /**
   * The org's reps ask for a Conference to `queueId` in each conversation (`org.requestRouting`: a
   * RoutingRequested published over gRPC), evenly over `spreadMs` (0: all at once). Resolves with each
   * request's publication time (performance.timeOrigin + performance.now() in the child: wall-clock ms).
   */
  request(convs: string[], spreadMs: number, queueId: string): Promise<number[]>;
  records(): Promise<HostRecord[]>;
  audit(): Promise<AuditCounts>;
  /** The child's process.cpuUsage(), µs of user + system time. */
  cpu(): Promise<number>;
  onAgentWork(listener: (event: AgentWorkEvent) => void): void;
  stopSandbox(): Promise<void>;
  /** Ends the child process. */
  close(): Promise<void>;
}

const THIS_FILE = fileURLToPath(import.meta.url);

/** The child process that runs the sandboxes of a benchmark, one at a time. */
export async function openSandboxHost(): Promise<SandboxHost> {
  // execArgv is inherited: the tsx loader (and --expose-gc) come along.
  const child = fork(THIS_FILE, ['--sandbox-host'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let agentWork: (event: AgentWorkEvent) => void = () => {};
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.on('exit', (code) => {
      exited = true;
      for (const p of pending.values()) p.reject(new Error(`sandbox host exited (${code})`));
      pending.clear();
      resolve();
    }),
  );
  child.on('message', (raw) => {
    const m = raw as { id?: number; ok?: boolean; result?: unknown; error?: string; agentWork?: AgentWorkEvent };
    if (m.agentWork) return agentWork(m.agentWork);
    const p = m.id !== undefined ? pending.get(m.id) : undefined;
    if (!p) return;
    pending.delete(m.id!);
    if (m.ok) p.resolve(m.result);
    else p.reject(new Error(`sandbox host: ${m.error}`));
  });
  const ask = <T>(op: HostOp): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (exited) return reject(new Error('sandbox host is gone'));
      const id = nextId++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ id, ...op });
    });
  return {
    start: (reps, rateLimit) => ask<HostWiring>({ op: 'start', reps, ...(rateLimit !== undefined ? { rateLimit } : {}) }),
    conversations: (n, tag) => ask<string[]>({ op: 'conversations', n, tag }),
    request: (convs, spreadMs, queueId) => ask<number[]>({ op: 'request', convs, spreadMs, queueId }),
    records: () => ask<HostRecord[]>({ op: 'records' }),
    audit: () => ask<AuditCounts>({ op: 'audit' }),
    cpu: () => ask<number>({ op: 'cpu' }),
    onAgentWork(listener) {
      agentWork = listener;
    },
    stopSandbox: () => ask<void>({ op: 'stopSandbox' }),
    async close() {
      if (exited) return;
      await ask({ op: 'exit' }).catch(() => undefined);
      const timer = setTimeout(() => child.kill(), 5_000);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** The child: one sandbox, driven over IPC. */
async function sandboxHostMain(): Promise<void> {
  let sandbox: Sandbox | undefined;
  const wallNow = () => performance.timeOrigin + performance.now();
  const run = async (m: HostOp): Promise<unknown> => {
    switch (m.op) {
      case 'start': {
        await sandbox?.stop();
        sandbox = await startSandbox({ reps: m.reps, routingTimeoutMs: 60_000, seed: 1 });
        if (m.rateLimit !== undefined) sandbox.faults.rateLimit('*', m.rateLimit, { retryAfter: true });
        sandbox.onAgentWork((event) => process.send!({ agentWork: event }));
        const w = sandbox.switchboardOptions();
        const jwt = 'jwt' in w.auth! ? w.auth.jwt : undefined;
        if (!jwt) throw new Error('the sandbox gives JWT auth');
        const privateKey = typeof jwt.privateKey === 'string' ? jwt.privateKey : (jwt.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
        return { org: w.org!, jwt: { ...jwt, privateKey }, pubsub: w.pubsub! } satisfies HostWiring;
      }
      case 'conversations': {
        const out: string[] = [];
        for (let i = 0; i < m.n; i++) {
          const res = await sandbox!.org.postInteraction({ to: `bench-channel-${m.tag}`, from: `end-user-${m.tag}-${i}`, interaction: { kind: 'text', text: 'hello' } }, { key: `setup/${m.tag}/${i}`, priority: 'start' });
          out.push(res.conversationIdentifier);
        }
        return out;
      }
      case 'request': {
        const org = sandbox!.org;
        const at: number[] = new Array<number>(m.convs.length);
        const first = Date.now();
        let sent = 0;
        await new Promise<void>((resolve) => {
          const tick = () => {
            const due = m.spreadMs <= 0 ? m.convs.length : Math.min(m.convs.length, Math.ceil((m.convs.length * (Date.now() - first + 1)) / m.spreadMs));
            for (; sent < due; sent++) {
              at[sent] = wallNow();
              org.requestRouting(m.convs[sent]!, 'Conference', { queueId: m.queueId });
            }
            if (sent < m.convs.length) setTimeout(tick, 5);
            else resolve();
          };
          tick();
        });
        return at;
      }
      case 'records':
        return sandbox!.http.records
          .filter((r) => r.endpoint !== undefined && r.endpoint !== 'POST /services/oauth2/token')
          .map((r): HostRecord => {
            const conv = r.endpoint === 'POST /routingResult' ? (r.body as { conversationIdentifier?: string } | undefined)?.conversationIdentifier : undefined;
            return { at: r.receivedAt, endpoint: r.endpoint!, requestId: r.requestId ?? '', status: r.status, orgCalled: r.orgCalled, durationMs: r.durationMs, ...(conv ? { conv } : {}) };
          });
      case 'audit': {
        const a = sandbox!.org.audit();
        return { openPsrs: a.openPsrs.length, offeredWork: a.offeredWork.length, unreported: a.unreported.length, reportedTwice: a.reportedTwice.length, late: a.late.length } satisfies AuditCounts;
      }
      case 'cpu': {
        const u = process.cpuUsage();
        return u.user + u.system;
      }
      case 'stopSandbox':
        await sandbox?.stop();
        sandbox = undefined;
        return true;
      case 'exit':
        await sandbox?.stop();
        setImmediate(() => process.exit(0));
        return true;
    }
  };
  process.on('message', (raw) => {
    const m = raw as HostOp & { id: number };
    run(m).then(
      (result) => process.send!({ id: m.id, ok: true, result }),
      (err: unknown) => process.send!({ id: m.id, ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) }),
    );
  });
  // The parent gone: nothing left to serve.
  process.on('disconnect', () => process.exit(0));
}

if (process.argv.includes('--sandbox-host') && process.argv[1] && resolvePath(process.argv[1]) === THIS_FILE) void sandboxHostMain();

export interface Rig {
  host: SandboxHost;
  wiring: HostWiring;
  tokens: TokenProvider;
  client: InteractionClient;
  silent: Logger;
  stop(): Promise<void>;
}

/** A fresh sandbox (in the host process) and a got client for it (JWT bearer flow), as src/demo/run.ts wires them. */
export async function startRig(host: SandboxHost, reps: SandboxRep[], options: { limits?: InteractionClientLimits; rateLimit?: number } = {}): Promise<Rig> {
  const wiring = await host.start(reps, options.rateLimit);
  const { org, jwt } = wiring;
  const silent: Logger = pino({ level: 'silent' });
  const tokens = createJwtBearerTokenProvider({ loginUrl: org.loginUrl!, ...jwt });
  const client = createInteractionClient({
    scrtUrl: org.scrtUrl,
    orgId: org.orgId,
    authorizationContext: org.authorizationContext,
    tokens,
    logger: silent,
    ...(options.limits ? { limits: options.limits } : {}),
  });
  return {
    host,
    wiring,
    tokens,
    client,
    silent,
    async stop() {
      // Calls still queued in the limiter fail fast once the client is closed and the server is gone.
      const closing = client.close();
      await host.stopSandbox();
      await closing;
    },
  };
}

/** A switchboard for the rig, without `pubsub` when the caller runs the intake itself. */
export function rigSwitchboard(rig: Rig, api: InteractionService, pickRep: PickRep, extra: Partial<SwitchboardOptions> = {}): Switchboard {
  return createSwitchboard({
    interactions: api,
    org: rig.wiring.org,
    auth: { provider: rig.tokens },
    logger: rig.silent,
    pickRep,
    ...extra,
  });
}

export async function waitUntil(what: string, check: () => boolean, timeoutMs: number, everyMs = 5): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Nearest-rank percentile of an ascending array. */
export function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}
