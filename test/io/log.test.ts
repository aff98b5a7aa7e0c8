// Secrets never reach a log line: the logger redacts known keys, and the client never logs a token.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createStaticTokenProvider } from '../../src/io/auth/index.js';
import { createLogger } from '../../src/io/log.js';
import { LogCapture, TOKEN, finish, makeClient, start } from './client-fixture.js';
import { FakeScrt, api } from './fake-scrt.js';

let fake: FakeScrt;
beforeAll(async () => {
  fake = await FakeScrt.start();
});
afterAll(() => fake.close());
afterEach(() => fake.reset());

describe('createLogger', () => {
  it('redacts token-like keys at the top level and one level down', () => {
    const out = new LogCapture();
    const log = createLogger({ level: 'info' }, out);
    log.info(
      {
        authorization: 'Bearer top-secret-1',
        token: 'top-secret-2',
        assertion: 'top-secret-3',
        headers: { authorization: 'Bearer nested-secret-1', Authorization: 'Bearer nested-secret-2', orgid: '00D' },
        auth: { accessToken: 'nested-secret-3', access_token: 'nested-secret-4', privateKey: 'nested-secret-5' },
      },
      'hello',
    );
    expect(out.text).not.toMatch(/secret/);
    expect(out.records()[0]).toMatchObject({ msg: 'hello', headers: { orgid: '00D', authorization: '[redacted]' } });
  });
});

describe('client logging', () => {
  it('logs failed attempts at warn and successes at debug, with no token anywhere', async () => {
    const stale = '00DSB000000AAAA!stale-token-value';
    let n = 0;
    const tokens = createStaticTokenProvider(() => (++n === 1 ? stale : TOKEN));
    fake.acceptToken = (t) => t === TOKEN;
    const { client, logs } = makeClient(fake, { tokens });
    fake.script('POST', api('routingResult'), { status: 503, body: { code: 500, message: `echo Bearer ${TOKEN}` } });
    await client.reportRoutingResult(
      { conversationIdentifier: 'c', workItemId: '0MwSB000000AAAA', success: true, externallyRouted: false },
      finish,
    );
    fake.always('POST', api('route'), { destroy: true });
    await client.createRoute({ conversationIdentifier: 'c', routingType: 'Initial' }, start).catch(() => undefined);
    await client.close();

    expect(logs.text).not.toContain(TOKEN);
    expect(logs.text).not.toContain(stale);
    const records = logs.records();
    const failed = records.filter((r) => r.msg === 'interaction api attempt failed');
    expect(failed[0]).toMatchObject({ level: 40, endpoint: 'POST /routingResult', attempt: 1, status: 401, apiCode: 10004, kind: 'auth' });
    expect(failed[0]!.requestId).toEqual(expect.any(String));
    expect(failed[0]!.ms).toEqual(expect.any(Number));
    expect(failed[1]).toMatchObject({ endpoint: 'POST /routingResult', attempt: 1, status: 503, apiCode: 500, kind: 'retryable' });
    expect(failed.some((r) => r.endpoint === 'POST /route' && r.kind === 'retryable' && r.errorCode === 'ECONNRESET')).toBe(true);
    expect(records.filter((r) => r.msg === 'interaction api call succeeded')).toEqual([
      expect.objectContaining({ level: 20, endpoint: 'POST /routingResult', attempt: 2, status: 202 }),
    ]);
  });
});
