// Adapts the engine's TokenProvider (src/io/auth: a cached token with invalidate) to the Pub/Sub
// auth shape: a forced refresh drops the token Salesforce refused, then fetches a new one.
import type { TokenProvider } from '../auth/token-provider.js';
import type { PubSubAuth } from './auth.js';

export function pubSubAuthFromTokenProvider(provider: TokenProvider, instanceUrl: string, tenantId: string): PubSubAuth {
  let last: string | undefined;
  return {
    instanceUrl,
    tenantId,
    async getToken(options) {
      if (options?.forceRefresh && last !== undefined) provider.invalidate(last);
      last = await provider.getToken();
      return last;
    },
  };
}
