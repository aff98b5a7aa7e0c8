// OAuth 2.0 JWT bearer flow against the org's login host (reference §1.1). Salesforce returns no
// `expires_in` for this flow (the session lifetime is an org setting), so the cache lifetime is ours
// to choose: `tokenLifetimeMs`, kept below the org's session timeout.
import got, { RequestError } from 'got';
import type { KeyObject } from 'node:crypto';
import { AuthError, ConfigError } from '../../domain/errors.js';
import { loadPrivateKey, signJwt } from './jwt.js';
import { createCachedTokenProvider, type TokenProvider } from './token-provider.js';

export interface JwtBearerOptions {
  /** e.g. https://login.salesforce.com (prod) or https://test.salesforce.com (sandbox). */
  loginUrl: string;
  /** The connected app's consumer key (the JWT `iss`). */
  clientId: string;
  /** The integration user (the JWT `sub`). */
  username: string;
  /** PEM of the key whose certificate is uploaded to the connected app. */
  privateKey: string | KeyObject;
  /** JWT `aud`; defaults to `loginUrl`. */
  audience?: string;
  /** How long the signed assertion is valid. Default 180 s, as the reference app signs it. */
  assertionTtlSeconds?: number;
  refreshBeforeExpiryMs?: number;
  /** How long a fetched token is treated as valid. Default 30 min. */
  tokenLifetimeMs?: number;
  /** Token request timeout. Default 10 s. */
  requestTimeoutMs?: number;
  now?: () => number;
}

export interface JwtBearerTokenProvider extends TokenProvider {
  /** `instance_url` from the last token response, if any. */
  instanceUrl(): string | undefined;
}

export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const DEFAULT_ASSERTION_TTL_S = 180;
const DEFAULT_TOKEN_LIFETIME_MS = 30 * 60_000;
const DEFAULT_TIMEOUT_MS = 10_000;

interface TokenResponseBody {
  access_token?: unknown;
  instance_url?: unknown;
  error?: unknown;
  error_description?: unknown;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

export function createJwtBearerTokenProvider(options: JwtBearerOptions): JwtBearerTokenProvider {
  for (const field of ['loginUrl', 'clientId', 'username'] as const) {
    if (typeof options[field] !== 'string' || options[field].length === 0) {
      throw new ConfigError(`JWT bearer: ${field} is required`);
    }
  }
  const loginUrl = trimSlash(options.loginUrl);
  const audience = trimSlash(options.audience ?? loginUrl);
  const key = loadPrivateKey(options.privateKey);
  const ttl = options.assertionTtlSeconds ?? DEFAULT_ASSERTION_TTL_S;
  const lifetime = options.tokenLifetimeMs ?? DEFAULT_TOKEN_LIFETIME_MS;
  const now = options.now ?? Date.now;
  let instanceUrl: string | undefined;

  async function fetchToken() {
    const assertion = signJwt(
      { iss: options.clientId, sub: options.username, aud: audience, exp: Math.floor(now() / 1000) + ttl },
      key,
    );
    let status: number;
    let body: TokenResponseBody;
    try {
      const res = await got.post(`${loginUrl}/services/oauth2/token`, {
        form: { grant_type: JWT_BEARER_GRANT, assertion },
        headers: { accept: 'application/json' },
        throwHttpErrors: false,
        retry: { limit: 0 },
        timeout: { request: options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS },
      });
      status = res.statusCode;
      body = parseBody(res.body);
    } catch (err) {
      // got's error carries the request options (and so the assertion): keep only name and code.
      const what = err instanceof RequestError ? `${err.name} ${err.code}` : 'unexpected error';
      throw new AuthError(`JWT bearer token request to ${loginUrl} failed: ${what} (check that org.loginUrl is right and reachable from this host)`);
    }
    if (status !== 200 || typeof body.access_token !== 'string' || body.access_token.length === 0) {
      const error = typeof body.error === 'string' ? body.error : 'no access_token';
      const description = typeof body.error_description === 'string' ? `: ${body.error_description}` : '';
      throw new AuthError(`JWT bearer token request to ${loginUrl} failed: HTTP ${status} ${error}${description}`);
    }
    if (typeof body.instance_url === 'string') instanceUrl = body.instance_url;
    return { accessToken: body.access_token, expiresAt: now() + lifetime };
  }

  const cache = createCachedTokenProvider(fetchToken, {
    now,
    ...(options.refreshBeforeExpiryMs !== undefined && { refreshBeforeExpiryMs: options.refreshBeforeExpiryMs }),
  });
  return { ...cache, instanceUrl: () => instanceUrl };
}

function parseBody(text: string): TokenResponseBody {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null ? (parsed as TokenResponseBody) : {};
  } catch {
    return {};
  }
}
