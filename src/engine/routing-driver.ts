// The routing actors' side of the step runner: the routing chart's `call`, `arm` and `disarm`
// actions. A call leaves through the step runner (RequestId, journal, deadline, tracking) and its
// answer comes back to the routing actor as an event the chart names (`route.ok`,
// `offer.failed`…); timers are entries in the engine's one timer at the absolute times the chart
// keeps in its context. A routing restored from a snapshot (a restart, a session woken from sleep)
// runs no entry action, so resume() re-arms its timers and makes its waiting call again.
import type { AnyActorRef } from 'xstate';
import { FencedError, NotProvidedError, StoppedError } from '../domain/errors.js';
import type { PickRep, RouteExternally } from '../domain/ports.js';
import { sessionMachine, type Refusal, type SessionContext } from '../machines/session.js';
import { callOf, refusalReportInput, resumeOf, routingMachine, timerOf, type RoutingAnswer, type RoutingCall, type RoutingContext, type RoutingTimer, type RoutingTimerSpec } from '../machines/routing.js';
import type { StepRunner } from './effects.js';
import type { Timers } from './timers.js';

/** What resume() and wakeAt() read of a routing actor's snapshot: its status, context and active states. */
type RoutingSnap = { status: string; context: RoutingContext; _nodes: ReadonlyArray<{ entry: ReadonlyArray<unknown> }> };

export interface RoutingDriverOptions {
  /** The partner's ACD (or the directory's picker). */
  pickRep: PickRep;
  routeExternally?: RouteExternally | undefined;
  timers: Timers;
}

export class RoutingDriver {
  readonly #runner: StepRunner;
  readonly #pickRep: PickRep;
  readonly #routeExternally: RouteExternally | undefined;
  /** The latest call of each routing actor, answered only if still the latest (see #start). */
  readonly #calls = new WeakMap<AnyActorRef, object>();
  /** Every routing deadline, offer timeout, repick and answer grace of this engine. */
  readonly timers: Timers;
  /** The routing machine with every call and timer provided. */
  readonly routing;
  /** The session machine with its routing children and its refusals' routingResults provided. */
  readonly session;

  constructor(runner: StepRunner, options: RoutingDriverOptions) {
    this.#runner = runner;
    this.#pickRep = options.pickRep;
    this.#routeExternally = options.routeExternally;
    this.timers = options.timers;
    this.routing = routingMachine.provide({
      actions: {
        call: ({ context, self }, params) => this.#start(self, callOf(params.call, context)),
        arm: ({ context, self }, params) => this.#arm(self, params.timer, timerOf(params.timer, context), false),
        disarm: ({ self }, params) => this.timers.disarm(self, params.timer),
      },
    });
    this.session = sessionMachine.provide({
      actors: { routing: this.routing },
      actions: {
        reportRefusal: ({ context, self }, params) => {
          const refusal = context.refusals.find((r) => r.routingId === params.routingId);
          if (refusal) this.#reportRefusal(self, context.conversationIdentifier, refusal);
        },
      },
    });
  }

