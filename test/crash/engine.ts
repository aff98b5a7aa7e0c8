// The engine as a child process, for the crash tests: `node --import tsx test/crash/engine.ts`
// (the harness forks it with `execArgv: ['--import', 'tsx']` and an IPC channel). It reads its
// settings (test/crash/protocol.ts) from the CRASH_ENGINE_SETTINGS env var (or argv[2] as JSON),
// builds a switchboard pointed at the parent's sandbox exactly as `sandbox.switchboardOptions()`
// would, on the LMDB store at `storePath`, calls start() (restore, then subscribe), and then:
// - relays connector agent-work events from the parent to `sb.agentWork` (held until start() is done,
//   as an app would wire its connector only once the engine is up);
// - runs `startConversation` commands and answers them;
// - reports its stats every `statsIntervalMs` and each routing.finished;
// - on SIGTERM, stops gracefully (`sb.stop()`: drain, flush the store) and exits 0.
// The parent kills it with SIGKILL at random points: nothing here may rely on running to the end.
import { openSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import { createSwitchboard, type Switchboard } from '../../src/switchboard.js';
import { SETTINGS_ENV, type ChildMessage, type EngineSettings, type EngineStats, type ParentMessage } from './protocol.js';

const startedAt = Date.now();

function readSettings(): EngineSettings {
  const raw = process.env[SETTINGS_ENV] ?? process.argv[2];
  if (!raw) throw new Error(`engine: settings missing (env ${SETTINGS_ENV} or argv[2] as JSON)`);
  return JSON.parse(raw) as EngineSettings;
}

function send(msg: ChildMessage): void {
  if (process.connected) process.send!(msg);
}

function loggerFor(s: EngineSettings): Logger {
  if (!s.logFile || s.logLevel === 'silent') return pino({ level: 'silent' });
  // Synchronous appends: every line logged before a SIGKILL is on disk.
  const dest = pino.destination({ fd: openSync(s.logFile, 'a'), sync: true });
  const level = s.logLevel ?? 'info';
  const threshold = pino.levels.values[level] ?? 30;
  // The harness judges a late routingResult by when the engine started it: the step runner's debug
  // line for each POST /routingResult (its `ms` counts from the start) is kept at any level.
  return pino(
    {
      level: threshold > 20 ? 'debug' : level,
      base: { life: s.life, pid: process.pid },
      hooks: {
        logMethod(args, method, lvl) {
          if (lvl >= threshold || (args[0] as { call?: string } | undefined)?.call === 'POST /routingResult') method.apply(this, args);
        },
      },
    },
    dest,
  );
}

/**
 * Logs when this process's event loop was blocked (the machine busy with other work): timers then fire
 * late, the engine's among them, and the harness takes that into account when a report is late.
 */
function watchEventLoop(log: Logger): void {
  const every = 20;
  let expected = Date.now() + every;
  setInterval(() => {
    const now = Date.now();
    const lagMs = now - expected;
    expected = now + every;
    if (lagMs >= 100) log.info({ lagMs }, 'event loop lag');
  }, every).unref();
}

async function main(): Promise<void> {
  const s = readSettings();
  const log = loggerFor(s);
  watchEventLoop(log);
  const { org, auth, pubsub } = s.wiring;
  const sb: Switchboard = createSwitchboard({
    org,
    auth,
    pubsub: { ...pubsub, backoff: { initialMs: 50, maxMs: 500, jitter: 0.5 } },
    store: { path: s.storePath },
    ...(s.persistence ? { persistence: s.persistence } : {}),
    ...(s.hibernateAfterMs !== undefined ? { hibernateAfterMs: s.hibernateAfterMs } : {}),
    directory: s.directory,
    routing: s.routing,
    logger: log,
  });

  let actorErrors = 0;
  let heldAgentWork = 0;
  const stats = (): EngineStats => {
    const st = sb.stats();
    return {
      sessions: st.sessions,
      pendingRoutings: st.pendingRoutings,
      inFlightEffects: st.inFlightEffects,
      ingested: st.ingested,
      rejected: st.rejected,
      duplicates: st.duplicates,
      unroutable: st.unroutable,
      ...(st.store ? { store: { ...st.store } } : {}),
      actorErrors,
      hibernated: st.hibernated,
      wakes: st.wakes,
      heldAgentWork,
    };
  };
  sb.on('routing.finished', (e) =>
    send({
      type: 'finished',
      conversationIdentifier: e.conversationIdentifier,
      routingId: e.output.routingId,
      routingType: e.output.routingType,
      outcome: e.output.outcome,
      reported: e.output.reported,
      ...(e.output.acceptedBy ? { acceptedBy: e.output.acceptedBy } : {}),
    }),
  );
  // For the post-mortem: when each life learnt who is present (the cap is counted from it).
  sb.on('participant.joined', (e) => log.info({ conversationIdentifier: e.conversationIdentifier, userId: e.userId }, 'participant joined'));
  sb.on('participant.left', (e) => log.info({ conversationIdentifier: e.conversationIdentifier, userId: e.userId }, 'participant left'));
  sb.on('error', (e) => {
    actorErrors += 1;
    send({ type: 'actorError', conversationIdentifier: e.conversationIdentifier, error: String((e.error as Error)?.stack ?? e.error) });
  });

  // Restore the saved sessions, then subscribe. Commands that arrive meanwhile wait for it.
  const startup = sb.start();
  let started = false;
  let stopping = false;
  const held: unknown[] = [];
  const onMessage = (msg: ParentMessage) => {
    if (stopping) return;
    if (msg.type === 'agentWork') {
      if (!started) {
        heldAgentWork += 1;
        held.push(msg.event);
      } else sb.agentWork(msg.event);
    } else if (msg.type === 'startConversation') {
      const run = () =>
        sb.startConversation(msg.req).then(
          (r) => send({ type: 'conversationStarted', id: msg.id, conversationIdentifier: r.conversationIdentifier, ...(r.workItemId ? { workItemId: r.workItemId } : {}) }),
          (err: unknown) => send({ type: 'conversationFailed', id: msg.id, error: String((err as Error)?.message ?? err) }),
        );
      if (started) void run();
      else void startup.then(run);
    }
  };
  process.on('message', onMessage);
  // The parent went away (the test process died): nothing to serve.
  process.on('disconnect', () => {
    if (!stopping) process.exit(3);
  });

  let timer: NodeJS.Timeout | undefined;
  process.on('SIGTERM', () => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    void (async () => {
      await startup.catch(() => undefined);
      await sb.stop({ drainMs: 3_000 });
      log.info({ stats: stats() }, 'engine stopped gracefully');
      if (process.connected) process.send!({ type: 'stopped', stats: stats() } satisfies ChildMessage, () => process.exit(0));
      else process.exit(0);
    })().catch((err: unknown) => {
      log.error({ err }, 'graceful stop failed');
      process.exit(2);
    });
  });

  await startup;
  started = true;
  for (const e of held.splice(0)) sb.agentWork(e);
  log.info({ stats: stats(), startMs: Date.now() - startedAt }, 'engine ready');
  send({ type: 'ready', pid: process.pid, stats: stats(), startMs: Date.now() - startedAt });
  timer = setInterval(() => {
    // Sleeping seeds: every idle session goes to sleep, so most events reach a session woken from its snapshot.
    if (s.hibernateAfterMs === 0) sb.hibernate({ idleForMs: 0 });
    send({ type: 'stats', stats: stats() });
  }, s.statsIntervalMs);
}

main().catch((err: unknown) => {
  process.stderr.write(`engine failed: ${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
