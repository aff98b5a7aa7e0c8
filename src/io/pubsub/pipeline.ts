// The handling pipeline: received events are handled strictly in stream order, one at a time —
// an async handler is awaited before the next event starts — and each is reported done only after
// it (and so everything before it) is finished. That order is what makes the replay cursor safe:
// the machine moves it to an event's replay id only when that event is reported done.
//
// Duplicates (a replay after a reconnect, a re-delivery) are recognised on arrival by event id and
// pass through the queue without reaching the handler, so they still move the cursor in order.
import type { PlatformEvent } from '../../domain/events.js';
import type { EventCodec, DecodeResult } from './codec.js';
import type { RecentIds } from './dedupe.js';
import { PubSubHandlerError, type PubSubDecodeError } from './errors.js';
import { replayIdToHex } from './replay-id.js';
import type { ConsumerEvent } from './wire.js';

export interface PipelineOptions {
  codec: EventCodec;
  handle: (event: PlatformEvent) => unknown;
  dedupe: RecentIds;
  /** Called once per received event, in order, when it is finished (handled, skipped or a duplicate). */
  onDone(replayId: string): void;
  onHandled?(event: PlatformEvent): void;
  onDuplicate?(info: { replayId: string; eventId: string | undefined }): void;
  onDecodeError(error: PubSubDecodeError): void;
  onHandlerError(error: PubSubHandlerError): void;
  /** A schema lookup failed in a way that may pass (service down, token refresh): the queue waits and retries. */
  onSchemaRetry?(error: unknown, delayMs: number): void;
  schemaRetry?: { initialMs: number; maxMs: number };
}

export interface HandlingPipeline {
  push(events: ConsumerEvent[]): void;
  /** Received and not yet finished: queued plus the one being handled. */
  readonly inFlight: number;
  /** The most ever in flight at once. */
  readonly peakInFlight: number;
  /** Resolves when nothing is in flight. */
  idle(): Promise<void>;
  /** Stops handling: what is still queued is dropped (not reported done, so the cursor stays before it). */
  close(): void;
}

interface Item {
  event: ConsumerEvent;
  replayId: string;
  duplicate: boolean;
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

export function createHandlingPipeline(options: PipelineOptions): HandlingPipeline {
  const { codec, dedupe } = options;
  const retry = options.schemaRetry ?? { initialMs: 500, maxMs: 30_000 };
  const queue: Item[] = [];
  let head = 0;
  let running = false;
  let closed = false;
  let peak = 0;
  let idleWaiters: Array<() => void> = [];
  let wakeRetry: (() => void) | undefined;

  const inFlight = () => queue.length - head;

  function settleIdle(): void {
    if (inFlight() > 0 && !closed) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const w of waiters) w();
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        wakeRetry = undefined;
        resolve();
      }, ms);
      wakeRetry = () => {
        clearTimeout(t);
        wakeRetry = undefined;
        resolve();
      };
    });
  }

  async function decode(item: Item): Promise<DecodeResult | undefined> {
    const schemaId = item.event.event?.schema_id;
    const cached = schemaId ? codec.cachedType(schemaId) : undefined;
    if (cached) return codec.decodeWith(cached, item.event);
    for (let attempt = 1; !closed; attempt++) {
      try {
        return await codec.decode(item.event);
      } catch (err) {
        const delayMs = Math.min(retry.maxMs, retry.initialMs * 2 ** (attempt - 1));
        options.onSchemaRetry?.(err, delayMs);
        await sleep(delayMs);
      }
    }
    return undefined;
  }

  /** Finishes one item; false when the pipeline closed before it could. */
  async function process(item: Item): Promise<boolean> {
    if (item.duplicate) {
      options.onDuplicate?.({ replayId: item.replayId, eventId: item.event.event?.id || undefined });
      return true;
    }
    const result = await decode(item);
    if (!result) return false;
    if (!result.ok) {
      options.onDecodeError(result.error);
      return true;
    }
    try {
      const out = options.handle(result.event);
      if (isPromiseLike(out)) await out;
      options.onHandled?.(result.event);
    } catch (cause) {
      // A handler that throws on one event must not stall the stream behind it: report, move on.
      options.onHandlerError(new PubSubHandlerError(item.replayId, result.event.eventId, cause));
    }
    return true;
  }

  async function run(): Promise<void> {
    running = true;
    try {
      while (!closed && inFlight() > 0) {
        const item = queue[head]!;
        const finished = await process(item);
        if (!finished || closed) break;
        queue[head] = undefined as unknown as Item;
        head += 1;
        if (head > 1024 && head * 2 > queue.length) {
          queue.splice(0, head);
          head = 0;
        }
        options.onDone(item.replayId);
      }
    } finally {
      running = false;
      settleIdle();
    }
  }

  return {
    push(events) {
      if (closed) return;
      for (const event of events) {
        const replayId = replayIdToHex(event.replay_id);
        const key = event.event?.id ? `id:${event.event.id}` : replayId ? `replay:${replayId}` : undefined;
        queue.push({ event, replayId, duplicate: key !== undefined && dedupe.seen(key) });
      }
      peak = Math.max(peak, inFlight());
      // Start on a microtask so the machine has counted these events before the first is reported done.
      if (!running) {
        running = true;
        queueMicrotask(() => void run());
      }
    },
    get inFlight() {
      return inFlight();
    },
    get peakInFlight() {
      return peak;
    },
    idle() {
      if (inFlight() === 0 || closed) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
    close() {
      closed = true;
      wakeRetry?.();
      settleIdle();
    },
  };
}
