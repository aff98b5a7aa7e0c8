// The session registry: every session this switchboard holds, awake (a live actor) or asleep (its
// persisted snapshot), found by conversation or by MessagingSession id. It starts, wakes, puts to
// sleep and expires sessions, keeps the reps' capacity in the directory in step with who is
// present, and tells the app what the sessions emit. Each session is its own root actor in a Map,
// never a child of one parent (one parent owning thousands of children is O(N²) in XState 5).
import type { Logger } from 'pino';
import { createActor, type ActorRefFrom, type AnyActorRef, type InspectionEvent, type SnapshotFrom } from 'xstate';
import type { Timers } from './timers.js';
import { describeError } from '../domain/errors.js';
import { toId15 } from '../domain/ids.js';
import type { Directory } from '../directory.js';
import { own } from '../machines/records.js';
import { sessionMachine, type RoutingSettings, type SessionEmitted } from '../machines/session.js';
import type { Persistence } from '../persistence.js';
import type { AppEvents } from './app-events.js';
import type { RoutingView } from './effects.js';
import type { EngineLimits } from './options.js';

export type SessionMachine = typeof sessionMachine;
export type SessionActor = ActorRefFrom<SessionMachine>;
/** What a session holds, awake or asleep: the state value and context of its snapshot. */
export type SessionState = Pick<SnapshotFrom<SessionMachine>, 'value' | 'context'>;
export type SessionSeed = { channelAddressIdentifier?: string; endUserClientId?: string; workItemId?: string; status?: string };

/** Sessions put to sleep (or expired) per turn of the event loop, so a sweep over many never stalls intake. */
const SWEEP_CHUNK = 2_000;

/**
 * A session snapshot — live, or as saved — with nothing pending: no routing child (so no call in
 * flight for it), no refusal whose routingResult is out, not ending. Such a session can sleep, and is restored asleep.
 */
export function isIdleSnapshot(snapshot: unknown): snapshot is SessionState {
  const s = snapshot as { status?: unknown; value?: unknown; context?: { routings?: object; refusals?: unknown[] }; children?: object } | null | undefined;
  if (!s || s.status !== 'active' || s.value !== 'active' || typeof s.context !== 'object' || s.context === null) return false;
  // A refusal's routingResult in flight keeps its session awake: its answer is an event for the actor.
  return Object.keys(s.context.routings ?? {}).length === 0 && Object.keys(s.children ?? {}).length === 0 && !s.context.refusals?.length;
}

/** The name of a sleeping session's wake-up timer in the engine's timer (keyed by its conversation). */
const WAKE = 'wake';

export interface SessionRegistryOptions {
  /** The session machine with its routing child's effects provided. */
  machine: SessionMachine;
  settings: RoutingSettings;
  limits: Pick<EngineLimits, 'hibernateAfterMs' | 'maxSessions' | 'idleExpiryMs'>;
  directory: Directory;
  events: AppEvents;
  log: Logger;
  persistence?: Persistence | undefined;
  inspect?: ((event: InspectionEvent) => void) | undefined;
  /**
   * Resumes a routing child restored from a snapshot: its timers re-armed, its waiting call made
   * again. `afterRestart` is false for a session woken from sleep in this engine.
   */
  resume?: ((routing: AnyActorRef, afterRestart: boolean) => void) | undefined;
  /** Sends again the routingResults of the refusals a restored session holds (see Refusal in src/machines/session.ts). */
  resumeRefusals?: ((session: AnyActorRef) => void) | undefined;
  /** When a routing child that only waits next has something to do; undefined if it is not merely waiting. */
  wakeAt?: ((routing: AnyActorRef) => number | undefined) | undefined;
  /** The engine's timer: it drops a sleeping session's routing timers and wakes the session at the earliest. */
  timers?: Timers | undefined;
}

