// A local Salesforce org, in memory: it keeps conversations, PSRs, AgentWorks and participants as
// Salesforce would, answers the Interaction Service calls (throwing the documented error codes),
// publishes the platform events that follow (ParticipantChanged, RoutingResult,
// SessionStatusChanged), relays connector agent-work events, times a routing request out after 60 s,
// and plays scripted reps. The demo and tests use it in process; the sandbox servers put HTTP and
// gRPC in front of the same model.
//
// A repeated call is applied again: the org knows nothing of RequestIds (Salesforce is not known to
// deduplicate on them, reference §8.10). What a repeat does is what the same call does to the state
// the first one left, as Salesforce most plausibly behaves (docs/operations.md, "What a repeat
// does"); each org record says what the call changed (`applied`), so a test can tell a harmless
// repeat from a step applied twice:
// - PATCH /consent sets a status: a repeat sets the same one.
// - POST /route: one PSR per MessagingSession (a PSR routes the work item); a route while one is
//   open re-targets it and keeps its id (`retargeted`), else a PSR is created (`created`).
// - DELETE /route clears whatever PSR the conversation has (the body names no PSR): `removed`, or
//   `none` when there is none — a repeat after a new PSR was created would clear that one.
// - POST /agentWork: 15109 while the same rep holds an active (assigned or accepted) AgentWork for
//   the work item [ISA-ERR]; a repeat after the first was declined or cancelled makes a new offer.
// - PATCH /agentWork Cancel: only assigned work can be cancelled [DOC-agentWork-patch]; a repeat
//   gets 10085.
// - POST /routingResult names no request (reference §1.10): it answers the oldest unanswered
//   RoutingRequested of the conversation (and routingType) — `answered <routingEventId>`. One that
//   finds no open request comes for a request already answered or timed out; the reference is
//   silent, so the org does what a server plausibly does with a result for nothing in progress:
//   it accepts it (202) and changes nothing (`applied: 'none'`). Strict where it matters: a repeat
//   that lands while another request of the conversation is open answers *that* one — no server
//   could tell it from a real report — and a test sees it as the step applied twice.
// - POST /interactions: an end user's open conversation is reused (`existing`), so a repeat starts
//   no second conversation — the message itself would be posted again.
import { randomUUID } from 'node:crypto';
import type { RoutingType } from '../domain/enums.js';
import { InteractionApiError } from '../domain/errors.js';
import type { AgentWorkEvent, PlatformEvent } from '../domain/events.js';
import type {
  AgentWorkRequest,
  AgentWorkResponse,
  CallContext,
  ClearRouteRequest,
  ConsentRequest,
  InteractionRequest,
  InteractionResponse,
  InteractionService,
  MessagingSessionRequest,
  ParticipantRequest,
  PatchAgentWorkRequest,
  RouteRequest,
  RouteResponse,
  RoutingResultRequest,
} from '../domain/ports.js';
import { participantChanged, routingRequested, routingResult, sessionStatusChanged, type ConversationRef, type RequestTarget } from './payloads.js';

export type RepBehaviour = 'accept' | 'decline' | 'ignore';

export interface SandboxRep {
  userId: string;
  name: string;
  behaviour: RepBehaviour;
  /** How long the rep takes to answer an offer. */
  answerAfterMs?: number;
}

export interface OrgRecord {
  at: number;
  endpoint: string;
  body: unknown;
  result: 'ok' | string;
  key?: string;
  /** What the call changed, for calls whose repeat is not obviously harmless (see the header). */
  applied?: string;
}

interface AgentWork {
  workId: string;
  userId: string;
  /** routingContext.routingCorrelationId of the request that made it, when sent. */
  correlationId?: string;
  status: 'Assigned' | 'Accepted' | 'Declined' | 'Cancelled' | 'Closed';
  timer?: NodeJS.Timeout;
}

interface Conversation extends ConversationRef {
  workItemId: string;
  participants: Set<string>;
  psr?: { psrId: string; routingType: RoutingType };
  works: Map<string, AgentWork>;
  ended: boolean;
}

