// The step runner: every call the machines ask for leaves through here. It gives each Interaction
// Service step a RequestId derived from its step key (so a step repeated after a crash carries the
// same one), runs it through the effect journal when there is a store, keeps the window or the
// clean-up budget as its deadline, tracks it for settled() and stop(), logs its outcome, and marks
// its session for the next commit. It provides the routing machine's effects (DESIGN §1).
import type { Logger } from 'pino';
import { DeadlineExceededError, describeError, InteractionApiError, CircuitOpenError, NotProvidedError, StoppedError } from '../domain/errors.js';
import { stableRequestId } from '../domain/ids.js';
import type { AgentWorkRequest, AgentWorkResponse, CallContext, ExternalRouteRequest, InteractionService, PickRep, PickRepRequest, RouteExternally } from '../domain/ports.js';
import { fromEffect } from '../machines/effect.js';
import { CLEANUP_BUDGET_MS, routingMachine, type EffectInput } from '../machines/routing.js';
import type { InDoubt, Persistence } from '../persistence.js';

/** See offer(): how long after its window the chart is told a POST /agentWork got no answer. */
const GIVE_UP_AFTER_DEADLINE_MS = 5;

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

/**
 * Whether a failed call may still have been applied by Salesforce: it got no answer (a timeout, a
 * reset connection) or a 5xx. A 429, an open breaker or a 4xx was not applied.
 */
export function mayHaveBeenApplied(err: unknown): boolean {
  return err instanceof InteractionApiError && err.kind === 'retryable' && !(err instanceof CircuitOpenError) && err.status !== 429;
}

export interface StepRunnerOptions {
  api: InteractionService;
  persistence?: Persistence | undefined;
  log: Logger;
  /** The partner's ACD (or the directory's picker). */
  pickRep: PickRep;
  routeExternally?: RouteExternally | undefined;
  /** Whether a session is live: the answer to its call marks it for the next commit. */
  isLive: (conversationIdentifier: string) => boolean;
}

export class StepRunner {
  readonly #api: InteractionService;
  readonly #persistence: Persistence | undefined;
  readonly #log: Logger;
  readonly #isLive: (conversationIdentifier: string) => boolean;
  readonly #inFlight = new Set<Promise<unknown>>();
  /** AgentWorks created by a POST /agentWork answered after its window, and cancelled then. */
  abandonedOffersCancelled = 0;
  #halted = false;
  /** The routing machine with every effect provided by this runner. */
  readonly routing;

  constructor(options: StepRunnerOptions) {
    this.#api = options.api;
    this.#persistence = options.persistence;
    this.#log = options.log;
    this.#isLive = options.isLive;
    const api = this.#api;
    const { pickRep, routeExternally } = options;
    const call = <I, O>(what: string, priority: CallContext['priority'], inDoubt: InDoubt, fn: (req: I, ctx: CallContext) => Promise<O>) =>
      fromEffect<O, EffectInput<I>>((input) => this.sendStep(what, input.key, priority, inDoubt, input.deadlineAt, (ctx) => fn(input.request, ctx)));
    this.routing = routingMachine.provide({
      actors: {
        // A step whose fate is unknown after a crash is repeated with the same RequestId (derived from
        // its step key): a repeated consent, cancel or clear is harmless, a repeated AgentWork answers
        // 15109 (done), a repeated route re-targets the same PSR. A routingResult is repeated too: one
        // that never left (queued, backing off) would otherwise be lost, and a server that honours
        // RequestId answers a repeat of one that arrived without applying it twice.
        patchConsent: call('PATCH /consent', 'start', 'repeat', (r, c) => api.patchConsent(r, c)),
        createRoute: call('POST /route', 'start', 'repeat', (r, c) => api.createRoute(r, c)),
        createAgentWork: fromEffect((input: EffectInput<AgentWorkRequest>) => this.offer(input)),
        reportRoutingResult: call('POST /routingResult', 'finish', 'repeat', (r, c) => api.reportRoutingResult(r, c)),
        cancelAgentWork: call('PATCH /agentWork', 'finish', 'repeat', (r, c) => api.patchAgentWork(r, c)),
        clearRoute: call('DELETE /route', 'finish', 'repeat', (r, c) => api.clearRoute(r, c)),
        pickRep: fromEffect((input: PickRepRequest) => this.track('pickRep', `${input.conversationIdentifier}/pick`, () => pickRep(input))),
        routeExternally: fromEffect((input: ExternalRouteRequest) =>
          this.track('routeExternally', `${input.conversationIdentifier}/external`, () => {
            if (!routeExternally) throw new NotProvidedError('routeExternally (the external transfer handler)');
            return routeExternally(input);
          }),
        ),
      },
    });
  }

