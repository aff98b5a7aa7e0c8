// The routing table: each Interaction Service resource, its declared error shape and
// AuthorizationContextType rule, and how its validated request reaches the org and its answer
// goes back in the documented response body.
import type { CallContext } from '../../domain/ports.js';
import type { InteractionEndpoint } from '../faults.js';
import type { SandboxOrg } from '../org.js';
import type { ErrorShape } from './codes.js';
import type { Parsed, Validators } from './validate.js';
import type { Json } from './wire.js';

export interface Outcome {
  status: number;
  body: Json;
}

export interface Route {
  endpoint: InteractionEndpoint;
  multipart: boolean;
  errorShape: ErrorShape;
  /** AuthorizationContextType: required (must be ConversationChannelDefinition), optional (checked when sent), or not declared (ignored). */
  contextType: 'required' | 'optional' | 'ignored';
  run(p: Parsed, call: (fn: (ctx: CallContext) => Promise<Json>) => Promise<Json>): Promise<Outcome>;
}

export function createRoutes(org: SandboxOrg, v: Validators): Record<string, Route> {
  const { interactionRequest, consentRequest, routeRequest, clearRouteRequest, agentWorkRequest, patchAgentWorkRequest, routingResultRequest, participantRequest, messagingSessionRequest } = v;
  const ok = { success: true };

  return {
    'POST interactions': {
      endpoint: 'POST /interactions',
      multipart: true,
      errorShape: 'error',
      contextType: 'ignored',
      async run(p, call) {
        const req = interactionRequest(p);
        const res = await call((ctx) => org.postInteraction(req, ctx) as unknown as Promise<Json>);
        const i = req.interaction;
        const id = (res.id as string | undefined) ?? (i.kind === 'text' ? i.id : (i.payload.id as string));
        return { status: 202, body: { conversationIdentifier: res.conversationIdentifier, id, workItemIds: res.workItemIds, success: true } };
      },
    },
    'PATCH consent': {
      endpoint: 'PATCH /consent',
      multipart: false,
      errorShape: 'detail',
      contextType: 'ignored',
      async run(p, call) {
        const req = consentRequest(p.json);
        await call(async (ctx) => (await org.patchConsent(req, ctx), {}));
        return { status: 200, body: ok };
      },
    },
    'POST route': {
      endpoint: 'POST /route',
      multipart: false,
      errorShape: 'error',
      contextType: 'optional',
      async run(p, call) {
        const req = routeRequest(p.json);
        const res = await call((ctx) => org.createRoute(req, ctx) as unknown as Promise<Json>);
        return { status: 202, body: { success: true, ...res } };
      },
    },
    'DELETE route': {
      endpoint: 'DELETE /route',
      multipart: false,
      errorShape: 'error',
      contextType: 'ignored',
      async run(p, call) {
        const req = clearRouteRequest(p.json);
        await call(async (ctx) => (await org.clearRoute(req, ctx), {}));
        return { status: 202, body: ok };
      },
    },
    'POST agentWork': {
      endpoint: 'POST /agentWork',
      multipart: false,
      errorShape: 'error',
      contextType: 'ignored',
      async run(p, call) {
        const req = agentWorkRequest(p.json);
        const res = await call((ctx) => org.createAgentWork(req, ctx) as unknown as Promise<Json>);
        const existPsr = res.existPsr === true;
        let psrId = res.psrId as string | undefined;
        if (existPsr && psrId === undefined) {
          psrId = [...org.conversations.values()].find((c) => c.workItemId === req.workItemId)?.psr?.psrId;
        }
        return {
          status: 202,
          body: {
            id: res.agentWorkId,
            agentWorkId: res.agentWorkId,
            success: true,
            agentWorkDetails: {
              existPsr,
              routingContext: req.routingContext ?? null,
              ...(req.capacityPercentage !== undefined && { capacityPercentage: req.capacityPercentage }),
              ...(req.capacityWeight !== undefined && { capacityWeight: req.capacityWeight }),
              ...(psrId !== undefined && { psrId }),
            },
          },
        };
      },
    },
    'PATCH agentWork': {
      endpoint: 'PATCH /agentWork',
      multipart: false,
      errorShape: 'detail',
      contextType: 'required',
      async run(p, call) {
        const req = patchAgentWorkRequest(p.json);
        await call(async (ctx) => (await org.patchAgentWork(req, ctx), {}));
        return { status: 202, body: ok };
      },
    },
    'POST routingResult': {
      endpoint: 'POST /routingResult',
      multipart: false,
      errorShape: 'detail',
      contextType: 'ignored',
      async run(p, call) {
        const req = routingResultRequest(p.json);
        await call(async (ctx) => (await org.reportRoutingResult(req, ctx), {}));
        return { status: 202, body: ok };
      },
    },
    'POST participant': {
      endpoint: 'POST /participant',
      multipart: false,
      errorShape: 'detail',
      contextType: 'ignored',
      async run(p, call) {
        const req = participantRequest(p.json);
        await call(async (ctx) => (await org.removeParticipant(req, ctx), {}));
        return { status: 200, body: ok };
      },
    },
    'POST messagingSession': {
      endpoint: 'POST /messagingSession',
      multipart: false,
      errorShape: 'error',
      contextType: 'ignored',
      async run(p, call) {
        const req = messagingSessionRequest(p.json);
        await call(async (ctx) => (await org.updateMessagingSession(req, ctx), {}));
        return { status: 200, body: ok };
      },
    },
  };
}
