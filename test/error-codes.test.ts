// One code per cause, as docs/errors.md lists them, each reached the way a new user meets it: the
// real token endpoint, the real gRPC Pub/Sub server, the real createSwitchboard option checks.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import * as api from '../src/index.js';
import { AuthError, ConfigError, createSwitchboard, createInteractionClient, createJwtBearerTokenProvider, createPubSubIntake, pubSubAuthFromTokenProvider, SwitchboardError, toId15 } from '../src/index.js';
import { startSandbox, type Sandbox } from '../src/sandbox/index.js';
import { finish } from './io/client-fixture.js';
import { errorFromResponse } from '../src/io/interaction-api/errors.js';
import { newConversation, routingRequested, sessionStatusChanged } from '../src/testing.js';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PEM = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const silent = pino({ level: 'silent' });

/** A loopback port nobody listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const org = (over: Partial<api.OrgOptions> = {}): api.OrgOptions => ({
  orgId: '00Dxx0000001234',
  scrtUrl: 'https://acme.my.salesforce-scrt.com',
  instanceUrl: 'https://acme.my.salesforce.com',
  authorizationContext: 'Partner1_Chat',
  loginUrl: 'https://login.salesforce.com',
  ...over,
});
const jwt = (privateKeyPem = PEM) => ({ jwt: { clientId: '3MVGconsumer', username: 'integration@acme.com', privateKey: privateKeyPem } });

function thrown(fn: () => unknown): SwitchboardError {
  try {
    fn();
  } catch (err) {
    return err as SwitchboardError;
  }
  throw new Error('did not throw');
}

describe('docs/errors.md and the public surface', () => {
  it('exports every error class the catalogue names, and each carries the code of its row', () => {
    const rows = [...doc.matchAll(/^\| `(SB_[A-Z_]+)` \| `(\w+)`/gm)].map((m) => ({ code: m[1]!, cls: m[2]! }));
    expect(rows.length).toBeGreaterThan(15);
    const exported = api as unknown as Record<string, unknown>;
    const missing = rows.filter((r) => typeof exported[r.cls] !== 'function').map((r) => r.cls);
    expect(missing).toEqual([]);
    for (const cls of ['PubSubDecodeError', 'PubSubRpcError', 'PubSubTopicError', 'PubSubStreamError', 'PubSubReplayRejectedError', 'PubSubHandlerError']) {
      expect(rows.map((r) => r.cls)).toContain(cls);
    }
    expect(new api.PubSubTopicError('/event/x__e', 'no')).toMatchObject({ code: 'SB_PUBSUB_TOPIC' });
    expect(new api.PubSubStreamError(14, 'gone')).toMatchObject({ code: 'SB_PUBSUB_STREAM' });
    expect(new api.PubSubRpcError('GetTopic', 5, 'not found')).toMatchObject({ code: 'SB_PUBSUB_RPC' });
    expect(new api.PubSubReplayRejectedError('00', 'EARLIEST', undefined, 'bad')).toMatchObject({ code: 'SB_PUBSUB_REPLAY_REJECTED' });
    expect(new api.PubSubHandlerError('00', undefined, new Error('x'))).toMatchObject({ code: 'SB_PUBSUB_HANDLER' });
    expect(new api.PubSubDecodeError('x', { replayId: '00' })).toMatchObject({ code: 'SB_PUBSUB_DECODE' });
    expect(new api.NotProvidedError('routeExternally')).toMatchObject({ code: 'SB_NOT_PROVIDED' });
  });
});

describe('Interaction Service failures: one code per kind', () => {
  it.each([
    [503, undefined, 'SB_API_RETRYABLE'],
    [400, 10094, 'SB_API_RETRYABLE'],
    [400, 10075, 'SB_API_CAPABILITY'],
    [400, 15109, 'SB_API_ALREADY_DONE'],
    [401, 10004, 'SB_API_AUTH'],
    [400, 10032, 'SB_API_TERMINAL'],
  ])('HTTP %i with code %s is %s', (status, apiCode, code) => {
    const err = errorFromResponse({ status, headers: {}, failure: apiCode === undefined ? {} : { apiCode } }, { endpoint: 'POST /route', requestId: 'r' });
    expect(err).toBeInstanceOf(api.InteractionApiError);
    expect(err.code).toBe(code);
  });

  it('an external transfer without routeExternally fails the request with SB_NOT_PROVIDED', async () => {
    const sb = createSwitchboard({ interactions: api.createRecordingInteractionService(), logger: silent });
    const finished = new Promise<{ outcome: string; message?: string }>((resolve) => sb.on('routing.finished', (e) => resolve(e.output)));
    const conv = newConversation();
    sb.ingest(sessionStatusChanged(conv, '0Mw000000000777AAA', 'Active'));
    sb.ingest(routingRequested(conv, 'Transfer', { externalContactId: 'EXT-1' }));
    const output = await finished;
    expect(output.outcome).toBe('failed');
    expect(output.message).toContain('SB_NOT_PROVIDED');
    await sb.stop();
  });

  it('a call whose routing deadline has passed is SB_DEADLINE and is not sent', async () => {
    const client = createInteractionClient({
      scrtUrl: `http://127.0.0.1:${await closedPort()}`,
      orgId: '00Dxx0000001234',
      authorizationContext: 'Partner1_Chat',
      tokens: api.createStaticTokenProvider(() => 'token'),
      logger: silent,
    });
    const err = await client
      .reportRoutingResult({ conversationIdentifier: 'c', workItemId: '0MwSB000000AAAA', success: true, externallyRouted: false }, { ...finish, deadlineAt: Date.now() - 1 })
      .then(() => undefined, (e: unknown) => e as SwitchboardError);
    expect(err).toBeInstanceOf(api.DeadlineExceededError);
    expect(err?.code).toBe('SB_DEADLINE');
    expect(client.stats().requests).toBe(0);
    await client.close();
  });

  it('every code in docs/errors.md is asserted by some test', () => {
    const files = (function walk(dir: string): string[] {
      return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : n.endsWith('.ts') ? [join(dir, n)] : []));
    })(new URL('.', import.meta.url).pathname);
    const tests = files.map((f) => readFileSync(f, 'utf8')).join('\n');
    const codes = [...new Set([...doc.matchAll(/`(SB_[A-Z_]+)`/g)].map((m) => m[1]!))];
    expect(codes.filter((c) => !tests.includes(`'${c}'`))).toEqual([]);
  });
});

describe('SB_AUTH: no token could be had, whichever side asked first', () => {
  let sandbox: Sandbox | undefined;
  afterEach(async () => {
    await sandbox?.stop();
    sandbox = undefined;
  });

  it('an Interaction Service call with the login host unreachable is SB_AUTH, and nothing is sent', async () => {
    const tokens = createJwtBearerTokenProvider({ loginUrl: `http://127.0.0.1:${await closedPort()}`, clientId: 'c', username: 'u', privateKey: PEM });
    const client = createInteractionClient({ scrtUrl: `http://127.0.0.1:${await closedPort()}`, orgId: '00Dxx0000001234', authorizationContext: 'Partner1_Chat', tokens, logger: silent });
    const err = await client
      .reportRoutingResult({ conversationIdentifier: 'c', workItemId: '0MwSB000000AAAA', success: true, externallyRouted: false }, finish)
      .then(() => undefined, (e: unknown) => e as SwitchboardError);
    if (!err) throw new Error('the call succeeded');
    expect(err).toBeInstanceOf(AuthError);
    expect(err).toMatchObject({ code: 'SB_AUTH' });
    expect(err.message).toMatch(/org\.loginUrl/);
    expect(client.stats().requests).toBe(0);
    await client.close();
  });

  it('subscribing with the login host unreachable is SB_AUTH too, not a Pub/Sub error', async () => {
    sandbox = await startSandbox({ reps: [] });
    const wiring = sandbox.switchboardOptions();
    const tokens = createJwtBearerTokenProvider({ loginUrl: `http://127.0.0.1:${await closedPort()}`, clientId: 'c', username: 'u', privateKey: PEM });
    const intake = createPubSubIntake({
      ...wiring.pubsub!,
      auth: pubSubAuthFromTokenProvider(tokens, wiring.org!.instanceUrl!, wiring.org!.orgId),
      handle: () => undefined,
      logger: silent,
    });
    const err = await intake.start().catch((e: unknown) => e as SwitchboardError);
    expect(err).toBeInstanceOf(AuthError);
    expect(err).toMatchObject({ code: 'SB_AUTH' });
    await intake.stop();
  });
});

describe('SB_CONFIG says what to do', () => {
  it('an 18-character org id points at toId15()', () => {
    const id18 = '00Dxx0000001234AAA';
    const err = thrown(() => createSwitchboard({ org: org({ orgId: id18 }), auth: jwt(), logger: silent }));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.code).toBe('SB_CONFIG');
    expect(err.message).toContain('toId15(');
    expect(err.message).toContain('18-character');
    // …and the advice works.
    expect(() => createSwitchboard({ org: org({ orgId: toId15(id18) }), auth: jwt(), logger: silent })).not.toThrow();
  });

  it('a PEM whose line breaks are literal \\n says so, without echoing the key', () => {
    const flattened = PEM.trim().split('\n').join('\\n');
    const err = thrown(() => createSwitchboard({ org: org(), auth: jwt(flattened), logger: silent }));
    expect(err).toMatchObject({ code: 'SB_CONFIG' });
    expect(err.message).toContain('literal "\\n"');
    expect(err.message).not.toContain(PEM.split('\n')[1]!);
    expect(() => createSwitchboard({ org: org(), auth: jwt(flattened.replace(/\\n/g, '\n')), logger: silent })).not.toThrow();
  });

  it('a topic without /event/ says so and shows the channel form', () => {
    const err = thrown(() =>
      createSwitchboard({ org: org(), auth: jwt(), logger: silent, pubsub: { topic: 'acme__Conversation__e', payloadField: 'acme__Payload__c', typeField: 'acme__EventType__c' } }),
    );
    expect(err).toMatchObject({ code: 'SB_CONFIG' });
    expect(err.message).toContain('/event/acme__Conversation__e');
  });

  it('SWITCHBOARD_LOG_LEVEL=verbose is a typed error naming the allowed levels, not a pino crash', () => {
    const before = process.env.SWITCHBOARD_LOG_LEVEL;
    process.env.SWITCHBOARD_LOG_LEVEL = 'verbose';
    try {
      const err = thrown(() => createSwitchboard({ interactions: api.createRecordingInteractionService() }));
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.message).toContain('SWITCHBOARD_LOG_LEVEL');
      for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) expect(err.message).toContain(level);
    } finally {
      if (before === undefined) delete process.env.SWITCHBOARD_LOG_LEVEL;
      else process.env.SWITCHBOARD_LOG_LEVEL = before;
    }
  });
});
