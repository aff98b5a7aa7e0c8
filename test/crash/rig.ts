// The crash rig: a sandbox (org + HTTP Interaction Service + gRPC Pub/Sub) in this process, and the
// engine in a child process (test/crash/engine.ts) on an LMDB store directory that outlives it. The
// rig forks lives of the engine, kills them (SIGKILL) or stops them (SIGTERM), relays the connector's
// agent-work events to whichever life is up, and keeps the per-life record the checks need. The
// seeded crash runs (harness.ts) and the single-bug reproductions (bugs.test.ts) both use it.
import { fork, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open as openLmdb } from 'lmdb';
import type { DirectoryEntries } from '../../src/directory.js';
import type { EffectRecord, PersistedSession } from '../../src/io/store/session-store.js';
import type { PersistenceOptions } from '../../src/persistence.js';
import { startSandbox, type Sandbox, type SandboxRep } from '../../src/sandbox/index.js';
import type { HttpRecord } from '../../src/sandbox/http-server.js';
import type { RoutingOptions } from '../../src/switchboard.js';
import { SETTINGS_ENV, type ChildMessage, type EngineSettings, type EngineStats, type ParentMessage } from './protocol.js';

// ---- the cast ----

export const CHANNEL = 'crash-channel-0001';
export const INITIAL_QUEUE = '00GCR00000INIT1';
export const ACCEPT_QUEUE = '00GCR00000ACPT1';
export const MIXED_QUEUE = '00GCR00000MIXD1';
export const IGNORE_QUEUE = '00GCR00000IGNR1';
export const FALLBACK_QUEUE = '00GCR00000FALL1';
export const FLOW = '300CR00000FLOW1';
export const QUEUES = [INITIAL_QUEUE, ACCEPT_QUEUE, MIXED_QUEUE, IGNORE_QUEUE, FALLBACK_QUEUE];

export interface CastRep extends SandboxRep {
  queueIds: string[];
}

export const repId = (tag: string) => `005CR000000${tag}`;

/** Routing settings of the crash runs: a short window (the sandbox's timeout is the same). */
export function routingFor(windowMs: number, cap: number, extra: Partial<RoutingOptions> = {}): RoutingOptions {
  return {
    routingWindowMs: windowMs,
    reportReserveMs: 1_000,
    offerTimeoutMs: 800,
    maxOffers: 3,
    repickIntervalMs: 300,
    initialRoutingTimeoutMs: 10_000,
    maxParticipantsOverride: cap,
    fallbackQueueId: FALLBACK_QUEUE,
    ...extra,
  };
}

// ---- lives ----

export interface Life {
  n: number;
  pid?: number;
  /** ms since the rig started. */
  forkedAt: number;
  readyAt?: number;
  /** Child-side time from process start to start() resolved. */
  startMs?: number;
  endedAt?: number;
  end?: 'SIGKILL' | 'SIGTERM' | 'crashed';
  exitCode?: number | null;
  exitSignal?: NodeJS.Signals | null;
  stats?: EngineStats;
  stoppedStats?: EngineStats;
  stderr: string;
}

export type Finished = Extract<ChildMessage, { type: 'finished' }>;

export interface RigOptions {
  seed: number;
  cast: CastRep[];
  windowMs: number;
  routing: RoutingOptions;
  /** The store's write-behind settings (flushDelayMs…); the engine's defaults when absent. */
  persistence?: PersistenceOptions;
  flowChooses?: (flowId: string) => string | undefined;
  /** pino level of the child's file log (CRASH_LOG); 'silent' for none. */
  logLevel?: string;
  /** The engine's hibernateAfterMs; its default when absent. */
  hibernateAfterMs?: number | false;
  /** Prefix of the temporary directory (store, logs, engine snapshot). */
  name: string;
}

export interface StoreContents {
  sessions: Map<string, PersistedSession>;
  /** The effect journal: step key → 'started' | 'done' (+ the recorded answer). */
  effects: Map<string, EffectRecord>;
}

