// The Interaction Service endpoints Switchboard calls (reference §1.4–§1.11), with the breaker class
// each belongs to. Classes group endpoints that fail together and matter differently: a failing
// /route must not open the breaker in front of /routingResult, which closes routing windows.
import type { InteractionService } from '../../domain/ports.js';

export type EndpointClass = 'interactions' | 'route' | 'agentWork' | 'routingResult' | 'other';
export const ENDPOINT_CLASSES: readonly EndpointClass[] = ['interactions', 'route', 'agentWork', 'routingResult', 'other'];

export type Operation = keyof InteractionService;

export interface Endpoint {
  method: 'POST' | 'PATCH' | 'DELETE';
  /** Relative to `${scrtUrl}/api/v1/`. */
  path: string;
  class: EndpointClass;
  /** Send `AuthorizationContextType: ConversationChannelDefinition` (required on PATCH /agentWork, optional on POST /route). */
  contextType: boolean;
  /** `METHOD /path`, the name used in errors and logs. */
  name: string;
}

function endpoint(method: Endpoint['method'], path: string, cls: EndpointClass, contextType = false): Endpoint {
  return { method, path, class: cls, contextType, name: `${method} /${path}` };
}

export const ENDPOINTS: Readonly<Record<Operation, Endpoint>> = Object.freeze({
  postInteraction: endpoint('POST', 'interactions', 'interactions'),
  patchConsent: endpoint('PATCH', 'consent', 'other'),
  createRoute: endpoint('POST', 'route', 'route', true),
  clearRoute: endpoint('DELETE', 'route', 'route'),
  createAgentWork: endpoint('POST', 'agentWork', 'agentWork'),
  patchAgentWork: endpoint('PATCH', 'agentWork', 'agentWork', true),
  reportRoutingResult: endpoint('POST', 'routingResult', 'routingResult'),
  removeParticipant: endpoint('POST', 'participant', 'other'),
  updateMessagingSession: endpoint('POST', 'messagingSession', 'other'),
});

export const AUTHORIZATION_CONTEXT_TYPE = 'ConversationChannelDefinition';
