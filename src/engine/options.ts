// What an app passes to createSwitchboard, and how it becomes the engine's settings: checked once,
// at construction, so a switchboard that starts can run (SB_CONFIG otherwise, never later).
import type { KeyObject } from 'node:crypto';
import type { Attributes, Meter } from '@opentelemetry/api';
import type { InspectionEvent } from 'xstate';
import type { Logger } from 'pino';
import type { ConsentStatus } from '../domain/enums.js';
import { ConfigError } from '../domain/errors.js';
import type { ParseOptions } from '../domain/parse.js';
import type { InteractionService, PickRep, RouteExternally } from '../domain/ports.js';
import type { Directory, DirectoryEntries } from '../directory.js';
import { createJwtBearerTokenProvider, createStaticTokenProvider, type TokenProvider } from '../io/auth/index.js';
import { createInteractionClient, type InteractionClient, type InteractionClientLimits } from '../io/interaction-api/index.js';
import type { PubSubAuth, PubSubIntakeOptions } from '../io/pubsub/index.js';
import type { StoreOption } from './store.js';
import type { PersistenceOptions } from '../persistence.js';
import type { RoutingSettings } from '../machines/session.js';

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
   * `{ path }` opens the embedded LMDB store there; `{ postgres }` (a connection string or a
   * `pg.Pool`, rows keyed by `orgId`, default `org.orgId`) the Postgres store a fleet uses; or pass
   * any SessionStore. Without it, state lives in memory only. A commit refused with SB_FENCED (the
   * org's lease moved to another host) halts the switchboard at once and emits `fenced`.
   */
  store?: StoreOption;
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
  /**
   * Asked right before every Interaction Service attempt leaves: false refuses it (SB_STOPPED),
   * unsent. For an engine whose right to call for its org can lapse — createFleet passes its
   * lease's validity on this host's clock, so a step committed just before a pause (GC, SIGSTOP)
   * does not go out after it, when another host may own the org. Must be cheap and synchronous.
   */
  stillOwner?: () => boolean;
  /** Platform event ids remembered for dedupe. Default 10,000. */
  dedupeWindow?: number;
  /**
   * A session with no routing request pending and no event for this long is put to sleep: its
   * actor is stopped and only its persisted snapshot stays in memory (about a sixth of a live
   * actor's heap). Its next event wakes it: the actor is re-created from that snapshot, as after a
   * restart. Default 30,000 ms; `false` keeps every session's actor live.
   */
  hibernateAfterMs?: number | false;
  /** Bounds on the sessions held (docs/operations.md, "Limits"). */
  sessions?: SessionLimits;
  /**
   * OpenTelemetry metrics (docs/operations.md lists the instruments): the meter to use — by default
   * the global one named `switchboard-ccaas`, a no-op until the app registers an SDK — and attributes
   * put on every measurement (default `{ 'org.id': org.orgId }` when `org` is given).
   */
  metrics?: { meter?: Meter; attributes?: Attributes };
}

export interface SessionLimits {
  /**
   * Sessions held at most, awake and asleep. Past it, an event that would start a new session is
   * refused (SB_LIMIT, counted as `stats().refusedSessions`); known sessions carry on. Default
   * 100,000 — about nine times what Salesforce lets one org have active (~11,000).
   */
  max?: number;
  /**
   * A session with nothing pending and no event for this long is dropped as if it had ended
   * (`session.ended` with reason `idle expiry`): Salesforce does not always tell a session's end to
   * the partner. Default 24 hours; `false` keeps sessions until they end.
   */
  idleExpiryMs?: number | false;
}


/** The engine's limits, resolved from the options with their defaults. */
export interface EngineLimits {
  hibernateAfterMs: number | false;
  maxSessions: number;
  idleExpiryMs: number | false;
  dedupeWindow: number;
}

export function limitsFrom(options: SwitchboardOptions): EngineLimits {
  const hibernateAfterMs = options.hibernateAfterMs ?? 30_000;
  if (hibernateAfterMs !== false && !(typeof hibernateAfterMs === 'number' && hibernateAfterMs >= 0)) {
    throw new ConfigError('hibernateAfterMs must be a number of milliseconds ≥ 0, or false');
  }
  const maxSessions = options.sessions?.max ?? 100_000;
  if (!(Number.isInteger(maxSessions) && maxSessions >= 1)) throw new ConfigError('sessions.max must be a whole number ≥ 1');
  const idleExpiryMs = options.sessions?.idleExpiryMs ?? 86_400_000;
  if (idleExpiryMs !== false && !(typeof idleExpiryMs === 'number' && idleExpiryMs > 0)) throw new ConfigError('sessions.idleExpiryMs must be a number of milliseconds > 0, or false');
  return { hibernateAfterMs, maxSessions, idleExpiryMs, dedupeWindow: options.dedupeWindow ?? 10_000 };
}

export function parseOptionsFrom(options: SwitchboardOptions): ParseOptions {
  const parseOptions: ParseOptions = {};
  if (options.routing?.fallbackQueueId) parseOptions.fallbackQueueId = options.routing.fallbackQueueId;
  if (options.isExternalTarget) parseOptions.isExternalTarget = options.isExternalTarget;
  return parseOptions;
}

export function settingsFrom(o: RoutingOptions = {}): RoutingSettings {
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

function tokenProviderFrom(auth: AuthOptions, org: OrgOptions): TokenProvider {
  if ('provider' in auth) return auth.provider;
  if ('token' in auth) return createStaticTokenProvider(auth.token, auth.tokenLifetimeMs !== undefined ? { tokenLifetimeMs: auth.tokenLifetimeMs } : {});
  if (!org.loginUrl) throw new ConfigError('org.loginUrl is required for the JWT bearer flow');
  return createJwtBearerTokenProvider({ loginUrl: org.loginUrl, ...auth.jwt });
}

export function interactionsFrom(options: SwitchboardOptions, log: Logger): { api: InteractionService; client?: InteractionClient; tokens?: TokenProvider } {
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
