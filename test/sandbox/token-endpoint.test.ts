// POST /services/oauth2/token on the sandbox server: the JWT bearer flow (reference §1.1). A good
// RS256 assertion yields a token that the Interaction Service then accepts; anything wrong with the
// assertion is 400 invalid_grant.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAULT_ERRORS } from '../../src/sandbox/faults.js';
import { JWT_BEARER_GRANT } from '../../src/sandbox/token-endpoint.js';
import { CHANNEL, ORG_ID, startSandbox, type Sandbox } from './fixture.js';

const CLIENT_ID = '3MVG9-sandbox-consumer-key';
const AUDIENCE = 'https://login.salesforce.com';

let keys: { publicKey: KeyObject; privateKey: KeyObject };
let otherKeys: { publicKey: KeyObject; privateKey: KeyObject };
let sb: Sandbox;

beforeAll(async () => {
  keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  otherKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  sb = await startSandbox({ jwt: { publicKey: keys.publicKey.export({ type: 'spki', format: 'pem' }) as string, clientId: CLIENT_ID, audience: AUDIENCE } });
});
afterAll(() => sb.close());

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

function jwt(claims: Record<string, unknown>, opts: { key?: KeyObject; alg?: string } = {}): string {
  const input = `${b64({ alg: opts.alg ?? 'RS256', typ: 'JWT' })}.${b64(claims)}`;
  const signature = opts.alg === 'none' ? '' : sign('RSA-SHA256', Buffer.from(input), opts.key ?? keys.privateKey).toString('base64url');
  return `${input}.${signature}`;
}

const claims = (over: Record<string, unknown> = {}) => ({
  iss: CLIENT_ID,
  sub: 'integration@example.com',
  aud: AUDIENCE,
  exp: Math.floor(Date.now() / 1000) + 180,
  ...over,
});

async function token(form: Record<string, string>, contentType = 'application/x-www-form-urlencoded') {
  const res = await fetch(`${sb.server.url}/services/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': contentType, accept: 'application/json' },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

const consent = { endUserClientId: 'e', channelAddressIdentifier: CHANNEL, consentStatus: 'OptedOut' };

describe('POST /services/oauth2/token', () => {
  it('a good assertion → {access_token: <orgId>!…, instance_url, token_type, scope}, and the token works', async () => {
    const res = await token({ grant_type: JWT_BEARER_GRANT, assertion: jwt(claims()) });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      access_token: expect.stringMatching(new RegExp(`^${ORG_ID}![A-Za-z0-9_-]{20,}$`)),
      instance_url: sb.server.url,
      token_type: 'Bearer',
      scope: 'interaction_api',
    });
    const before = await sb.call('PATCH', 'consent', consent, { token: 'not-yet-issued' });
    expect(before.status).toBe(401);
    const used = await sb.call('PATCH', 'consent', consent, { token: res.body.access_token! });
    expect(used).toMatchObject({ status: 200, body: { success: true } });
    // The assertion is not kept in the records.
    const rec = sb.server.records.find((r) => r.endpoint === 'POST /services/oauth2/token')!;
    expect(rec.body).toEqual({ grant_type: JWT_BEARER_GRANT, assertion: '***' });
    expect(JSON.stringify(sb.server.records)).not.toContain(res.body.access_token);
  });

  it('an audience with a trailing slash is the same host', async () => {
    expect((await token({ grant_type: JWT_BEARER_GRANT, assertion: jwt(claims({ aud: `${AUDIENCE}/` })) })).status).toBe(200);
  });

  it.each([
    ['signed with another key', () => jwt(claims(), { key: otherKeys.privateKey }), /signature/],
    ['alg none', () => jwt(claims(), { alg: 'none' }), /algorithm/],
    ['alg HS256', () => jwt(claims(), { alg: 'HS256' }), /algorithm/],
    ['a wrong iss', () => jwt(claims({ iss: 'someone-else' })), /iss/],
    ['a wrong aud', () => jwt(claims({ aud: 'https://test.salesforce.com' })), /audience/],
    ['an exp in the past', () => jwt(claims({ exp: Math.floor(Date.now() / 1000) - 1 })), /expired/],
    ['no exp', () => jwt(claims({ exp: undefined })), /exp/],
    ['no sub', () => jwt(claims({ sub: undefined })), /sub/],
    ['not a JWT', () => 'abc.def', /JWS/],
    ['a tampered payload', () => {
      const [h, , s] = jwt(claims()).split('.');
      return `${h}.${b64(claims({ sub: 'admin@example.com' }))}.${s}`;
    }, /signature/],
  ])('%s → 400 invalid_grant', async (_, assertion, why) => {
    const res = await token({ grant_type: JWT_BEARER_GRANT, assertion: assertion() });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
    expect(res.body.error_description).toMatch(why);
  });

  it('a missing assertion → invalid_grant; another grant type → unsupported_grant_type; JSON → invalid_request', async () => {
    expect((await token({ grant_type: JWT_BEARER_GRANT })).body.error).toBe('invalid_grant');
    expect((await token({ grant_type: 'password', username: 'u', password: 'p' })).body.error).toBe('unsupported_grant_type');
    expect((await token({ grant_type: JWT_BEARER_GRANT, assertion: jwt(claims()) }, 'application/json')).body.error).toBe('invalid_request');
  });

  it('obeys faults that name it', async () => {
    sb.faults.failNext('POST /services/oauth2/token', 1, FAULT_ERRORS.downstreamTimeout);
    const res = await token({ grant_type: JWT_BEARER_GRANT, assertion: jwt(claims()) });
    expect(res.status).toBe(503);
    expect(res.body.error).toBe('temporarily_unavailable');
    expect((await token({ grant_type: JWT_BEARER_GRANT, assertion: jwt(claims()) })).status).toBe(200);
  });
});

describe('tokens and orgs', () => {
  it('a token minted for another org is refused even when the token check would accept it', async () => {
    const open = await startSandbox({ tokens: { isValid: () => true } });
    try {
      expect((await open.call('PATCH', 'consent', consent, { token: 'anything' })).status).toBe(200);
      expect(await open.call('PATCH', 'consent', consent, { token: '00DSB000000OTHR!abc' })).toMatchObject({ status: 401, body: { code: 10004 } });
    } finally {
      await open.close();
    }
  });

  it('without jwt options the token endpoint answers 404', async () => {
    const bare = await startSandbox();
    try {
      const res = await fetch(`${bare.server.url}/services/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion: 'x' }).toString(),
      });
      expect(res.status).toBe(404);
    } finally {
      await bare.close();
    }
  });
});
