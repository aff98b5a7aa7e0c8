// The subscription streams and their flow control: what each Subscribe / ManagedSubscribe stream
// was granted and has sent, the pump that sends events in log order (never more than requested, at
// most `maxEventsPerResponse` a response, at most 100 outstanding), keepalives carrying
// latest_replay_id, the idle close, the armed delivery faults (drop, duplicate, reorder), and how
// a stream closes and is recorded.
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { replayIdToHex } from '../../io/pubsub/replay-id.js';
import type { ConsumerEvent, FetchRequest, FetchResponse, ManagedFetchRequest, ManagedFetchResponse } from '../../io/pubsub/wire.js';
import { AUTH_DETAILS, statusError, type StatusError } from './codes.js';
import type { PendingFaults } from './faults.js';
import type { EventLog } from './log.js';
import type { ManagedSubscriptionConfig, StreamCloseReason, StreamRecord } from './types.js';

const MAX_PENDING = 100;

export interface ManagedSub extends Required<Omit<ManagedSubscriptionConfig, 'replayPreset'>> {
  replayPreset: 'LATEST' | 'EARLIEST';
  committed?: Buffer;
}

export type AnyServerCall = grpc.ServerDuplexStream<FetchRequest | ManagedFetchRequest, FetchResponse | ManagedFetchResponse>;

export interface Stream {
  rec: StreamRecord;
  call: AnyServerCall;
  started: boolean;
  /** Index in the log of the next event to send in order. */
  position: number;
  pending: number;
  /** Log indices to send again before moving on (duplicate fault). */
  resend: number[];
  silenced: boolean;
  closed: boolean;
  pumpScheduled: boolean;
  idleTimer?: NodeJS.Timeout;
  keepaliveTimer?: NodeJS.Timeout;
  lastSentAt: number;
  managed?: ManagedSub;
}

export interface StreamsOptions {
  log: EventLog;
  faults: PendingFaults;
  keepaliveIntervalMs: number;
  idleTimeoutMs: number;
  maxPerResponse: number;
}

