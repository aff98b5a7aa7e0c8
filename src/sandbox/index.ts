// A local Salesforce for development and CI: the org model, its Interaction Service over HTTP (with
// the OAuth token endpoint) and its Pub/Sub API over gRPC, on loopback. `switchboardOptions()` gives
// the settings that point a switchboard at it exactly as at a real org: got over HTTP, grpc-js over
// gRPC, JWT bearer auth.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { AgentWorkEvent } from '../domain/events.js';
import type { SwitchboardOptions } from '../switchboard.js';
import { FaultPlan } from './faults.js';
import { startInteractionServer, type InteractionServer } from './http-server.js';
import { SandboxOrg, type SandboxRep } from './org.js';
import { startPubSubServer, type PubSubServer } from './pubsub-server.js';

export const SANDBOX_ORG_ID = '00DSB0000000001';
export const SANDBOX_AUTH_CONTEXT = 'Sandbox_Chat';
export const SANDBOX_CLIENT_ID = 'sandbox-connected-app';
export const SANDBOX_USERNAME = 'integration@sandbox.local';
export const SANDBOX_TOPIC = '/event/sb__Conversation__e';

export interface SandboxOptions {
  reps: SandboxRep[];
  /** Salesforce's routing window. Default 60 s. */
  routingTimeoutMs?: number;
  /** Seed of the fault plan's randomness, so a failing run can be replayed. */
  seed?: number;
  flowChooses?: (flowId: string) => string | undefined;
  /** Idle keepalive interval of the Pub/Sub server. Default 60 s. */
  keepaliveIntervalMs?: number;
  /** Port of the HTTP server (0: any free port). */
  httpPort?: number;
  /** Port of the gRPC server (0: any free port). */
  grpcPort?: number;
  /**
   * The connected app's private key (PEM or KeyObject), so a switchboard in another process can
   * sign with a key it already has. Default: a fresh 2048-bit RSA key pair, in memory only.
   */
  privateKey?: KeyObject | string;
  /**
   * Answer a repeated RequestId from memory (src/sandbox/http-server.ts). Default false: Salesforce
   * is not known to deduplicate on RequestId (reference §8.10).
   */
  dedupeRequestIds?: boolean;
  /**
   * The channel's addresses: POST /interactions or PATCH /consent for any other is refused
   * (10001 / 10069) as Salesforce does. Default: any address is taken.
   */
  channelAddresses?: string[];
}

export interface Sandbox {
  org: SandboxOrg;
  http: InteractionServer;
  pubsub: PubSubServer;
  faults: FaultPlan;
  /** The connected app's key pair: the switchboard signs its JWT assertion with the private key. */
  privateKey: KeyObject;
  /** Where the sandbox's connector relays onAgentWorkEvent (wire it to `switchboard.agentWork`). */
  onAgentWork(listener: (event: AgentWorkEvent) => void): void;
  /** org, auth and pubsub options that point a switchboard at this sandbox. */
  switchboardOptions(): Pick<SwitchboardOptions, 'org' | 'auth' | 'pubsub'>;
  stop(): Promise<void>;
}

export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  const privateKey = options.privateKey === undefined ? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey : typeof options.privateKey === 'string' ? createPrivateKey(options.privateKey) : options.privateKey;
  const publicKey = createPublicKey(privateKey);
  let relay: (event: AgentWorkEvent) => void = () => {};
  let pubsub: PubSubServer | undefined;
  const early: Array<[string, string, string | undefined]> = [];
  const org = new SandboxOrg({
    reps: options.reps,
    ...(options.routingTimeoutMs !== undefined ? { routingTimeoutMs: options.routingTimeoutMs } : {}),
    ...(options.flowChooses ? { flowChooses: options.flowChooses } : {}),
    ...(options.channelAddresses ? { channelAddresses: options.channelAddresses } : {}),
    publish: (event) => {
      if (pubsub) pubsub.publish(event.type, event.payload, event.eventId ? { eventId: event.eventId } : {});
      else early.push([event.type, event.payload, event.eventId]);
    },
    relay: (event) => relay(event),
  });
  pubsub = await startPubSubServer({
    topic: SANDBOX_TOPIC,
    tokens: [],
    tenantId: SANDBOX_ORG_ID,
    ...(options.keepaliveIntervalMs !== undefined ? { keepaliveIntervalMs: options.keepaliveIntervalMs } : {}),
    ...(options.grpcPort !== undefined ? { port: options.grpcPort } : {}),
  });
  for (const [type, payload, eventId] of early.splice(0)) pubsub.publish(type, payload, eventId ? { eventId } : {});
  const faults = new FaultPlan(options.seed !== undefined ? { seed: options.seed } : {});
  const grpc = pubsub;
  const http = await startInteractionServer({
    org,
    orgId: SANDBOX_ORG_ID,
    authorizationContext: SANDBOX_AUTH_CONTEXT,
    faults,
    jwt: { publicKey, clientId: SANDBOX_CLIENT_ID, audience: 'http://sandbox.login' },
    onTokenIssued: (token) => grpc.addToken(token),
    ...(options.httpPort !== undefined ? { port: options.httpPort } : {}),
    ...(options.dedupeRequestIds !== undefined ? { dedupeRequestIds: options.dedupeRequestIds } : {}),
  });
  return {
    org,
    http,
    pubsub,
    faults,
    privateKey,
    onAgentWork(listener) {
      relay = listener;
    },
    switchboardOptions() {
      return {
        org: { orgId: SANDBOX_ORG_ID, scrtUrl: http.url, instanceUrl: http.url, authorizationContext: SANDBOX_AUTH_CONTEXT, loginUrl: http.url },
        auth: { jwt: { clientId: SANDBOX_CLIENT_ID, username: SANDBOX_USERNAME, privateKey, audience: 'http://sandbox.login' } },
        pubsub: { endpoint: grpc.address, topic: SANDBOX_TOPIC, payloadField: 'sb__Payload__c', typeField: 'sb__EventType__c', insecure: true, replayPreset: 'EARLIEST' },
      };
    },
    async stop() {
      org.close();
      await http.close();
      await grpc.stop();
    },
  };
}

export { SandboxOrg, type SandboxRep, type RepBehaviour } from './org.js';
export { FaultPlan } from './faults.js';
