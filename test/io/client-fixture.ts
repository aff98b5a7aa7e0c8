// Builds an Interaction Service client pointed at a FakeScrt, with small retry waits so error-path
// tests stay fast, and a pino logger writing to memory so tests can read the log lines.
import { Writable } from 'node:stream';
import { createStaticTokenProvider, type TokenProvider } from '../../src/io/auth/index.js';
import { createInteractionClient, type InteractionClientOptions } from '../../src/io/interaction-api/index.js';
import { createLogger } from '../../src/io/log.js';
import type { CallContext } from '../../src/domain/ports.js';
import type { FakeScrt } from './fake-scrt.js';

export const ORG_ID = '00DSB000000AAAA';
export const AUTH_CONTEXT = 'Partner1_ChannelDefinition1';
export const TOKEN = '00DSB000000AAAA!secret-access-token-value';

export const start: CallContext = { key: 'k', priority: 'start' };
export const finish: CallContext = { key: 'k', priority: 'finish' };

export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    cb();
  }
  get text(): string {
    return this.lines.join('\n');
  }
  records(): Array<Record<string, unknown>> {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

export function makeClient(fake: FakeScrt, overrides: Partial<InteractionClientOptions> = {}) {
  const logs = new LogCapture();
  const tokens: TokenProvider = overrides.tokens ?? createStaticTokenProvider(() => TOKEN);
  const client = createInteractionClient({
    scrtUrl: fake.url,
    orgId: ORG_ID,
    authorizationContext: AUTH_CONTEXT,
    logger: createLogger({ level: 'debug' }, logs),
    ...overrides,
    tokens,
    limits: { retry: { baseMs: 5, capMs: 20 }, ...overrides.limits },
  });
  return { client, logs, tokens };
}
