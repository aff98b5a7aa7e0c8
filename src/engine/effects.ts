// The step runner: every call the machines ask for leaves through here. It gives each Interaction
// Service step a RequestId derived from its step key (so a step repeated after a crash carries the
// same one), runs it through the effect journal when there is a store, keeps the window or the
// clean-up budget as its deadline, tracks it for settled() and stop(), logs its outcome, and marks
// its session for the next commit. The routing actors' calls and timers are driven from here by
// src/engine/routing-driver.ts (DESIGN §1).
import type { Logger } from 'pino';
import { DeadlineExceededError, describeError, mayHaveBeenApplied, StoppedError } from '../domain/errors.js';
import { stableRequestId } from '../domain/ids.js';
import { conversationOfKey, routingOfKey, stepKey } from '../domain/step-key.js';
import type { AgentWorkRequest, AgentWorkResponse, CallContext, ClearRouteRequest, InteractionService, PickRep, RouteExternally, RoutingResultRequest } from '../domain/ports.js';
import { CLEANUP_BUDGET_MS, type EffectInput } from '../machines/routing.js';
import type { AnyActorRef } from 'xstate';
import type { InDoubt, Persistence } from '../persistence.js';
import { RoutingDriver } from './routing-driver.js';
import { Timers } from './timers.js';

/** See offer(): how long after its window the chart is told a POST /agentWork got no answer. */
const GIVE_UP_AFTER_DEADLINE_MS = 5;
/** The name of an offer's give-up entry in the engine's timer (keyed by its step key). */
const GIVE_UP = 'give-up';

/** See clearRoute(): how often a clear in doubt looks whether the other routes of its conversation are closed. */
const CLEAR_WAIT_POLL_MS = 200;

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

/** What the in-doubt rules read of a routing request: a live child's context, or a saved one. */
export type RoutingView = { routingId?: string; deadlineAt?: number; routeOpen?: boolean; failure?: unknown } | undefined;

export interface StepRunnerOptions {
  api: InteractionService;
  persistence?: Persistence | undefined;
  log: Logger;
  /** The partner's ACD (or the directory's picker). */
  pickRep: PickRep;
  routeExternally?: RouteExternally | undefined;
  /** Whether a session is live: the answer to its call marks it for the next commit. */
  isLive: (conversationIdentifier: string) => boolean;
  /** What the routing children of a live session hold (their contexts), for steps left in doubt. */
  routingsOf?: ((conversationIdentifier: string) => RoutingView[]) | undefined;
  /** The engine's timer (one is made if none is given). */
  timers?: Timers | undefined;
  /**
   * Whether this engine may still call for its org, asked right before each attempt leaves (a
   * fleet: the lease is still valid on this host's clock). Once halted, nothing leaves anyway.
   */
  stillOwner?: (() => boolean) | undefined;
  /** Told of every call's end: what, how long, its error if it failed, and its window's end. */
  onCall?: ((what: string, ms: number, err: unknown, windowEnd?: number) => void) | undefined;
}

export class StepRunner {
  readonly #api: InteractionService;
  /** The Interaction Service port the steps go to. */
  get api(): InteractionService {
    return this.#api;
  }
  readonly #persistence: Persistence | undefined;
  readonly #log: Logger;
  readonly #isLive: (conversationIdentifier: string) => boolean;
  readonly #onCall: StepRunnerOptions['onCall'];
  readonly #routingsOf: (conversationIdentifier: string) => RoutingView[];
  readonly #inFlight = new Set<Promise<unknown>>();
  /** AgentWorks created by a POST /agentWork answered after its window, and cancelled then. */
  abandonedOffersCancelled = 0;
  #halted = false;
  /** The last PSR step of each conversation with one in flight (see #inPsrOrder). */
  readonly #psrSteps = new Map<string, Promise<void>>();
  /** Drives the routing actors: their calls, answers, timers and resumption. */
  readonly #driver: RoutingDriver;
  /** See CallContext.mayProceed: false once halted, no longer the org's owner, or the store's last commit begun. */
  readonly #mayProceed: () => boolean;
  /** #mayProceed without the store: for the one call sent unjournaled while closing (#cancelAbandonedOffer). */
  readonly #ownerCheck: () => boolean;