interface PendingRequest {
  routingEventId: string;
  conversationIdentifier: string;
  routingType: RoutingType;
  at: number;
  reported: number;
  timer: NodeJS.Timeout;
  timedOut: boolean;
  lateReports: number;
}

export interface SandboxOrgOptions {
  /** Where the org publishes platform events (the Pub/Sub stream, or the switchboard's ingest). */
  publish: (event: PlatformEvent) => void;
  /** Where the connector relays onAgentWorkEvent (the switchboard's agentWork). */
  relay: (event: AgentWorkEvent) => void;
  reps: SandboxRep[];
  /** Salesforce's routing window. Default 60 s. */
  routingTimeoutMs?: number;
  /** A flow's choice: the rep it routes to, or undefined to fall back to the queue. */
  flowChooses?: (flowId: string) => string | undefined;
  /** Event delivery delay, so events arrive after the call that caused them, as over the network. */
  eventDelayMs?: number;
  /**
   * The channel addresses of the ConversationChannelDefinition the AuthorizationContext names. When
   * given, POST /interactions to another address is refused (10001) and so is PATCH /consent for one
   * (10069), as Salesforce does; without it any address is taken.
   */
  channelAddresses?: string[];
}

function sfid(prefix: string, n: number): string {
  return (prefix + n.toString(36).toUpperCase().padStart(12, '0')).slice(0, 15);
}

function apiError(endpoint: string, apiCode: number, message: string): InteractionApiError {
  const kind = [10019, 10055, 10056, 10094, 500].includes(apiCode) ? 'retryable' : [10075, 10076, 10077].includes(apiCode) ? 'capability' : apiCode === 15109 ? 'already-done' : 'terminal';
  return new InteractionApiError(`${apiCode}: ${message}`, { kind, endpoint, apiCode });
}

export class SandboxOrg implements InteractionService {
  readonly records: OrgRecord[] = [];
  readonly conversations = new Map<string, Conversation>();
  /** RoutingRequested events by eventId, with what the partner reported for them. */
  readonly requests = new Map<string, PendingRequest>();
  readonly #reps = new Map<string, SandboxRep>();
  /** The latest consent status PATCH /consent set, by end user. */
  readonly #consent = new Map<string, string>();
  readonly #opts: Required<Omit<SandboxOrgOptions, 'flowChooses' | 'channelAddresses'>> & Pick<SandboxOrgOptions, 'flowChooses' | 'channelAddresses'>;
  #seq = 0;
  #timers = new Set<NodeJS.Timeout>();

  constructor(options: SandboxOrgOptions) {
    this.#opts = { routingTimeoutMs: 60_000, eventDelayMs: 1, ...options };
    for (const rep of options.reps) this.#reps.set(rep.userId, rep);
  }

  setBehaviour(userId: string, behaviour: RepBehaviour): void {
    const rep = this.#reps.get(userId);
    if (rep) rep.behaviour = behaviour;
  }

