// The subscription machine: the life of one Pub/Sub subscription to the CCD's platform event
// topic. It decides when to open a stream and from where, how much to ask for, when the stream is
// dead, and how to come back — the gRPC driver in src/io/pubsub does the talking, providing the
// effects named here (`stream`, `refreshToken`) with `.provide()`; tests provide fakes.
//
// What it guarantees (test/io/pubsub checks each against a real gRPC server):
// - flow control: never more than `batchSize` (≤ 100) events outstanding, and never more than
//   `maxInFlight` received-but-unhandled events plus outstanding credit together; credit is topped
//   up before it runs out, and at once when it does, so Salesforce's 60-s idle close never hits a
//   subscriber whose engine keeps up;
// - one stream per topic: a stream is always closed (its actor stopped, which cancels the call)
//   before the next one opens;
// - a keepalive watchdog: no FetchResponse for `keepaliveTimeoutMs` → drop the stream and resubscribe;
// - UNAUTHENTICATED → refresh the token, resubscribe; other failures → exponential backoff with jitter;
// - replay from the cursor (the replay id of the last handled event), else the preset; a refused
//   replay id falls back to `replayFallback` and is reported loudly. Within one run, a reconnect
//   before anything is handled resumes after the last event received, never from the preset again.
// Timers are invoked absolute-time callbacks, not `after`, so a restored snapshot re-arms them.
import { assign, emit, enqueueActions, fromCallback, fromPromise, setup } from 'xstate';
import { NotProvidedError } from '../domain/errors.js';
import { absoluteTimer } from './effect.js';

/** Salesforce's cap on outstanding events per Subscribe stream. */
export const MAX_BATCH_SIZE = 100;

/** gRPC status codes the chart branches on (the machine does not import grpc-js). */
export const GRPC_UNAUTHENTICATED = 16;

export type ReplayPreset = 'LATEST' | 'EARLIEST';

/** Where a stream starts: after `replayId` (CUSTOM), or at a preset. */
export interface ReplayStart {
  preset: ReplayPreset | 'CUSTOM';
  /** Hex of the opaque replay id bytes; only with CUSTOM. */
  replayId?: string;
}

export interface ManagedSubscription {
  /** The ManagedEventSubscription record id… */
  subscriptionId?: string;
  /** …or its developer name. */
  developerName?: string;
}

export interface BackoffSettings {
  initialMs: number;
  maxMs: number;
  /** 0..1: each delay is cut by up to this fraction at random, so many clients do not retry in step. */
  jitter: number;
}

export interface SubscriptionInput {
  topic: string;
  /** ManagedSubscribe instead of Subscribe: the server keeps the position, we commit it. */
  managed?: ManagedSubscription;
  /** Hex replay id of the last handled event, from the cursor store. */
  cursor?: string;
  replayPreset: ReplayPreset;
  /** Where to start when Salesforce refuses the stored replay id. */
  replayFallback: ReplayPreset;
  /** Credit per stream, at most 100. */
  batchSize: number;
  /** Received-but-unhandled events plus outstanding credit never exceed this. */
  maxInFlight: number;
  keepaliveTimeoutMs: number;
  backoff: BackoffSettings;
  /** Managed mode: commit at least every this many handled events, even if the engine never idles. */
  commitEvery: number;
}

export interface SubscriptionContext extends SubscriptionInput {
  /** Credit asked for on the current stream and not yet delivered. */
  outstanding: number;
  /** Events received and not yet handled (across streams: handling outlives a dropped stream). */
  inFlight: number;
  /** Consecutive failed attempts since the server last answered; drives the backoff. */
  attempt: number;
  /** Absolute time of the next attempt while backing off. */
  retryAt: number;
  /** Absolute time of the last FetchResponse (events or keepalive), or of the stream's opening. */
  lastResponseAt: number;
  /**
   * The stream position: the last replay id any stream reported (its last event, or a keepalive's
   * latest_replay_id). Until the first event is handled there is no cursor, and a reconnect must
   * not go back to the preset — LATEST would skip what was published meanwhile — so it resumes
   * here; the events received before it are already in the handling pipeline.
   */
  position?: string;
  /** The stored replay id was refused: start from `replayFallback` until a new cursor exists. */
  replayRejected: boolean;
  /** Token refreshes since the server last answered. */
  authRefreshes: number;
  /** Managed mode: the last replay id sent for commit, and the last the server confirmed. */
  commitSent?: string;
  committed?: string;
  handledSinceCommit: number;
  streamsOpened: number;
  /** Stopping: no more credit, no reconnect. */
  draining: boolean;
  lastError?: string;
}