  /**
   * No step is sent from now on, even one whose write-ahead record is already committed: the engine
   * was halted because another host owns its org (or may, after a pause), and that host repeats the
   * step itself with the same RequestId.
   */
  halt(): void {
    this.#halted = true;
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
  track<T>(what: string, key: string, run: () => Promise<T> | T): Promise<T> {
    const started = Date.now();
    // Step keys start with the conversation. A routing child's transitions do not reach the session
    // actor's observers, so the answer to its call is what marks the session for the next commit.
    // (POST /interactions runs before its conversation has a session: nothing to mark.)
    const conversationIdentifier = key.slice(0, key.indexOf('/'));
    const settle = () => {
      if (this.#isLive(conversationIdentifier)) this.#persistence?.markDirty(conversationIdentifier);
    };
    const p = startNow(run).then(
      (value) => {
        settle();
        this.#log.debug({ call: what, key, ms: Date.now() - started }, 'call ok');
        return value;
      },
      (err: unknown) => {
        settle();
        this.#log.warn({ call: what, key, ms: Date.now() - started, error: describeError(err) }, 'call failed');
        throw err;
      },
    );
    return this.#holdUntilSettled(p);
  }

  /**
   * Holds `p` in the in-flight set until it settles. Registered before the machine's own answer
   * handler, so a call the answer starts is in the set before settled() looks again.
   */
  #holdUntilSettled<T>(p: Promise<T>): Promise<T> {
    this.#inFlight.add(p);
    const done = () => this.#inFlight.delete(p);
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
  sendStep<O>(what: string, key: string, priority: CallContext['priority'], inDoubt: InDoubt, windowEnd: number, send: (ctx: CallContext) => Promise<O>): Promise<O> {
    return this.track(what, key, () => {
      const go = (repeat: boolean) => {
        if (this.#halted) return Promise.reject(new StoppedError());
        const deadlineAt = priority === 'finish' || repeat ? Math.max(windowEnd, Date.now() + CLEANUP_BUDGET_MS) : windowEnd;
        return send({ key, deadlineAt, priority, requestId: stableRequestId(key) });
      };
      return this.#persistence ? this.#persistence.journaled(key, inDoubt, go) : go(false);
    });
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
      // first and names the outcome (timedOut), rather than this call's failure.
      const timer = setTimeout(() => {
        gaveUp = true;
        reject(new DeadlineExceededError('POST /agentWork (no answer inside the window; an AgentWork it created will be cancelled)'));
      }, windowEnd - Date.now() + GIVE_UP_AFTER_DEADLINE_MS);
      answered.then(
        (out) => {
          clearTimeout(timer);
          if (!gaveUp) resolve(out);
        },
        (err: unknown) => {
          clearTimeout(timer);
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
    const cancelKey = `${offerKey.slice(0, offerKey.lastIndexOf('/'))}/cancel:${workId}`;
    this.sendStep('PATCH /agentWork', cancelKey, 'finish', 'repeat', Date.now(), (ctx) => this.#api.patchAgentWork({ workId, contextType: 'Agent', status: 'Cancel' }, ctx)).catch(() => {
      // Logged by track(). Refused means the rep answered first: they join a request reported failed.
    });
  }
}
