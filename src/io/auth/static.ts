// For embedders who already own a token (their own OAuth flow, a secrets manager): we still cache it
// and coalesce fetches, so their function is called once per lifetime or per rejected token.
import { AuthError } from '../../domain/errors.js';
import { createCachedTokenProvider, type TokenProvider } from './token-provider.js';

export interface StaticTokenOptions {
  /** How long a returned token is reused before the function is asked again. Default 30 min. */
  tokenLifetimeMs?: number;
  refreshBeforeExpiryMs?: number;
  now?: () => number;
}

const DEFAULT_TOKEN_LIFETIME_MS = 30 * 60_000;

export function createStaticTokenProvider(
  fn: () => Promise<string> | string,
  options: StaticTokenOptions = {},
): TokenProvider {
  const now = options.now ?? Date.now;
  const lifetime = options.tokenLifetimeMs ?? DEFAULT_TOKEN_LIFETIME_MS;
  return createCachedTokenProvider(
    async () => {
      let token: unknown;
      try {
        token = await fn();
      } catch (err) {
        // The message names only the error's class; the caller's own error stays reachable as `cause`.
        const name = err instanceof Error ? err.name : typeof err;
        throw new AuthError(`token function failed (${name})`, { cause: err });
      }
      if (typeof token !== 'string' || token.length === 0) throw new AuthError('token function returned no token');
      return { accessToken: token, expiresAt: now() + lifetime };
    },
    {
      now,
      ...(options.refreshBeforeExpiryMs !== undefined && { refreshBeforeExpiryMs: options.refreshBeforeExpiryMs }),
    },
  );
}