  /**
   * True once the store's last commit has begun (a graceful stop past its drain) or nothing more is
   * committed: a step refused now (StoppedError, FencedError) was not sent, and its routing must
   * stay in the state that issues it, so the next start sends it. See RoutingDriver.
   */
  get closing(): boolean {
    return this.#persistence?.closing ?? false;
  }

  /** The last-moment check every Interaction call of this engine carries (CallContext.mayProceed). */
  get mayProceed(): () => boolean {
    return this.#mayProceed;
  }
  constructor(options: StepRunnerOptions) {
    this.#api = options.api;
    this.#persistence = options.persistence;
    this.#log = options.log;
    this.#isLive = options.isLive;
    this.#onCall = options.onCall;
    this.#routingsOf = options.routingsOf ?? (() => []);
    const stillOwner = options.stillOwner;
    this.#ownerCheck = stillOwner ? () => !this.#halted && stillOwner() : () => !this.#halted;
    // Asked again by the client right before each attempt leaves (in the rate limiter's queue, on
    // every retry): nothing leaves once the store's last commit has begun either.
    this.#mayProceed = () => !this.closing && this.#ownerCheck();
    this.#driver = new RoutingDriver(this, { pickRep: options.pickRep, routeExternally: options.routeExternally, timers: options.timers ?? new Timers() });
  }

  /** The routing machine with every call and timer provided (src/engine/routing-driver.ts). */
  get routing() {
    return this.#driver.routing;
  }

  /** The session machine with its routing children and its refusals' routingResults provided. */
  get session() {
    return this.#driver.session;
  }

  /** See RoutingDriver.resumeRefusals. */
  resumeRefusals(session: AnyActorRef): void {
    this.#driver.resumeRefusals(session);
  }

  /** Every routing deadline, offer timeout, repick and answer grace of this engine. */
  get timers(): Timers {
    return this.#driver.timers;
  }

  /** See RoutingDriver.resume. */
  resume(ref: AnyActorRef, afterRestart = true): void {
    this.#driver.resume(ref, afterRestart);
  }

  /** See RoutingDriver.wakeAt. */
  wakeAt(ref: AnyActorRef): number | undefined {
    return this.#driver.wakeAt(ref);
  }

  /**
   * DELETE /route. Its body names no PSR: it clears whatever PSR the conversation has. A first
   * attempt a crash left in doubt is repeated — but not while another routing of the conversation
   * has a route open and is still routing, since that PSR may be the other one's (created after the
   * first attempt landed). It waits for those to finish, then repeats: by then each of them has
   * cleared its PSR or had it deleted by an acceptance, so what the repeat can clear is this
   * routing's own PSR — which must not be left open. (Not repeating at all left it open whenever the
   * other routing's rep had accepted before this routing's POST /route re-created the PSR: that
   * acceptance deleted the old PSR, not this one.) A routing whose route opens after the wait — its
   * event arrived from the stream after the restore — is checked for again right before the repeat
   * leaves: its POST /route came after the first attempt, so the PSR is its now (re-targeted or new),
   * and the repeat is taken as done rather than clear it.
   */
  clearRoute(input: EffectInput<ClearRouteRequest>): Promise<void> {
    const { key, request, deadlineAt } = input;
    // Without a store nothing is ever in doubt from a crash: sent at once, not a turn later.
    if (!this.#persistence) return this.sendStep('DELETE /route', key, 'finish', 'repeat', deadlineAt, (ctx) => this.#api.clearRoute(request, ctx));
    // Not held for settled() while it waits for other routes (a drain would wait its whole budget
    // for a rep's answer): one that goes on after the drain is refused by the closing journal.
    return this.#untilOnlyRouteOpen(key).then((repeat) => {
      if (!repeat) return this.sendStep('DELETE /route', key, 'finish', 'repeat', deadlineAt, (ctx) => this.#api.clearRoute(request, ctx));
      const others = () => this.#otherOpenRoutes(key);
      return this.sendStep('DELETE /route', key, 'finish', 'repeat', deadlineAt, (ctx) =>
        this.#api.clearRoute(request, { ...ctx, mayProceed: () => ctx.mayProceed?.() !== false && others() === 0 }),
      ).catch((err: unknown) => {
        if (!(err instanceof StoppedError) || this.#halted || this.closing || others() === 0) throw err;
        this.#log.info({ key }, 'a clear in doubt taken as done: another routing of its conversation opened a route since (the PSR is its now)');
      });
    });
  }

  /** Other routings of the step's conversation with a route open that go on routing (a failing one clears its own at its end). */
  #otherOpenRoutes(key: string): number {
    const routingId = routingOfKey(key);
    return this.#routingsOf(conversationOfKey(key)).filter((c) => c && c.routingId !== routingId && c.routeOpen && c.failure === undefined).length;
  }

