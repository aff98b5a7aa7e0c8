// The root of the engine. It owns one session actor per conversationIdentifier — each its own root
// actor in a Map, never children of one parent (one parent owning thousands of children is O(N²) in
// XState 5) — parses and routes intake to them, provides the machines' effects from the ports, and
// turns what the sessions emit into the app's listener calls.
import { randomUUID } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { createActor, type ActorRefFrom, type InspectionEvent, type SnapshotFrom } from 'xstate';
import type { ConsentStatus, ContactListType } from './domain/enums.js';
import { ConfigError, describeError, NotProvidedError, ParseError, StoppedError, SwitchboardError } from './domain/errors.js';
import type { AgentWorkEvent, MessageEntry, OtherEntry, PlatformEvent, RoutingTarget, RoutingWorkResultEntry } from './domain/events.js';
import { stableRequestId, toId15 } from './domain/ids.js';
import { parseAgentWorkEvent, parsePlatformEvent, type ParseOptions } from './domain/parse.js';
import type { CallContext, ExternalRouteRequest, InteractionService, PickRep, PickRepRequest, RouteExternally, RoutingResultRequest, ClearRouteRequest } from './domain/ports.js';
import { Directory, type Contact, type DirectoryEntries } from './directory.js';
import { createJwtBearerTokenProvider, createStaticTokenProvider, type TokenProvider } from './io/auth/index.js';
import { createInteractionClient, type BreakerChange, type ClientStats, type InteractionClient, type InteractionClientLimits } from './io/interaction-api/index.js';
import { createLogger } from './io/log.js';
import { openLmdbSessionStore, type SessionStore } from './io/store/index.js';
import type { CursorStore } from './io/store/cursor.js';
import { Persistence, type InDoubt, type PersistenceOptions } from './persistence.js';
import { RecentKeys } from './recent-keys.js';
import { createPubSubIntake, pubSubAuthFromTokenProvider, type PubSubAuth, type PubSubIntake, type PubSubIntakeOptions, type PubSubIntakeStats } from './io/pubsub/index.js';
import { fromEffect } from './machines/effect.js';
import { CLEANUP_BUDGET_MS, routingMachine, type EffectInput, type RoutingOutput } from './machines/routing.js';
import {
  sessionMachine,
  type PendingRouting,
  type RepPresence,
  type RoutingSettings,
  type SessionEmitted,
  type WarmTransfer,
  occupiedSeats,
} from './machines/session.js';

/**
 * Salesforce's own limit on conference participants is not published in a retrievable form
 * (reference §1.12, §8.1); this default is deliberately modest and configurable.
 */
export const DEFAULT_PLATFORM_PARTICIPANT_CAP = 5;

export interface RoutingOptions {
  /** Salesforce's routing window (60 s); set lower to leave more margin. */
  routingWindowMs?: number;
  /** Stop working this long before the window closes, so the last calls land in time. Default 5 s. */
  reportReserveMs?: number;
  /** How long a rep may leave an offer unanswered. Default 20 s. */
  offerTimeoutMs?: number;
  /** Offers (AgentWorks) per request at most. Default 3. */
  maxOffers?: number;
  /** How soon to ask the rep picker again when nobody is available. Default 2 s. */
  repickIntervalMs?: number;
  /** When Salesforce refuses to cancel an unanswered offer (the rep just answered), how long to wait for that answer. Default 5 s. */
  answerGraceMs?: number;
  /** How long initial routing may take before it gives up. Default 120 s. */
  initialRoutingTimeoutMs?: number;
  capacityWeight?: number;
  /** The CCD's MaxParticipantsForCnfrOverride. */
  maxParticipantsOverride?: number;
  /** The Messaging platform's conference limit. Default 5 (unconfirmed; set it for your org). */
  platformParticipantCap?: number;
  /** Fallback queue for flow targets whose event carries none (POST /route needs one). */
  fallbackQueueId?: string;
}

/** The Salesforce org and channel this switchboard serves. */
export interface OrgOptions {
  /** 15-character org id (the OrgId header, the Pub/Sub tenantid). */
  orgId: string;
  /** https://<my-domain>.my.salesforce-scrt.com — the Interaction Service host. */
  scrtUrl: string;
  /** The ConversationChannelDefinition developer name, `{prefix}_{CCDName}` (the AuthorizationContext header). */
  authorizationContext: string;
  /** https://<my-domain>.my.salesforce.com — for Pub/Sub metadata. */
  instanceUrl?: string;
  /** OAuth login host: https://login.salesforce.com (prod) or https://test.salesforce.com (sandbox). */
  loginUrl?: string;
}

/** How the switchboard gets access tokens: the JWT bearer flow, your own function, or a provider. */
export type AuthOptions =
  | { jwt: { clientId: string; username: string; privateKey: string | KeyObject; audience?: string; tokenLifetimeMs?: number } }
  | { token: () => Promise<string> | string; tokenLifetimeMs?: number }
  | { provider: TokenProvider };

export interface SwitchboardOptions {
  /**
   * The Interaction Service. Give `org` + `auth` (+ `limits`) and the switchboard builds the got-based
   * adapter; or pass an implementation here (the recording one for tests, or your own).
   */
  interactions?: InteractionService;
  org?: OrgOptions;
  auth?: AuthOptions;
  /** Rate limit, concurrency, timeouts, breaker and retry settings of the Interaction Service adapter. */
  limits?: InteractionClientLimits;
  /**
   * Subscribe to the CCD's platform event on start(): topic `/event/<CustomPlatformEvent>`, and the
   * CCD's CustomEventPayloadField / CustomEventTypeField. Auth comes from `auth` + `org` unless given.
   */
  pubsub?: Omit<PubSubIntakeOptions, 'handle' | 'auth' | 'logger'> & { auth?: PubSubAuth };
  /**
   * Where sessions, the replay cursor, the dedupe window and the effect journal survive a crash:
   * `{ path }` opens the embedded LMDB store there; or pass any SessionStore. Without it, state
   * lives in memory only.
   */
  store?: SessionStore | { path: string; sync?: boolean };
  persistence?: PersistenceOptions;
  /** The partner's ACD. Defaults to the directory's picker (availability + capacity, longest idle). */
  pickRep?: PickRep;
  /** Reps, queues, flows and external contacts: the default picker and getContacts(). */
  directory?: Directory | DirectoryEntries;
  /** Hands a transfer to a target outside the org. Without it, external transfers fail (reported). */
  routeExternally?: RouteExternally;
  routing?: RoutingOptions;
  /** The CCD's consent owner is Partner: initial routing sends PATCH /consent with this status. */
  consentStatus?: ConsentStatus;
  /** Which routingParameters field names an external contact (unconfirmed in Salesforce's docs). */
  isExternalTarget?: ParseOptions['isExternalTarget'];
  logger?: Logger;
  /**
   * Receives every session actor's inspection events (e.g. `createWebSocketInspector(...).inspect`
   * from @statelyai/inspect, for the Stately inspector). Off by default: inspection costs throughput.
   * Contexts hold no secrets; the app decides what leaves the process.
   */
  inspect?: (event: InspectionEvent) => void;
  /** Platform event ids remembered for dedupe. Default 10,000. */
  dedupeWindow?: number;
  /**
   * A session with no routing request pending and no event for this long is put to sleep: its
   * actor is stopped and only its persisted snapshot stays in memory (about a sixth of a live
   * actor's heap). Its next event wakes it: the actor is re-created from that snapshot, as after a
   * restart. Default 30,000 ms; `false` keeps every session's actor live.
   */
  hibernateAfterMs?: number | false;
}

