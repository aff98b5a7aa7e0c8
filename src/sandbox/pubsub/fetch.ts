// The Subscribe and ManagedSubscribe streams on the wire: the first FetchRequest fixes the topic and
// the start (a preset, or a CUSTOM replay id checked against the log), later ones only add credit
// (num_requested ≤ 0 refused on Subscribe, < 0 on ManagedSubscribe); ManagedSubscribe resumes a
// configured subscription from its last commit and answers each CommitReplayRequest.
import { createHash, randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { decodeReplayId, replayIdToHex } from '../../io/pubsub/replay-id.js';
import type { FetchRequest, FetchResponse, ManagedFetchRequest, ManagedFetchResponse } from '../../io/pubsub/wire.js';
import type { Auth } from './auth.js';
import { ERROR_CODES, statusError } from './codes.js';
import type { PendingFaults } from './faults.js';
import type { EventLog } from './log.js';
import type { AnyServerCall, ManagedSub, Stream, Streams } from './streams.js';
import type { Counters, ManagedSubscriptionConfig } from './types.js';

/** The configured managed subscriptions, by developer name and by id. */
export function managedSubscriptions(configs: ManagedSubscriptionConfig[]): Map<string, ManagedSub> {
  const managedSubs = new Map<string, ManagedSub>();
  for (const m of configs) {
    const sub: ManagedSub = {
      developerName: m.developerName,
      id: m.id ?? `18x${createHash('sha1').update(m.developerName).digest('hex').slice(0, 15)}`,
      replayPreset: m.replayPreset ?? 'LATEST',
    };
    managedSubs.set(sub.developerName, sub);
    managedSubs.set(sub.id, sub);
  }
  return managedSubs;
}

export interface FetchHandlersOptions {
  topic: string;
  log: EventLog;
  faults: PendingFaults;
  streams: Streams;
  auth: Auth;
  counters: Counters;
  managedSubs: Map<string, ManagedSub>;
}

export function createFetchHandlers({ topic, log, faults, streams, auth, counters, managedSubs }: FetchHandlersOptions) {
  /** Where a stream starts, or the replay error to fail it with. */
  function startPosition(preset: string, replayId: Buffer | undefined): number | { errorCode: string; details: string } {
    if (preset === 'EARLIEST') return 0;
    if (preset !== 'CUSTOM') return log.length;
    const rejected = faults.takeReplayRejection();
    if (rejected !== undefined) {
      return { errorCode: rejected, details: 'The Replay ID validation failed. Ensure that the Replay ID is valid.' };
    }
    const value = decodeReplayId(replayId);
    if (value === undefined) {
      return { errorCode: ERROR_CODES.replayIdCorrupted, details: 'The Replay ID is corrupted.' };
    }
    const idx = Number(value - log.firstReplayId);
    if (idx < 0 || idx >= log.length) {
      return { errorCode: ERROR_CODES.replayIdValidationFailed, details: 'The Replay ID validation failed. Ensure that the Replay ID is valid.' };
    }
    return idx + 1;
  }

  /**
   * Response headers once the first FetchRequest fixed the stream's position: a client that waits
   * for them knows that anything published from then on reaches it, also from LATEST.
   */
  function acknowledge(s: Stream): void {
    s.call.sendMetadata(new grpc.Metadata());
  }

  function subscribe(call: grpc.ServerDuplexStream<FetchRequest, FetchResponse>): void {
    const s = streams.open(call as AnyServerCall, 'subscribe', auth.authenticate(call.metadata));
    if (!s) return;
    call.on('data', (req: FetchRequest) => {
      if (s.closed) return;
      if (!s.started) {
        if (req.topic_name !== topic) {
          streams.close(s, 'invalid', statusError(grpc.status.NOT_FOUND, `topic ${req.topic_name || '(none)'} not found`));
          return;
        }
        s.rec.replayPreset = req.replay_preset ?? 'LATEST';
        if (req.replay_preset === 'CUSTOM') s.rec.replayId = replayIdToHex(req.replay_id);
        const start = startPosition(s.rec.replayPreset, req.replay_id);
        if (typeof start !== 'number') {
          streams.close(s, 'replay', statusError(grpc.status.INVALID_ARGUMENT, start.details, start.errorCode));
          return;
        }
        s.position = start;
        s.started = true;
        acknowledge(s);
      } else if (req.topic_name && req.topic_name !== topic) {
        streams.close(s, 'invalid', statusError(grpc.status.INVALID_ARGUMENT, 'topic_name must match the first FetchRequest'));
        return;
      }
      const n = req.num_requested ?? 0;
      if (n <= 0) {
        streams.close(s, 'invalid', statusError(grpc.status.INVALID_ARGUMENT, 'num_requested must be greater than 0'));
        return;
      }
      streams.grant(s, n);
    });
  }

  function managedSubscribe(call: grpc.ServerDuplexStream<ManagedFetchRequest, ManagedFetchResponse>): void {
    const s = streams.open(call as AnyServerCall, 'managed', auth.authenticate(call.metadata));
    if (!s) return;
    call.on('data', (req: ManagedFetchRequest) => {
      if (s.closed) return;
      if (!s.started) {
        const sub = managedSubs.get(req.subscription_id || '') ?? managedSubs.get(req.developer_name || '');
        if (!sub) {
          streams.close(s, 'invalid', statusError(grpc.status.NOT_FOUND, 'managed subscription not found'));
          return;
        }
        s.managed = sub;
        s.rec.subscription = sub.developerName;
        s.rec.replayPreset = sub.committed ? 'CUSTOM' : sub.replayPreset;
        if (sub.committed) s.rec.replayId = replayIdToHex(sub.committed);
        const start = sub.committed ? startPosition('CUSTOM', sub.committed) : sub.replayPreset === 'EARLIEST' ? 0 : log.length;
        s.position = typeof start === 'number' ? start : 0;
        s.started = true;
        acknowledge(s);
      }
      const commit = req.commit_replay_id_request;
      if (commit && commit.replay_id && commit.replay_id.length > 0) {
        const value = decodeReplayId(commit.replay_id);
        const known = value !== undefined && value >= log.firstReplayId && Number(value - log.firstReplayId) < log.length;
        if (known) {
          s.managed!.committed = Buffer.from(commit.replay_id);
          counters.commits.push({ subscription: s.managed!.developerName, replayId: replayIdToHex(commit.replay_id) });
        }
        streams.write(s, {
          events: [],
          latest_replay_id: streams.positionReplayId(s),
          rpc_id: randomUUID(),
          pending_num_requested: s.pending,
          commit_response: {
            commit_request_id: commit.commit_request_id,
            replay_id: commit.replay_id,
            error: known ? null : { code: 'COMMIT', msg: 'unknown replay id' },
            process_time: String(Date.now()),
          },
        });
      }
      const n = req.num_requested ?? 0;
      if (n < 0) {
        streams.close(s, 'invalid', statusError(grpc.status.INVALID_ARGUMENT, 'num_requested must not be negative'));
        return;
      }
      if (n > 0) streams.grant(s, n);
    });
  }

  return { subscribe, managedSubscribe };
}
