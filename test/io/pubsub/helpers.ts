// Shared fixtures for the Pub/Sub tests: a sandbox server on loopback, an intake wired to it, a
// token source that rotates on refresh, a logger that keeps its lines, and a poller. Everything is
// real gRPC and real Avro; only the numbers (idle window, keepalive) are small.
import { pino, type Logger } from 'pino';
import { createPubSubIntake, type PubSubIntake } from '../../../src/io/pubsub/index.js';
import type { PubSubIntakeOptions } from '../../../src/io/pubsub/options.js';
import { startPubSubServer, type PubSubServer, type PubSubServerOptions } from '../../../src/sandbox/pubsub-server.js';
import type { PlatformEvent } from '../../../src/domain/events.js';

export const TOPIC = '/event/ns__Conversation__e';
export const PAYLOAD_FIELD = 'ns__Payload__c';
export const TYPE_FIELD = 'ns__EventType__c';
export const TENANT = '00D000000000001';
export const INSTANCE = 'https://example.my.salesforce.com';

/** Polls until `check` returns a truthy value. No fixed sleeps: tests wait for the thing itself. */
export async function waitFor<T>(check: () => T | undefined | false | null, what: string, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export function captureLogger(): { logger: Logger; lines: LogLine[]; text: () => string } {
  const lines: LogLine[] = [];
  const raw: string[] = [];
  const logger = pino(
    { level: 'debug' },
    {
      write(s: string) {
        raw.push(s);
        lines.push(JSON.parse(s) as LogLine);
      },
    },
  );
  return { logger, lines, text: () => raw.join('') };
}

/** Tokens `token-1`, `token-2`, …: a forced refresh moves to the next one. */
export function rotatingAuth() {
  let n = 1;
  const calls = { plain: 0, forced: 0 };
  return {
    calls,
    current: () => `token-${n}`,
    auth: {
      instanceUrl: INSTANCE,
      tenantId: TENANT,
      async getToken(options?: { forceRefresh?: boolean }) {
        if (options?.forceRefresh) {
          calls.forced += 1;
          n += 1;
        } else {
          calls.plain += 1;
        }
        return `token-${n}`;
      },
    },
  };
}

export function startServer(overrides: PubSubServerOptions = {}): Promise<PubSubServer> {
  return startPubSubServer({
    topic: TOPIC,
    payloadField: PAYLOAD_FIELD,
    typeField: TYPE_FIELD,
    tokens: ['token-1', 'token-2', 'token-3'],
    tenantId: TENANT,
    keepaliveIntervalMs: 200,
    idleTimeoutMs: 1_000,
    ...overrides,
  });
}

export interface Harness {
  intake: PubSubIntake;
  handled: PlatformEvent[];
  log: ReturnType<typeof captureLogger>;
  auth: ReturnType<typeof rotatingAuth>;
}

export function intakeFor(server: PubSubServer, overrides: Partial<PubSubIntakeOptions> = {}): Harness {
  const handled: PlatformEvent[] = [];
  const log = captureLogger();
  const auth = rotatingAuth();
  const intake = createPubSubIntake({
    endpoint: server.address,
    insecure: true,
    topic: TOPIC,
    payloadField: PAYLOAD_FIELD,
    typeField: TYPE_FIELD,
    auth: auth.auth,
    handle: (e) => {
      handled.push(e);
    },
    backoff: { initialMs: 20, maxMs: 200, jitter: 0.5 },
    logger: log.logger,
    ...overrides,
  });
  return { intake, handled, log, auth };
}

/** An Interaction event payload (reference §2.2), numbered so order and loss are visible. */
export function entryPayload(n: number): string {
  return JSON.stringify({
    conversationIdentifier: '6d7a3f0e-0000-4000-8000-000000000001',
    channelAddressIdentifier: '6d7a3f0e-0000-4000-8000-0000000000c1',
    recipient: { appType: 'custom', subject: 'client-1', role: 'EndUser' },
    payload: { identifier: `entry-${n}`, entryType: 'Message', entryPayload: { entryType: 'Message', id: `m-${n}` } },
  });
}

export function publishMany(server: PubSubServer, from: number, count: number): string[] {
  const ids: string[] = [];
  for (let i = from; i < from + count; i++) ids.push(server.publish('Interaction', entryPayload(i)).eventId);
  return ids;
}

/** The entry numbers of handled events, in handling order. */
export function numbers(events: PlatformEvent[]): number[] {
  return events.map((e) => Number(/entry-(\d+)/.exec(e.payload)?.[1]));
}

export function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}

/** Waits until the server has processed the first FetchRequest of `count` streams (a LATEST start is fixed then). */
export function streamsStarted(server: PubSubServer, count = 1): Promise<unknown> {
  return waitFor(() => server.records().streams.filter((s) => s.fetchRequests.length > 0).length >= count, `${count} started stream(s)`);
}
