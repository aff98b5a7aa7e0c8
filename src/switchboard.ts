// The composition root: it checks the options, builds the engine's rooms (src/engine/) and wires
// them — the step runner that makes every call, the session registry, intake, restore, the
// subscription — and returns the public facade. The engine's behaviour lives in those rooms; this
// file only decides what is connected to what (ARCHITECTURE in the README has the map).
import { ConfigError } from './domain/errors.js';
import { DEFAULT_MAX_ID_LENGTH } from './domain/parse.js';
import type { PickRep } from './domain/ports.js';
import { Directory } from './directory.js';
import { createLogger } from './io/log.js';
import { Persistence } from './persistence.js';
import { checkConversationId, checkDuration, checkOptions } from './public-input.js';
import { AppEvents } from './engine/app-events.js';
import { StepRunner } from './engine/effects.js';
import { Intake } from './engine/intake.js';
import { interactionsFrom, limitsFrom, parseOptionsFrom, settingsFrom, type SwitchboardOptions } from './engine/options.js';
import { SessionRegistry } from './engine/registry.js';
import { Lifecycle } from './engine/lifecycle.js';
import { healthOf } from './engine/health.js';
import { EngineMetrics, wireMetrics } from './engine/metrics.js';
import { engineStoreFrom } from './engine/store.js';
import { planSubscription } from './engine/subscription.js';
import type { Switchboard } from './engine/types.js';
import { contactsFor, viewOf } from './engine/views.js';

export { DEFAULT_PLATFORM_PARTICIPANT_CAP, type AuthOptions, type OrgOptions, type RoutingOptions, type SessionLimits, type SwitchboardOptions } from './engine/options.js';
export * from './engine/types.js';
export { startNow } from './engine/effects.js';
export type { PostgresStoreChoice, StoreOption } from './engine/store.js';

