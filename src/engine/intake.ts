// Intake: what comes in — a platform event from the Pub/Sub stream, an agent-work event from the
// connector relay, a new conversation from the partner's channel — becomes an event for the
// session it concerns. Refused input is logged with its replay id, counted and told to the app;
// it never throws and never stops the stream.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { ConsentStatus } from '../domain/enums.js';
import { LimitError, ParseError, StoppedError, type SwitchboardError } from '../domain/errors.js';
import type { ParsedPlatformEvent, PlatformEvent } from '../domain/events.js';
import { toId15 } from '../domain/ids.js';
import { parseAgentWorkEvent, parsePlatformEvent, type ParseOptions } from '../domain/parse.js';
import type { InteractionService } from '../domain/ports.js';
import type { Persistence } from '../persistence.js';
import { checkStartConversation } from '../public-input.js';
import { RecentKeys } from '../recent-keys.js';
import type { AppEvents } from './app-events.js';
import type { StepRunner } from './effects.js';
import type { SessionRegistry, SessionSeed } from './registry.js';
import type { IngestResult, StartConversationRequest } from './types.js';

const SEEN_EVENT = 0;
const SEEN_ENTRY = 1;
/** How dedupe keys are written in the store, by namespace. */
const SEEN_PREFIX = ['event:', 'entry:'] as const;

