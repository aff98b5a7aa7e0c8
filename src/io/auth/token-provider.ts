// A token cache shared by every token source. Two properties matter under load:
// - concurrent callers share ONE in-flight fetch, so a burst of calls (or a burst of 401s) costs one
//   token request, not one per call;
// - `invalidate(token)` only drops the cache when that token is still the cached one, so the 49 late
//   reporters of a 401 do not throw away the fresh token the first reporter already fetched.

/** What the Interaction Service client needs from any token source. */
export interface TokenProvider {
  /** A usable access token; fetches or refreshes as needed. */
  getToken(): Promise<string>;
  /** The server rejected `token` (401 / 10004). A no-op when the cache already holds another token. */
  invalidate(token: string): void;
}

export interface FetchedToken {
  accessToken: string;
  /** Absolute ms epoch after which the token must not be used. */
  expiresAt: number;
}

export interface TokenCacheOptions {
  /** Start a background refresh this long before expiry, while still serving the cached token. Default 60 s. */
  refreshBeforeExpiryMs?: number;
  /** After a failed background refresh, wait this long before trying again in the background. Default 5 s. */
  backgroundRetryMs?: number;
  now?: () => number;
}

export const DEFAULT_REFRESH_BEFORE_EXPIRY_MS = 60_000;
const DEFAULT_BACKGROUND_RETRY_MS = 5_000;

/** Wraps a token fetcher with caching, early refresh and single-flight coalescing. */
export function createCachedTokenProvider(
  fetchToken: () => Promise<FetchedToken>,
  options: TokenCacheOptions = {},
): TokenProvider {
  const refreshBefore = options.refreshBeforeExpiryMs ?? DEFAULT_REFRESH_BEFORE_EXPIRY_MS;
  const backgroundRetryMs = options.backgroundRetryMs ?? DEFAULT_BACKGROUND_RETRY_MS;
  const now = options.now ?? Date.now;

  let cached: (FetchedToken & { refreshAt: number }) | undefined;
  let inFlight: Promise<string> | undefined;
  let lastBackgroundFailureAt = Number.NEGATIVE_INFINITY;

  function refresh(): Promise<string> {
    inFlight ??= fetchToken()
      .then((fetched) => {
        // Never refresh earlier than half-way through a token's life, or a short-lived token with
        // the default early-refresh window would be refetched on every call.
        const fetchedAt = now();
        const refreshAt = Math.max(fetched.expiresAt - refreshBefore, fetchedAt + (fetched.expiresAt - fetchedAt) / 2);
        cached = { ...fetched, refreshAt };
        return fetched.accessToken;
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  }

  return {
    getToken() {
      const t = now();
      if (cached && t < cached.expiresAt) {
        // Still valid: serve it, and refresh quietly once inside the early-refresh window so callers
        // never wait on the login host in steady state.
        if (t >= cached.refreshAt && !inFlight && t - lastBackgroundFailureAt >= backgroundRetryMs) {
          refresh().catch(() => {
            lastBackgroundFailureAt = now();
          });
        }
        return Promise.resolve(cached.accessToken);
      }
      return refresh();
    },
    invalidate(token) {
      if (cached?.accessToken === token) cached = undefined;
    },
  };
}
