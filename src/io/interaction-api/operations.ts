// What each InteractionService method contributes to a call: its local validation, and how its
// request becomes a wire body and its response a port type. The call pipeline itself (limiter,
// breaker, retries, auth) is the same for all of them and lives in client.ts.
import type { InteractionService } from '../../domain/ports.js';
import type { Operation } from './endpoints.js';
import * as v from './validate.js';
import * as wire from './wire.js';

type Json = Record<string, unknown>;

/** One logical call's body source and response mapping. */
export interface Exchange<T> {
  /** A fresh body per attempt: a FormData stream is consumed by sending it. */
  body: () => { json: Json } | { body: FormData };
  parse: (body: Json) => T;
  /** The result when Salesforce answers 15109 (already done); absent → the error is thrown. */
  alreadyDone?: () => T;
  /**
   * The result when a retry meets 15109 after an earlier attempt of the same call may have been
   * applied (timeout, reset, 5xx): that attempt made the work. Absent → the error is thrown.
   */
  retryMetItself?: () => T;
}

export type RequestOf<K extends Operation> = Parameters<InteractionService[K]>[0];
export type ResponseOf<K extends Operation> = Awaited<ReturnType<InteractionService[K]>>;

export interface OperationSpec<K extends Operation> {
  validate(req: RequestOf<K>): void;
  /** Called once per logical call, so ids and timestamps it fixes hold across retries. */
  exchange(req: RequestOf<K>, now: () => number): Exchange<ResponseOf<K>>;
}

/** A JSON endpoint whose success carries nothing the engine needs. */
const json =
  <Req>(toBody: (req: Req) => Json) =>
  (req: Req): Exchange<void> => ({ body: () => ({ json: toBody(req) }), parse: () => undefined });

export const OPERATIONS: { readonly [K in Operation]: OperationSpec<K> } = {
  postInteraction: {
    validate: v.validateInteraction,
    exchange: (req, now) => {
      const w = wire.toInteractionWire(req, now);
      return { body: () => ({ body: wire.toFormData(w) }), parse: wire.fromInteractionResponse };
    },
  },
  patchConsent: { validate: v.validateConsent, exchange: json(wire.consentBody) },
  createRoute: {
    validate: v.validateRoute,
    exchange: (req) => ({ body: () => ({ json: wire.routeBody(req) }), parse: wire.fromRouteResponse }),
  },
  clearRoute: { validate: v.validateClearRoute, exchange: json(wire.clearRouteBody) },
  createAgentWork: {
    validate: v.validateAgentWork,
    exchange: (req) => ({
      body: () => ({ json: wire.agentWorkBody(req) }),
      // 15109 ("an active AgentWork already exists" for this rep and MessagingSession) is thrown as an
      // already-done error: it also answers an offer to a rep who is already in the conversation or
      // holds another offer, so only the caller knows whether it means "done" (its own step, repeated
      // after a restart) or "this rep cannot take it" — except on a retry inside this call after an
      // attempt that may have been applied: then it is this call's own AgentWork, whose id the lost
      // answer held. Reported as an offer without an id, never as a refusal (which would let the
      // routing offer the work to another rep while this offer is live).
      parse: wire.fromAgentWorkResponse,
      retryMetItself: () => ({}),
    }),
  },
  patchAgentWork: { validate: v.validatePatchAgentWork, exchange: json(wire.patchAgentWorkBody) },
  reportRoutingResult: { validate: v.validateRoutingResult, exchange: json(wire.routingResultBody) },
  removeParticipant: { validate: v.validateParticipant, exchange: json(wire.participantBody) },
  updateMessagingSession: { validate: v.validateMessagingSession, exchange: json(wire.messagingSessionBody) },
};
