// The public surface of Switchboard. Nothing outside this file is public, except the two subpath
// entries for tests and development: switchboard-ccaas/sandbox (src/sandbox-entry.ts) and
// switchboard-ccaas/testing (src/testing.ts).
export {
  createSwitchboard,
  DEFAULT_PLATFORM_PARTICIPANT_CAP,
  type Switchboard,
  type SwitchboardOptions,
  type SwitchboardEvents,
  type SwitchboardStats,
  type RoutingOptions,
  type OrgOptions,
  type AuthOptions,
  type SessionLimits,
  type IngestResult,
  type SessionView,
  type StartConversationRequest,
} from './switchboard.js';
export {
  Directory,
  type Contact,
  type ContactsRequest,
  type DirectoryEntries,
  type DirectoryRep,
  type DirectoryQueue,
  type DirectoryFlow,
  type DirectoryExternal,
} from './directory.js';
export {
  SwitchboardError,
  ParseError,
  RequestValidationError,
  InteractionApiError,
  CircuitOpenError,
  DeadlineExceededError,
  AuthError,
  ConfigError,
  NotProvidedError,
  StoppedError,
  InvalidArgumentError,
  LimitError,
  StoreLockedError,
  StoreCorruptError,
  StoreAccessError,
  StoreCommitError,
  StoreError,
  StoreSchemaError,
  FencedError,
  ForwardTimeoutError,
  ForwardedError,
  isApiError,
  type ApiErrorKind,
  type StoreLockHolder,
} from './domain/errors.js';
export {
  PubSubDecodeError,
  PubSubRpcError,
  PubSubTopicError,
  PubSubStreamError,
  PubSubReplayRejectedError,
  PubSubHandlerError,
} from './io/pubsub/errors.js';
export { parsePlatformEvent, parseAgentWorkEvent, type ParseResult, type ParseOptions } from './domain/parse.js';
export { toId15, isSalesforceId } from './domain/ids.js';
export type * from './domain/events.js';
export type * from './domain/ports.js';
export type * from './domain/enums.js';
export {
  createRecordingInteractionService,
  type RecordingInteractionService,
  type RecordedCall,
  type Endpoint,
} from './io/recording-interaction-service.js';
export { routingMachine, type RoutingInput, type RoutingOutput, type RoutingOutcome } from './machines/routing.js';
export { sessionMachine, type SessionEmitted, type RepPresence, type PendingRouting, type Refusal, type WarmTransfer } from './machines/session.js';
export {
  createInteractionClient,
  type InteractionClient,
  type InteractionClientOptions,
  type InteractionClientLimits,
  type ClientStats,
  type BreakerChange,
} from './io/interaction-api/index.js';
export {
  createJwtBearerTokenProvider,
  createStaticTokenProvider,
  type TokenProvider,
  type JwtBearerOptions,
} from './io/auth/index.js';
export { createLogger } from './io/log.js';
export {
  createPubSubIntake,
  pubSubAuthFromTokenProvider,
  type PubSubIntake,
  type PubSubIntakeOptions,
  type PubSubIntakeStats,
  type PubSubAuth,
} from './io/pubsub/index.js';
export { createMemoryCursorStore, createFileCursorStore, type CursorStore } from './io/store/index.js';
export { subscriptionMachine } from './machines/subscription.js';
export { createFleet, type Fleet, type FleetOptions, type FleetOrg, type FleetEvents, type FleetOrgEvent, type ForwardResult } from './fleet/fleet.js';
export type { PostgresStoreChoice, StoreOption } from './switchboard.js';
