// The health summary a partner's /healthz returns: a status and the reasons for it, from what the
// engine already counts. Nothing here does I/O.
import { checkDuration, checkOptions } from '../public-input.js';
import type { SwitchboardHealth } from './types.js';

export interface HealthInputs {
  stopped: boolean;
  /** The subscription's chart state, when there is a subscription. */
  subscriptionState?: string | undefined;
  newestEventAt?: number | undefined;
  breakers?: Record<string, string> | undefined;
  storeCommits?: number | undefined;
  sessions: SwitchboardHealth['sessions'];
}

export function healthOf(inputs: HealthInputs, options: unknown): SwitchboardHealth {
  const { laggingAfterMs = 60_000 } = checkOptions('options', options) as { laggingAfterMs?: number };
  checkDuration('options.laggingAfterMs', laggingAfterMs);
  const failing: string[] = [];
  const degraded: string[] = [];
  const health: SwitchboardHealth = { status: 'ok', reasons: [], sessions: inputs.sessions };
  if (inputs.stopped) failing.push('the switchboard is stopped');
  if (inputs.subscriptionState !== undefined) {
    const state = inputs.subscriptionState;
    const lagMs = inputs.newestEventAt === undefined ? undefined : Math.max(0, Date.now() - inputs.newestEventAt);
    health.subscription = lagMs === undefined ? { state } : { state, lagMs };
    if (state === 'stopped' || state === 'failed') {
      if (!inputs.stopped) failing.push(`the Pub/Sub subscription is ${state}`);
    } else if (state === 'idle') degraded.push('the Pub/Sub subscription has not started (start() not called yet)');
    else if (!state.startsWith('subscribed')) degraded.push(`the Pub/Sub subscription is ${state}`);
    if (lagMs !== undefined && lagMs > laggingAfterMs) degraded.push(`events are handled ${Math.round(lagMs / 1000)} s after Salesforce published them`);
  }
  if (inputs.breakers) {
    health.breakers = inputs.breakers;
    for (const [cls, state] of Object.entries(inputs.breakers)) if (state !== 'closed') degraded.push(`the ${cls} breaker is ${state}`);
  }
  if (inputs.storeCommits !== undefined) health.store = { commits: inputs.storeCommits };
  health.reasons = [...failing, ...degraded];
  health.status = failing.length ? 'failing' : degraded.length ? 'degraded' : 'ok';
  return health;
}
