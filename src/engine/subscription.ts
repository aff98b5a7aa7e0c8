// The Pub/Sub subscription wired to the engine: events go to intake, state changes to the app, and
// with a store the replay cursor is saved in the same commit as the sessions its events changed.
import type { Logger } from 'pino';
import { ConfigError } from '../domain/errors.js';
import type { PlatformEvent } from '../domain/events.js';
import type { TokenProvider } from '../io/auth/index.js';
import { createPubSubIntake, pubSubAuthFromTokenProvider, type PubSubIntake } from '../io/pubsub/index.js';
import type { CursorStore } from '../io/store/cursor.js';
import type { Persistence } from '../persistence.js';
import type { AppEvents } from './app-events.js';
import type { EngineMetrics } from './metrics.js';
import type { SwitchboardOptions } from './options.js';

export function subscribe(
  options: SwitchboardOptions,
  handle: (event: PlatformEvent) => unknown,
  deps: { tokens: TokenProvider | undefined; persistence: Persistence | undefined; events: AppEvents; log: Logger; metrics: EngineMetrics },
): PubSubIntake | undefined {
  if (!options.pubsub) return undefined;
  const { auth: pubsubAuth, ...intakeOptions } = options.pubsub;
  let auth = pubsubAuth;
  if (!auth) {
    if (!deps.tokens || !options.org?.instanceUrl) throw new ConfigError('pubsub needs `auth` and `org.instanceUrl` (or pubsub.auth) to subscribe');
    auth = pubSubAuthFromTokenProvider(deps.tokens, options.org.instanceUrl, options.org.orgId);
  }
  let cursorStore: CursorStore | undefined = intakeOptions.store;
  const { persistence } = deps;
  if (persistence) {
    if (intakeOptions.store) throw new ConfigError('with `store` set, the replay cursor lives there: drop pubsub.store');
    // Saving the cursor commits every session changed by the events before it, in one transaction.
    cursorStore = { load: (topic) => persistence.store.loadCursor(topic), save: (topic, replayId) => persistence.commit({ topic, replayId }) };
  }
  const intake = createPubSubIntake({ ...intakeOptions, ...(cursorStore ? { store: cursorStore } : {}), auth, handle, logger: deps.log.child({ component: 'pubsub' }) });
  intake.on('state', (e) => deps.events.emit('subscription', { state: e.state }));
  intake.on('streamClosed', (e) => {
    if (e.next !== 'stopped') deps.metrics.reconnect();
  });
  intake.on('decodeError', () => deps.metrics.decodeError());
  return intake;
}
