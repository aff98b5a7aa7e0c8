// The Pub/Sub intake's public surface: the intake itself, its building blocks for other wiring
// (codec, proto loading, replay id helpers) and its errors.
export { createPubSubIntake, describeSubscriptionState } from './intake.js';
export type { PubSubIntake, PubSubIntakeEvents, PubSubIntakeStats } from './intake.js';
export { DEFAULT_CHANNEL_OPTIONS, DEFAULT_DEDUPE_WINDOW, DEFAULT_ENDPOINT, DEFAULT_KEEPALIVE_TIMEOUT_MS, resolveIntakeOptions } from './options.js';
export type { PubSubIntakeOptions, ResolvedIntakeOptions } from './options.js';
export type { PubSubAuth } from './auth.js';
export { pubSubAuthFromTokenProvider } from './token-auth.js';
export { createEventCodec, normalizeLongs, parseSchema, unwrapUnion } from './codec.js';
export type { DecodeResult, EventCodec, EventCodecOptions, SchemaSource } from './codec.js';
export { HybridLong } from './long.js';
export { decodeReplayId, encodeReplayId, hexToReplayId, replayIdToHex } from './replay-id.js';
export { loadPubSubService, PUBSUB_PROTO_PATH, PROTO_LOADER_OPTIONS } from './proto.js';
export type { PubSubClient, PubSubClientConstructor } from './proto.js';
export { createPubSubRpc } from './rpc.js';
export type { PubSubRpc } from './rpc.js';
export {
  PubSubDecodeError,
  PubSubHandlerError,
  PubSubReplayRejectedError,
  PubSubRpcError,
  PubSubStreamError,
  PubSubTopicError,
} from './errors.js';
export type * from './wire.js';
