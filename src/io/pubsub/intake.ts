// The Pub/Sub intake: runs the subscription machine against a real grpc-js client and feeds every
// decoded platform event to the engine exactly once, in order.
//
// At-least-once without duplicates: the replay cursor moves only when an event and everything
// before it are handled (./pipeline.ts), it is saved through the CursorStore port, and after any
// reconnect the stream resumes after it; what the replay sends again is recognised by event id and
// never reaches `handle` a second time. Bad events are logged with their replay id, counted and
// skipped. The access token goes into call metadata and nowhere else — never into a log line.
import * as grpc from '@grpc/grpc-js';
import { pino, type Logger } from 'pino';
import { createActor, fromPromise, type ActorRefFrom, type SnapshotFrom } from 'xstate';
import { describeError, StoppedError } from '../../domain/errors.js';
import type { PlatformEvent } from '../../domain/events.js';
import { subscriptionMachine, type CloseOutcome, type SubscriptionEmitted, type SubscriptionInput } from '../../machines/subscription.js';
import { createEventCodec } from './codec.js';
import { checkFields, describeSubscriptionState, untilSubscribed } from './ready.js';
import { createCursorWriter } from './cursor-writer.js';
import { RecentIds } from './dedupe.js';
import {
  PubSubDecodeError,
  PubSubHandlerError,
  PubSubReplayRejectedError,
  PubSubStreamError,
  PubSubTopicError,
} from './errors.js';
import { DEFAULT_CHANNEL_OPTIONS, resolveIntakeOptions, type PubSubIntakeOptions } from './options.js';
import { createHandlingPipeline } from './pipeline.js';
import { loadPubSubService, type PubSubClient } from './proto.js';
import { replayIdToHex } from './replay-id.js';
import { createPubSubRpc } from './rpc.js';
import { createStreamActor } from './stream.js';

export interface PubSubIntakeStats {
  /** Where the subscription is, e.g. `subscribed.flowing`, `backingOff`, `stopped`. */
  state: string;
  /** Credit outstanding on the current stream. */
  credit: number;
  /** Events received and not yet handled. */
  inFlight: number;
  peakInFlight: number;
  /** Hex replay id of the last handled event (or keepalive position). */
  cursor: string | undefined;
  received: number;
  handled: number;
  duplicates: number;
  decodeErrors: number;
  handlerErrors: number;
  keepalives: number;
  streamsOpened: number;
  /** Streams that ended other than by stop(). */
  streamFailures: number;
  authRefreshes: number;
  replayFallbacks: number;
  keepaliveMisses: number;
  schemas: number;
  lastError: string | undefined;
}

export interface PubSubIntakeEvents {
  /** The subscription moved (see stats().state). */
  state: { state: string };
  /** An event reached `handle` and returned (or resolved). */
  handled: { event: PlatformEvent };
  /** An event could not be decoded: skipped. */
  decodeError: PubSubDecodeError;
  /** `handle` threw or rejected: the event counts as handled. */
  handlerError: PubSubHandlerError;
  /** A stream ended; `next` says what the subscription does about it. */
  streamClosed: { error: PubSubStreamError; next: CloseOutcome };
  /** The stored replay id was refused; the subscription restarted from the fallback preset. */
  replayRejected: PubSubReplayRejectedError;
  keepaliveMissed: { silentForMs: number };
  /** The cursor moved to a new replay id (hex). */
  cursor: { replayId: string; source: 'handled' | 'keepalive' };
}

export interface PubSubIntake {
  /** Loads the cursor, checks the topic (GetTopic) and warms its schema, then subscribes. Rejects on a topic it cannot use. */
  start(): Promise<void>;
  /** Stops asking for events, finishes handling what arrived, stores (or commits) the cursor and closes the stream. */
  stop(): Promise<void>;
  stats(): PubSubIntakeStats;
  on<K extends keyof PubSubIntakeEvents>(event: K, listener: (e: PubSubIntakeEvents[K]) => void): () => void;
}

export { describeSubscriptionState } from './ready.js';

type Listeners = { [K in keyof PubSubIntakeEvents]: Set<(e: PubSubIntakeEvents[K]) => void> };

