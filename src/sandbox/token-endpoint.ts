// The org login host's token endpoint, OAuth 2.0 JWT bearer flow only (reference §1.1):
// POST /services/oauth2/token, form-encoded `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer
// &assertion=<JWT>`. The assertion must be an RS256 JWT signed by the key whose public half is
// configured, with iss = the connected app's consumer key, aud = the login host, a subject, and an
// `exp` in the future. A good assertion gets `{access_token: '<orgId>!<random>', instance_url,
// token_type: 'Bearer', scope: 'interaction_api'}` and the token becomes valid on the sandbox's
// Interaction Service; anything else gets 400 `{error, error_description}`.
//
// Served by src/sandbox/http-server.ts on the same port; this module is transport-free.
import { createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';

export const TOKEN_PATH = '/services/oauth2/token';
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

export interface JwtBearerConfig {
  /** The connected app certificate's public key (PEM or KeyObject). */
  publicKey: KeyObject | string;
  /** The connected app's consumer key: the assertion's `iss`. */
  clientId: string;
  /** The login host the assertion must be addressed to (`aud`), e.g. https://login.salesforce.com. */
  audience: string;
}

export interface TokenEndpointOptions extends JwtBearerConfig {
  /** 15-character org id: the prefix of every issued token. */
  orgId: string;
  /** `instance_url` of the response. */
  instanceUrl: () => string;
  /** Called with each token issued, so the Interaction Service accepts it. */
  onIssue: (token: string) => void;
  /** Seconds since the epoch come from this clock. Default Date.now. */
  now?: () => number;
}

export interface TokenReply {
  status: number;
  body: Record<string, unknown>;
}

export interface AssertionClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  [claim: string]: unknown;
}

/** Why an assertion was refused; `description` becomes `error_description`. */
export class AssertionError extends Error {
  constructor(readonly description: string) {
    super(description);
    this.name = 'AssertionError';
  }
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

function decodeJson(part: string, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new AssertionError(`invalid assertion: the ${what} is not base64url JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new AssertionError(`invalid assertion: the ${what} is not a JSON object`);
  return parsed as Record<string, unknown>;
}

/** Verifies an RS256 JWT bearer assertion; returns its claims or throws AssertionError. */
export function verifyAssertion(assertion: string, config: JwtBearerConfig & { now?: () => number }): AssertionClaims {
  const key = typeof config.publicKey === 'string' ? createPublicKey(config.publicKey) : config.publicKey;
  const parts = assertion.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p))) throw new AssertionError('invalid assertion: not a compact JWS');
  const [h, p, s] = parts as [string, string, string];
  const header = decodeJson(h, 'header');
  // Only RS256: `none` or an HMAC keyed with the public key must never pass.
  if (header.alg !== 'RS256') throw new AssertionError(`invalid assertion: algorithm ${JSON.stringify(header.alg)} is not RS256`);
  if (s.length === 0 || !verify('RSA-SHA256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'))) {
    throw new AssertionError('invalid assertion: signature does not verify');
  }
  const claims = decodeJson(p, 'payload');
  if (claims.iss !== config.clientId) throw new AssertionError('invalid client identifier: iss is not the connected app consumer key');
  if (typeof claims.sub !== 'string' || claims.sub.length === 0) throw new AssertionError('invalid assertion: sub (the username) is required');
  const auds = (Array.isArray(claims.aud) ? claims.aud : [claims.aud]).filter((a): a is string => typeof a === 'string');
  if (!auds.some((a) => trimSlash(a) === trimSlash(config.audience))) throw new AssertionError('audience is invalid');
  const nowS = (config.now ?? Date.now)() / 1000;
  if (typeof claims.exp !== 'number' || !Number.isFinite(claims.exp)) throw new AssertionError('invalid assertion: exp is required');
  if (claims.exp <= nowS) throw new AssertionError('expired assertion: exp is in the past');
  return claims as AssertionClaims;
}

function oauthError(error: string, description: string): TokenReply {
  return { status: 400, body: { error, error_description: description } };
}

/** The token endpoint's behaviour, given the request's Content-Type and body. */
export function createTokenEndpoint(options: TokenEndpointOptions): (contentType: string | undefined, body: Buffer) => TokenReply {
  const publicKey = typeof options.publicKey === 'string' ? createPublicKey(options.publicKey) : options.publicKey;
  const config = { publicKey, clientId: options.clientId, audience: options.audience, ...(options.now && { now: options.now }) };
  return (contentType, body) => {
    const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') {
      return oauthError('invalid_request', 'the request must be application/x-www-form-urlencoded');
    }
    const form = new URLSearchParams(body.toString('utf8'));
    const grant = form.get('grant_type');
    if (grant !== JWT_BEARER_GRANT) return oauthError('unsupported_grant_type', 'grant type not supported');
    const assertion = form.get('assertion');
    if (!assertion) return oauthError('invalid_grant', 'invalid assertion: assertion is required');
    try {
      verifyAssertion(assertion, config);
    } catch (err) {
      if (err instanceof AssertionError) return oauthError('invalid_grant', err.description);
      return oauthError('invalid_grant', 'invalid assertion');
    }
    const token = `${options.orgId}!${randomBytes(32).toString('base64url')}`;
    options.onIssue(token);
    return {
      status: 200,
      body: { access_token: token, instance_url: options.instanceUrl(), token_type: 'Bearer', scope: 'interaction_api' },
    };
  };
}