export interface Rig {
  sandbox: Sandbox;
  dir: string;
  storePath: string;
  /** Date.now() when the rig started: every `at` in the records is relative to it. */
  t0: number;
  since(t?: number): number;
  lives: Life[];
  /** The life forked last (alive or not). */
  life(): Life | undefined;
  alive(): boolean;
  /** routing.finished of every life, by routing id (a routing finished again in a later life overwrites). */
  finished: Map<string, Finished>;
  actorErrors: string[];
  /** Relayed agent-work events lost because no engine was up (or the pipe broke as it died). */
  relayDropped(): number;
  /** startConversation commands sent again to a later life because the one they went to died. */
  conversationRetries(): number;
  /** Forks a life and resolves once it reported ready (start() done). */
  spawn(): Promise<Life>;
  /** SIGKILL the running life and wait for its exit. */
  kill(): Promise<void>;
  /** SIGKILL the running life now, synchronously (e.g. from inside an org call); `kill()` then waits for the exit. */
  killNow(): void;
  /** SIGTERM the running life (graceful stop()) and wait for its exit and its last stats. */
  term(timeoutMs?: number): Promise<Life>;
  /**
   * `sb.startConversation` in the engine; re-sent to the next life if the current one dies before
   * answering (unless `resend: false`: then it stays unanswered).
   */
  startConversation(from: string, opts?: { resend?: boolean; onAnswer?: () => void }): Promise<string>;
  orgCalls(): HttpRecord[];
  /** What the engine left in its store (only while no life runs). */
  readStore(): Promise<StoreContents>;
  /** Writes the records a post-mortem needs next to the store and engine.log. */
  dump(extra?: Record<string, unknown>): void;
  /** Kills any life, stops the sandbox, removes the directory unless `keep`. */
  close(keep: boolean): Promise<void>;
}

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The engine every life of one rig executes: a copy of src/ and of this directory's engine.ts taken
 * when the rig starts (node_modules and proto/ linked), so every restart runs the same code even while
 * the working tree is being edited — a different chart between lives would make the engine treat its
 * own saved sessions as stale.
 */
function snapshotEngine(dir: string): string {
  const app = join(dir, 'app');
  mkdirSync(join(app, 'test', 'crash'), { recursive: true });
  cpSync(join(REPO, 'src'), join(app, 'src'), { recursive: true });
  for (const f of ['engine.ts', 'protocol.ts']) cpSync(join(REPO, 'test', 'crash', f), join(app, 'test', 'crash', f));
  for (const f of ['package.json', 'tsconfig.json']) cpSync(join(REPO, f), join(app, f));
  symlinkSync(join(REPO, 'node_modules'), join(app, 'node_modules'), 'dir');
  symlinkSync(join(REPO, 'proto'), join(app, 'proto'), 'dir');
  return join(app, 'test', 'crash', 'engine.ts');
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function waitFor(check: () => boolean, timeoutMs: number, everyMs = 20): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) return false;
    await sleep(everyMs);
  }
  return true;
}

