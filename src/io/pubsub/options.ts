// Options of the Pub/Sub intake, their defaults, and the checks that catch a configuration that
// cannot work before anything connects.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ConfigError } from '../../domain/errors.js';
import type { PlatformEvent } from '../../domain/events.js';
import { MAX_BATCH_SIZE, type ManagedSubscription, type ReplayPreset } from '../../machines/subscription.js';
import type { CursorStore } from '../store/cursor.js';
import type { PubSubAuth } from './auth.js';

export const DEFAULT_ENDPOINT = 'api.pubsub.salesforce.com:7443';
/** Salesforce sends a keepalive within 270 s; a little more than that without one means a dead stream. */
export const DEFAULT_KEEPALIVE_TIMEOUT_MS = 300_000;
export const DEFAULT_DEDUPE_WINDOW = 10_000;

/**
 * HTTP/2 keepalive in tens of seconds: it finds half-open connections (NAT or load-balancer idle
 * drops) long before the application watchdog, without provoking GOAWAY "too_many_pings".
 */
export const DEFAULT_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 0,
  // Up to 100 events of up to 1 MB each can arrive in one FetchResponse.
  'grpc.max_receive_message_length': 128 * 1024 * 1024,
};

export interface PubSubIntakeOptions {
  /** host:port. Default `api.pubsub.salesforce.com:7443`. */
  endpoint?: string;
  /** The CCD's platform event channel, e.g. `/event/ns__Conversation__e`. */
  topic: string;
  /** The CCD's CustomEventPayloadField, e.g. `ns__Payload__c`. */
  payloadField: string;
  /** The CCD's CustomEventTypeField, e.g. `ns__EventType__c`. */
  typeField: string;
  auth: PubSubAuth;
  /** The engine's intake (e.g. `switchboard.ingest`), synchronous or returning a promise. */
  handle: (event: PlatformEvent) => unknown;
  /** Where the replay cursor is kept. Without one the subscription starts at `replayPreset` on every start. */
  store?: CursorStore;
  /** Where to start without a stored cursor. Default LATEST. */
  replayPreset?: ReplayPreset;
  /** Where to start when Salesforce refuses the stored replay id. Default EARLIEST (nothing lost, duplicates deduped). */
  replayFallback?: ReplayPreset;
  /** Credit per stream, 1–100. Default 100. */
  batchSize?: number;
  keepaliveTimeoutMs?: number;
  backoff?: { initialMs?: number; maxMs?: number; jitter?: number };
  /** Received-but-unhandled events plus outstanding credit never exceed this. Default `batchSize`. */
  maxInFlight?: number;
  /** Event ids remembered for dedupe. Default 10,000. */
  dedupeWindow?: number;
  /** Use ManagedSubscribe: the server keeps the position of this ManagedEventSubscription. */
  managed?: ManagedSubscription;
  /** Managed mode: commit at least every this many events. Default half of `batchSize`. */
  commitEvery?: number;
  /** Plaintext HTTP/2, for loopback tests and the sandbox only. */
  insecure?: boolean;
  /** A PEM CA bundle to trust instead of Node's root certificates. */
  ca?: Buffer;
  /** Extra grpc-js channel options, merged over the defaults. */
  channelOptions?: grpc.ChannelOptions;
  logger?: Logger;
  /** Deadline of GetTopic / GetSchema. Default 30 s. */
  rpcDeadlineMs?: number;
  /** How long stop() waits for in-flight handling. Default 30 s. */
  drainTimeoutMs?: number;
  /**
   * How long start() waits for the stream to be subscribed before it rejects (the subscription
   * keeps trying in the background). Default 30 s.
   */
  subscribeTimeoutMs?: number;
}

export interface ResolvedIntakeOptions extends PubSubIntakeOptions {
  endpoint: string;
  replayPreset: ReplayPreset;
  replayFallback: ReplayPreset;
  batchSize: number;
  keepaliveTimeoutMs: number;
  backoff: { initialMs: number; maxMs: number; jitter: number };
  maxInFlight: number;
  dedupeWindow: number;
  commitEvery: number;
  drainTimeoutMs: number;
  subscribeTimeoutMs: number;
}

