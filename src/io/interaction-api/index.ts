export type {
  InteractionClient,
  InteractionClientOptions,
  InteractionClientLimits,
  InteractionClientEvents,
  ClientStats,
  BreakerChange,
  RetryNotice,
} from './client.js';
export { createInteractionClient } from './client.js';
export type { Endpoint, EndpointClass, Operation } from './endpoints.js';
export { ENDPOINTS, ENDPOINT_CLASSES, AUTHORIZATION_CONTEXT_TYPE } from './endpoints.js';
export { RETRYABLE_CODES, CAPABILITY_CODES, ALREADY_DONE_CODE, INVALID_TOKEN_CODE, kindFor, parseRetryAfter } from './errors.js';
export { MAX_ATTACHMENT_BYTES } from './validate.js';