export function createSwitchboard(options: SwitchboardOptions): Switchboard {
  if (!options || typeof options !== 'object') throw new ConfigError('createSwitchboard needs options');
  const settings = settingsFrom(options.routing);
  const limits = limitsFrom(options);
  const log = options.logger ?? createLogger({ level: process.env.SWITCHBOARD_LOG_LEVEL ?? 'info' });
  const { api, client, tokens } = interactionsFrom(options, log);
  const directory = options.directory instanceof Directory ? options.directory : new Directory(options.directory);
  const pickRep: PickRep = options.pickRep ?? ((req) => directory.pickRep(req));
  const maxIdLength = DEFAULT_MAX_ID_LENGTH;
  const events = new AppEvents(log);
  // Every option is checked before the store is opened: it holds a lock a failed construction would keep.
  const subscriptionPlan = planSubscription(options, tokens, !!options.store);
  // A fenced commit calls halt() (defined below, before any commit can run).
  const engineStore = engineStoreFrom(options.store, options.org?.orgId, log, (err) => void lifecycle.halt(err));
  const persistence = engineStore ? new Persistence(engineStore.store, log.child({ component: 'store' }), (conv) => registry.persistedSnapshot(conv), options.persistence) : undefined;
  const metrics = new EngineMetrics(options.metrics?.meter, {
    sessions: () => registry.size,
    asleep: () => registry.asleep,
    pendingRoutings: () => registry.pendingRoutings(),
    inFlight: () => runner.inFlight,
    lagMs: () => (intake.newestEventAt === undefined ? undefined : Date.now() - intake.newestEventAt),
    queueDepth: () => client?.stats().queue.size,
  }, options.metrics?.attributes ?? (options.org?.orgId ? { 'org.id': options.org.orgId } : {}));
  const onCall = (what: string, ms: number, err: unknown, windowEnd?: number) => metrics.call(what, ms, err, windowEnd);
  const runner = new StepRunner({ api, persistence, log, pickRep, routeExternally: options.routeExternally, stillOwner: options.stillOwner, isLive: (conv) => registry.isLive(conv), routingsOf: (conv) => registry.routingContexts(conv), onCall });
  const machine = runner.session;
  const registry: SessionRegistry = new SessionRegistry({ machine, settings, limits, directory, events, log, persistence, inspect: options.inspect, resume: (routing, afterRestart) => runner.resume(routing, afterRestart), resumeRefusals: (session) => runner.resumeRefusals(session), wakeAt: (routing) => runner.wakeAt(routing), timers: runner.timers });
  const intake: Intake = new Intake({
    registry,
    runner,
    api,
    events,
    log,
    persistence,
    maxIdLength,
    parseOptions: parseOptionsFrom(options),
    maxSessions: limits.maxSessions,
    dedupeWindow: limits.dedupeWindow,
    consentStatus: options.consentStatus,
    isStopped: () => lifecycle.stopped,
    refusal: () => lifecycle.haltedBy ?? persistence?.closedBy,
    checkWritable: engineStore?.checkWritable,
  });
  const restoreCounters = { restored: 0, finishedStale: 0 };
  client?.on('breaker', (change) => events.emit('breaker', change));
  wireMetrics(metrics, events, client);
  const subscription = subscriptionPlan?.create((event) => intake.ingest(event), { persistence, events, log, metrics });
  const lifecycle: Lifecycle = new Lifecycle({ log, events, api, runner, registry, intake, limits, restoreCounters, persistence, subscription, client, engineStore });

  return {
    start: () => lifecycle.start(),
    ingest: (event) => intake.ingest(event),
    agentWork: (event) => intake.agentWork(event),
    startConversation: (req) => intake.startConversation(req),
    getContacts: (conv, listType, filter) => contactsFor(directory, typeof conv === 'string' ? registry.peek(conv) : undefined, conv, listType, filter, maxIdLength),
    directory,
    on: (event, listener) => events.on(event, listener),
    session(conversationIdentifier) {
      checkConversationId(conversationIdentifier, maxIdLength);
      const snapshot = registry.peek(conversationIdentifier);
      return snapshot ? viewOf(snapshot) : undefined;
    },
    sessions: () => registry.all().map(viewOf),
    stats: () => ({
      sessions: registry.size,
      hibernated: registry.asleep,
      wakes: registry.wakes,
      expiredSessions: registry.expired,
      pendingRoutings: registry.pendingRoutings(),
      inFlightEffects: runner.inFlight,
      abandonedOffersCancelled: runner.abandonedOffersCancelled,
      ...intake.counters,
      ...(client ? { interactions: client.stats() } : {}),
      ...(subscription ? { pubsub: subscription.stats() } : {}),
      ...(persistence ? { store: { commits: persistence.commits, ...restoreCounters, skippedSteps: persistence.skippedSteps, ...persistence.failureStats() } } : {}),
    }),
    health: (healthOptions) =>
      healthOf(
        {
          stopped: lifecycle.stopped,
          subscriptionState: subscription?.stats().state,
          newestEventAt: intake.newestEventAt,
          breakers: client?.stats().breakers,
          storeCommits: persistence?.commits,
          sessions: { total: registry.size, asleep: registry.asleep, pendingRoutings: registry.pendingRoutings(), inFlightCalls: runner.inFlight },
        },
        healthOptions,
      ),
    settled: () => runner.settled(),
    hibernate(hibernateOptions) {
      const { idleForMs } = checkOptions('options', hibernateOptions) as { idleForMs?: number };
      checkDuration('options.idleForMs', idleForMs);
      if (lifecycle.stopped) return 0;
      return registry.hibernate(idleForMs ?? (limits.hibernateAfterMs === false ? 0 : limits.hibernateAfterMs)).slept;
    },
    async stop(stopOptions) {
      const { drainMs = 5_000 } = checkOptions('options', stopOptions) as { drainMs?: number };
      checkDuration('options.drainMs', drainMs);
      await lifecycle.stop(drainMs);
    },
    halt: () => lifecycle.halt(),
    flush: async () => {
      // After a graceful stop its last commit held everything (or stop() said it failed); after a
      // halt nothing more is committed, and flush() says so.
      if (!persistence || (persistence.closedBy && !lifecycle.halted)) return;
      await persistence.commit();
    },
  };
}
