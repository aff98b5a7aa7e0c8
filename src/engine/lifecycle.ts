// The engine's life: start (restore what the store holds, then subscribe), a graceful stop (the
// stream first, so the stored cursor covers what was handled; in-flight calls drained; the store
// written), and halt — at once, for an engine whose org another host owns by now.
import type { Logger } from 'pino';
import { FencedError, StoppedError } from '../domain/errors.js';
import type { InteractionService } from '../domain/ports.js';
import type { InteractionClient } from '../io/interaction-api/index.js';
import type { PubSubIntake } from '../io/pubsub/index.js';
import type { Persistence } from '../persistence.js';
import type { AppEvents } from './app-events.js';
import type { StepRunner } from './effects.js';
import type { Intake } from './intake.js';
import type { EngineLimits } from './options.js';
import type { SessionRegistry } from './registry.js';
import { restoreSessions, type RestoreCounters } from './restore.js';
import type { EngineStore } from './store.js';

export interface LifecycleParts {
  log: Logger;
  events: AppEvents;
  api: InteractionService;
  runner: StepRunner;
  registry: SessionRegistry;
  intake: Intake;
  limits: EngineLimits;
  restoreCounters: RestoreCounters;
  persistence?: Persistence | undefined;
  subscription?: PubSubIntake | undefined;
  client?: InteractionClient | undefined;
  engineStore?: EngineStore | undefined;
}

export class Lifecycle {
  readonly #p: LifecycleParts;
  /** No input is taken any more (stopping, stopped or halted). */
  stopped = false;
  halted = false;
  /** Why the engine halted: the store's FencedError, or a StoppedError for a halt the app asked for. */
  haltedBy: FencedError | StoppedError | undefined;

  constructor(parts: LifecycleParts) {
    this.#p = parts;
  }

  async start(): Promise<void> {
    const { persistence, registry, runner, api, log, limits, intake, engineStore, subscription } = this.#p;
    if (this.stopped) throw new StoppedError();
    await engineStore?.checkWritable();
    if (persistence) {
      const rememberSeen = (keys: string[]) => intake.rememberSeen(keys);
      await restoreSessions({ persistence, registry, runner, api, log, restoreAsleep: limits.hibernateAfterMs !== false, rememberSeen, dedupeWindow: limits.dedupeWindow }, this.#p.restoreCounters);
    }
    await subscription?.start();
  }

  async stop(drainMs: number): Promise<void> {
    const { subscription, registry, runner, persistence, engineStore, client, log } = this.#p;
    if (this.stopped || this.halted) return;
    // The subscription stops first and drains its events into the sessions, so the stored cursor
    // covers everything handled; only then does intake close.
    await subscription?.stop();
    this.stopped = true;
    registry.stopSweeping();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([runner.settled(), new Promise<void>((r) => (timer = setTimeout(r, drainMs)))]);
    clearTimeout(timer);
    // The last changes reach the store before the actors stop. A store fenced meanwhile refuses
    // them: the engine has halted already, and the new owner restores what was committed before.
    await persistence?.close().catch((err: unknown) => {
      if (!(err instanceof FencedError)) throw err;
    });
    if (this.halted) return;
    if (engineStore?.owned) await engineStore.store.close();
    registry.close();
    runner.timers.stop();
    await client?.close();
    log.info({ inFlight: runner.inFlight }, 'switchboard stopped');
  }

  /**
   * Stop now, for an engine whose org another host owns (or may own) by now. No drain and no last
   * commit: the new owner restores from what was committed before. Every step still waiting for its
   * write-ahead commit is refused (with the store's FencedError, or SB_STOPPED), so no call leaves
   * after this; the actors stop so that no new step starts, and nothing more is committed.
   */
  async halt(fenced?: FencedError): Promise<void> {
    const { log, runner, registry, events, subscription, client, engineStore, persistence } = this.#p;
    if (this.halted) return;
    this.halted = true;
    this.stopped = true;
    this.haltedBy = fenced ?? new StoppedError();
    // Nothing more is committed, whether or not the lease row still shows this engine's epoch (a
    // lease that ran out on this host's clock may not have been taken yet): a state this engine
    // reaches from now on — a session stopping mid-routing, a cursor past events it refused — must
    // not overwrite what the next owner restores. Waiting commits are refused with the reason.
    persistence?.seal(this.haltedBy);
    if (fenced) log.error({ orgId: fenced.orgId, epoch: fenced.epoch, currentEpoch: fenced.currentEpoch }, 'commit refused: another host owns this org now; halting at once');
    else log.warn('halting at once');
    runner.halt();
    registry.close();
    if (fenced) events.emit('fenced', { error: fenced });
    // The subscription's last cursor commit is refused like any other; only its stream must end.
    await subscription?.stop().catch(() => undefined);
    await client?.close().catch(() => undefined);
    if (engineStore?.owned) await engineStore.store.close().catch(() => undefined);
  }
}