export async function startRig(options: RigOptions): Promise<Rig> {
  const { seed, cast, windowMs, routing } = options;
  const logLevel = options.logLevel ?? process.env.CRASH_LOG ?? 'info';
  const dir = mkdtempSync(join(tmpdir(), `switchboard-${options.name}-`));
  const storePath = join(dir, 'store');
  mkdirSync(storePath);
  const engine = snapshotEngine(dir);
  const t0 = Date.now();
  const since = (t = Date.now()) => t - t0;

  const sandbox = await startSandbox({
    reps: cast.map(({ queueIds: _q, ...r }) => ({ ...r })),
    routingTimeoutMs: windowMs,
    seed,
    ...(options.flowChooses ? { flowChooses: options.flowChooses } : {}),
  });
  const { org, http } = sandbox;
  const wiring = sandbox.switchboardOptions();
  const jwt = (wiring.auth as { jwt: { clientId: string; username: string; audience?: string } }).jwt;
  const directory: DirectoryEntries = {
    reps: cast.map((r) => ({ userId: r.userId, name: r.name, queueIds: r.queueIds, capacity: 200 })),
    queues: QUEUES.map((queueId) => ({ queueId, name: queueId })),
    flows: [{ flowId: FLOW, name: 'Triage' }],
  };
  const baseSettings: Omit<EngineSettings, 'life'> = {
    wiring: {
      org: wiring.org!,
      auth: { jwt: { ...jwt, privateKey: sandbox.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() } },
      pubsub: wiring.pubsub!,
    },
    storePath,
    routing,
    ...(options.persistence ? { persistence: options.persistence } : {}),
    ...(options.hibernateAfterMs !== undefined ? { hibernateAfterMs: options.hibernateAfterMs } : {}),
    directory,
    seed,
    ...(logLevel !== 'silent' ? { logFile: join(dir, 'engine.log'), logLevel } : {}),
    statsIntervalMs: 100,
  };

  const lives: Life[] = [];
  let child: ChildProcess | undefined;
  let current: Life | undefined;
  let relayDropped = 0;
  let conversationRetries = 0;
  const finished = new Map<string, Finished>();
  const actorErrors: string[] = [];
  const pendingStarts = new Map<number, { from: string; resolve: (conv: string) => void; sentTo?: number; resend: boolean; onAnswer?: () => void }>();
  let nextStartId = 0;
  let onStopped: (() => void) | undefined;

  // The connector relay is not durable: while no engine is up its events are lost.
  sandbox.onAgentWork((event) => {
    if (child?.connected) child.send({ type: 'agentWork', event } satisfies ParentMessage, (err) => err && (relayDropped += 1));
    else relayDropped += 1;
  });

  const sendStart = (id: number) => {
    const p = pendingStarts.get(id);
    if (!p || !child?.connected || !current) return;
    if (p.sentTo !== undefined) {
      if (!p.resend) return;
      conversationRetries += 1;
    }
    p.sentTo = current.n;
    // A send racing the child's death fails (EPIPE): the command stays pending for the next life.
    child.send({ type: 'startConversation', id, req: { to: CHANNEL, from: p.from, text: 'Hello, my order is late', target: { kind: 'queue', queueId: INITIAL_QUEUE } } } satisfies ParentMessage, () => {});
  };

  function spawn(): Promise<Life> {
    const l: Life = { n: lives.length + 1, forkedAt: since(), stderr: '' };
    lives.push(l);
    current = l;
    const settings: EngineSettings = { ...baseSettings, life: l.n };
    const c = fork(engine, [], {
      cwd: REPO,
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, [SETTINGS_ENV]: JSON.stringify(settings) },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    child = c;
    l.pid = c.pid;
    c.stderr!.on('data', (d: Buffer) => (l.stderr += d.toString()));
    c.on('error', (err) => (l.stderr += `\n[parent] child process error: ${err.message}`));
    return new Promise<Life>((resolve, reject) => {
      c.on('message', (m: ChildMessage) => {
        switch (m.type) {
          case 'ready':
            l.readyAt = since();
            l.startMs = m.startMs;
            l.stats = m.stats;
            resolve(l);
            // Commands a dead life never answered go to this one.
            for (const [id, p] of pendingStarts) if (p.sentTo !== l.n) sendStart(id);
            break;
          case 'stats':
            l.stats = m.stats;
            break;
          case 'stopped':
            l.stoppedStats = m.stats;
            l.stats = m.stats;
            onStopped?.();
            break;
          case 'conversationStarted': {
            const p = pendingStarts.get(m.id);
            if (p) {
              pendingStarts.delete(m.id);
              // Synchronously, as the answer arrives (e.g. to kill the engine right then).
              p.onAnswer?.();
              p.resolve(m.conversationIdentifier);
            }
            break;
          }
          case 'conversationFailed':
            setTimeout(() => sendStart(m.id), 100);
            break;
          case 'finished':
            finished.set(m.routingId, m);
            break;
          case 'actorError':
            actorErrors.push(`life ${l.n}: ${m.conversationIdentifier}: ${m.error}`);
            break;
        }
      });
      c.on('exit', (code, signal) => {
        l.endedAt = since();
        l.exitCode = code;
        l.exitSignal = signal;
        l.end ??= 'crashed';
        if (child === c) child = undefined;
        reject(new Error(`engine life ${l.n} exited (${code ?? signal}) before it was ready: ${l.stderr.slice(-2_000)}`));
      });
    });
  }

  async function end(signal: 'SIGKILL' | 'SIGTERM', timeoutMs = 10_000): Promise<void> {
    const c = child;
    const l = current;
    if (!c || !l || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    if (l.end === 'SIGKILL' && c.killed) return exited;
    l.end = signal;
    c.kill(signal);
    const ok = await Promise.race([exited.then(() => true), sleep(timeoutMs).then(() => false)]);
    if (!ok) {
      l.stderr += `\n[parent] no exit within ${timeoutMs} ms of ${signal}; killed`;
      c.kill('SIGKILL');
      await exited;
    }
  }

  const rig: Rig = {
    sandbox,
    dir,
    storePath,
    t0,
    since,
    lives,
    life: () => current,
    alive: () => !!child?.connected,
    finished,
    actorErrors,
    relayDropped: () => relayDropped,
    conversationRetries: () => conversationRetries,
    spawn,
    kill: () => end('SIGKILL'),
    killNow() {
      const l = current;
      if (!child || !l || child.killed) return;
      l.end = 'SIGKILL';
      child.kill('SIGKILL');
    },
    async term(timeoutMs = 10_000) {
      const l = current!;
      const stopped = new Promise<void>((r) => (onStopped = r));
      await end('SIGTERM', timeoutMs);
      await Promise.race([stopped, sleep(500)]);
      return l;
    },
    startConversation(from, opts = {}) {
      const id = ++nextStartId;
      const conv = new Promise<string>((resolve) => pendingStarts.set(id, { from, resolve, resend: opts.resend ?? true, ...(opts.onAnswer ? { onAnswer: opts.onAnswer } : {}) }));
      sendStart(id);
      return conv;
    },
    orgCalls: () => http.records.filter((r) => r.orgCalled),
    async readStore() {
      if (child) throw new Error('readStore() while an engine runs');
      const db = openLmdb({ path: storePath, compression: false, readOnly: true });
      try {
        const sessions = db.openDB<PersistedSession, string>({ name: 'sessions' });
        const effects = db.openDB<EffectRecord, string>({ name: 'effects' });
        return {
          sessions: new Map([...sessions.getRange()].map(({ key, value }) => [key, value])),
          effects: new Map([...effects.getRange()].map(({ key, value }) => [key, value])),
        };
      } finally {
        await db.close();
      }
    },
    dump(extra = {}) {
      writeFileSync(
        join(dir, 'http-records.jsonl'),
        http.records.map((r) => JSON.stringify({ seq: r.seq, at: since(r.receivedAt), ms: r.durationMs, endpoint: r.endpoint, status: r.status, requestId: r.requestId, replayed: r.replayed, orgCalled: r.orgCalled, body: r.body, response: r.response })).join('\n'),
      );
      writeFileSync(
        join(dir, 'requests.json'),
        JSON.stringify([...org.requests].map(([id, r]) => ({ id, conversationIdentifier: r.conversationIdentifier, at: since(r.at), reported: r.reported, timedOut: r.timedOut, lateReports: r.lateReports })), null, 1),
      );
      writeFileSync(join(dir, 'report.json'), JSON.stringify({ lives, ...extra }, null, 1));
    },
    async close(keep) {
      child?.kill('SIGKILL');
      await sandbox.stop();
      if (!keep) rmSync(dir, { recursive: true, force: true });
    },
  };
  return rig;
}