export type IngestResult =
  | { ok: true; kind: string; conversationIdentifier?: string; duplicate?: boolean }
  | { ok: false; error: SwitchboardError };

export interface SessionView {
  conversationIdentifier: string;
  state: string;
  channelAddressIdentifier?: string;
  endUserClientId?: string;
  workItemId?: string;
  reps: RepPresence[];
  pendingRoutings: PendingRouting[];
  transfers: WarmTransfer[];
  participantCap: number;
  seatsTaken: number;
}

export interface StartConversationRequest {
  /** The channel address identifier. */
  to: string;
  /** The end user's client id. */
  from: string;
  text: string;
  /** Where initial routing goes; the channel's Omni setting when omitted. */
  target?: Exclude<RoutingTarget, { kind: 'rep' } | { kind: 'external' }>;
}

export interface SwitchboardEvents {
  /** An outbound Message / MessageUpdated for the end user: deliver it on your channel. */
  message: MessageEntry;
  'participant.joined': Extract<SessionEmitted, { type: 'participant.joined' }>;
  'participant.left': Extract<SessionEmitted, { type: 'participant.left' }>;
  'routing.started': Extract<SessionEmitted, { type: 'routing.started' }>;
  'routing.finished': Extract<SessionEmitted, { type: 'routing.finished' }>;
  'routing.ignored': Extract<SessionEmitted, { type: 'routing.ignored' }>;
  'session.ended': Extract<SessionEmitted, { type: 'session.ended' }>;
  /** Any other entry (typing, acknowledgements, RoutingWorkResult…). */
  entry: OtherEntry | RoutingWorkResultEntry;
  /** Input that was refused: logged, counted, skipped. */
  rejected: { error: SwitchboardError; replayId?: string };
  /** A session actor failed; it was dropped. */
  error: { conversationIdentifier: string; error: unknown };
  /** A circuit breaker of the Interaction Service adapter opened, half-opened or closed. */
  breaker: BreakerChange;
  /** The Pub/Sub subscription changed state, as a path in the subscription chart (connecting, subscribed.flowing, backingOff…). */
  subscription: { state: string };
}

export interface SwitchboardStats {
  sessions: number;
  pendingRoutings: number;
  inFlightEffects: number;
  ingested: number;
  rejected: number;
  duplicates: number;
  unroutable: number;
  /** The Interaction Service adapter's queue depth, breaker states and call counts (when the switchboard built it). */
  interactions?: ClientStats;
  /** The Pub/Sub subscription's state, credit, cursor and counters (when `pubsub` is configured). */
  pubsub?: PubSubIntakeStats;
  /** Of `sessions`, how many are asleep (idle, held as a snapshot; see `hibernateAfterMs`). */
  hibernated: number;
  /** Sleeping sessions woken by an event, since start. Growing fast while `hibernated` stays low means sessions are woken soon after they fall asleep: `hibernateAfterMs` is too short for the traffic. */
  wakes: number;
  /** Store commits, sessions restored, steps not repeated after a restart (when `store` is configured). */
  store?: { commits: number; restored: number; finishedStale: number; skippedSteps: number };
}

type SessionActor = ActorRefFrom<typeof sessionMachine>;
/** A sleeping session: the persisted snapshot of its actor (state value, context, no children). */
type DormantSession = Pick<SnapshotFrom<typeof sessionMachine>, 'value' | 'context'>;

const SEEN_EVENT = 0;
const SEEN_ENTRY = 1;
/** How dedupe keys are written in the store, by namespace. */
const SEEN_PREFIX = ['event:', 'entry:'] as const;

/**
 * A session snapshot — live, or as saved — with nothing pending: no routing child (so no call in
 * flight for it), not ending. Such a session can sleep, and is restored asleep.
 */
function isIdleSnapshot(snapshot: unknown): snapshot is DormantSession {
  const s = snapshot as { status?: unknown; value?: unknown; context?: { routings?: object }; children?: object } | null | undefined;
  if (!s || s.status !== 'active' || s.value !== 'active' || typeof s.context !== 'object' || s.context === null) return false;
  return Object.keys(s.context.routings ?? {}).length === 0 && Object.keys(s.children ?? {}).length === 0;
}

/** Sessions put to sleep per turn of the event loop, so a sweep over many never stalls intake. */
const HIBERNATE_CHUNK = 2_000;

export interface Switchboard {
  /**
   * Restore the sessions saved in the store (deadlines re-armed; requests that expired meanwhile are
   * finished), then subscribe to the platform event stream (when `pubsub` is configured).
   */
  start(): Promise<void>;
  /** A platform event decoded from the Pub/Sub stream. Handled synchronously by its session. */
  ingest(event: PlatformEvent): IngestResult;
  /** An onAgentWorkEvent relayed from the connector: `{ workId, workItemId, workEvent }`. */
  agentWork(event: unknown): IngestResult;
  /** POST /interactions for a new conversation, then initial routing. */
  startConversation(req: StartConversationRequest): Promise<{ conversationIdentifier: string; workItemId?: string }>;
  /** getContacts() for the connector, for one conversation. */
  getContacts(conversationIdentifier: string | undefined, listType: ContactListType, filter?: { contains?: string; limit?: number; offset?: number }): Contact[];
  on<K extends keyof SwitchboardEvents>(event: K, listener: (e: SwitchboardEvents[K]) => void): () => void;
  session(conversationIdentifier: string): SessionView | undefined;
  sessions(): SessionView[];
  stats(): SwitchboardStats;
  readonly directory: Directory;
  /** Resolves once no Interaction Service call or rep pick is in flight. */
  settled(): Promise<void>;
  /**
   * Put every idle session to sleep now (no routing request pending, no event for `idleForMs`,
   * default `hibernateAfterMs`). Returns how many went to sleep. The switchboard also does this on
   * its own, a chunk at a time; this is for an app that wants memory back at once.
   */
  hibernate(options?: { idleForMs?: number }): number;
  /** Stop the subscription (handled events' cursor stored), let in-flight calls finish (up to `drainMs`), stop every session. */
  stop(options?: { drainMs?: number }): Promise<void>;
}

