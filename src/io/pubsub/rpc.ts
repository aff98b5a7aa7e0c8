// The unary calls the intake makes (GetTopic, GetSchema), with a deadline, one token refresh on
// UNAUTHENTICATED, and failures turned into PubSubRpcError marked retryable or not.
import * as grpc from '@grpc/grpc-js';
import { AuthError } from '../../domain/errors.js';
import { callMetadata, errorCodeOf, type PubSubAuth } from './auth.js';
import { PubSubRpcError } from './errors.js';
import type { PubSubClient } from './proto.js';
import type { SchemaInfo, TopicInfo } from './wire.js';

/** Statuses after which the same call may succeed later: the service, the network or the token recovers. */
const RETRYABLE = new Set<number>([
  grpc.status.UNAVAILABLE,
  grpc.status.INTERNAL,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.ABORTED,
  grpc.status.UNKNOWN,
  grpc.status.CANCELLED,
  grpc.status.UNAUTHENTICATED,
]);

export const DEFAULT_RPC_DEADLINE_MS = 30_000;

export interface PubSubRpc {
  getTopic(topicName: string): Promise<TopicInfo>;
  getSchema(schemaId: string): Promise<SchemaInfo>;
}

export function createPubSubRpc(client: PubSubClient, auth: PubSubAuth, deadlineMs = DEFAULT_RPC_DEADLINE_MS): PubSubRpc {
  function once<Req, Res>(name: 'GetTopic' | 'GetSchema', request: Req, md: grpc.Metadata): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      const method = client[name] as unknown as (
        req: Req,
        md: grpc.Metadata,
        opts: grpc.CallOptions,
        cb: (err: grpc.ServiceError | null, res?: Res) => void,
      ) => grpc.ClientUnaryCall;
      method.call(client, request, md, { deadline: Date.now() + deadlineMs }, (err, res) => {
        if (err) reject(err);
        else resolve(res as Res);
      });
    });
  }

  async function call<Req, Res>(name: 'GetTopic' | 'GetSchema', request: Req): Promise<Res> {
    let refreshed = false;
    for (;;) {
      let md: grpc.Metadata;
      try {
        md = await callMetadata(auth, refreshed);
      } catch (err) {
        // No token is an auth problem (login host, key, user), not a Pub/Sub one: one cause, one
        // code, whichever edge noticed it first. Callers treat SB_AUTH as worth another try later.
        if (err instanceof AuthError) throw err;
        throw new AuthError(`no access token for ${name}: the token function failed (${err instanceof Error ? err.name : typeof err})`, { cause: err });
      }
      try {
        return await once<Req, Res>(name, request, md);
      } catch (e) {
        const err = e as grpc.ServiceError;
        if (err.code === grpc.status.UNAUTHENTICATED && !refreshed) {
          refreshed = true;
          continue;
        }
        throw new PubSubRpcError(name, err.code ?? grpc.status.UNKNOWN, err.details ?? String(err.message), errorCodeOf(err.metadata), RETRYABLE.has(err.code));
      }
    }
  }

  return {
    getTopic: (topicName) => call('GetTopic', { topic_name: topicName }),
    getSchema: (schemaId) => call('GetSchema', { schema_id: schemaId }),
  };
}