export class SessionRegistry {
  readonly #o: SessionRegistryOptions;
  /** Live session actors. */
  readonly #live = new Map<string, SessionActor>();
  /** Live sessions by when each was last busy (an event, or a routing request pending), oldest first. */
  readonly #lastBusy = new Map<string, number>();
  /** Sessions asleep: their snapshot until their next event wakes them. */
  readonly #asleep = new Map<string, SessionState>();
  /** Sleeping sessions by when each was last busy (for one restored asleep: when it was saved), oldest first. */
  readonly #idleSince = new Map<string, number>();
  /** MessagingSession id (15) → conversationIdentifier, for agent-work events. */
  readonly #byWorkItem = new Map<string, string>();
  /** Routing requests pending in sleeping sessions. */
  #asleepPending = 0;
  #sweepTimer: NodeJS.Timeout | undefined;
  #sweepQueued = false;
  #closed = false;
  wakes = 0;
  expired = 0;

  constructor(options: SessionRegistryOptions) {
    this.#o = options;
  }

  // ---- lookups ----

  get size(): number {
    return this.#live.size + this.#asleep.size;
  }

  get asleep(): number {
    return this.#asleep.size;
  }

  isLive(conversationIdentifier: string): boolean {
    return this.#live.has(conversationIdentifier);
  }

  holds(conversationIdentifier: string): boolean {
    return this.#live.has(conversationIdentifier) || this.#asleep.has(conversationIdentifier);
  }

  /** True when a session for a conversation not yet held would go past `sessions.max`. */
  isFull(): boolean {
    return this.size >= this.#o.limits.maxSessions;
  }

  conversationOfWorkItem(workItemId: string): string | undefined {
    return this.#byWorkItem.get(toId15(workItemId));
  }

  /** What a session holds, live or asleep, without waking it. */
  peek(conversationIdentifier: string): SessionState | undefined {
    return this.#live.get(conversationIdentifier)?.getSnapshot() ?? this.#asleep.get(conversationIdentifier);
  }

  /** What the store saves for a session: a live actor's persisted snapshot, or a sleeping one's. */
  persistedSnapshot(conversationIdentifier: string): unknown {
    return this.#live.get(conversationIdentifier)?.getPersistedSnapshot() ?? this.#asleep.get(conversationIdentifier);
  }