/** What the driver and the effects tell the machine. */
export type SubscriptionEvent =
  /** Response headers arrived: the server took the call. */
  | { type: 'STREAM_ACCEPTED' }
  /** One FetchResponse: `received` events (0 for a keepalive), its latest_replay_id (the stream position), a commit answer. */
  | { type: 'RESPONSE'; received: number; latestReplayId?: string; pending?: number; committedReplayId?: string }
  /** The call ended: its gRPC status and Salesforce's `error-code` trailer. */
  | { type: 'STREAM_CLOSED'; code: number; details: string; errorCode?: string }
  /** The engine finished `count` events, in order; `replayId` is the last one's. */
  | { type: 'EVENTS_HANDLED'; count: number; replayId?: string }
  | { type: 'KEEPALIVE_CHECK' }
  | { type: 'RETRY' }
  /** Stop asking for events; keep the stream so the last position can be committed. */
  | { type: 'DRAIN' }
  | { type: 'STOP' };

/** What the machine tells the stream effect. */
export type StreamCommand =
  /** Grant `n` more events. The first request of a stream carries the topic and start position. */
  | { type: 'REQUEST'; n: number }
  /** Managed mode: CommitReplayRequest for a hex replay id. */
  | { type: 'COMMIT'; replayId: string };

export interface StreamInput {
  topic: string;
  replay: ReplayStart;
  managed?: ManagedSubscription;
}

export type CloseOutcome = 'backingOff' | 'refreshingAuth' | 'fallback' | 'stopped';

/** Emitted for the driver's logs, counters and cursor store. */
export type SubscriptionEmitted =
  | { type: 'stream.opening'; replay: ReplayStart; attempt: number }
  | { type: 'stream.closed'; code: number; details: string; errorCode?: string; next: CloseOutcome }
  | { type: 'retry.scheduled'; attempt: number; delayMs: number }
  | { type: 'replay.rejected'; replayId?: string; fallback: ReplayPreset; errorCode?: string; details: string }
  | { type: 'keepalive.missed'; silentForMs: number }
  | { type: 'cursor.advanced'; replayId: string; source: 'handled' | 'keepalive' }
  | { type: 'auth.refreshing' };

// ---- flow control arithmetic (exported for tests and stats) ----

/** The most events the client holds at once: outstanding credit plus unhandled events. */
export function holdLimit(ctx: Pick<SubscriptionContext, 'batchSize' | 'maxInFlight'>): number {
  return Math.max(1, Math.min(ctx.batchSize, MAX_BATCH_SIZE, ctx.maxInFlight));
}

/** How many more events may be requested now. */
export function room(ctx: Pick<SubscriptionContext, 'batchSize' | 'maxInFlight' | 'outstanding' | 'inFlight'>): number {
  const byBatch = Math.min(ctx.batchSize, MAX_BATCH_SIZE) - ctx.outstanding;
  const byEngine = ctx.maxInFlight - ctx.inFlight - ctx.outstanding;
  return Math.max(0, Math.min(byBatch, byEngine));
}

/** Credit at or below half the hold limit is "low": time to ask for more. */
export function lowWater(ctx: Pick<SubscriptionContext, 'batchSize' | 'maxInFlight'>): number {
  return Math.floor(holdLimit(ctx) / 2);
}

/**
 * Top up when credit is low and there is room for at least half a batch — or for anything at all
 * once credit is gone, because Salesforce closes a stream that has nothing requested for 60 s.
 */
export function shouldTopUp(ctx: SubscriptionContext): boolean {
  if (ctx.draining) return false;
  const r = room(ctx);
  if (r <= 0 || ctx.outstanding > lowWater(ctx)) return false;
  return ctx.outstanding === 0 || r >= Math.ceil(holdLimit(ctx) / 2);
}

export function replayStartOf(ctx: SubscriptionContext): ReplayStart {
  if (ctx.cursor) return { preset: 'CUSTOM', replayId: ctx.cursor };
  if (ctx.position) return { preset: 'CUSTOM', replayId: ctx.position };
  return { preset: ctx.replayRejected ? ctx.replayFallback : ctx.replayPreset };
}

/** Exponential backoff with jitter: `initialMs · 2^(attempt−1)`, capped, cut by up to `jitter`. */
export function backoffDelay(backoff: BackoffSettings, attempt: number, random: number = Math.random()): number {
  const exp = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp * (1 - Math.min(1, Math.max(0, backoff.jitter)) * random));
}