function settingsFrom(o: RoutingOptions = {}): RoutingSettings {
  const platformCap = o.platformParticipantCap ?? DEFAULT_PLATFORM_PARTICIPANT_CAP;
  const cap = Math.min(o.maxParticipantsOverride ?? platformCap, platformCap);
  const s: RoutingSettings = {
    routingWindowMs: o.routingWindowMs ?? 60_000,
    reportReserveMs: o.reportReserveMs ?? 5_000,
    offerTimeoutMs: o.offerTimeoutMs ?? 20_000,
    maxOffers: o.maxOffers ?? 3,
    repickIntervalMs: o.repickIntervalMs ?? 2_000,
    answerGraceMs: o.answerGraceMs ?? 5_000,
    initialRoutingTimeoutMs: o.initialRoutingTimeoutMs ?? 120_000,
    participantCap: cap,
  };
  if (o.capacityWeight !== undefined) s.capacityWeight = o.capacityWeight;
  if (s.routingWindowMs > 60_000) throw new ConfigError('routing.routingWindowMs cannot exceed Salesforce\'s 60-second window');
  if (s.reportReserveMs >= s.routingWindowMs) throw new ConfigError('routing.reportReserveMs must be shorter than routing.routingWindowMs');
  if (!(cap >= 1)) throw new ConfigError('the participant cap must be at least 1');
  return s;
}

function viewOf(snapshot: Pick<SnapshotFrom<typeof sessionMachine>, 'value' | 'context'>): SessionView {
  const c = snapshot.context;
  const view: SessionView = {
    conversationIdentifier: c.conversationIdentifier,
    state: typeof snapshot.value === 'string' ? snapshot.value : JSON.stringify(snapshot.value),
    // Copies: a view must not let the app reach into a live actor's context.
    reps: Object.values(c.reps).map((r) => ({ ...r })),
    pendingRoutings: Object.values(c.routings).map((r) => ({ ...r })),
    transfers: c.transfers.map((t) => ({ ...t, to: [...t.to] })),
    participantCap: c.settings.participantCap,
    seatsTaken: occupiedSeats(c),
  };
  if (c.channelAddressIdentifier) view.channelAddressIdentifier = c.channelAddressIdentifier;
  if (c.endUserClientId) view.endUserClientId = c.endUserClientId;
  if (c.workItemId) view.workItemId = c.workItemId;
  return view;
}

function tokenProviderFrom(auth: AuthOptions, org: OrgOptions): TokenProvider {
  if ('provider' in auth) return auth.provider;
  if ('token' in auth) return createStaticTokenProvider(auth.token, auth.tokenLifetimeMs !== undefined ? { tokenLifetimeMs: auth.tokenLifetimeMs } : {});
  if (!org.loginUrl) throw new ConfigError('org.loginUrl is required for the JWT bearer flow');
  return createJwtBearerTokenProvider({ loginUrl: org.loginUrl, ...auth.jwt });
}

function interactionsFrom(options: SwitchboardOptions, log: Logger): { api: InteractionService; client?: InteractionClient; tokens?: TokenProvider } {
  if (options.interactions) {
    return { api: options.interactions, ...(options.auth && options.org ? { tokens: tokenProviderFrom(options.auth, options.org) } : {}) };
  }
  if (!options?.org || !options.auth) {
    throw new ConfigError('createSwitchboard needs `org` and `auth` (to call the Interaction Service), or an `interactions` implementation');
  }
  const tokens = tokenProviderFrom(options.auth, options.org);
  const client = createInteractionClient({
    scrtUrl: options.org.scrtUrl,
    orgId: options.org.orgId,
    authorizationContext: options.org.authorizationContext,
    tokens,
    logger: log.child({ component: 'interaction-api' }),
    ...(options.limits ? { limits: options.limits } : {}),
  });
  return { api: client, client, tokens };
}

/**
 * Starts a port call at once — inside the transition that asked for it — and turns a synchronous
 * throw into a rejection. Not on a microtask: there the call waited behind everything already
 * queued (HTTP answers, other effects), which was half the engine-added latency of a
 * RoutingRequested at the median and much of its tail (docs/benchmarks.md, section 5).
 */
export function startNow<T>(run: () => Promise<T> | T): Promise<T> {
  try {
    return Promise.resolve(run());
  } catch (err) {
    return Promise.reject(err);
  }
}