const PRESETS = new Set(['LATEST', 'EARLIEST']);

function positiveInt(name: string, value: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new ConfigError(`pubsub.${name} must be an integer from 1 to ${max} (got ${value})`);
  }
  return value;
}

export function resolveIntakeOptions(o: PubSubIntakeOptions): ResolvedIntakeOptions {
  if (!o || typeof o !== 'object') throw new ConfigError('createPubSubIntake needs options');
  for (const key of ['topic', 'payloadField', 'typeField'] as const) {
    if (typeof o[key] !== 'string' || o[key].trim() === '') throw new ConfigError(`pubsub.${key} is required`);
  }
  if (!o.topic.startsWith('/event/')) {
    // The CCD's CustomPlatformEvent field holds the bare API name; the Pub/Sub topic is its channel.
    const bare = o.topic.replace(/^\/+/, '');
    throw new ConfigError(`pubsub.topic ${JSON.stringify(o.topic)} is not a platform event channel: it must start with /event/ (e.g. /event/${bare.includes('/') ? 'ns__Conversation__e' : bare})`);
  }
  if (typeof o.handle !== 'function') throw new ConfigError('pubsub.handle must be a function');
  if (!o.auth || typeof o.auth.getToken !== 'function' || !o.auth.instanceUrl || !o.auth.tenantId) {
    throw new ConfigError('pubsub.auth needs getToken(), instanceUrl and tenantId');
  }
  const replayPreset = o.replayPreset ?? 'LATEST';
  const replayFallback = o.replayFallback ?? 'EARLIEST';
  if (!PRESETS.has(replayPreset)) throw new ConfigError(`pubsub.replayPreset must be LATEST or EARLIEST`);
  if (!PRESETS.has(replayFallback)) throw new ConfigError(`pubsub.replayFallback must be LATEST or EARLIEST`);
  if (o.managed && !o.managed.subscriptionId && !o.managed.developerName) {
    throw new ConfigError('pubsub.managed needs subscriptionId or developerName');
  }
  const batchSize = positiveInt('batchSize', o.batchSize ?? MAX_BATCH_SIZE, MAX_BATCH_SIZE);
  const backoff = { initialMs: o.backoff?.initialMs ?? 1_000, maxMs: o.backoff?.maxMs ?? 60_000, jitter: o.backoff?.jitter ?? 0.5 };
  positiveInt('backoff.initialMs', backoff.initialMs);
  if (backoff.maxMs < backoff.initialMs) throw new ConfigError('pubsub.backoff.maxMs must be at least initialMs');
  if (!(backoff.jitter >= 0 && backoff.jitter <= 1)) throw new ConfigError('pubsub.backoff.jitter must be between 0 and 1');
  return {
    ...o,
    endpoint: o.endpoint ?? DEFAULT_ENDPOINT,
    replayPreset,
    replayFallback,
    batchSize,
    keepaliveTimeoutMs: positiveInt('keepaliveTimeoutMs', o.keepaliveTimeoutMs ?? DEFAULT_KEEPALIVE_TIMEOUT_MS),
    backoff,
    maxInFlight: positiveInt('maxInFlight', o.maxInFlight ?? batchSize),
    dedupeWindow: positiveInt('dedupeWindow', o.dedupeWindow ?? DEFAULT_DEDUPE_WINDOW),
    commitEvery: positiveInt('commitEvery', o.commitEvery ?? Math.max(1, Math.floor(batchSize / 2))),
    drainTimeoutMs: positiveInt('drainTimeoutMs', o.drainTimeoutMs ?? 30_000),
    subscribeTimeoutMs: positiveInt('subscribeTimeoutMs', o.subscribeTimeoutMs ?? 30_000),
  };
}