export function createPubSubIntake(options: PubSubIntakeOptions): PubSubIntake {
  const o = resolveIntakeOptions(options);
  const log: Logger = (o.logger ?? pino({ level: 'silent' })).child({ component: 'pubsub', topic: o.topic });

  const Service = loadPubSubService();
  const credentials = o.insecure ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(o.ca ?? null);
  // Constructing the client does not connect; the channel comes up with the first call.
  const client: PubSubClient = new Service(o.endpoint, credentials, { ...DEFAULT_CHANNEL_OPTIONS, ...o.channelOptions });

  const counters = {
    received: 0,
    handled: 0,
    duplicates: 0,
    decodeErrors: 0,
    handlerErrors: 0,
    keepalives: 0,
    streamsOpened: 0,
    streamFailures: 0,
    authRefreshes: 0,
    replayFallbacks: 0,
    keepaliveMisses: 0,
  };
  let lastError: string | undefined;

  const listeners: Listeners = {
    state: new Set(),
    handled: new Set(),
    decodeError: new Set(),
    handlerError: new Set(),
    streamClosed: new Set(),
    replayRejected: new Set(),
    keepaliveMissed: new Set(),
    cursor: new Set(),
  };
  function notify<K extends keyof PubSubIntakeEvents>(event: K, payload: PubSubIntakeEvents[K]): void {
    for (const listener of listeners[event]) {
      try {
        listener(payload);
      } catch (err) {
        // A listener's bug must not stall the stream.
        log.error({ err: describeError(err), listener: event }, 'pubsub listener threw');
      }
    }
  }

  const rpc = createPubSubRpc(client, o.auth, o.rpcDeadlineMs);
  const codec = createEventCodec({ schemas: rpc, payloadField: o.payloadField, typeField: o.typeField });
  const dedupe = new RecentIds(o.dedupeWindow);
  const cursorWriter = o.store
    ? createCursorWriter(o.store, o.topic, (err) => log.warn({ err: describeError(err) }, 'pubsub cursor save failed; retrying with the next event'))
    : undefined;

  let actor: ActorRefFrom<typeof subscriptionMachine> | undefined;
  const active = () => actor !== undefined && actor.getSnapshot().status === 'active';

  const pipeline = createHandlingPipeline({
    codec,
    handle: o.handle,
    dedupe,
    onDone(replayId) {
      if (active()) actor!.send({ type: 'EVENTS_HANDLED', count: 1, ...(replayId ? { replayId } : {}) });
    },
    onHandled(event) {
      counters.handled += 1;
      if (listeners.handled.size > 0) notify('handled', { event });
    },
    onDuplicate(info) {
      counters.duplicates += 1;
      log.debug(info, 'pubsub duplicate delivery skipped');
    },
    onDecodeError(error) {
      counters.decodeErrors += 1;
      log.warn(
        { code: error.code, replayId: error.replayId, eventId: error.eventId, schemaId: error.schemaId, field: error.field, reason: error.message },
        'pubsub event skipped: it does not decode',
      );
      notify('decodeError', error);
    },
    onHandlerError(error) {
      counters.handlerErrors += 1;
      log.error({ code: error.code, replayId: error.replayId, eventId: error.eventId, err: describeError(error.cause) }, 'pubsub event handler failed');
      notify('handlerError', error);
    },
    onSchemaRetry(err, delayMs) {
      log.warn({ err: describeError(err), delayMs }, 'pubsub schema lookup failed; handling waits and retries');
    },
  });

  function onEmitted(e: SubscriptionEmitted): void {
    switch (e.type) {
      case 'stream.opening':
        counters.streamsOpened += 1;
        log.info({ replayPreset: e.replay.preset, replayId: e.replay.replayId, attempt: e.attempt, managed: !!o.managed }, 'pubsub subscribing');
        break;
      case 'stream.closed': {
        const error = new PubSubStreamError(e.code, e.details, e.errorCode);
        if (e.next !== 'stopped') {
          counters.streamFailures += 1;
          lastError = error.message;
          log.warn({ grpcCode: e.code, details: e.details, errorCode: e.errorCode, next: e.next }, 'pubsub stream closed');
        }
        notify('streamClosed', { error, next: e.next });
        break;
      }
      case 'retry.scheduled':
        log.info({ attempt: e.attempt, delayMs: e.delayMs }, 'pubsub resubscribing after backoff');
        break;
      case 'auth.refreshing':
        counters.authRefreshes += 1;
        log.info('pubsub access token refused; refreshing it');
        break;
      case 'replay.rejected': {
        counters.replayFallbacks += 1;
        const error = new PubSubReplayRejectedError(e.replayId, e.fallback, e.errorCode, e.details);
        lastError = error.message;
        // Loud on purpose: falling back means replaying (EARLIEST) or skipping (LATEST) events.
        log.error({ code: error.code, replayId: e.replayId, errorCode: e.errorCode, fallback: e.fallback }, 'pubsub stored replay id refused; resubscribing from the fallback preset');
        notify('replayRejected', error);
        break;
      }
      case 'keepalive.missed':
        counters.keepaliveMisses += 1;
        log.warn({ silentForMs: e.silentForMs }, 'pubsub stream silent past the keepalive timeout; resubscribing');
        notify('keepaliveMissed', { silentForMs: e.silentForMs });
        break;
      case 'cursor.advanced':
        cursorWriter?.advance(e.replayId);
        if (listeners.cursor.size > 0) notify('cursor', { replayId: e.replayId, source: e.source });
        break;
    }
  }

  let startPromise: Promise<void> | undefined;
  let stopPromise: Promise<void> | undefined;

  async function start(): Promise<void> {
    if (stopPromise) throw new StoppedError();
    const stored = o.store ? await o.store.load(o.topic) : undefined;
    const topic = await rpc.getTopic(o.topic);
    if (!topic.can_subscribe) throw new PubSubTopicError(o.topic, 'this user may not subscribe to the topic');
    // Warm the current schema so the first event decodes without a round trip; a failure here is
    // not fatal, the pipeline retries per event.
    if (topic.schema_id) {
      const type = await codec.typeFor(topic.schema_id).catch((err: unknown) => void log.warn({ err: describeError(err) }, 'pubsub schema warm-up failed'));
      // The CCD's field names are known now: a wrong one would skip every event as undecodable
      // while the cursor moves on, so it stops start() instead.
      if (type) checkFields(type as unknown as { fields?: ReadonlyArray<{ name: string }> }, o.topic, { payloadField: o.payloadField, typeField: o.typeField });
    }
    if (stopPromise) throw new StoppedError();

    const input: SubscriptionInput = {
      topic: o.topic,
      replayPreset: o.replayPreset,
      replayFallback: o.replayFallback,
      batchSize: o.batchSize,
      maxInFlight: o.maxInFlight,
      keepaliveTimeoutMs: o.keepaliveTimeoutMs,
      backoff: o.backoff,
      commitEvery: o.commitEvery,
      ...(o.managed ? { managed: o.managed } : {}),
      ...(stored && stored.length > 0 ? { cursor: replayIdToHex(stored) } : {}),
    };
    const machine = subscriptionMachine.provide({
      actors: {
        stream: createStreamActor(client, o.auth, {
          onEvents(events) {
            counters.received += events.length;
            pipeline.push(events);
          },
          onKeepalive() {
            counters.keepalives += 1;
          },
          onCommitError(info) {
            log.warn(info, 'pubsub replay id commit failed');
          },
        }),
        refreshToken: fromPromise(async () => {
          await o.auth.getToken({ forceRefresh: true });
        }),
      },
    });
    const a = createActor(machine, { input });
    actor = a;
    let lastState = '';
    a.subscribe({
      next(snapshot: SnapshotFrom<typeof subscriptionMachine>) {
        const state = describeSubscriptionState(snapshot.value);
        if (state !== lastState) {
          lastState = state;
          log.debug({ state }, 'pubsub subscription state');
          notify('state', { state });
        }
      },
      error(err) {
        lastError = describeError(err);
        log.error({ err: lastError }, 'pubsub subscription machine failed');
      },
    });
    a.on('*', (e) => onEmitted(e as SubscriptionEmitted));
    const subscribed = untilSubscribed(a, o.topic, o.subscribeTimeoutMs, () => lastError);
    a.start();
    await subscribed;
  }

  async function stop(): Promise<void> {
    stopPromise ??= (async () => {
      await startPromise?.catch(() => undefined);
      const a = actor;
      if (a && active()) {
        a.send({ type: 'DRAIN' });
        const drained = await Promise.race([
          pipeline.idle().then(() => true),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), o.drainTimeoutMs).unref()),
        ]);
        if (!drained) log.warn({ inFlight: pipeline.inFlight }, 'pubsub stop: handling did not finish in time; the rest will be replayed');
        if (o.managed && active()) await waitForCommit(a, Math.min(2_000, o.drainTimeoutMs));
      }
      pipeline.close();
      if (a && active()) a.send({ type: 'STOP' });
      await cursorWriter?.flush();
      client.close();
      log.info({ cursor: a?.getSnapshot().context.cursor }, 'pubsub intake stopped');
    })();
    return stopPromise;
  }

  return {
    start() {
      startPromise ??= start().catch((err: unknown) => {
        client.close();
        throw err;
      });
      return startPromise;
    },
    stop,
    stats() {
      const snapshot = actor?.getSnapshot();
      const ctx = snapshot?.context;
      return {
        ...counters,
        state: snapshot ? describeSubscriptionState(snapshot.value) : stopPromise ? 'stopped' : 'idle',
        credit: ctx?.outstanding ?? 0,
        inFlight: pipeline.inFlight,
        peakInFlight: pipeline.peakInFlight,
        cursor: ctx?.cursor,
        schemas: codec.schemaCount,
        lastError: lastError ?? ctx?.lastError,
      };
    },
    on(event, listener) {
      const set = listeners[event] as Set<typeof listener>;
      set.add(listener);
      return () => set.delete(listener);
    },
  };
}

/** Managed mode: wait until the server confirmed the last handled replay id, or give up after `ms`. */
function waitForCommit(a: ActorRefFrom<typeof subscriptionMachine>, ms: number): Promise<void> {
  const done = (s: SnapshotFrom<typeof subscriptionMachine>) =>
    s.status !== 'active' || !s.context.cursor || s.context.committed === s.context.cursor;
  if (done(a.getSnapshot())) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(finish, ms);
    timer.unref();
    const sub = a.subscribe((s) => {
      if (done(s)) finish();
    });
    function finish() {
      clearTimeout(timer);
      sub.unsubscribe();
      resolve();
    }
  });
}