export function createSwitchboard(options: SwitchboardOptions): Switchboard {
  if (!options || typeof options !== 'object') throw new ConfigError('createSwitchboard needs options');
  const settings = settingsFrom(options.routing);
  const log = options.logger ?? createLogger({ level: process.env.SWITCHBOARD_LOG_LEVEL ?? 'info' });
  const { api, client, tokens } = interactionsFrom(options, log);
  const directory = options.directory instanceof Directory ? options.directory : new Directory(options.directory);
  const pickRep: PickRep = options.pickRep ?? ((req) => directory.pickRep(req));
  const parseOptions: ParseOptions = {};
  if (options.routing?.fallbackQueueId) parseOptions.fallbackQueueId = options.routing.fallbackQueueId;
  if (options.isExternalTarget) parseOptions.isExternalTarget = options.isExternalTarget;

  /** Live session actors. */
  const sessions = new Map<string, SessionActor>();
  /** Sessions asleep (see `hibernateAfterMs`): their snapshot until their next event wakes them. */
  const dormant = new Map<string, DormantSession>();
  /** Live sessions by when each was last busy (an event, or a routing request pending), oldest first. */
  const lastBusy = new Map<string, number>();
  const hibernateAfterMs = options.hibernateAfterMs ?? 30_000;
  if (hibernateAfterMs !== false && !(typeof hibernateAfterMs === 'number' && hibernateAfterMs >= 0)) {
    throw new ConfigError('hibernateAfterMs must be a number of milliseconds ≥ 0, or false');
  }
  let sweepTimer: NodeJS.Timeout | undefined;
  let sweepQueued = false;
  let wakes = 0;
  /** MessagingSession id (15) → conversationIdentifier, for agent-work events. */
  const byWorkItem = new Map<string, string>();
  const dedupeWindow = options.dedupeWindow ?? 10_000;
  const store: SessionStore | undefined = options.store ? ('path' in options.store ? openLmdbSessionStore(options.store) : options.store) : undefined;
  const persistence = store
    ? new Persistence(store, log.child({ component: 'store' }), (conv) => sessions.get(conv)?.getPersistedSnapshot() ?? dormant.get(conv), options.persistence)
    : undefined;
  const restoreCounters = { restored: 0, finishedStale: 0 };
  // Two namespaces of one window: platform event ids, and conversation entry ids (a redelivery may
  // come with a new event id). The store keeps them prefixed.
  const recentEvents = new RecentKeys(dedupeWindow, persistence ? (key, ns) => persistence.markSeen(`${SEEN_PREFIX[ns]}${key}`) : undefined, 2);
  const listeners = new Map<string, Set<(e: never) => void>>();
  const inFlight = new Set<Promise<unknown>>();
  const counters = { ingested: 0, rejected: 0, duplicates: 0, unroutable: 0 };
  let stopped = false;
  client?.on('breaker', (change) => emitToApp('breaker', change));
  let intake: PubSubIntake | undefined;
  if (options.pubsub) {
    const { auth: pubsubAuth, ...intakeOptions } = options.pubsub;
    let auth = pubsubAuth;
    if (!auth) {
      if (!tokens || !options.org?.instanceUrl) throw new ConfigError('pubsub needs `auth` and `org.instanceUrl` (or pubsub.auth) to subscribe');
      auth = pubSubAuthFromTokenProvider(tokens, options.org.instanceUrl, options.org.orgId);
    }
    let cursorStore: CursorStore | undefined = intakeOptions.store;
    if (persistence) {
      if (intakeOptions.store) throw new ConfigError('with `store` set, the replay cursor lives there: drop pubsub.store');
      // Saving the cursor commits every session changed by the events before it, in one transaction.
      cursorStore = { load: (topic) => persistence.store.loadCursor(topic), save: (topic, replayId) => persistence.commit({ topic, replayId }) };
    }
    intake = createPubSubIntake({ ...intakeOptions, ...(cursorStore ? { store: cursorStore } : {}), auth, handle: (event) => ingest(event), logger: log.child({ component: 'pubsub' }) });
    intake.on('state', (e) => emitToApp('subscription', { state: e.state }));
  }

  function emitToApp<K extends keyof SwitchboardEvents>(event: K, payload: SwitchboardEvents[K]): void {
    for (const listener of listeners.get(event) ?? []) {
      try {
        (listener as (e: SwitchboardEvents[K]) => void)(payload);
      } catch (err) {
        // A throwing app listener must not break the engine's own bookkeeping.
        log.error({ err, event }, 'a switchboard listener threw');
      }
    }
  }

  /** Wrap a port call: track it for settled()/stop() and log its outcome with its step key. */
  function track<T>(what: string, key: string, run: () => Promise<T> | T): Promise<T> {
    const started = Date.now();
    // Step keys start with the conversation. A routing child's transitions do not reach the session
    // actor's observers, so the answer to its call is what marks the session for the next commit.
    // (POST /interactions runs before its conversation has a session: nothing to mark.)
    const conversationIdentifier = key.slice(0, key.indexOf('/'));
    const settle = () => {
      if (sessions.has(conversationIdentifier)) persistence?.markDirty(conversationIdentifier);
    };
    const p = startNow(run).then(
      (value) => {
        settle();
        log.debug({ call: what, key, ms: Date.now() - started }, 'call ok');
        return value;
      },
      (err: unknown) => {
        settle();
        log.warn({ call: what, key, ms: Date.now() - started, error: describeError(err) }, 'call failed');
        throw err;
      },
    );
    inFlight.add(p);
    const done = () => inFlight.delete(p);
    p.then(done, done);
    return p;
  }

  /**
   * One Interaction Service step: its RequestId comes from the step key, so a step repeated after a
   * crash carries the same one; it goes through the journal when there is a store, and is tracked.
   * A step that finishes work (report, cancel, clear) is never dropped for lateness — queued behind
   * the limiter past its window, or restored after a restart — because an unsent routingResult is a
   * certain failure and a late one at worst a refusal. Steps that start work keep the window as
   * their hard bound — except the repeat of one whose fate a crash left unknown: that repeat starts
   * nothing new (same RequestId), and its answer may be the only way to learn what the first
   * attempt created (a POST /agentWork's AgentWork id, which the clean-up must cancel).
   */
  function sendStep<O>(what: string, key: string, priority: CallContext['priority'], inDoubt: InDoubt, windowEnd: number, send: (ctx: CallContext) => Promise<O>): Promise<O> {
    return track(what, key, () => {
      const go = (repeat: boolean) => {
        const deadlineAt = priority === 'finish' || repeat ? Math.max(windowEnd, Date.now() + CLEANUP_BUDGET_MS) : windowEnd;
        return send({ key, deadlineAt, priority, requestId: stableRequestId(key) });
      };
      return persistence ? persistence.journaled(key, inDoubt, go) : go(false);
    });
  }

  /** What reportInDoubt and clearInDoubt read of a routing (a live child's context, or a saved one). */
  type RoutingView = { routingId?: string; deadlineAt?: number; routeOpen?: boolean } | undefined;

  function routingViews(conversationIdentifier: string): RoutingView[] {
    return Object.values(sessions.get(conversationIdentifier)?.getSnapshot().children ?? {}).map((child) => (child as { getSnapshot?: () => { context?: RoutingView } } | undefined)?.getSnapshot?.().context);
  }

  /**
   * Whether a DELETE /route whose first attempt a crash left in doubt may be sent again. Its body
   * names no PSR: it clears whatever PSR the conversation has. While another routing of the
   * conversation has a route open, that PSR is (or is about to be) the other one's, and a repeat
   * would clear it; that routing clears the PSR at its own end, so nothing is left open by not
   * repeating.
   */
  async function clearInDoubt(key: string): Promise<InDoubt> {
    if (!persistence || (await persistence.stepState(key)) !== 'started') return 'repeat';
    const [conversationIdentifier, routingId] = key.split('/');
    return routingViews(conversationIdentifier!).some((c) => c && c.routingId !== routingId && c.routeOpen) ? 'assume-done' : 'repeat';
  }

  /**
   * Whether a routingResult whose first attempt a crash left in doubt may be sent again. A report
   * names no request (reference §1.10): Salesforce applies it to the conversation's oldest open
   * request of that type, one report each, so a repeat never answers a request twice — it answers
   * its own request if the first attempt never landed, else the next open one of the conversation
   * (whose own report then finds nothing open: the requests are answered in order, as they are
   * whenever concurrent requests finish out of order), else nothing. A report is still lost if it
   * is not sent, so it is repeated — inside its window. Once the window has closed, a first attempt
   * that never landed has been answered by Salesforce's own timeout (the transfer failed, the rep
   * may retry): a repeat can no longer help that request and could only answer one opened since,
   * which this restored engine may not know yet. It is then taken as done.
   */
  async function reportInDoubt(key: string, routings?: RoutingView[]): Promise<InDoubt> {
    if (!persistence || (await persistence.stepState(key)) !== 'started') return 'repeat';
    const [conversationIdentifier, routingId] = key.split('/');
    const own = (routings ?? routingViews(conversationIdentifier!)).find((c) => c?.routingId === routingId);
    return !own || own.deadlineAt === undefined || Date.now() >= own.deadlineAt ? 'assume-done' : 'repeat';
  }

  function call<I, O>(what: string, priority: CallContext['priority'], inDoubt: InDoubt, fn: (req: I, ctx: CallContext) => Promise<O>) {
    return fromEffect<O, EffectInput<I>>((input) => sendStep(what, input.key, priority, inDoubt, input.deadlineAt, (ctx) => fn(input.request, ctx)));
  }

  const providedRouting = routingMachine.provide({
    actors: {
      // A step whose fate is unknown after a crash is repeated with the same RequestId (derived from
      // its step key) only where a repeat is safe on a server that does NOT deduplicate RequestIds
      // (Salesforce is not known to, reference §8.10; docs/operations.md "What a repeat does"): a
      // repeated consent or clear is harmless, a repeated cancel is refused (10085), a repeated
      // AgentWork answers 15109 (done), a repeated route re-targets the open PSR. A routingResult
      // names no request: Salesforce applies it to the conversation's oldest open request of its
      // type, so a repeat answers nothing twice; it is repeated inside its window and taken as done
      // after it (reportInDoubt).
      patchConsent: call('PATCH /consent', 'start', 'repeat', (r, c) => api.patchConsent(r, c)),
      createRoute: call('POST /route', 'start', 'repeat', (r, c) => api.createRoute(r, c)),
      createAgentWork: call('POST /agentWork', 'start', 'repeat', (r, c) => api.createAgentWork(r, c)),
      reportRoutingResult: fromEffect((input: EffectInput<RoutingResultRequest>) =>
        reportInDoubt(input.key).then((inDoubt) =>
          sendStep('POST /routingResult', input.key, 'finish', inDoubt, input.deadlineAt, (ctx) => api.reportRoutingResult(input.request, ctx)),
        ),
      ),
      cancelAgentWork: call('PATCH /agentWork', 'finish', 'repeat', (r, c) => api.patchAgentWork(r, c)),
      clearRoute: fromEffect((input: EffectInput<ClearRouteRequest>) =>
        clearInDoubt(input.key).then((inDoubt) => sendStep('DELETE /route', input.key, 'finish', inDoubt, input.deadlineAt, (ctx) => api.clearRoute(input.request, ctx))),
      ),
      pickRep: fromEffect((input: PickRepRequest) => track('pickRep', `${input.conversationIdentifier}/pick`, () => pickRep(input))),
      routeExternally: fromEffect((input: ExternalRouteRequest) =>
        track('routeExternally', `${input.conversationIdentifier}/external`, () => {
          if (!options.routeExternally) throw new NotProvidedError('routeExternally (the external transfer handler)');
          return options.routeExternally(input);
        }),
      ),
    },
  });
  const machine = sessionMachine.provide({ actors: { routing: providedRouting } });

  function indexWorkItem(actor: SessionActor, conversationIdentifier: string): void {
    const workItemId = actor.getSnapshot().context.workItemId;
    if (workItemId && byWorkItem.get(workItemId) !== conversationIdentifier) byWorkItem.set(workItemId, conversationIdentifier);
  }

  /** A session restored from the store holds its reps' capacity again and is found by its MessagingSession id. */
  function adoptRestored(conversationIdentifier: string, context: DormantSession['context']): void {
    for (const rep of Object.keys(context.reps ?? {})) directory.hold(rep, conversationIdentifier);
    if (context.workItemId) byWorkItem.set(context.workItemId, conversationIdentifier);
  }

  /** Drops a session's live actor from the books (it ended, failed or fell asleep). */
  function forgetLive(conversationIdentifier: string): void {
    sessions.delete(conversationIdentifier);
    lastBusy.delete(conversationIdentifier);
  }

  /** The live actor of a session, woken if it sleeps; marks it busy now. */
  function liveSession(conversationIdentifier: string): SessionActor | undefined {
    const actor = sessions.get(conversationIdentifier) ?? wake(conversationIdentifier);
    if (actor) touch(conversationIdentifier);
    return actor;
  }

  /** What a session holds, live or asleep, without waking it. */
  function peek(conversationIdentifier: string): Pick<SnapshotFrom<typeof sessionMachine>, 'value' | 'context'> | undefined {
    return sessions.get(conversationIdentifier)?.getSnapshot() ?? dormant.get(conversationIdentifier);
  }

  function touch(conversationIdentifier: string): void {
    // Re-inserted so the Map stays ordered by last activity and a sweep can stop at the first recent one.
    lastBusy.delete(conversationIdentifier);
    lastBusy.set(conversationIdentifier, Date.now());
  }

  function sessionFor(conversationIdentifier: string, seed: { channelAddressIdentifier?: string; endUserClientId?: string; workItemId?: string } = {}, snapshot?: unknown): SessionActor {
    const existing = liveSession(conversationIdentifier);
    if (existing) return existing;
    const actor = startSession(conversationIdentifier, seed, snapshot);
    persistence?.markDirty(conversationIdentifier);
    return actor;
  }

  function startSession(conversationIdentifier: string, seed: { channelAddressIdentifier?: string; endUserClientId?: string; workItemId?: string }, snapshot?: unknown): SessionActor {
    // A child logger per session, made only when the session first logs: most idle sessions never do.
    let childLog: Logger | undefined;
    const slog = () => (childLog ??= log.child({ conversationIdentifier }));
    const input = { conversationIdentifier, settings, ...seed };
    if (input.workItemId) input.workItemId = toId15(input.workItemId);
    // A restored actor re-invokes its deadline timers with the absolute times in its context.
    const inspect = options.inspect ? { inspect: options.inspect } : {};
    const actor = snapshot ? createActor(machine, { snapshot: snapshot as never, input, ...inspect }) : createActor(machine, { input, ...inspect });
    actor.on('*', (e) => {
      const event = e as SessionEmitted;
      if (event.type === 'routing.finished') {
        // The picker held each offered rep's capacity; give it back unless the rep is now in the session.
        const present = actor.getSnapshot().context.reps;
        for (const rep of event.output.offeredTo) if (!present[rep]) directory.release(rep, conversationIdentifier);
        slog().info({ routingId: event.output.routingId, routingType: event.output.routingType, outcome: event.output.outcome, acceptedBy: event.output.acceptedBy, message: event.output.message, reported: event.output.reported, ms: event.durationMs }, 'routing finished');
      } else if (event.type === 'routing.started') {
        slog().info({ routingId: event.routingId, routingType: event.routingType, target: event.target.kind }, 'routing started');
      } else if (event.type === 'routing.ignored') {
        slog().warn({ routingId: event.routingId, reason: event.reason }, 'routing event ignored');
      } else if (event.type === 'participant.joined') {
        directory.hold(event.userId, conversationIdentifier);
      } else if (event.type === 'participant.left') {
        directory.release(event.userId, conversationIdentifier);
      }
      emitToApp(event.type, event as never);
    });
    actor.subscribe({
      next: persistence ? () => persistence.markDirty(conversationIdentifier) : undefined,
      complete: () => {
        // Observers also complete when stop() halts a live actor (or it goes to sleep): only a finished session ends.
        if (actor.getSnapshot().status !== 'done') return;
        persistence?.markEnded(conversationIdentifier, actor.getPersistedSnapshot());
        forgetLive(conversationIdentifier);
        const workItemId = actor.getSnapshot().context.workItemId;
        if (workItemId && byWorkItem.get(workItemId) === conversationIdentifier) byWorkItem.delete(workItemId);
        for (const rep of Object.keys(actor.getSnapshot().context.reps)) directory.release(rep, conversationIdentifier);
        slog().info('session ended');
      },
      error: (error) => {
        // Machines never throw by design; if one does, drop the session loudly rather than leave it half-alive.
        forgetLive(conversationIdentifier);
        slog().error({ error: describeError(error) }, 'session actor failed; dropped');
        emitToApp('error', { conversationIdentifier, error });
      },
    });
    sessions.set(conversationIdentifier, actor);
    touch(conversationIdentifier);
    ensureSweep();
    actor.start();
    indexWorkItem(actor, conversationIdentifier);
    return actor;
  }

  // ---- sleep: idle sessions are held as snapshots, not actors ----

  function putToSleep(conversationIdentifier: string, actor: SessionActor): void {
    // The persisted snapshot shares the (immutable) context with the live one: nothing is copied.
    dormant.set(conversationIdentifier, actor.getPersistedSnapshot() as unknown as DormantSession);
    forgetLive(conversationIdentifier);
    actor.stop();
  }

  /** Re-creates a sleeping session's actor from its snapshot — the same path as a restart. */
  function wake(conversationIdentifier: string): SessionActor | undefined {
    const snapshot = dormant.get(conversationIdentifier);
    if (!snapshot) return undefined;
    dormant.delete(conversationIdentifier);
    const actor = startSession(conversationIdentifier, {}, snapshot);
    if (actor.getSnapshot().status !== 'active') {
      // Cannot happen with a snapshot of this very chart; if it does, say so and start the session afresh.
      forgetLive(conversationIdentifier);
      log.error({ conversationIdentifier, status: actor.getSnapshot().status }, 'a sleeping session could not be woken; it starts afresh');
      emitToApp('error', { conversationIdentifier, error: new Error('a sleeping session could not be woken') });
      return undefined;
    }
    wakes += 1;
    return actor;
  }

  /** Puts idle sessions last busy at least `idleForMs` ago to sleep, oldest first, at most `limit`. */
  function hibernateIdle(idleForMs: number, limit: number): { slept: number; more: boolean } {
    const cutoff = Date.now() - idleForMs;
    const due: string[] = [];
    for (const [conv, at] of lastBusy) {
      if (at > cutoff || due.length >= limit) break;
      due.push(conv);
    }
    let slept = 0;
    for (const conv of due) {
      const actor = sessions.get(conv);
      if (!actor) lastBusy.delete(conv);
      else if (isIdleSnapshot(actor.getSnapshot())) {
        putToSleep(conv, actor);
        slept += 1;
      } else touch(conv); // busy: look again once it could have been idle for a whole period
    }
    return { slept, more: due.length >= limit };
  }

  function ensureSweep(): void {
    if (sweepTimer || hibernateAfterMs === false || stopped) return;
    sweepTimer = setInterval(sweep, Math.max(1_000, hibernateAfterMs / 2));
    sweepTimer.unref?.();
  }

  function sweep(): void {
    sweepQueued = false;
    if (stopped || hibernateAfterMs === false) return;
    const { more } = hibernateIdle(hibernateAfterMs, HIBERNATE_CHUNK);
    if (more && !sweepQueued) {
      sweepQueued = true;
      setImmediate(sweep);
    }
  }

  /**
   * A saved session from another chart or layout cannot run here: finish what it left open — the
   * one routingResult a request still owes, an AgentWork still offered, a PSR — and keep its people.
   */
  async function finishStale(rec: { conversationIdentifier: string; chartHash: string; snapshot: unknown }): Promise<void> {
    const conv = rec.conversationIdentifier;
    const snap = rec.snapshot as { context?: Record<string, any>; children?: Record<string, { snapshot?: { context?: Record<string, any> } }> };
    const ctx = snap?.context ?? {};
    log.error({ conversationIdentifier: conv, savedChart: rec.chartHash }, 'saved session is from another chart: finishing its pending routing requests and starting it afresh');
    for (const child of Object.values(snap?.children ?? {})) {
      const c = child?.snapshot?.context;
      if (!c || typeof c.routingId !== 'string') continue;
      // The old chart's step keys, so its journal still stops a step that went out from going twice,
      // and treats one whose fate is unknown as the live path does (reportInDoubt).
      // Finishing steps: their window is long gone, so they get the clean-up budget.
      const stepKey = (step: string) => `${conv}/${c.routingId}/${step}`;
      const attempt = async (what: string, priority: CallContext['priority'], step: string, run: (ctx: CallContext) => Promise<unknown>, inDoubt: InDoubt = 'repeat') => {
        try {
          await sendStep(what, stepKey(step), priority, inDoubt, Date.now(), run);
        } catch {
          // Logged by track(); nothing more can be done for a request abandoned by a chart change.
        }
      };
      // A routingResult is owed if none was started, or if one was started and never answered (the
      // chart counts it as sent when it starts, so only the journal tells these apart).
      const reportOwed = !c.reported || (await persistence!.stepState(stepKey('routingResult'))) === 'started';
      if (c.requested && reportOwed && typeof c.workItemId === 'string') {
        await attempt('POST /routingResult', 'finish', 'routingResult', (cc) =>
          api.reportRoutingResult({ conversationIdentifier: conv, workItemId: c.workItemId, success: false, externallyRouted: c.target?.kind === 'external', routingType: c.routingType, errorMessage: 'Switchboard restarted with a different routing chart; the request was abandoned' }, cc),
          await reportInDoubt(stepKey('routingResult'), Object.values(snap?.children ?? {}).map((x) => x?.snapshot?.context as RoutingView)),
        );
      }
      if (c.workOpen && typeof c.workId === 'string') {
        await attempt('PATCH /agentWork', 'finish', `cancel:${c.workId}`, (cc) => api.patchAgentWork({ workId: c.workId, contextType: 'Agent', status: 'Cancel' }, cc));
      }
      if (c.routeOpen) await attempt('DELETE /route', 'finish', 'clearRoute', (cc) => api.clearRoute({ conversationIdentifier: conv, cancelReason: 'Unknown' }, cc));
    }
    const actor = sessionFor(conv, {
      ...(typeof ctx.channelAddressIdentifier === 'string' ? { channelAddressIdentifier: ctx.channelAddressIdentifier } : {}),
      ...(typeof ctx.endUserClientId === 'string' ? { endUserClientId: ctx.endUserClientId } : {}),
      ...(typeof ctx.workItemId === 'string' ? { workItemId: ctx.workItemId } : {}),
    });
    const reps = Object.values((ctx.reps ?? {}) as Record<string, { userId: string; role: string }>);
    if (reps.length) actor.send({ type: 'PARTICIPANT_CHANGED', entry: { kind: 'ParticipantChanged', conversationIdentifier: conv, channelAddressIdentifier: String(ctx.channelAddressIdentifier ?? ''), entryId: `restored:${conv}`, entries: reps.map((r) => ({ operation: 'add' as const, participant: { appType: 'agent', subject: r.userId, role: r.role } })) } });
    restoreCounters.finishedStale += 1;
  }

  async function restore(): Promise<void> {
    if (!persistence) return;
    const { current, stale } = await persistence.load();
    for (const rec of current) {
      // A session with nothing pending is restored asleep: no actor is built for it until its next
      // event, so a restart with many idle sessions reaches the subscription (and the windows of
      // the requests still pending) sooner.
      if (hibernateAfterMs !== false && isIdleSnapshot(rec.snapshot)) {
        dormant.set(rec.conversationIdentifier, rec.snapshot);
        adoptRestored(rec.conversationIdentifier, rec.snapshot.context);
        restoreCounters.restored += 1;
        continue;
      }
      const actor = sessionFor(rec.conversationIdentifier, {}, rec.snapshot);
      if (actor.getSnapshot().status === 'error') {
        forgetLive(rec.conversationIdentifier);
        await finishStale(rec);
        continue;
      }
      adoptRestored(rec.conversationIdentifier, actor.getSnapshot().context);
      restoreCounters.restored += 1;
    }
    for (const rec of stale) await finishStale(rec);
    for (const key of await persistence.loadSeen(dedupeWindow)) {
      const ns = key.startsWith(SEEN_PREFIX[SEEN_ENTRY]) ? SEEN_ENTRY : SEEN_EVENT;
      recentEvents.remember(key.startsWith(SEEN_PREFIX[ns]) ? key.slice(SEEN_PREFIX[ns].length) : key, ns);
    }
    log.info({ restored: restoreCounters.restored, finishedStale: restoreCounters.finishedStale }, 'sessions restored from the store');
  }

  /**
   * Salesforce's routing window runs from publication (CreatedDate), not from when the event reached
   * us: after a reconnect or a restart the time already gone counts. A CreatedDate ahead of our clock
   * (skew) is not trusted beyond now.
   */
  function windowStart(createdAt: number | undefined): number {
    const now = Date.now();
    return createdAt !== undefined && Number.isFinite(createdAt) ? Math.min(now, createdAt) : now;
  }

  function reject(error: SwitchboardError, replayId?: string): IngestResult {
    counters.rejected += 1;
    log.warn({ code: error.code, field: error instanceof ParseError ? error.field : undefined, replayId, error: error.message }, 'input rejected');
    emitToApp('rejected', { error, ...(replayId ? { replayId } : {}) });
    return { ok: false, error };
  }

  function ingest(event: PlatformEvent): IngestResult {
    if (stopped) return reject(new StoppedError(), event?.replayId);
    if (event?.eventId && recentEvents.seen(event.eventId, SEEN_EVENT)) {
      counters.duplicates += 1;
      return { ok: true, kind: 'duplicate', duplicate: true };
    }
    const parsed = parsePlatformEvent(event, parseOptions);
    if (!parsed.ok) return reject(parsed.error, event?.replayId);
    const e = parsed.value;
    counters.ingested += 1;
    if (e.kind !== 'RoutingRequested' && recentEvents.seen(e.entryId, SEEN_ENTRY)) {
      counters.duplicates += 1;
      return { ok: true, kind: e.kind, conversationIdentifier: e.conversationIdentifier, duplicate: true };
    }
    const conv = e.conversationIdentifier;
    switch (e.kind) {
      case 'RoutingRequested': {
        const actor = sessionFor(conv, {
          channelAddressIdentifier: e.channelAddressIdentifier,
          ...(e.endUserClientId ? { endUserClientId: e.endUserClientId } : {}),
          ...(e.workRecordId ? { workItemId: e.workRecordId } : {}),
        });
        actor.send({ type: 'ROUTING_REQUESTED', request: e, receivedAt: windowStart(event.createdAt) });
        indexWorkItem(actor, conv);
        break;
      }
      case 'ParticipantChanged':
        sessionFor(conv, { channelAddressIdentifier: e.channelAddressIdentifier }).send({ type: 'PARTICIPANT_CHANGED', entry: e });
        break;
      case 'SessionStatusChanged': {
        const known = liveSession(conv);
        if (!known && (e.sessionStatus === 'Ended' || e.sessionStatus === 'Error')) break;
        const actor = known ?? sessionFor(conv, { channelAddressIdentifier: e.channelAddressIdentifier, workItemId: e.sessionId });
        actor.send({ type: 'SESSION_STATUS_CHANGED', entry: e });
        if (sessions.has(conv)) indexWorkItem(actor, conv);
        break;
      }
      case 'RoutingResult': {
        const actor = liveSession(conv);
        if (!actor) {
          counters.unroutable += 1;
          log.info({ conversationIdentifier: conv, replayId: e.replayId, failureType: e.failureType }, 'RoutingResult for a conversation this switchboard does not hold');
          break;
        }
        actor.send({ type: 'ROUTING_RESULT', entry: e });
        break;
      }
      case 'Message':
      case 'MessageUpdated':
        emitToApp('message', e);
        break;
      case 'RoutingWorkResult':
      case 'OtherEntry':
        emitToApp('entry', e);
        break;
    }
    return { ok: true, kind: e.kind, conversationIdentifier: conv };
  }

  function agentWork(raw: unknown): IngestResult {
    if (stopped) return reject(new StoppedError());
    const parsed = parseAgentWorkEvent(raw);
    if (!parsed.ok) return reject(parsed.error);
    const w: AgentWorkEvent = parsed.value;
    const conv = byWorkItem.get(toId15(w.workItemId));
    const actor = conv ? liveSession(conv) : undefined;
    if (!actor || !conv) {
      counters.unroutable += 1;
      log.warn({ workId: w.workId, workItemId: w.workItemId, workEvent: w.workEvent }, 'agent work for a MessagingSession this switchboard does not hold');
      return { ok: true, kind: 'AgentWork' };
    }
    counters.ingested += 1;
    actor.send({ type: 'AGENT_WORK', event: w });
    return { ok: true, kind: 'AgentWork', conversationIdentifier: conv };
  }

  async function startConversation(req: StartConversationRequest) {
    if (stopped) throw new StoppedError();
    const key = `interaction/${randomUUID()}`;
    const res = await track('POST /interactions', key, () =>
      api.postInteraction({ to: req.to, from: req.from, interaction: { kind: 'text', text: req.text } }, { key, priority: 'start' }),
    );
    const conv = res.conversationIdentifier;
    const workItemId = res.workItemIds[0];
    const actor = sessionFor(conv, { channelAddressIdentifier: req.to, endUserClientId: req.from, ...(workItemId ? { workItemId } : {}) });
    const ctx = actor.getSnapshot().context;
    // A conversation already with a rep or already being routed needs no new initial routing.
    if (Object.keys(ctx.reps).length === 0 && Object.keys(ctx.routings).length === 0) {
      actor.send({
        type: 'START_ROUTING',
        target: req.target ?? { kind: 'channelDefault' },
        ...(options.consentStatus
          ? { consent: { endUserClientId: req.from, channelAddressIdentifier: req.to, consentStatus: options.consentStatus } }
          : {}),
      });
    }
    indexWorkItem(actor, conv);
    // The app is told routing has started only once that is durable: a crash right after this
    // answer must not lose the routing.
    await persistence?.commit();
    return { conversationIdentifier: conv, ...(workItemId ? { workItemId: toId15(workItemId) } : {}) };
  }

  function getContacts(conversationIdentifier: string | undefined, listType: ContactListType, filter: { contains?: string; limit?: number; offset?: number } = {}): Contact[] {
    const ctx = conversationIdentifier ? peek(conversationIdentifier)?.context : undefined;
    return directory.contacts({
      listType,
      present: ctx ? Object.keys(ctx.reps) : [],
      capReached: ctx ? occupiedSeats(ctx) >= ctx.settings.participantCap : false,
      ...filter,
    });
  }

  async function settled(): Promise<void> {
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
  }

  return {
    async start() {
      if (stopped) throw new StoppedError();
      await restore();
      await intake?.start();
    },
    ingest,
    agentWork,
    startConversation,
    getContacts,
    directory,
    on(event, listener) {
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      set.add(listener as (e: never) => void);
      return () => set!.delete(listener as (e: never) => void);
    },
    session(conversationIdentifier) {
      const snapshot = peek(conversationIdentifier);
      return snapshot ? viewOf(snapshot) : undefined;
    },
    sessions: () => [...[...sessions.values()].map((a) => viewOf(a.getSnapshot())), ...[...dormant.values()].map(viewOf)],
    stats() {
      let pendingRoutings = 0;
      for (const a of sessions.values()) pendingRoutings += Object.keys(a.getSnapshot().context.routings).length;
      return {
        sessions: sessions.size + dormant.size,
        hibernated: dormant.size,
        wakes,
        pendingRoutings,
        inFlightEffects: inFlight.size,
        ...counters,
        ...(client ? { interactions: client.stats() } : {}),
        ...(intake ? { pubsub: intake.stats() } : {}),
        ...(persistence ? { store: { commits: persistence.commits, ...restoreCounters, skippedSteps: persistence.skippedSteps } } : {}),
      };
    },
    settled,
    hibernate({ idleForMs } = {}) {
      if (stopped) return 0;
      return hibernateIdle(idleForMs ?? (hibernateAfterMs === false ? 0 : hibernateAfterMs), Infinity).slept;
    },
    async stop({ drainMs = 5_000 } = {}) {
      if (stopped) return;
      // The subscription stops first and drains its events into the sessions, so the stored cursor
      // covers everything handled; only then does intake close.
      await intake?.stop();
      stopped = true;
      clearInterval(sweepTimer);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([settled(), new Promise<void>((r) => (timer = setTimeout(r, drainMs)))]);
      clearTimeout(timer);
      // The last changes reach the store before the actors stop.
      await persistence?.close();
      if (options.store && 'path' in options.store) await store?.close();
      for (const actor of sessions.values()) actor.stop();
      sessions.clear();
      dormant.clear();
      lastBusy.clear();
      byWorkItem.clear();
      await client?.close();
      log.info({ inFlight: inFlight.size }, 'switchboard stopped');
    },
  };
}