  /**
   * See clearRoute(): whether the step repeats a first attempt a crash left in doubt; if so, it
   * resolves once no other routing of the conversation with a route open goes on routing.
   */
  async #untilOnlyRouteOpen(key: string): Promise<boolean> {
    if (!this.#persistence || (await this.#persistence.stepState(key)) !== 'started') return false;
    const routingId = routingOfKey(key);
    // Only routings that go on routing: one that is failing (its failure named) clears its own route
    // at its end — waiting for it would deadlock two clears in doubt in one conversation.
    if (!this.#otherOpenRoutes(key)) return true;
    this.#log.info({ key }, 'a clear in doubt waits for the other open routes of its conversation before it is repeated');
    for (;;) {
      await new Promise<void>((res) => setTimeout(res, CLEAR_WAIT_POLL_MS).unref?.());
      // The routing itself is gone (its session stopped or ended): its restored self decides again.
      if (this.#halted || !this.#routingsOf(conversationOfKey(key)).some((c) => c?.routingId === routingId)) throw new StoppedError();
      if (!this.#otherOpenRoutes(key)) return true;
    }
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
  async reportInDoubt(key: string, routings?: RoutingView[]): Promise<InDoubt> {
    if (!this.#persistence || (await this.#persistence.stepState(key)) !== 'started') return 'repeat';
    const routingId = routingOfKey(key);
    const own = (routings ?? this.#routingsOf(conversationOfKey(key))).find((c) => c?.routingId === routingId);
    return !own || own.deadlineAt === undefined || Date.now() >= own.deadlineAt ? 'assume-done' : 'repeat';
  }

  /** POST /routingResult, repeated or taken as done when a crash left its first attempt in doubt (reportInDoubt). */
  report(input: EffectInput<RoutingResultRequest>, own?: RoutingView): Promise<void> {
    const { key, deadlineAt, request } = input;
    const send = (inDoubt: InDoubt) => this.sendStep('POST /routingResult', key, 'finish', inDoubt, deadlineAt, (ctx) => this.#api.reportRoutingResult(request, ctx));
    // Without a store nothing is ever in doubt from a crash: sent at once, not a turn later. A
    // request refused at once has no routing child to read its deadline from: it names itself. The
    // journal look-up is held for settled() too: a drain that ended while it ran would commit and
    // close with the report about to leave (see Persistence's #closing).
    return this.#persistence ? this.#holdUntilSettled(this.reportInDoubt(key, own ? [own] : undefined).then(send)) : send('repeat');
  }

  /**
   * No step is sent from now on, even one whose write-ahead record is already committed: the engine
   * was halted because another host owns its org (or may, after a pause), and that host repeats the
   * step itself with the same RequestId.
   */
  halt(): void {
    this.#halted = true;
    this.timers.stop();
  }

  /** Calls and rep picks in flight. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Resolves once no call or rep pick is in flight (those an answer starts included). */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /** Wraps a port call: tracks it for settled()/stop() and logs its outcome with its step key. */
  track<T>(what: string, key: string, run: () => Promise<T> | T, windowEnd?: number): Promise<T> {
    const started = Date.now();
    // Callbacks passed inline, not named locals: this runs for every call, and each named closure
    // is one more allocation (and, under tsx, one more __name call).
    const p = startNow(run).then(
      (value) => {
        this.#settled(what, key, started, undefined, windowEnd);
        return value;
      },
      (err: unknown) => {
        this.#settled(what, key, started, err, windowEnd);
        throw err;
      },
    );
    return this.#holdUntilSettled(p);
  }

  /**
   * A call's end: marks its session for the next commit, logs it and tells onCall. Step keys start
   * with the conversation. A routing child's transitions do not reach the session actor's
   * observers, so the answer to its call is what marks the session for the next commit. (POST
   * /interactions runs before its conversation has a session: nothing to mark.)
   */
  #settled(what: string, key: string, started: number, err: unknown, windowEnd: number | undefined): void {
    if (this.#persistence) {
      const conversationIdentifier = conversationOfKey(key);
      if (this.#isLive(conversationIdentifier)) this.#persistence.markDirty(conversationIdentifier);
    }
    const ms = Date.now() - started;
    if (err === undefined) this.#log.debug({ call: what, key, ms }, 'call ok');
    else this.#log.warn({ call: what, key, ms, error: describeError(err) }, 'call failed');
    this.#onCall?.(what, ms, err, windowEnd);
  }

  /**
   * Holds `p` in the in-flight set until it settles. Registered before the machine's own answer
   * handler, so a call the answer starts is in the set before settled() looks again.
   */
  #holdUntilSettled<T>(p: Promise<T>): Promise<T> {
    this.#inFlight.add(p);
    p.then(
      () => this.#inFlight.delete(p),
      () => this.#inFlight.delete(p),
    );
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
  sendStep<O>(what: string, key: string, priority: CallContext['priority'], inDoubt: InDoubt, windowEnd: number, send: (ctx: CallContext) => Promise<O>): Promise<O> {
    return this.track(
      what,
      key,
      () => (what === 'POST /route' || what === 'DELETE /route' ? this.#inPsrOrder(conversationOfKey(key), () => this.#journaled(key, priority, inDoubt, windowEnd, send)) : this.#journaled(key, priority, inDoubt, windowEnd, send)),
      windowEnd,
    );
  }

  /** A step through the effect journal when there is a store (which says whether it repeats a first attempt), else sent as a first attempt. */
  #journaled<O>(key: string, priority: CallContext['priority'], inDoubt: InDoubt, windowEnd: number, send: (ctx: CallContext) => Promise<O>): Promise<O> {
    if (!this.#persistence) return this.#attempt(key, priority, windowEnd, send, false);
    return this.#persistence.journaled(key, inDoubt, (repeat) => this.#attempt(key, priority, windowEnd, send, repeat));
  }

  #attempt<O>(key: string, priority: CallContext['priority'], windowEnd: number, send: (ctx: CallContext) => Promise<O>, repeat: boolean): Promise<O> {
    // Nor once the store's last commit has begun (a graceful stop past its drain): a step whose
    // write-ahead record rode that commit is the next owner's to send, once.
    if (this.#halted || this.closing) return Promise.reject(new StoppedError());
    const deadlineAt = priority === 'finish' || repeat ? Math.max(windowEnd, Date.now() + CLEANUP_BUDGET_MS) : windowEnd;
    return send({ key, deadlineAt, priority, requestId: stableRequestId(key), mayProceed: this.#mayProceed });
  }

  /**
   * Runs a conversation's PSR steps (POST /route, DELETE /route) one at a time. Neither names a PSR:
   * Salesforce keeps one per conversation, a route re-targets it and a clear removes whatever is
   * there. Two routings of one conversation with both in flight at once, the org may apply them in
   * either order — a clear meant for the old PSR then removes the one the other routing just made.
   * In order, each sees what the one before did (and a clear's last-moment check sees the routing
   * queued behind it).
   */
  #inPsrOrder<T>(conversationIdentifier: string, step: () => Promise<T>): Promise<T> {
    const before = this.#psrSteps.get(conversationIdentifier);
    const run = before ? before.then(step) : step();
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.#psrSteps.set(conversationIdentifier, settled);
    void settled.then(() => {
      if (this.#psrSteps.get(conversationIdentifier) === settled) this.#psrSteps.delete(conversationIdentifier);
    });
    return run;
  }

  /**
   * POST /agentWork: the one step whose abandonment leaves something behind — an AgentWork offered
   * to a rep. An answer that never came (a timeout, a reset, a 5xx) is asked again with the same
   * RequestId, as after a crash: it may name the AgentWork the first attempt created. The chart
   * waits only until its window closes (its routingResult must land in time); the call itself is
   * awaited past that, and an AgentWork it turns out to have created after the chart gave up on it
   * is cancelled here, since the chart no longer knows of it.
   */
  offer(input: EffectInput<AgentWorkRequest>): Promise<AgentWorkResponse> {
    const { key, request, deadlineAt: windowEnd } = input;
    const attempt = (priority: CallContext['priority']) =>
      this.sendStep('POST /agentWork', key, priority, 'repeat', windowEnd, (ctx) =>
        this.#api.createAgentWork(request, { ...ctx, answerBy: Math.max(ctx.deadlineAt ?? windowEnd, Date.now() + CLEANUP_BUDGET_MS) }),
      );
    // The second try is clean-up work: it gets the clean-up budget and the finishing priority.
    const answered = attempt('start').catch((err: unknown) => (mayHaveBeenApplied(err) ? attempt('finish') : Promise.reject(err)));
    if (Date.now() >= windowEnd) return answered; // restored after its window: the clean-up path waits for it
    let gaveUp = false;
    answered.then(
      (out) => {
        if (gaveUp) this.#cancelAbandonedOffer(key, request, out);
      },
      (err: unknown) => {
        if (gaveUp) this.#log.error({ key, userId: request.userId, error: describeError(err) }, 'POST /agentWork got no answer even after the routing window: an AgentWork it may have created cannot be cancelled');
      },
    );
    const forTheChart = new Promise<AgentWorkResponse>((resolve, reject) => {
      // A few ms after the window: the chart's own deadline timer, due at the same time, fires
      // first and names the outcome (timedOut), rather than this call's failure. An entry in the
      // engine's one timer, not a setTimeout of its own: one per offer, nearly all disarmed.
      this.timers.call(key, GIVE_UP, windowEnd + GIVE_UP_AFTER_DEADLINE_MS, () => {
        gaveUp = true;
        reject(new DeadlineExceededError('POST /agentWork (no answer inside the window; an AgentWork it created will be cancelled)', { inFlight: true }));
      });
      answered.then(
        (out) => {
          this.timers.disarm(key, GIVE_UP);
          if (!gaveUp) resolve(out);
        },
        (err: unknown) => {
          this.timers.disarm(key, GIVE_UP);
          if (!gaveUp) reject(err);
        },
      );
    });
    return this.#holdUntilSettled(forTheChart);
  }

  #cancelAbandonedOffer(offerKey: string, request: AgentWorkRequest, out: AgentWorkResponse | undefined): void {
    const workId = out?.agentWorkId;
    if (!workId) {
      this.#log.error({ key: offerKey, userId: request.userId, workItemId: request.workItemId }, 'POST /agentWork answered after the routing window without an AgentWork id (15109): the offer cannot be cancelled by id');
      return;
    }
    this.#log.warn({ key: offerKey, workId, userId: request.userId }, 'POST /agentWork answered after its request was reported failed: cancelling the AgentWork it created');
    this.abandonedOffersCancelled += 1;
    // The chart's own cancel step key for this AgentWork, so the journal never lets both go out.
    const cancelKey = stepKey(conversationOfKey(offerKey), routingOfKey(offerKey)!, `cancel:${workId}`);
    const cancel = { workId, contextType: 'Agent' as const, status: 'Cancel' as const };
    const sent = this.closing
      ? // The store's last commit has begun: no journal any more, and no restored chart knows this
        // AgentWork, so nobody else would cancel it. Sent unjournaled: a repeat is refused (10085), harmless.
        this.track('PATCH /agentWork', cancelKey, () =>
          this.#api.patchAgentWork(cancel, { key: cancelKey, deadlineAt: Date.now() + CLEANUP_BUDGET_MS, priority: 'finish', requestId: stableRequestId(cancelKey), mayProceed: this.#ownerCheck }),
        )
      : this.sendStep('PATCH /agentWork', cancelKey, 'finish', 'repeat', Date.now(), (ctx) => this.#api.patchAgentWork(cancel, ctx));
    sent.catch(() => {
      // Logged by track(). Refused means the rep answered first: they join a request reported failed.
    });
  }
}