  /** Stop every timer: reps' answers and routing timeouts. */
  close(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const r of this.requests.values()) clearTimeout(r.timer);
  }

  #later(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
    return t;
  }

  #emit(event: PlatformEvent): void {
    this.#later(this.#opts.eventDelayMs, () => this.#opts.publish(event));
  }

  #record<T>(endpoint: string, body: unknown, ctx: CallContext | undefined, run: (rec: OrgRecord) => T): Promise<T> {
    const rec: OrgRecord = { at: Date.now(), endpoint, body: structuredClone(body), result: 'ok', ...(ctx ? { key: ctx.key } : {}) };
    this.records.push(rec);
    try {
      return Promise.resolve(run(rec));
    } catch (err) {
      rec.result = err instanceof Error ? err.message : String(err);
      return Promise.reject(err);
    }
  }

  #conversation(endpoint: string, id: string): Conversation {
    const conv = this.conversations.get(id);
    if (!conv) throw apiError(endpoint, 10025, 'unknown conversation id');
    return conv;
  }

  // ---- the Salesforce side, scripted ----

  /** A rep clicks Transfer or Conference: Salesforce publishes RoutingRequested and starts its 60-s timer. */
  requestRouting(conversationIdentifier: string, routingType: RoutingType, target: RequestTarget): string {
    const conv = this.#conversation('RoutingRequested', conversationIdentifier);
    const event = routingRequested(conv, routingType, target, { workRecordId: null });
    const pending: PendingRequest = {
      routingEventId: event.routingEventId,
      conversationIdentifier,
      routingType,
      at: Date.now(),
      reported: 0,
      timedOut: false,
      lateReports: 0,
      timer: this.#later(this.#opts.routingTimeoutMs, () => {
        if (pending.reported > 0) return;
        pending.timedOut = true;
        // Salesforce gives up and tells the partner with a RoutingResult of its own.
        this.#emit(routingResult(conv, routingType, 'RoutingError', {}));
      }),
    };
    this.requests.set(event.routingEventId, pending);
    this.#emit(event);
    return event.routingEventId;
  }

  /** The requesting rep cancels: Salesforce publishes RoutingResult Cancelled / Cancel. */
  cancelRouting(routingEventId: string, workOwnerId?: string): void {
    const req = this.requests.get(routingEventId);
    if (!req) return;
    const conv = this.#conversation('RoutingResult', req.conversationIdentifier);
    this.#emit(routingResult(conv, req.routingType, 'Cancelled', { cancelReason: 'Cancel', ...(workOwnerId ? { workOwnerId } : {}) }));
  }

  repLeaves(conversationIdentifier: string, userId: string): void {
    const conv = this.#conversation('ParticipantChanged', conversationIdentifier);
    if (!conv.participants.delete(userId)) return;
    for (const w of conv.works.values()) if (w.userId === userId && w.status === 'Accepted') w.status = 'Closed';
    this.#emit(participantChanged(conv, [{ operation: 'remove', userId }]));
  }

  endUserLeaves(conversationIdentifier: string): void {
    const conv = this.#conversation('SessionStatusChanged', conversationIdentifier);
    conv.ended = true;
    const reps = [...conv.participants];
    conv.participants.clear();
    if (reps.length) this.#emit(participantChanged(conv, reps.map((userId) => ({ operation: 'remove' as const, userId }))));
    this.#emit(sessionStatusChanged(conv, conv.workItemId + 'AAA', 'Ended', 'Active'));
  }

  // ---- checks over what the partner did (DESIGN §3) ----

  /** PSRs still open, AgentWorks still offered, and requests without exactly one timely routingResult. */
  audit(): { openPsrs: string[]; offeredWork: string[]; unreported: string[]; reportedTwice: string[]; late: string[] } {
    const openPsrs: string[] = [];
    const offeredWork: string[] = [];
    for (const c of this.conversations.values()) {
      if (c.psr) openPsrs.push(`${c.conversationIdentifier}:${c.psr.psrId}`);
      for (const w of c.works.values()) if (w.status === 'Assigned') offeredWork.push(`${c.conversationIdentifier}:${w.workId}`);
    }
    const unreported: string[] = [];
    const reportedTwice: string[] = [];
    const late: string[] = [];
    for (const [id, r] of this.requests) {
      if (r.reported === 0) unreported.push(id);
      if (r.reported > 1) reportedTwice.push(id);
      if (r.lateReports > 0) late.push(id);
    }
    return { openPsrs, offeredWork, unreported, reportedTwice, late };
  }

  #channelKnown(address: string): boolean {
    return this.#opts.channelAddresses === undefined || this.#opts.channelAddresses.includes(address);
  }

  // ---- the Interaction Service ----

  postInteraction(req: InteractionRequest, ctx: CallContext): Promise<InteractionResponse> {
    return this.#record('POST /interactions', req, ctx, (rec) => {
      if (!req.to || req.to.length > 240) throw apiError('POST /interactions', 10027, 'invalid to');
      if (!this.#channelKnown(req.to)) throw apiError('POST /interactions', 10001, 'the AuthorizationContext is not valid for this channel address');
      if (!req.from || req.from.length > 255) throw apiError('POST /interactions', 10028, 'invalid from');
      const existing = [...this.conversations.values()].find((c) => !c.ended && c.channelAddressIdentifier === req.to && c.endUserClientId === req.from);
      if (existing) {
        rec.applied = 'existing';
        return { conversationIdentifier: existing.conversationIdentifier, workItemIds: [existing.workItemId] };
      }
      rec.applied = 'created';
      const conv: Conversation = {
        conversationIdentifier: randomUUID(),
        channelAddressIdentifier: req.to,
        endUserClientId: req.from,
        workItemId: sfid('0Mw', ++this.#seq),
        participants: new Set(),
        works: new Map(),
        ended: false,
      };
      this.conversations.set(conv.conversationIdentifier, conv);
      this.#emit(sessionStatusChanged(conv, conv.workItemId + 'AAA', 'Active', 'New'));
      return { conversationIdentifier: conv.conversationIdentifier, workItemIds: [conv.workItemId] };
    });
  }

  patchConsent(req: ConsentRequest, ctx: CallContext): Promise<void> {
    return this.#record('PATCH /consent', req, ctx, () => {
      if (!this.#channelKnown(req.channelAddressIdentifier)) throw apiError('PATCH /consent', 10069, 'not a channel address of this authorization context');
      this.#consent.set(req.endUserClientId, req.consentStatus);
    });
  }

  createRoute(req: RouteRequest, ctx: CallContext): Promise<RouteResponse> {
    return this.#record('POST /route', req, ctx, (rec) => {
      const conv = this.#conversation('POST /route', req.conversationIdentifier);
      const info = req.routingInfo;
      if (info && 'flow' in info && (!info.flow.flowId || !info.flow.queueId)) throw apiError('POST /route', 10024, 'flow routing needs flowId and fallback queueId');
      const psrId = conv.psr?.psrId ?? sfid('0JR', ++this.#seq);
      rec.applied = conv.psr ? `retargeted ${psrId}` : `created ${psrId}`;
      conv.psr = { psrId, routingType: req.routingType };
      const res: RouteResponse = { psrId, workItemId: conv.workItemId, routingCorrelationId: randomUUID() };
      if (info && 'flow' in info) {
        const userId = this.#opts.flowChooses?.(info.flow.flowId);
        res.contextParamMap = userId ? { userId } : { queueId: info.flow.queueId };
      }
      return res;
    });
  }

  clearRoute(req: ClearRouteRequest, ctx: CallContext): Promise<void> {
    return this.#record('DELETE /route', req, ctx, (rec) => {
      const conv = this.#conversation('DELETE /route', req.conversationIdentifier);
      rec.applied = conv.psr ? `removed ${conv.psr.psrId}` : 'none';
      delete conv.psr;
    });
  }

  createAgentWork(req: AgentWorkRequest, ctx: CallContext): Promise<AgentWorkResponse> {
    return this.#record('POST /agentWork', req, ctx, (rec) => {
      if (req.workItemId.length !== 15) throw apiError('POST /agentWork', 15110, 'invalid workItemId');
      const conv = [...this.conversations.values()].find((c) => c.workItemId === req.workItemId);
      if (!conv) throw apiError('POST /agentWork', 15111, 'unknown workItemId');
      const rep = this.#reps.get(req.userId);
      if (!rep) throw apiError('POST /agentWork', 15106, 'invalid userId');
      if (req.routingContext && req.routingContext.conversationIdentifier !== conv.conversationIdentifier) {
        throw apiError('POST /agentWork', 15107, 'conversationId does not match the workItemId');
      }
      // Work for an end user who opted out (PATCH /consent OptedOut) is refused: the documented
      // "not fully opted in" precondition (15103), whose triggering call is not named (reference §1.5).
      if (conv.endUserClientId !== undefined && this.#consent.get(conv.endUserClientId) === 'OptedOut') {
        throw apiError('POST /agentWork', 15103, 'the Messaging End User is not fully opted in');
      }
      for (const w of conv.works.values()) {
        if (w.userId === req.userId && (w.status === 'Assigned' || w.status === 'Accepted')) throw apiError('POST /agentWork', 15109, 'an active AgentWork already exists');
      }
      const correlationId = req.routingContext?.routingCorrelationId;
      const work: AgentWork = { workId: sfid('0Bz', ++this.#seq), userId: req.userId, status: 'Assigned', ...(correlationId ? { correlationId } : {}) };
      // Two live offers for one request are legal to Salesforce (the first rep can still accept, and
      // both join, DOC-agentWork-patch) but never what a partner wants: noted for tests to check.
      const alsoLive = correlationId ? [...conv.works.values()].filter((w) => w.correlationId === correlationId && w.status === 'Assigned').map((w) => w.workId) : [];
      conv.works.set(work.workId, work);
      rec.applied = `created ${work.workId}${alsoLive.length ? ` while ${alsoLive.join(', ')} live for the same request` : ''}`;
      this.#later(this.#opts.eventDelayMs, () => this.#opts.relay({ workId: work.workId, workItemId: conv.workItemId, workEvent: 'ASSIGNED' }));
      if (rep.behaviour !== 'ignore') {
        work.timer = this.#later(rep.answerAfterMs ?? 500, () => this.#answer(conv, work, rep.behaviour === 'accept'));
      }
      return { agentWorkId: work.workId, existPsr: conv.psr !== undefined };
    });
  }

  #answer(conv: Conversation, work: AgentWork, accept: boolean): void {
    if (work.status !== 'Assigned' || conv.ended) return;
    work.status = accept ? 'Accepted' : 'Declined';
    this.#opts.relay({ workId: work.workId, workItemId: conv.workItemId, workEvent: accept ? 'ACCEPTED' : 'DECLINED' });
    if (accept) {
      // Salesforce deletes the PSR once a rep accepts.
      delete conv.psr;
      conv.participants.add(work.userId);
      this.#emit(participantChanged(conv, [{ operation: 'add', userId: work.userId, displayName: this.#reps.get(work.userId)?.name }]));
    }
  }

  patchAgentWork(req: PatchAgentWorkRequest, ctx: CallContext): Promise<void> {
    return this.#record('PATCH /agentWork', req, ctx, (rec) => {
      const found = [...this.conversations.values()].map((c) => [c, c.works.get(req.workId)] as const).find(([, w]) => w);
      if (!found) throw apiError('PATCH /agentWork', 10082, 'invalid workId');
      const [, work] = found;
      if (req.status === 'Cancel') {
        if (work!.status !== 'Assigned') throw apiError('PATCH /agentWork', 10085, 'the AgentWork is not in a state that can be cancelled');
        clearTimeout(work!.timer);
        work!.status = 'Cancelled';
        rec.applied = `cancelled ${req.workId}`;
      } else if (req.status === 'Close') work!.status = 'Closed';
    });
  }

  reportRoutingResult(req: RoutingResultRequest, ctx: CallContext): Promise<void> {
    return this.#record('POST /routingResult', req, ctx, (rec) => {
      if (req.success && req.errorMessage !== undefined) throw apiError('POST /routingResult', 10033, 'errorMessage must be absent when success is true');
      if (!req.success && !req.errorMessage) throw apiError('POST /routingResult', 10034, 'errorMessage is required when success is false');
      const conv = this.#conversation('POST /routingResult', req.conversationIdentifier);
      if (req.workItemId !== conv.workItemId) throw apiError('POST /routingResult', 15107, 'conversationId does not match the workItemId');
      // The request this answers: the oldest of this conversation and type still unanswered.
      const pending = [...this.requests.values()].filter((r) => r.conversationIdentifier === req.conversationIdentifier && (!req.routingType || r.routingType === req.routingType));
      const open = pending.find((r) => r.reported === 0);
      rec.applied = open ? `answered ${open.routingEventId}` : 'none';
      if (open) {
        open.reported += 1;
        if (Date.now() - open.at > this.#opts.routingTimeoutMs || open.timedOut) open.lateReports += 1;
        clearTimeout(open.timer);
      }
    });
  }

  removeParticipant(req: ParticipantRequest, ctx: CallContext): Promise<void> {
    return this.#record('POST /participant', req, ctx, () => this.repLeaves(req.conversationIdentifier, req.participants[0].subject));
  }

  updateMessagingSession(req: MessagingSessionRequest, ctx: CallContext): Promise<void> {
    return this.#record('POST /messagingSession', req, ctx, () => {
      if (req.operation === 'End') this.endUserLeaves(req.conversationIdentifier);
    });
  }
}
