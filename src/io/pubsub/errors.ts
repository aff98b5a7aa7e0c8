// Errors of the Pub/Sub intake. Each has a stable `code` (see docs/errors.md) so a listener can
// branch without parsing messages; none carries a token or a payload.
import { SwitchboardError } from '../../domain/errors.js';

/** An event that cannot become a PlatformEvent: undecodable bytes, an unknown schema, a missing field. Skipped. */
export class PubSubDecodeError extends SwitchboardError {
  /** Hex of the event's replay id. */
  readonly replayId: string;
  readonly eventId: string | undefined;
  readonly schemaId: string | undefined;
  /** The CCD field that was missing or not a string, when that was the problem. */
  readonly field: string | undefined;
  constructor(
    message: string,
    details: { replayId: string; eventId?: string; schemaId?: string; field?: string; cause?: unknown },
  ) {
    super('SB_PUBSUB_DECODE', message, { cause: details.cause });
    this.replayId = details.replayId;
    this.eventId = details.eventId;
    this.schemaId = details.schemaId;
    this.field = details.field;
  }
}

/** A unary call (GetTopic, GetSchema) failed. `retryable` says whether trying again later can help. */
export class PubSubRpcError extends SwitchboardError {
  readonly rpc: string;
  /** gRPC status code. */
  readonly grpcCode: number;
  /** Salesforce's `error-code` trailer, when present. */
  readonly errorCode: string | undefined;
  readonly retryable: boolean;
  constructor(rpc: string, grpcCode: number, details: string, errorCode?: string, retryable = false) {
    super('SB_PUBSUB_RPC', `${rpc} failed (${grpcCode}${errorCode ? ` ${errorCode}` : ''}): ${details}`);
    this.rpc = rpc;
    this.grpcCode = grpcCode;
    this.errorCode = errorCode;
    this.retryable = retryable;
  }
}

/** The topic exists but this user may not subscribe to it (TopicInfo.can_subscribe is false). */
export class PubSubTopicError extends SwitchboardError {
  readonly topic: string;
  constructor(topic: string, reason: string) {
    super('SB_PUBSUB_TOPIC', `${topic}: ${reason}`);
    this.topic = topic;
  }
}

/** A Subscribe stream ended. The intake reconnects on its own; this is reported to listeners. */
export class PubSubStreamError extends SwitchboardError {
  readonly grpcCode: number;
  readonly errorCode: string | undefined;
  constructor(grpcCode: number, details: string, errorCode?: string) {
    super('SB_PUBSUB_STREAM', `stream closed (${grpcCode}${errorCode ? ` ${errorCode}` : ''}): ${details}`);
    this.grpcCode = grpcCode;
    this.errorCode = errorCode;
  }
}

/** Salesforce refused the stored replay id (corrupted, or older than retention); the intake fell back to a preset. */
export class PubSubReplayRejectedError extends SwitchboardError {
  readonly replayId: string | undefined;
  readonly fallback: string;
  readonly errorCode: string | undefined;
  constructor(replayId: string | undefined, fallback: string, errorCode: string | undefined, details: string) {
    super('SB_PUBSUB_REPLAY_REJECTED', `replay id ${replayId ?? '(none)'} rejected (${errorCode ?? details}); resubscribing from ${fallback}`);
    this.replayId = replayId;
    this.fallback = fallback;
    this.errorCode = errorCode;
  }
}

/** The `handle` function threw or rejected for an event. The event counts as handled and the stream goes on. */
export class PubSubHandlerError extends SwitchboardError {
  readonly replayId: string;
  readonly eventId: string | undefined;
  constructor(replayId: string, eventId: string | undefined, cause: unknown) {
    super('SB_PUBSUB_HANDLER', `the event handler failed for replay id ${replayId}`, { cause });
    this.replayId = replayId;
    this.eventId = eventId;
  }
}
