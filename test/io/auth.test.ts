// Token providers: the JWT bearer flow against a fake token endpoint that verifies the RS256
// signature, caching, early refresh, single-flight refresh, and the client's refresh-once on 401.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AuthError, ConfigError, InteractionApiError } from '../../src/domain/errors.js';
import { createJwtBearerTokenProvider, createStaticTokenProvider } from '../../src/io/auth/index.js';
import { finish, makeClient } from './client-fixture.js';
import { FakeScrt, JWT_BEARER, api, decodeJwt } from './fake-scrt.js';

const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PEM = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const CLIENT_ID = '3MVG9consumerKey';
const USERNAME = 'integration@example.com';

let fake: FakeScrt;
beforeAll(async () => {
  fake = await FakeScrt.start();
});
afterAll(() => fake.close());
afterEach(() => fake.reset());

function jwtProvider(overrides: Partial<Parameters<typeof createJwtBearerTokenProvider>[0]> = {}) {
  fake.tokenEndpoint = { publicKey, clientId: CLIENT_ID, username: USERNAME, audience: fake.url };
  return createJwtBearerTokenProvider({ loginUrl: fake.url, clientId: CLIENT_ID, username: USERNAME, privateKey: PEM, ...overrides });
}

const rr = { conversationIdentifier: 'c', workItemId: '0MwSB000000AAAA', success: true, externallyRouted: false };

describe('JWT bearer token provider', () => {
  it('posts a form-encoded jwt-bearer grant whose RS256 assertion the server verifies', async () => {
    const tokens = jwtProvider();
    const before = Math.floor(Date.now() / 1000);
    const token = await tokens.getToken();
    expect(fake.issued).toEqual([token]);
    expect(tokens.instanceUrl()).toBe('https://example.my.salesforce.com');
    const [req] = fake.tokenRequests;
    expect(req!.method).toBe('POST');
    expect(req!.form?.grant_type).toBe(JWT_BEARER);
    const jwt = decodeJwt(req!.form!.assertion!)!;
    expect(jwt.header).toEqual({ alg: 'RS256', typ: 'JWT' });
    expect(jwt.claims).toMatchObject({ iss: CLIENT_ID, sub: USERNAME, aud: fake.url });
    expect(jwt.claims.exp).toBeGreaterThanOrEqual(before + 180);
    expect(jwt.claims.exp).toBeLessThanOrEqual(before + 181);
  });

  it('caches the token and coalesces concurrent first fetches into one request', async () => {
    const tokens = jwtProvider();
    const got = await Promise.all(Array.from({ length: 20 }, () => tokens.getToken()));
    expect(new Set(got).size).toBe(1);
    await tokens.getToken();
    expect(fake.tokenRequests).toHaveLength(1);
  });

  it('refreshes in the background inside the early-refresh window, and waits once expired', async () => {
    let now = 1_000_000;
    const tokens = jwtProvider({ now: () => now, tokenLifetimeMs: 1_000, refreshBeforeExpiryMs: 200, assertionTtlSeconds: 180 });
    // The fake checks exp against real time: keep the injected clock near it.
    now = Date.now();
    const first = await tokens.getToken();
    now += 850; // inside the refresh window, still valid
    await expect(tokens.getToken()).resolves.toBe(first);
    await expect.poll(() => fake.tokenRequests.length).toBe(2);
    await expect.poll(() => tokens.getToken()).toBe(fake.issued[1]);
    now += 5_000; // expired
    const third = await tokens.getToken();
    expect(fake.issued).toHaveLength(3);
    expect(third).toBe(fake.issued[2]);
  });

  it('reports Salesforce error and error_description, never the key or the assertion', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const tokens = jwtProvider({ privateKey: other });
    const err = (await tokens.getToken().catch((e: unknown) => e)) as AuthError;
    expect(err).toBeInstanceOf(AuthError);
    expect(err.message).toContain('invalid_grant');
    expect(err.message).toContain('invalid signature');
    expect(err.message).not.toContain(fake.tokenRequests[0]!.form!.assertion!);
    expect(err.message).not.toContain('PRIVATE KEY');

    const wrongApp = jwtProvider({ clientId: 'nope' });
    await expect(wrongApp.getToken()).rejects.toThrow(/invalid_client_id: client identifier invalid/);
  });

  it('rejects a bad PEM at construction with a ConfigError that does not echo it', () => {
    const bad = '-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END PRIVATE KEY-----';
    expect(() => jwtProvider({ privateKey: bad })).toThrow(ConfigError);
    try {
      jwtProvider({ privateKey: bad });
    } catch (e) {
      expect((e as Error).message).not.toContain('not-a-key');
    }
  });

  it('a failed fetch leaves no cached token, and the next call tries again', async () => {
    const tokens = jwtProvider();
    fake.script('POST', '/services/oauth2/token', { status: 503, body: 'down' });
    await expect(tokens.getToken()).rejects.toBeInstanceOf(AuthError);
    const token = await tokens.getToken();
    expect(fake.issued).toEqual([token]);
  });
});