export function createStreams({ log, faults, keepaliveIntervalMs, idleTimeoutMs, maxPerResponse }: StreamsOptions) {
  const streams: Stream[] = [];
  let nextStreamId = 1;

  function positionReplayId(s: Stream): Buffer {
    return s.position > 0 ? log.entries[s.position - 1]!.replayId : Buffer.alloc(0);
  }

  function closeStream(s: Stream, reason: StreamCloseReason, status?: StatusError): void {
    if (s.closed) return;
    s.closed = true;
    clearTimeout(s.idleTimer);
    clearInterval(s.keepaliveTimer);
    s.rec.closedAt = Date.now();
    s.rec.closedBy = reason;
    if (status) {
      s.rec.status = { code: status.code, details: status.details };
      s.call.emit('error', status);
    } else if (reason !== 'client') {
      s.rec.status = { code: grpc.status.OK, details: 'OK' };
      s.call.end();
    }
  }

  function armIdle(s: Stream): void {
    if (s.idleTimer || s.closed) return;
    s.idleTimer = setTimeout(() => {
      s.idleTimer = undefined;
      // Nothing requested for the whole window: Salesforce closes the stream.
      if (s.pending === 0 && !s.silenced) closeStream(s, 'idle');
    }, idleTimeoutMs);
  }

  function write(s: Stream, res: FetchResponse | ManagedFetchResponse): void {
    s.call.write(res);
    s.lastSentAt = Date.now();
  }

  function nextIndices(s: Stream, max: number): number[] {
    const out: number[] = [];
    while (out.length < max) {
      if (s.resend.length > 0) {
        out.push(s.resend.shift()!);
        continue;
      }
      if (s.position >= log.length) break;
      if (faults.reorder && s.position + 1 < log.length && max - out.length >= 2) {
        faults.reorder = false;
        out.push(s.position + 1, s.position);
        s.position += 2;
        continue;
      }
      out.push(s.position++);
    }
    for (const idx of out) {
      if (faults.duplicate <= 0) break;
      faults.duplicate -= 1;
      s.resend.push(idx);
    }
    return out;
  }

  function pump(s: Stream): void {
    s.pumpScheduled = false;
    if (s.closed || s.silenced || !s.started) return;
    while (s.pending > 0 && (s.resend.length > 0 || s.position < log.length)) {
      let indices = nextIndices(s, Math.min(s.pending, maxPerResponse));
      let failAfter = false;
      if (faults.drop && faults.drop.remaining <= indices.length) {
        // The stream breaks part-way through the batch: what lies beyond the drop point is never sent.
        indices = indices.slice(0, faults.drop.remaining);
        failAfter = true;
      } else if (faults.drop) {
        faults.drop.remaining -= indices.length;
      }
      if (indices.length > 0) {
        const events: ConsumerEvent[] = indices.map((i) => ({ event: log.entries[i]!.event, replay_id: log.entries[i]!.replayId }));
        s.pending -= events.length;
        s.rec.delivered += events.length;
        for (const e of events) s.rec.deliveredReplayIds.push(replayIdToHex(e.replay_id));
        write(s, {
          events,
          latest_replay_id: events[events.length - 1]!.replay_id,
          rpc_id: randomUUID(),
          pending_num_requested: s.pending,
          ...(s.managed ? { commit_response: null } : {}),
        });
      }
      if (failAfter) {
        dropNow(s);
        return;
      }
    }
    if (s.pending === 0) armIdle(s);
  }

  /** Trips the armed drop fault on this stream. */
  function dropNow(s: Stream): void {
    closeStream(s, 'fault', faults.tripDrop());
  }

  function schedulePump(s: Stream): void {
    if (s.pumpScheduled || s.closed) return;
    s.pumpScheduled = true;
    setImmediate(() => pump(s));
  }

  function keepalive(s: Stream): void {
    if (s.closed || s.silenced || !s.started) return;
    if (Date.now() - s.lastSentAt < keepaliveIntervalMs * 0.9) return;
    s.rec.keepalives += 1;
    write(s, {
      events: [],
      latest_replay_id: positionReplayId(s),
      rpc_id: randomUUID(),
      pending_num_requested: s.pending,
      ...(s.managed ? { commit_response: null } : {}),
    });
  }

  function grant(s: Stream, n: number): void {
    s.rec.fetchRequests.push(n);
    s.rec.maxOutstanding = Math.max(s.rec.maxOutstanding, s.pending + n);
    s.pending = Math.min(MAX_PENDING, s.pending + n);
    if (s.pending > 0 && s.idleTimer) {
      clearTimeout(s.idleTimer);
      s.idleTimer = undefined;
    }
    schedulePump(s);
  }

  /**
   * A new stream, recorded; `token` is what auth made of the call's metadata: without it the stream
   * is closed UNAUTHENTICATED at once and undefined returned.
   */
  function open(call: AnyServerCall, kind: 'subscribe' | 'managed', token: string | undefined): Stream | undefined {
    const rec: StreamRecord = {
      id: nextStreamId++,
      kind,
      token: String(call.metadata.get('accesstoken')[0] ?? ''),
      fetchRequests: [],
      maxOutstanding: 0,
      delivered: 0,
      deliveredReplayIds: [],
      keepalives: 0,
      openedAt: Date.now(),
    };
    const s: Stream = { rec, call, started: false, position: 0, pending: 0, resend: [], silenced: false, closed: false, pumpScheduled: false, lastSentAt: Date.now() };
    streams.push(s);
    call.on('error', () => closeStream(s, 'client'));
    call.on('cancelled', () => closeStream(s, 'client'));
    call.on('end', () => {
      // The client half-closed: finish our side too.
      if (!s.closed) {
        closeStream(s, 'client');
        call.end();
      }
    });
    if (!token) {
      closeStream(s, 'auth', statusError(grpc.status.UNAUTHENTICATED, AUTH_DETAILS));
      return undefined;
    }
    s.keepaliveTimer = setInterval(() => keepalive(s), keepaliveIntervalMs);
    armIdle(s);
    return s;
  }

  return {
    /** Every stream opened, closed ones included, in order. */
    all: streams,
    open,
    close: closeStream,
    /** The streams not yet closed. */
    live: (): Stream[] => streams.filter((s) => !s.closed),
    grant,
    write,
    positionReplayId,
    dropNow,
    /** New events in the log: every open stream sends what it may. */
    wakeAll(): void {
      for (const s of streams) if (!s.closed) schedulePump(s);
    },
    /** The server is going away: every open stream is marked closed by it, without a status. */
    shutdown(): void {
      for (const s of streams) {
        if (!s.closed) {
          s.closed = true;
          clearTimeout(s.idleTimer);
          clearInterval(s.keepaliveTimer);
          s.rec.closedAt = Date.now();
          s.rec.closedBy = 'server';
        }
      }
    },
  };
}

export type Streams = ReturnType<typeof createStreams>;
