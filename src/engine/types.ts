// The engine's public shapes: what the app receives from a switchboard (results, views, events,
// stats) and the Switchboard interface itself.
import type { ContactListType } from '../domain/enums.js';
import type { FencedError, SwitchboardError } from '../domain/errors.js';
import type { MessageEntry, OtherEntry, PlatformEvent, RoutingTarget, RoutingWorkResultEntry } from '../domain/events.js';
import type { Contact, Directory } from '../directory.js';
import type { BreakerChange, ClientStats } from '../io/interaction-api/index.js';
import type { PubSubIntakeStats } from '../io/pubsub/index.js';
import type { CommitFailureStats } from '../persistence.js';
import type { PendingRouting, RepPresence, SessionEmitted, WarmTransfer } from '../machines/session.js';

export type IngestResult =
  /** `matched: false`: valid, but no session held what it names (an agent-work event for an unknown MessagingSession). */
  | { ok: true; kind: string; conversationIdentifier?: string; duplicate?: boolean; matched?: false }
  | { ok: false; error: SwitchboardError };

export interface SessionView {
  conversationIdentifier: string;
  state: string;
  channelAddressIdentifier?: string;
  endUserClientId?: string;
  workItemId?: string;
  reps: RepPresence[];
  pendingRoutings: Array<Omit<PendingRouting, 'slot'>>;
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
  /**
   * The store refused a commit with SB_FENCED: another host holds this org's lease now. The
   * switchboard has already halted (see `halt()`): it sends no further call and commits nothing.
   */
  fenced: { error: FencedError };
}

/** The names `on()` accepts. */
export const SWITCHBOARD_EVENTS = [
  'message',
  'participant.joined',
  'participant.left',
  'routing.started',
  'routing.finished',
  'routing.ignored',
  'session.ended',
  'entry',
  'rejected',
  'error',
  'breaker',
  'subscription',
  'fenced',
] as const satisfies ReadonlyArray<keyof SwitchboardEvents>;

export interface SwitchboardStats {
  sessions: number;
  pendingRoutings: number;
  inFlightEffects: number;
  ingested: number;
  rejected: number;
  duplicates: number;
  unroutable: number;
  /** AgentWorks created by a POST /agentWork that answered after its routing window closed, and cancelled then. */
  abandonedOffersCancelled: number;
  /** RoutingRequested events that could not be routed (no target, a bot target, an unreadable field) and were answered with a failed routingResult. */
  refusedRequests: number;
  /** The Interaction Service adapter's queue depth, breaker states and call counts (when the switchboard built it). */
  interactions?: ClientStats;
  /** The Pub/Sub subscription's state, credit, cursor and counters (when `pubsub` is configured). */
  pubsub?: PubSubIntakeStats;
  /** Of `sessions`, how many are asleep (held as a snapshot: idle, or with routings that only wait; see `hibernateAfterMs`). */
  hibernated: number;
  /** Events refused because they would have started a session past `sessions.max`. */
  refusedSessions: number;
  /** Sessions dropped after `sessions.idleExpiryMs` without an event. */
  expiredSessions: number;
  /** Sleeping sessions woken by an event, since start. Growing fast while `hibernated` stays low means sessions are woken soon after they fall asleep: `hibernateAfterMs` is too short for the traffic. */
  wakes: number;
  /** Store commits, sessions restored, steps not repeated after a restart, refused commits (when `store` is configured). */
  store?: { commits: number; restored: number; finishedStale: number; skippedSteps: number } & CommitFailureStats;
}

/**
 * What a readiness or liveness endpoint returns (`/healthz`): cheap to compute, JSON as it is.
 * `failing`: the switchboard is stopped, or its subscription ended for good. `degraded`: it works,
 * but something needs a look — a breaker not closed, the stream reconnecting, events handled more
 * than `laggingAfterMs` (default 60 s: a whole routing window) after Salesforce published them.
 */
export interface SwitchboardHealth {
  status: 'ok' | 'degraded' | 'failing';
  /** Why the status is not ok, one short line each. */
  reasons: string[];
  subscription?: { state: string; lagMs?: number };
  breakers?: Record<string, string>;
  store?: { commits: number };
  sessions: { total: number; asleep: number; pendingRoutings: number; inFlightCalls: number };
}

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
  /** A health summary for the app's readiness/liveness endpoint (see SwitchboardHealth). */
  health(options?: { laggingAfterMs?: number }): SwitchboardHealth;
  readonly directory: Directory;
  /** Resolves once no Interaction Service call or rep pick is in flight. */
  settled(): Promise<void>;
  /**
   * Put every session to sleep now that had no event for `idleForMs` (default `hibernateAfterMs`)
   * and has no call in flight: idle ones, and ones whose routings only wait for an answer or a
   * timer (woken when the earliest is due). Returns how many went to sleep. The switchboard also does this on
   * its own, a chunk at a time; this is for an app that wants memory back at once.
   */
  hibernate(options?: { idleForMs?: number }): number;
  /** Stop the subscription (handled events' cursor stored), let in-flight calls finish (up to `drainMs`), stop every session. */
  stop(options?: { drainMs?: number }): Promise<void>;
  /**
   * Stops at once, for an engine whose org is now owned elsewhere: intake refuses input, every
   * session actor and the subscription stop, nothing more is committed or sent (calls already on the
   * wire finish). The store's content stays as last committed, for the org's next owner.
   */
  halt(): Promise<void>;
  /**
   * Commits every change made so far now (a no-op without a store, or after stop(), whose last
   * commit held them). After halt() it rejects (SB_FENCED or SB_STOPPED): nothing more is committed.
   */
  flush(): Promise<void>;
}