describe('static token provider', () => {
  it('calls the function once for concurrent callers and again only after invalidate of the cached token', async () => {
    let n = 0;
    const tokens = createStaticTokenProvider(async () => `tok-${++n}`);
    await Promise.all(Array.from({ length: 10 }, () => tokens.getToken()));
    expect(n).toBe(1);
    tokens.invalidate('tok-0'); // not the cached one: no-op
    await expect(tokens.getToken()).resolves.toBe('tok-1');
    tokens.invalidate('tok-1');
    await expect(tokens.getToken()).resolves.toBe('tok-2');
    tokens.invalidate('tok-1'); // a late reporter of the old token: no-op
    await expect(tokens.getToken()).resolves.toBe('tok-2');
    expect(n).toBe(2);
  });

  it('refreshes a short-lived token no earlier than half-way through its life', async () => {
    let now = 0;
    let n = 0;
    const tokens = createStaticTokenProvider(() => `tok-${++n}`, { tokenLifetimeMs: 1_000, now: () => now });
    await tokens.getToken();
    now = 400; // inside the default 60-s early-refresh window, but not half-way yet
    await tokens.getToken();
    expect(n).toBe(1);
    now = 600;
    await expect(tokens.getToken()).resolves.toBe('tok-1');
    await expect.poll(() => tokens.getToken()).toBe('tok-2');
    expect(n).toBe(2);
  });

  it('wraps a throwing function in an AuthError', async () => {
    const tokens = createStaticTokenProvider(() => {
      throw new TypeError('vault sealed');
    });
    await expect(tokens.getToken()).rejects.toBeInstanceOf(AuthError);
  });
});

describe('client token refresh on 401', () => {
  it('50 concurrent calls rejected with 401/10004 cause exactly one token request, then all succeed', async () => {
    const tokens = jwtProvider();
    const stale = await tokens.getToken();
    // The org now only accepts tokens issued after the stale one (its session was revoked).
    fake.acceptToken = (t) => t !== stale && fake.issued.includes(t);
    const { client } = makeClient(fake, { tokens });
    await Promise.all(Array.from({ length: 50 }, () => client.reportRoutingResult(rr, finish)));
    expect(fake.tokenRequests).toHaveLength(2); // the initial fetch and ONE refresh
    const sent = fake.to('POST', api('routingResult'));
    expect(sent).toHaveLength(100);
    expect(sent.filter((r) => r.headers.authorization === `Bearer ${fake.issued[1]}`)).toHaveLength(50);
    // The re-send is the same logical call: same RequestId as its 401'd first try.
    const ids = new Map<string, number>();
    for (const r of sent) ids.set(String(r.headers.requestid), (ids.get(String(r.headers.requestid)) ?? 0) + 1);
    expect([...ids.values()].every((n) => n === 2)).toBe(true);
    expect(client.stats()).toMatchObject({ authRefreshes: 50, failures: 0 });
    await client.close();
  });

  it('a second 401 after the refresh is an auth error (one refresh per call)', async () => {
    const tokens = jwtProvider();
    fake.acceptToken = () => false;
    const { client } = makeClient(fake, { tokens });
    const err = (await client.reportRoutingResult(rr, finish).catch((e: unknown) => e)) as InteractionApiError;
    expect(err).toBeInstanceOf(InteractionApiError);
    expect(err).toMatchObject({ kind: 'auth', code: 'SB_API_AUTH', status: 401, apiCode: 10004 });
    expect(fake.apiRequests).toHaveLength(2);
    expect(fake.tokenRequests).toHaveLength(2);
    await client.close();
  });

  it('a token provider failure is SB_AUTH and sends nothing to the API', async () => {
    const { client } = makeClient(fake, {
      tokens: createStaticTokenProvider(() => Promise.reject(new Error('no'))),
    });
    const err = await client.reportRoutingResult(rr, finish).catch((e: unknown) => e);
    // The cause is the token, not the API: SB_AUTH, as docs/errors.md says.
    expect(err).toBeInstanceOf(AuthError);
    expect(err).toMatchObject({ code: 'SB_AUTH' });
    expect(fake.apiRequests).toHaveLength(0);
    await client.close();
  });
});