/** Events that start a session for a conversation not yet held. */
function startsSession(e: ParsedPlatformEvent): boolean {
  return e.kind === 'RoutingRequested' || e.kind === 'ParticipantChanged' || (e.kind === 'SessionStatusChanged' && e.sessionStatus !== 'Ended' && e.sessionStatus !== 'Error');
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

export interface IntakeOptions {
  registry: SessionRegistry;
  runner: StepRunner;
  api: InteractionService;
  events: AppEvents;
  log: Logger;
  persistence?: Persistence | undefined;
  parseOptions: ParseOptions;
  maxIdLength: number;
  maxSessions: number;
  dedupeWindow: number;
  consentStatus?: ConsentStatus | undefined;
  isStopped: () => boolean;
  /**
   * Why no new session may be started any more (the engine halted, or nothing is committed any
   * more), or undefined. Unlike isStopped(), a graceful stop draining its calls is not a refusal.
   */
  refusal?: (() => Error | undefined) | undefined;
  /** Rejects when the store may no longer write for this engine (a fenced store whose lease moved). */
  checkWritable?: (() => Promise<void>) | undefined;
}

export class Intake {
  readonly #o: IntakeOptions;
  /**
   * Two namespaces of one window: platform event ids, and conversation entry ids (a redelivery may
   * come with a new event id). The store keeps them prefixed.
   */
  readonly #recent: RecentKeys;
  readonly counters = { ingested: 0, rejected: 0, duplicates: 0, unroutable: 0, refusedRequests: 0, refusedSessions: 0 };
  /** CreatedDate of the newest platform event handled: how far behind the stream the engine is. */
  newestEventAt: number | undefined;

  constructor(options: IntakeOptions) {
    this.#o = options;
    const { persistence } = options;
    this.#recent = new RecentKeys(options.dedupeWindow, persistence ? (key, ns) => persistence.markSeen(`${SEEN_PREFIX[ns]}${key}`) : undefined, 2);
  }

  /** Dedupe keys saved before a restart, as the store holds them (prefixed by namespace). */
  rememberSeen(keys: string[]): void {
    for (const key of keys) {
      const ns = key.startsWith(SEEN_PREFIX[SEEN_ENTRY]) ? SEEN_ENTRY : SEEN_EVENT;
      this.#recent.remember(key.startsWith(SEEN_PREFIX[ns]) ? key.slice(SEEN_PREFIX[ns].length) : key, ns);
    }
  }

  #reject(error: SwitchboardError, replayId?: string): IngestResult {
    this.counters.rejected += 1;
    this.#o.log.warn({ code: error.code, field: error instanceof ParseError ? error.field : undefined, replayId, error: error.message }, 'input rejected');
    this.#o.events.emit('rejected', { error, ...(replayId ? { replayId } : {}) });
    return { ok: false, error };
  }

  ingest(event: PlatformEvent): IngestResult {
    const { registry, log, events, maxIdLength, maxSessions } = this.#o;
    const counters = this.counters;
    if (this.#o.isStopped()) return this.#reject(new StoppedError(), event?.replayId);
    const eventId = event?.eventId;
    if (eventId !== undefined && (typeof eventId !== 'string' || eventId.length > maxIdLength)) {
      // Checked before dedupe: the window must never hold an oversized key.
      return this.#reject(new ParseError('eventId', typeof eventId === 'string' ? `an event id of ${eventId.length} characters: longer than any Salesforce id (at most ${maxIdLength})` : 'expected a string'), event?.replayId);
    }
    if (eventId && this.#recent.has(eventId, SEEN_EVENT)) {
      counters.duplicates += 1;
      return { ok: true, kind: 'duplicate', duplicate: true };
    }
    const parsed = parsePlatformEvent(event, this.#o.parseOptions);
    // A refused event's id is not remembered: a later, valid delivery of it must still be applied.
    if (!parsed.ok) return this.#reject(parsed.error, event?.replayId);
    const e = parsed.value;
    const conv = e.conversationIdentifier;
    if (startsSession(e) && registry.isFull() && !registry.holds(conv)) {
      counters.refusedSessions += 1;
      const what = e.kind === 'RoutingRequested' ? 'a RoutingRequested (it cannot be answered: Salesforce times it out)' : `a ${e.kind}`;
      return this.#reject(new LimitError('sessions.max', `${maxSessions} sessions held: ${what} for a new conversation was refused`), event?.replayId);
    }
    if (eventId) this.#recent.add(eventId, SEEN_EVENT);
    counters.ingested += 1;
    const createdAt = event.createdAt;
    if (typeof createdAt === 'number' && Number.isFinite(createdAt) && (this.newestEventAt === undefined || createdAt > this.newestEventAt)) this.newestEventAt = createdAt;
    if (e.kind !== 'RoutingRequested' && this.#recent.seen(e.entryId, SEEN_ENTRY)) {
      counters.duplicates += 1;
      return { ok: true, kind: e.kind, conversationIdentifier: conv, duplicate: true };
    }
    switch (e.kind) {
      case 'RoutingRequested': {
        if (e.refusal !== undefined) {
          counters.refusedRequests += 1;
          log.warn({ conversationIdentifier: conv, routingId: e.routingEventId, replayId: e.replayId, reason: e.refusal }, 'RoutingRequested cannot be routed: answering it with a failed routingResult');
        } else if (e.routingEventIdDerived) {
          log.warn({ conversationIdentifier: conv, routingId: e.routingEventId, replayId: e.replayId }, 'RoutingRequested without channelData.eventId: keyed by the platform event instead');
        }
        // Field by field: conditional spreads cost V8's slow path on every request (docs/benchmarks.md).
        const seed: SessionSeed = {};
        if (e.channelAddressIdentifier) seed.channelAddressIdentifier = e.channelAddressIdentifier;
        if (e.endUserClientId) seed.endUserClientId = e.endUserClientId;
        if (e.workRecordId) seed.workItemId = e.workRecordId;
        const actor = registry.sessionFor(conv, seed);
        actor.send({ type: 'ROUTING_REQUESTED', request: e, receivedAt: windowStart(event.createdAt) });
        registry.indexWorkItem(actor, conv);
        break;
      }
      case 'ParticipantChanged':
        registry.sessionFor(conv, { channelAddressIdentifier: e.channelAddressIdentifier }).send({ type: 'PARTICIPANT_CHANGED', entry: e });
        break;
      case 'SessionStatusChanged': {
        const known = registry.live(conv);
        const terminal = e.sessionStatus === 'Ended' || e.sessionStatus === 'Error';
        if (!known && terminal) break;
        if (!known) {
          // A new session is made with the status it was made for: there is nothing left to tell it.
          registry.indexWorkItem(registry.sessionFor(conv, { channelAddressIdentifier: e.channelAddressIdentifier, workItemId: e.sessionId, status: e.sessionStatus }), conv);
          break;
        }
        // A status the session already has, with a MessagingSession id it already knows, would
        // change nothing: it is not sent (each event costs the session a transition).
        const ctx = known.getSnapshot().context;
        if (!terminal && ctx.status === e.sessionStatus && (ctx.workItemId || !e.sessionId)) break;
        known.send({ type: 'SESSION_STATUS_CHANGED', entry: e });
        if (registry.isLive(conv)) registry.indexWorkItem(known, conv);
        break;
      }
      case 'RoutingResult': {
        // A success (failureType None) confirms what the session already knows from the rep's
        // acceptance: nothing to hand over, and no sleeping session to wake for it.
        if (e.failureType === 'None') break;
        const actor = registry.live(conv);
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
        events.emit('message', e);
        break;
      case 'RoutingWorkResult':
      case 'OtherEntry':
        events.emit('entry', e);
        break;
    }
    return { ok: true, kind: e.kind, conversationIdentifier: conv };
  }

  agentWork(raw: unknown): IngestResult {
    if (this.#o.isStopped()) return this.#reject(new StoppedError());
    const parsed = parseAgentWorkEvent(raw);
    if (!parsed.ok) return this.#reject(parsed.error);
    const w = parsed.value;
    const conv = this.#o.registry.conversationOfWorkItem(w.workItemId);
    const actor = conv ? this.#o.registry.live(conv) : undefined;
    if (!actor || !conv) {
      this.counters.unroutable += 1;
      this.#o.log.warn({ workId: w.workId, workItemId: w.workItemId, workEvent: w.workEvent }, 'agent work for a MessagingSession this switchboard does not hold');
      return { ok: true, kind: 'AgentWork', matched: false };
    }
    this.counters.ingested += 1;
    actor.send({ type: 'AGENT_WORK', event: w });
    // What the event changed may sit in a routing child, whose moves do not mark the session: mark it
    // here, so the next commit holds the event's effect (the fleet's inbox deletes the forwarded
    // event in that same commit).
    this.#o.persistence?.markDirty(conv);
    return { ok: true, kind: 'AgentWork', conversationIdentifier: conv };
  }

  async startConversation(req: StartConversationRequest): Promise<{ conversationIdentifier: string; workItemId?: string }> {
    const { registry, api, consentStatus } = this.#o;
    if (this.#o.isStopped()) throw new StoppedError();
    checkStartConversation(req, this.#o.maxIdLength);
    if (registry.isFull()) {
      this.counters.refusedSessions += 1;
      throw new LimitError('sessions.max', `${this.#o.maxSessions} sessions held: no new conversation is started`);
    }
    // POST /interactions has no journal record whose commit would be fenced: a host that lost the
    // org must not open conversations for it, so the lease is checked first.
    await this.#o.checkWritable?.();
    if (this.#o.isStopped()) throw new StoppedError();
    const key = `interaction/${randomUUID()}`;
    const res = await this.#o.runner.track('POST /interactions', key, () =>
      // Asked again right before it leaves: a start queued in the rate limiter past a lease's end stays unsent.
      api.postInteraction({ to: req.to, from: req.from, interaction: { kind: 'text', text: req.text } }, { key, priority: 'start', mayProceed: this.#o.runner.mayProceed }),
    );
    const conv = res.conversationIdentifier;
    const workItemId = res.workItemIds[0];
    // Halted (the lease lost) or closed while the call was out: the conversation is open at
    // Salesforce but no session of it can be made durable here. Refuse (SB_FENCED or SB_STOPPED:
    // the caller retries on the org's owner) rather than start a session the halted engine would
    // run, and perhaps commit, on its own.
    const refused = this.#o.refusal?.();
    if (refused) {
      this.#o.log.warn({ conversationIdentifier: conv, code: (refused as { code?: string }).code }, 'conversation opened, but this engine can no longer save its session (halted or stopped meanwhile): the start is refused, to be made again on the org\'s owner');
      throw refused;
    }
    const actor = registry.sessionFor(conv, { channelAddressIdentifier: req.to, endUserClientId: req.from, ...(workItemId ? { workItemId } : {}) });
    const ctx = actor.getSnapshot().context;
    // A conversation already with a rep or already being routed needs no new initial routing.
    if (Object.keys(ctx.reps).length === 0 && Object.keys(ctx.routings).length === 0) {
      actor.send({
        type: 'START_ROUTING',
        target: req.target ?? { kind: 'channelDefault' },
        ...(consentStatus ? { consent: { endUserClientId: req.from, channelAddressIdentifier: req.to, consentStatus } } : {}),
      });
    }
    registry.indexWorkItem(actor, conv);
    // The app is told routing has started only once that is durable: a crash right after this
    // answer must not lose the routing. A commit that does not make this session durable (refused,
    // fenced, sealed by a halt meanwhile) rejects, and so does the start.
    await this.#o.persistence?.commitSession(conv);
    return { conversationIdentifier: conv, ...(workItemId ? { workItemId: toId15(workItemId) } : {}) };
  }
}