  /**
   * The failed routingResult of a request the session refused at once; its answer (or failure: a
   * report is never sent twice) comes back to the session as `refusal.reported`.
   */
  #reportRefusal(session: AnyActorRef, conversationIdentifier: string, refusal: Refusal): void {
    const { routingId, deadlineAt } = refusal;
    const done = () => {
      if (session.getSnapshot().status === 'active') session.send({ type: 'refusal.reported', routingId });
    };
    this.#runner.report(refusalReportInput(conversationIdentifier, refusal), { routingId, deadlineAt }).then(done, (error: unknown) => {
      // Not sent because the store's last commit has begun: the refusal stays, for the next start to report.
      if (!this.#unsentWhileClosing(error)) done();
    });
  }

  /** A session restored from a snapshot runs no action: the routingResults of the refusals it holds are sent again (the journal decides whether that repeats one). */
  resumeRefusals(session: AnyActorRef): void {
    const context = (session.getSnapshot() as { context: SessionContext }).context;
    for (const r of (context.refusals ?? []) as Refusal[]) this.#reportRefusal(session, context.conversationIdentifier, r);
  }

  /**
   * Starts one of a routing actor's calls; its answer comes back to the actor as `<step>.ok` or
   * `<step>.failed`. Only the actor's latest call is answered: one whose state was left meanwhile
   * (an end arrived, and the next state made its own call) is not taken for the new one's.
   */
  #start(ref: AnyActorRef, call: RoutingCall): void {
    const token = {};
    this.#calls.set(ref, token);
    this.#run(call).then(
      (output) => this.#answer(ref, token, { type: `${call.step}.ok`, output }),
      (error: unknown) => {
        // Refused unsent because the store's last commit has begun (a graceful stop past its
        // drain): the chart is not told, so it stays in the state that makes this call, and the
        // next start makes it. Told "failed", it would move on (a report counts as sent when it
        // starts) and that state could still ride the last commit: the call then never made.
        if (this.#unsentWhileClosing(error)) return;
        this.#answer(ref, token, { type: `${call.step}.failed`, error });
      },
    );
  }

  #unsentWhileClosing(error: unknown): boolean {
    return (error instanceof StoppedError || error instanceof FencedError) && this.#runner.closing;
  }

  #answer(ref: AnyActorRef, token: object, event: RoutingAnswer): void {
    if (this.#calls.get(ref) !== token) return;
    this.#calls.delete(ref);
    if (ref.getSnapshot().status === 'active') ref.send(event);
  }

  /**
   * A step whose fate is unknown after a crash is repeated with the same RequestId (derived from
   * its step key) only where a repeat is safe on a server that does NOT deduplicate RequestIds
   * (Salesforce is not known to, reference §8.10; docs/operations.md "What a repeat does"): a
   * repeated consent or clear is harmless, a repeated cancel is refused (10085), a repeated
   * AgentWork answers 15109 (done), a repeated route re-targets the open PSR. A routingResult names
   * no request: Salesforce applies it to the conversation's oldest open request of its type, so a
   * repeat answers nothing twice; it is repeated inside its window and taken as done after it
   * (reportInDoubt).
   */
  #run(call: RoutingCall): Promise<unknown> {
    const runner = this.#runner;
    switch (call.step) {
      case 'consent': {
        const { key, deadlineAt, request } = call.input;
        return runner.sendStep('PATCH /consent', key, 'start', 'repeat', deadlineAt, (ctx) => runner.api.patchConsent(request, ctx));
      }
      case 'route': {
        const { key, deadlineAt, request } = call.input;
        return runner.sendStep('POST /route', key, 'start', 'repeat', deadlineAt, (ctx) => runner.api.createRoute(request, ctx));
      }
      case 'pick': {
        const input = call.input;
        return runner.track('pickRep', `${input.conversationIdentifier}/pick`, () => this.#pickRep(input));
      }
      case 'offer':
        return runner.offer(call.input);
      case 'report':
        return runner.report(call.input);
      case 'cancel': {
        const { key, deadlineAt, request } = call.input;
        return runner.sendStep('PATCH /agentWork', key, 'finish', 'repeat', deadlineAt, (ctx) => runner.api.patchAgentWork(request, ctx));
      }
      case 'clear':
        return runner.clearRoute(call.input);
      case 'external': {
        const input = call.input;
        return runner.track('routeExternally', `${input.conversationIdentifier}/external`, () => {
          if (!this.#routeExternally) throw new NotProvidedError('routeExternally (the external transfer handler)');
          return this.#routeExternally(input);
        });
      }
    }
  }

  #arm(ref: AnyActorRef, timer: RoutingTimer, spec: RoutingTimerSpec, restored: boolean): void {
    const at = restored && spec.afterRestoreMs !== undefined && spec.at <= Date.now() ? Date.now() + spec.afterRestoreMs : spec.at;
    this.timers.arm(ref, timer, at, spec.event);
  }

  /**
   * A routing actor restored from a snapshot runs no entry action: its timers are re-armed from
   * the absolute times in its context (one already due fires now, before anything else), then the
   * call of the state it waits in is made again — the journal decides whether that repeats it.
   * `afterRestart` is false for a session woken from sleep in this same engine: nothing it waits
   * for was delayed, so an answer grace that is due fires as it is.
   */
  resume(ref: AnyActorRef, afterRestart = true): void {
    const saved = ref.getSnapshot() as RoutingSnap;
    if (saved.status !== 'active') return;
    // A due timer may move it on at once, into states whose entry actions arm their own timers and
    // make their own call: then nothing of the saved states is resumed any more.
    const stillIn = () => {
      const now = ref.getSnapshot() as RoutingSnap;
      return now.status === 'active' && now._nodes.length === saved._nodes.length && now._nodes.every((n, i) => n === saved._nodes[i]);
    };
    const { timers, calls } = resumeOf(saved);
    for (const timer of timers) {
      if (!stillIn()) return;
      this.#arm(ref, timer, timerOf(timer, saved.context), afterRestart);
    }
    if (!stillIn()) return;
    // Read again: a due deadline in a state that waits for its call (POST /route, /agentWork) noted the failure.
    const context = (ref.getSnapshot() as RoutingSnap).context;
    for (const name of calls) this.#start(ref, callOf(name, context));
  }

  /**
   * When a routing that only waits — for a rep's answer or a timer, with no call in flight and none
   * to make — next has something to do by itself: its earliest timer. Undefined when it is not
   * merely waiting (its session must then stay awake).
   */
  wakeAt(ref: AnyActorRef): number | undefined {
    const snap = ref.getSnapshot() as RoutingSnap;
    if (snap.status !== 'active' || this.#calls.has(ref)) return undefined;
    const { calls, timers } = resumeOf(snap);
    if (calls.length) return undefined;
    let at = Infinity;
    for (const timer of timers) at = Math.min(at, timerOf(timer, snap.context).at);
    return at;
  }
}
