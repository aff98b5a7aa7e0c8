// The Pub/Sub subscription wired to the engine: events go to intake, state changes to the app, and
// with a store the replay cursor is saved in the same commit as the sessions its events changed.
// Its options are checked first, before anything is opened (the store holds a lock).
import type { Logger } from 'pino';
import { ConfigError } from '../domain/errors.js';
import type { PlatformEvent } from '../domain/events.js';
import type { TokenProvider } from '../io/auth/index.js';
import { createPubSubIntake, pubSubAuthFromTokenProvider, type PubSubAuth, type PubSubIntake } from '../io/pubsub/index.js';
import { resolveIntakeOptions } from '../io/pubsub/options.js';
import type { CursorStore } from '../io/store/cursor.js';
import type { Persistence } from '../persistence.js';
import type { AppEvents } from './app-events.js';
import type { EngineMetrics } from './metrics.js';
import type { SwitchboardOptions } from './options.js';

export interface SubscriptionPlan {
  create(handle: (event: PlatformEvent) => unknown, deps: { persistence: Persistence | undefined; events: AppEvents; log: Logger; metrics: EngineMetrics }): PubSubIntake;
}

/** Checks the `pubsub` options (SB_CONFIG) and returns how to subscribe, or undefined without `pubsub`. */
export function planSubscription(options: SwitchboardOptions, tokens: TokenProvider | undefined, withStore: boolean): SubscriptionPlan | undefined {
  if (!options.pubsub) return undefined;
  const { auth: pubsubAuth, ...intakeOptions } = options.pubsub;
  let auth: PubSubAuth | undefined = pubsubAuth;
  if (!auth) {
    if (!tokens || !options.org?.instanceUrl) throw new ConfigError('pubsub needs `auth` and `org.instanceUrl` (or pubsub.auth) to subscribe');
    auth = pubSubAuthFromTokenProvider(tokens, options.org.instanceUrl, options.org.orgId);
  }
  if (withStore && intakeOptions.store) throw new ConfigError('with `store` set, the replay cursor lives there: drop pubsub.store');
  const resolvedAuth = auth;
  resolveIntakeOptions({ ...intakeOptions, auth: resolvedAuth, handle: () => undefined });
  return {
    create(handle, deps) {
      const { persistence } = deps;
      // Saving the cursor commits every session changed by the events before it, in one transaction.
      const cursorStore: CursorStore | undefined = persistence
        ? { load: (topic) => persistence.store.loadCursor(topic), save: (topic, replayId) => persistence.commit({ topic, replayId }) }
        : intakeOptions.store;
      const intake = createPubSubIntake({ ...intakeOptions, ...(cursorStore ? { store: cursorStore } : {}), auth: resolvedAuth, handle, logger: deps.log.child({ component: 'pubsub' }) });
      intake.on('state', (e) => deps.events.emit('subscription', { state: e.state }));
      intake.on('streamClosed', (e) => {
        if (e.next !== 'stopped') deps.metrics.reconnect();
      });
      intake.on('decodeError', () => deps.metrics.decodeError());
      return intake;
    },
  };
}