  all(): SessionState[] {
    return [...[...this.#live.values()].map((a) => a.getSnapshot()), ...this.#asleep.values()];
  }

  /** The contexts of a live session's routing children. */
  routingContexts(conversationIdentifier: string): RoutingView[] {
    const live = this.#live.get(conversationIdentifier);
    if (!live) {
      // Asleep: the persisted snapshot holds each child's persisted snapshot.
      const children = (this.#asleep.get(conversationIdentifier) as { children?: Record<string, { snapshot?: { context?: RoutingView } }> } | undefined)?.children ?? {};
      return Object.values(children).map((c) => c?.snapshot?.context);
    }
    return Object.values(live.getSnapshot().children ?? {}).map((child) => (child as { getSnapshot?: () => { context?: RoutingView } } | undefined)?.getSnapshot?.().context);
  }

  /** Routing requests in progress (only awake sessions have any). */
  pendingRoutings(): number {
    let n = 0;
    for (const a of this.#live.values()) n += Object.keys(a.getSnapshot().context.routings).length;
    return n + this.#asleepPending;
  }

  // ---- live sessions ----

  /** The live actor of a session, woken if it sleeps; marks it busy now. */
  live(conversationIdentifier: string): SessionActor | undefined {
    const actor = this.#live.get(conversationIdentifier) ?? this.#wake(conversationIdentifier);
    if (actor) this.#touch(conversationIdentifier);
    return actor;
  }

  /** The session's live actor, started (from `seed`, or from a saved `snapshot`) if it is not held yet. */
  sessionFor(conversationIdentifier: string, seed: SessionSeed = {}, snapshot?: unknown): SessionActor {
    const existing = this.live(conversationIdentifier);
    if (existing) return existing;
    const actor = this.#start(conversationIdentifier, seed, snapshot);
    this.#o.persistence?.markDirty(conversationIdentifier);
    return actor;
  }

  /** Keeps the MessagingSession id → conversation index in step with what the session knows. */
  indexWorkItem(actor: SessionActor, conversationIdentifier: string): void {
    const workItemId = actor.getSnapshot().context.workItemId;
    if (workItemId && this.#byWorkItem.get(workItemId) !== conversationIdentifier) this.#byWorkItem.set(workItemId, conversationIdentifier);
  }

  /** A session restored from the store holds its reps' capacity again and is found by its MessagingSession id. */
  adoptRestored(conversationIdentifier: string, context: SessionState['context']): void {
    for (const rep of Object.keys(context.reps ?? {})) this.#o.directory.hold(rep, conversationIdentifier);
    if (context.workItemId) this.#byWorkItem.set(context.workItemId, conversationIdentifier);
  }

  /** A saved session with nothing pending, restored asleep: no actor until its next event. */
  restoreAsleep(conversationIdentifier: string, snapshot: SessionState, savedAt: number): void {
    this.#asleep.set(conversationIdentifier, snapshot);
    this.#idleSince.set(conversationIdentifier, savedAt);
    this.adoptRestored(conversationIdentifier, snapshot.context);
  }

  /** Drops a session's live actor from the books (it ended, failed, fell asleep or could not be restored). */
  forgetLive(conversationIdentifier: string): void {
    this.#live.delete(conversationIdentifier);
    this.#lastBusy.delete(conversationIdentifier);
  }

  #touch(conversationIdentifier: string): void {
    // Re-inserted so the Map stays ordered by last activity and a sweep can stop at the first recent one.
    this.#lastBusy.delete(conversationIdentifier);
    this.#lastBusy.set(conversationIdentifier, Date.now());
  }

  #start(conversationIdentifier: string, seed: SessionSeed, snapshot?: unknown, woken = false): SessionActor {
    const { machine, settings, directory, events, persistence } = this.#o;
    // A child logger per session, made only when the session first logs: most idle sessions never do.
    let childLog: Logger | undefined;
    const slog = () => (childLog ??= this.#o.log.child({ conversationIdentifier }));
    const input = Object.assign({ conversationIdentifier, settings }, seed);
    if (input.workItemId) input.workItemId = toId15(input.workItemId);
    const options: { input: typeof input; snapshot?: never; inspect?: (event: InspectionEvent) => void } = { input };
    if (snapshot) options.snapshot = snapshot as never;
    if (this.#o.inspect) options.inspect = this.#o.inspect;
    const actor = createActor(machine, options);
    actor.on('*', (e) => {
      const event = e as SessionEmitted;
      if (event.type === 'routing.finished') {
        // The picker held each offered rep's capacity; give it back unless the rep is now in the session.
        const present = actor.getSnapshot().context.reps;
        for (const rep of event.output.offeredTo) if (!own(present, rep)) directory.release(rep, conversationIdentifier);
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
      events.emit(event.type, event as never);
    });
    actor.subscribe({
      next: persistence ? () => persistence.markDirty(conversationIdentifier) : undefined,
      complete: () => {
        // Observers also complete when stop() halts a live actor (or it goes to sleep): only a finished session ends.
        if (actor.getSnapshot().status !== 'done') return;
        persistence?.markEnded(conversationIdentifier, actor.getPersistedSnapshot());
        this.forgetLive(conversationIdentifier);
        this.#release(conversationIdentifier, actor.getSnapshot().context);
        slog().info('session ended');
      },
      error: (error) => {
        // Machines never throw by design; if one does, drop the session loudly rather than leave it half-alive.
        this.forgetLive(conversationIdentifier);
        slog().error({ error: describeError(error) }, 'session actor failed; dropped');
        events.emit('error', { conversationIdentifier, error });
      },
    });
    this.#live.set(conversationIdentifier, actor);
    this.#touch(conversationIdentifier);
    this.ensureSweep();
    actor.start();
    // XState runs no entry action for a restored snapshot: the routing children's calls and timers
    // are the engine's to resume.
    if (snapshot && this.#o.resume) for (const child of Object.values(actor.getSnapshot().children)) if (child) this.#o.resume(child as AnyActorRef, !woken);
    if (snapshot && this.#o.resumeRefusals) this.#o.resumeRefusals(actor as AnyActorRef);
    this.indexWorkItem(actor, conversationIdentifier);
    return actor;
  }

  /** A session that is gone gives back its reps' capacity and its MessagingSession index entry. */
  #release(conversationIdentifier: string, context: SessionState['context']): void {
    const { workItemId, reps } = context;
    if (workItemId && this.#byWorkItem.get(workItemId) === conversationIdentifier) this.#byWorkItem.delete(workItemId);
    for (const rep of Object.keys(reps)) this.#o.directory.release(rep, conversationIdentifier);
  }

  // ---- sleep: idle sessions are held as snapshots, not actors ----

  #putToSleep(conversationIdentifier: string, actor: SessionActor, wakeAt?: number): void {
    const children = wakeAt === undefined ? [] : Object.values(actor.getSnapshot().children);
    // The persisted snapshot shares the (immutable) context with the live one: nothing is copied.
    this.#asleep.set(conversationIdentifier, actor.getPersistedSnapshot() as unknown as SessionState);
    this.#idleSince.set(conversationIdentifier, this.#lastBusy.get(conversationIdentifier) ?? Date.now());
    this.forgetLive(conversationIdentifier);
    actor.stop();
    if (wakeAt === undefined) return;
    // Routings that only wait sleep with their session: their timers leave the engine's timer, and
    // one wake-up at the earliest of them stands in (set once asleep: it may be due at once);
    // waking re-arms them all (resume).
    for (const child of children) if (child) this.#o.timers?.forget(child);
    this.#asleepPending += Object.keys((this.#asleep.get(conversationIdentifier)!.context.routings ?? {}) as object).length;
    // Keyed by the conversation, with one shared callback: no object or closure per sleeping session.
    if (wakeAt !== Infinity) this.#o.timers?.call(conversationIdentifier, WAKE, wakeAt, this.#wakeDue);
  }

  /** A sleeping session's earliest routing timer is due: wake it (resume fires what is due). */
  readonly #wakeDue = (conversationIdentifier: string | object): void => {
    if (typeof conversationIdentifier === 'string' && this.#asleep.has(conversationIdentifier)) this.live(conversationIdentifier);
  };

  /** Re-creates a sleeping session's actor from its snapshot — the same path as a restart. */
  #wake(conversationIdentifier: string): SessionActor | undefined {
    const snapshot = this.#asleep.get(conversationIdentifier);
    if (!snapshot) return undefined;
    this.#asleep.delete(conversationIdentifier);
    this.#idleSince.delete(conversationIdentifier);
    this.#forgetWake(conversationIdentifier, snapshot);
    const actor = this.#start(conversationIdentifier, {}, snapshot, true);
    if (actor.getSnapshot().status !== 'active') {
      // Cannot happen with a snapshot of this very chart; if it does, say so and start the session afresh.
      this.forgetLive(conversationIdentifier);
      this.#o.log.error({ conversationIdentifier, status: actor.getSnapshot().status }, 'a sleeping session could not be woken; it starts afresh');
      this.#o.events.emit('error', { conversationIdentifier, error: new Error('a sleeping session could not be woken') });
      return undefined;
    }
    this.wakes += 1;
    return actor;
  }

  /** A sleeping session leaves sleep (woken, expired or dropped): its wake-up and pending count go. */
  #forgetWake(conversationIdentifier: string, snapshot: SessionState): void {
    const pending = Object.keys(snapshot.context.routings ?? {}).length;
    if (pending === 0) return;
    this.#o.timers?.disarm(conversationIdentifier, WAKE);
    this.#asleepPending -= pending;
  }

  /** When a live session whose routings only wait should be woken if it sleeps now; undefined if it cannot sleep. */
  #waitingUntil(actor: SessionActor): number | undefined {
    const snap = actor.getSnapshot();
    if (snap.status !== 'active' || snap.value !== 'active' || !this.#o.wakeAt || snap.context.refusals?.length) return undefined;
    let at = Infinity;
    const children = Object.values(snap.children);
    // Every pending routing has its child; a routing finished but not yet folded into the session is not waiting.
    if (children.length !== Object.keys(snap.context.routings).length) return undefined;
    for (const child of children) {
      const t = child ? this.#o.wakeAt(child as AnyActorRef) : undefined;
      if (t === undefined) return undefined;
      at = Math.min(at, t);
    }
    // Something due now (its timer not yet run): stay awake for it.
    return at > Date.now() ? at : undefined;
  }

  /** Puts idle sessions last busy at least `idleForMs` ago to sleep, oldest first, at most `limit`. */
  hibernate(idleForMs: number, limit = Infinity): { slept: number; more: boolean } {
    const cutoff = Date.now() - idleForMs;
    const due: string[] = [];
    for (const [conv, at] of this.#lastBusy) {
      if (at > cutoff || due.length >= limit) break;
      due.push(conv);
    }
    let slept = 0;
    for (const conv of due) {
      const actor = this.#live.get(conv);
      if (!actor) this.#lastBusy.delete(conv);
      else if (isIdleSnapshot(actor.getSnapshot())) {
        this.#putToSleep(conv, actor);
        slept += 1;
      } else {
        // Routings that only wait for a rep's answer or a timer sleep too; one with a call in
        // flight keeps its session awake: look again once it could have been idle for a whole period.
        const wakeAt = this.#waitingUntil(actor);
        if (wakeAt !== undefined) {
          this.#putToSleep(conv, actor, wakeAt);
          slept += 1;
        } else this.#touch(conv);
      }
    }
    return { slept, more: due.length >= limit };
  }

  /**
   * Drops sleeping sessions idle since before `idleExpiryMs`, oldest first, at most `limit`, as if
   * they had ended: their record is kept for the retention period, their reps' capacity released.
   */
  #expireIdle(idleExpiryMs: number, limit: number): { more: boolean } {
    const cutoff = Date.now() - idleExpiryMs;
    const due: Array<[string, number]> = [];
    for (const entry of this.#idleSince) {
      if (entry[1] > cutoff || due.length >= limit) break;
      due.push(entry);
    }
    for (const [conv, at] of due) {
      const snapshot = this.#asleep.get(conv);
      // A session asleep with routings pending is not idle: its own wake-up comes first.
      if (snapshot && !isIdleSnapshot(snapshot)) continue;
      this.#asleep.delete(conv);
      this.#idleSince.delete(conv);
      if (!snapshot) continue;
      this.#o.persistence?.markEnded(conv, snapshot);
      this.#release(conv, snapshot.context);
      this.expired += 1;
      this.#o.log.info({ conversationIdentifier: conv, idleSince: new Date(at).toISOString() }, 'session expired: no event for sessions.idleExpiryMs');
      this.#o.events.emit('session.ended', { type: 'session.ended', conversationIdentifier: conv, reason: 'idle expiry' });
    }
    return { more: due.length >= limit };
  }

  /** Starts the periodic sweep (sleep and expiry), once, when either is on. */
  ensureSweep(): void {
    const { hibernateAfterMs, idleExpiryMs } = this.#o.limits;
    if (this.#sweepTimer || this.#closed) return;
    const every = Math.min(hibernateAfterMs === false ? Infinity : hibernateAfterMs / 2, idleExpiryMs === false ? Infinity : idleExpiryMs / 2);
    if (every === Infinity) return;
    this.#sweepTimer = setInterval(() => this.#sweep(), Math.max(1_000, every));
    this.#sweepTimer.unref?.();
  }

  #sweep(): void {
    this.#sweepQueued = false;
    if (this.#closed) return;
    const { hibernateAfterMs, idleExpiryMs } = this.#o.limits;
    let more = false;
    if (hibernateAfterMs !== false) more = this.hibernate(hibernateAfterMs, SWEEP_CHUNK).more;
    if (idleExpiryMs !== false) {
      // Sessions idle past the expiry are put to sleep first (also when sleep is off), then dropped.
      const slept = this.hibernate(idleExpiryMs, SWEEP_CHUNK).more;
      more = this.#expireIdle(idleExpiryMs, SWEEP_CHUNK).more || slept || more;
    }
    if (more && !this.#sweepQueued) {
      this.#sweepQueued = true;
      setImmediate(() => this.#sweep());
    }
  }

  /** No more sleep or expiry: the switchboard is stopping, and the store must see sessions as they are. */
  stopSweeping(): void {
    this.#closed = true;
    clearInterval(this.#sweepTimer);
  }

  /** Stops the sweep and every live actor; forgets everything. The store already has it. */
  close(): void {
    this.stopSweeping();
    for (const actor of this.#live.values()) actor.stop();
    this.#live.clear();
    this.#asleep.clear();
    this.#idleSince.clear();
    this.#lastBusy.clear();
    this.#asleepPending = 0;
    this.#byWorkItem.clear();
  }
}
