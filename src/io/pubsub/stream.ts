// The `stream` effect of the subscription machine, on a real grpc-js call: it opens Subscribe (or
// ManagedSubscribe) with fresh metadata, turns StreamCommands into FetchRequests, and reports each
// FetchResponse and the call's end back to the machine. Events themselves go straight to the
// handling pipeline — the machine only needs their count.
//
// grpc-js rules kept here (stack notes §6): an 'error' listener is always attached (an unhandled
// 'error' kills the process), 'status' is the one "stream finished" signal, and stopping the actor
// cancels the call before the machine can open the next one.
import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { fromCallback } from 'xstate';
import type { StreamCommand, StreamInput, SubscriptionEvent } from '../../machines/subscription.js';
import { callMetadata, errorCodeOf, type PubSubAuth } from './auth.js';
import type { PubSubClient } from './proto.js';
import { hexToReplayId, replayIdToHex } from './replay-id.js';
import type { ConsumerEvent, FetchRequest, FetchResponse, ManagedFetchRequest, ManagedFetchResponse } from './wire.js';

export interface StreamHooks {
  /** Received events, in stream order; called right after the machine has counted them. */
  onEvents(events: ConsumerEvent[]): void;
  /** An empty FetchResponse: Salesforce's keepalive. */
  onKeepalive?(): void;
  /** A managed commit was answered with an error. */
  onCommitError?(info: { replayId: string; message: string }): void;
}

type AnyCall = grpc.ClientDuplexStream<FetchRequest | ManagedFetchRequest, FetchResponse | ManagedFetchResponse>;

export function createStreamActor(client: PubSubClient, auth: PubSubAuth, hooks: StreamHooks) {
  return fromCallback<StreamCommand, StreamInput>(({ input, receive, sendBack: send }) => {
    const sendBack = (event: SubscriptionEvent) => send(event);
    let call: AnyCall | undefined;
    /** Set when the machine stopped this actor: nothing more is reported. */
    let stopped = false;
    let first = true;
    /** Commands that arrived while the metadata (token) was still being fetched. */
    const backlog: StreamCommand[] = [];

    function firstRequest(n: number): FetchRequest | ManagedFetchRequest {
      if (input.managed) {
        return {
          ...(input.managed.subscriptionId ? { subscription_id: input.managed.subscriptionId } : {}),
          ...(input.managed.developerName ? { developer_name: input.managed.developerName } : {}),
          num_requested: n,
        };
      }
      const req: FetchRequest = { topic_name: input.topic, replay_preset: input.replay.preset, num_requested: n };
      if (input.replay.preset === 'CUSTOM' && input.replay.replayId) req.replay_id = hexToReplayId(input.replay.replayId);
      return req;
    }

    function write(cmd: StreamCommand): void {
      if (!call) {
        backlog.push(cmd);
        return;
      }
      if (cmd.type === 'REQUEST') {
        call.write(first ? firstRequest(cmd.n) : { num_requested: cmd.n });
        first = false;
        return;
      }
      if (!input.managed) return;
      const commit: ManagedFetchRequest = {
        commit_replay_id_request: { commit_request_id: randomUUID(), replay_id: hexToReplayId(cmd.replayId) },
      };
      // The first message of a managed stream must name the subscription; a commit can ride on it.
      call.write(first ? { ...firstRequest(0), ...commit } : commit);
      first = false;
    }

    function open(md: grpc.Metadata): void {
      const c = (input.managed ? client.ManagedSubscribe(md) : client.Subscribe(md)) as AnyCall;
      call = c;
      c.on('metadata', () => {
        if (!stopped) sendBack({ type: 'STREAM_ACCEPTED' });
      });
      c.on('data', (res: FetchResponse | ManagedFetchResponse) => {
        if (stopped) return;
        const events = res.events ?? [];
        const commit = 'commit_response' in res ? res.commit_response : null;
        if (commit?.error) {
          hooks.onCommitError?.({ replayId: replayIdToHex(commit.replay_id), message: commit.error.msg });
        }
        const latest = replayIdToHex(res.latest_replay_id);
        const committed = commit && !commit.error ? replayIdToHex(commit.replay_id) : '';
        sendBack({
          type: 'RESPONSE',
          received: events.length,
          pending: res.pending_num_requested,
          ...(latest ? { latestReplayId: latest } : {}),
          ...(committed ? { committedReplayId: committed } : {}),
        });
        if (events.length > 0) hooks.onEvents(events);
        else if (!commit) hooks.onKeepalive?.();
      });
      // 'status' reports the end; this listener only keeps an error from being unhandled.
      c.on('error', () => {});
      c.on('status', (status: grpc.StatusObject) => {
        if (stopped) return;
        stopped = true;
        const errorCode = errorCodeOf(status.metadata);
        sendBack({ type: 'STREAM_CLOSED', code: status.code, details: status.details, ...(errorCode ? { errorCode } : {}) });
      });
      for (const cmd of backlog.splice(0)) write(cmd);
    }

    callMetadata(auth).then(
      (md) => {
        if (!stopped) open(md);
      },
      (err: unknown) => {
        if (stopped) return;
        stopped = true;
        // No token: the machine treats it as an auth failure (refresh, then back off).
        sendBack({
          type: 'STREAM_CLOSED',
          code: grpc.status.UNAUTHENTICATED,
          details: `could not get an access token: ${err instanceof Error ? err.message : String(err)}`,
        });
      },
    );

    receive((cmd) => {
      if (!stopped) write(cmd);
    });

    return () => {
      stopped = true;
      call?.cancel();
    };
  });
}