/** Salesforce's replay id errors: `…fetch.replayid.corrupted`, `…fetch.replayid.validation.failed` (reference §3.3). */
export function isReplayIdError(errorCode: string | undefined): boolean {
  return errorCode !== undefined && errorCode.toLowerCase().includes('replayid');
}

// ---- the machine ----

type ClosedEvent = Extract<SubscriptionEvent, { type: 'STREAM_CLOSED' }>;

export const subscriptionMachine = setup({
  types: {
    context: {} as SubscriptionContext,
    input: {} as SubscriptionInput,
    events: {} as SubscriptionEvent,
    emitted: {} as SubscriptionEmitted,
  },
  actors: {
    timer: absoluteTimer,
    /** The Subscribe (or ManagedSubscribe) call: receives StreamCommands, sends back RESPONSE / STREAM_ACCEPTED / STREAM_CLOSED. */
    stream: fromCallback<StreamCommand, StreamInput>(() => {
      throw new NotProvidedError("effect 'stream'");
    }),
    /** Fetch a fresh access token (getToken({ forceRefresh: true })). */
    refreshToken: fromPromise<void, void>(async () => {
      throw new NotProvidedError("effect 'refreshToken'");
    }),
  },
  guards: {
    canTopUp: ({ context }) => shouldTopUp(context),
    creditHealthy: ({ context }) => context.outstanding > lowWater(context),
    creditLow: ({ context }) => context.outstanding <= lowWater(context),
    engineFull: ({ context }) => room(context) === 0,
    engineHasRoom: ({ context }) => room(context) > 0,
    isDraining: ({ context }) => context.draining,
    isUnauthenticated: ({ event }) => (event as ClosedEvent).code === GRPC_UNAUTHENTICATED,
    /** A refused replay id we chose (CUSTOM, plain Subscribe): fall back. A managed subscription's position is the server's. */
    isReplayIdRejected: ({ context, event }) =>
      isReplayIdError((event as ClosedEvent).errorCode) && !context.managed && replayStartOf(context).preset === 'CUSTOM',
    keepaliveOverdue: ({ context }) => Date.now() >= context.lastResponseAt + context.keepaliveTimeoutMs,
    isFirstRefresh: ({ context }) => context.authRefreshes <= 1,
  },
  actions: {
    beginStream: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ outstanding: 0, lastResponseAt: Date.now(), streamsOpened: context.streamsOpened + 1 });
      enqueue.emit({ type: 'stream.opening', replay: replayStartOf(context), attempt: context.attempt });
    }),
    requestMore: enqueueActions(({ context, enqueue }) => {
      const n = room(context);
      enqueue.assign({ outstanding: context.outstanding + n });
      enqueue.sendTo('stream', { type: 'REQUEST', n } satisfies StreamCommand);
    }),
    recordResponse: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'RESPONSE') return;
      const update: Partial<SubscriptionContext> = {
        outstanding: Math.max(0, context.outstanding - event.received),
        inFlight: context.inFlight + event.received,
        lastResponseAt: Date.now(),
        attempt: 0,
        authRefreshes: 0,
      };
      if (event.committedReplayId) update.committed = event.committedReplayId;
      if (event.latestReplayId) update.position = event.latestReplayId;
      // A keepalive's latest_replay_id is the stream's position: safe to resume from once nothing
      // received before it is still being handled (pozil#20/#22).
      const keepaliveCursor =
        event.received === 0 && event.latestReplayId && context.inFlight === 0 && !context.managed && event.latestReplayId !== context.cursor
          ? event.latestReplayId
          : undefined;
      if (keepaliveCursor) update.cursor = keepaliveCursor;
      enqueue.assign(update);
      if (keepaliveCursor) enqueue.emit({ type: 'cursor.advanced', replayId: keepaliveCursor, source: 'keepalive' });
    }),
    recordHandled: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'EVENTS_HANDLED') return;
      enqueue.assign({
        inFlight: Math.max(0, context.inFlight - event.count),
        handledSinceCommit: context.handledSinceCommit + event.count,
        ...(event.replayId ? { cursor: event.replayId } : {}),
      });
      if (event.replayId && event.replayId !== context.cursor) {
        enqueue.emit({ type: 'cursor.advanced', replayId: event.replayId, source: 'handled' });
      }
    }),
    /** Managed mode: commit once the engine is idle, or every `commitEvery` events while it is busy. */
    commitIfDue: enqueueActions(({ context, enqueue }) => {
      if (!context.managed || !context.cursor || context.cursor === context.commitSent) return;
      if (context.inFlight > 0 && context.handledSinceCommit < context.commitEvery) return;
      enqueue.sendTo('stream', { type: 'COMMIT', replayId: context.cursor } satisfies StreamCommand);
      enqueue.assign({ commitSent: context.cursor, handledSinceCommit: 0 });
    }),
    /** A new stream must send the position again if the previous one's commit was not confirmed. */
    forgetUnconfirmedCommit: assign({ commitSent: ({ context }) => context.committed }),
    markDraining: assign({ draining: true }),
    clearCredit: assign({ outstanding: 0 }),
    reportClose: emit(({ event }, params: { next: CloseOutcome }) => {
      const e = event as ClosedEvent;
      return {
        type: 'stream.closed' as const,
        code: e.code,
        details: e.details,
        ...(e.errorCode ? { errorCode: e.errorCode } : {}),
        next: params.next,
      };
    }),
    recordClose: assign({
      lastError: ({ event }) => {
        const e = event as ClosedEvent;
        return `${e.code}${e.errorCode ? ` ${e.errorCode}` : ''}: ${e.details}`;
      },
    }),
    recordStreamFailure: assign({ lastError: ({ event }) => `stream effect failed: ${String((event as { error?: unknown }).error)}` }),
    recordRefreshFailure: assign({ lastError: ({ event }) => `token refresh failed: ${String((event as { error?: unknown }).error)}` }),
    scheduleRetry: enqueueActions(({ context, enqueue }) => {
      const attempt = context.attempt + 1;
      const delayMs = backoffDelay(context.backoff, attempt);
      enqueue.assign({ attempt, retryAt: Date.now() + delayMs });
      enqueue.emit({ type: 'retry.scheduled', attempt, delayMs });
    }),
    beginRefresh: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ authRefreshes: context.authRefreshes + 1 });
      enqueue.emit({ type: 'auth.refreshing' });
    }),
    fallBackFromReplayId: enqueueActions(({ context, event, enqueue }) => {
      const e = event as ClosedEvent;
      enqueue.emit({
        type: 'replay.rejected',
        ...(context.cursor ? { replayId: context.cursor } : {}),
        fallback: context.replayFallback,
        ...(e.errorCode ? { errorCode: e.errorCode } : {}),
        details: e.details,
      });
      enqueue.assign({ cursor: undefined, position: undefined, replayRejected: true });
    }),
    reportKeepaliveMissed: emit(({ context }) => ({
      type: 'keepalive.missed' as const,
      silentForMs: Date.now() - context.lastResponseAt,
    })),
  },
}).createMachine({
  id: 'subscription',
  description:
    "One Pub/Sub subscription to the CCD's platform event topic: keeps a single stream open, asks for events as the engine handles them, and comes back from drops, expired tokens and refused replay ids without losing or repeating an event.",
  context: ({ input }) => ({
    ...input,
    batchSize: Math.min(input.batchSize, MAX_BATCH_SIZE),
    outstanding: 0,
    inFlight: 0,
    attempt: 0,
    retryAt: 0,
    lastResponseAt: 0,
    replayRejected: false,
    authRefreshes: 0,
    handledSinceCommit: 0,
    streamsOpened: 0,
    draining: false,
  }),
  initial: 'streaming',
  on: {
    EVENTS_HANDLED: { actions: 'recordHandled' },
    DRAIN: { target: '.stopped', actions: 'markDraining' },
    STOP: { target: '.stopped', actions: 'markDraining' },
  },
  states: {
    streaming: {
      description:
        'A Subscribe call is open for the topic — one at a time: a replaced stream is cancelled before the next opens. It starts after the last handled replay id, else at the preset (LATEST by default), else at the fallback after a refused replay id.',
      type: 'parallel',
      entry: ['beginStream', 'forgetUnconfirmedCommit'],
      // Credit belongs to a stream: a closed stream owes nothing.
      exit: 'clearCredit',
      invoke: {
        id: 'stream',
        src: 'stream',
        input: ({ context }) => ({
          topic: context.topic,
          replay: replayStartOf(context),
          ...(context.managed ? { managed: context.managed } : {}),
        }),
        onError: { target: 'backingOff', actions: ['recordStreamFailure', 'scheduleRetry'] },
      },
      on: {
        EVENTS_HANDLED: { actions: ['recordHandled', 'commitIfDue'] },
        DRAIN: { target: '.link.draining', actions: 'markDraining' },
        STREAM_CLOSED: [
          { guard: 'isDraining', target: 'stopped', actions: { type: 'reportClose', params: { next: 'stopped' } } },
          {
            guard: 'isUnauthenticated',
            target: 'refreshingAuth',
            actions: ['recordClose', { type: 'reportClose', params: { next: 'refreshingAuth' } }],
          },
          {
            guard: 'isReplayIdRejected',
            target: '#subscription.streaming',
            reenter: true,
            actions: ['recordClose', { type: 'reportClose', params: { next: 'fallback' } }, 'fallBackFromReplayId'],
          },
          {
            target: 'backingOff',
            actions: ['recordClose', { type: 'reportClose', params: { next: 'backingOff' } }, 'scheduleRetry'],
          },
        ],
      },
      states: {
        link: {
          description: 'How far the stream has come.',
          initial: 'connecting',
          on: { RESPONSE: { actions: 'recordResponse' } },
          states: {
            connecting: {
              description:
                'The call is placed and the first FetchRequest (topic, start position, first credit) sent; waiting for the server to answer.',
              always: { guard: 'canTopUp', actions: 'requestMore' },
              on: {
                STREAM_ACCEPTED: 'subscribed',
                RESPONSE: { target: 'subscribed', actions: 'recordResponse' },
              },
            },
            subscribed: {
              description:
                'The server answers: events and keepalives flow. Credit is topped up as the engine handles events, never beyond 100 outstanding.',
              initial: 'reRequesting',
              states: {
                flowing: {
                  description: 'More than half a batch of credit is outstanding: events keep coming without asking.',
                  always: { guard: 'creditLow', target: 'reRequesting' },
                },
                reRequesting: {
                  description:
                    'Credit is low: ask for more as soon as the engine has room for half a batch — at once, for whatever fits, when none is left, since Salesforce closes a stream with nothing requested after 60 s.',
                  always: [
                    { guard: 'canTopUp', actions: 'requestMore' },
                    { guard: 'creditHealthy', target: 'flowing' },
                    { guard: 'engineFull', target: 'heldBack' },
                  ],
                },
                heldBack: {
                  description:
                    'Back-pressure: the engine holds as many events as it may (maxInFlight), so nothing is requested until it catches up. If that takes longer than the 60-s idle window, Salesforce closes the stream and the subscription resumes from the last handled event.',
                  always: { guard: 'engineHasRoom', target: 'reRequesting' },
                },
              },
            },
            draining: {
              description:
                'Stopping: no more credit is asked for; events already received are handled and, for a managed subscription, the last handled replay id is committed before the stream closes.',
              entry: 'commitIfDue',
            },
          },
        },
        watchdog: {
          description: 'Salesforce answers at least every 270 s, with events or a keepalive; silence means a dead stream.',
          initial: 'watching',
          states: {
            watching: {
              description:
                'Wait until keepaliveTimeoutMs after the last response; if nothing came, cancel the call and subscribe again from the last handled event.',
              invoke: {
                id: 'keepaliveWatchdog',
                src: 'timer',
                input: ({ context }) => ({ at: context.lastResponseAt + context.keepaliveTimeoutMs, event: 'KEEPALIVE_CHECK' }),
              },
              on: {
                KEEPALIVE_CHECK: [
                  { guard: 'keepaliveOverdue', target: '#subscription.streaming', reenter: true, actions: 'reportKeepaliveMissed' },
                  { target: 'watching', reenter: true },
                ],
              },
            },
          },
        },
      },
    },
    backingOff: {
      description:
        'The stream failed (UNAVAILABLE, INTERNAL / RST_STREAM, an unexpected end): wait an exponentially growing, jittered delay, then subscribe again from the last handled event.',
      invoke: {
        id: 'retryTimer',
        src: 'timer',
        input: ({ context }) => ({ at: context.retryAt, event: 'RETRY' }),
      },
      on: { RETRY: 'streaming' },
    },
    refreshingAuth: {
      description:
        'Salesforce refused the access token (UNAUTHENTICATED): fetch a fresh one and subscribe again from the last handled event; a second refusal in a row waits out a backoff first.',
      entry: 'beginRefresh',
      invoke: {
        id: 'refreshToken',
        src: 'refreshToken',
        onDone: [
          { guard: 'isFirstRefresh', target: 'streaming' },
          { target: 'backingOff', actions: 'scheduleRetry' },
        ],
        onError: { target: 'backingOff', actions: ['recordRefreshFailure', 'scheduleRetry'] },
      },
    },
    stopped: {
      type: 'final',
      description: 'The subscription is over: the stream is cancelled and no more events are requested.',
    },
  },
});

export type SubscriptionMachine = typeof subscriptionMachine;
