// `switchboard-ccaas/sandbox`: a local Salesforce for a partner's development and test suite — the
// Interaction Service over HTTP with the OAuth JWT token endpoint, the Pub/Sub API over gRPC with
// real Avro events, scripted reps, the routing timeout and fault injection, on loopback. A
// switchboard reaches it exactly as it reaches a real org.
//
// `sandboxConnection()` turns a running sandbox into plain JSON (options with a PEM key, a dev
// token, the endpoints): what `npx switchboard sandbox` prints, so a switchboard in another process
// can be wired to it.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createJwtBearerTokenProvider } from './io/auth/index.js';
import type { Sandbox } from './sandbox/index.js';

export {
  startSandbox,
  SandboxOrg,
  FaultPlan,
  SANDBOX_ORG_ID,
  SANDBOX_AUTH_CONTEXT,
  SANDBOX_CLIENT_ID,
  SANDBOX_USERNAME,
  SANDBOX_TOPIC,
  type Sandbox,
  type SandboxOptions,
  type SandboxRep,
  type RepBehaviour,
} from './sandbox/index.js';
export type { RequestTarget } from './sandbox/payloads.js';

/** The JSON-safe part of SwitchboardOptions that points a switchboard at a sandbox. */
export interface SandboxSwitchboardOptions {
  org: { orgId: string; scrtUrl: string; instanceUrl: string; authorizationContext: string; loginUrl: string };
  auth: { jwt: { clientId: string; username: string; privateKey: string; audience: string } };
  pubsub: {
    endpoint: string;
    topic: string;
    payloadField: string;
    typeField: string;
    insecure: true;
    replayPreset: 'EARLIEST' | 'LATEST';
  };
}

export interface SandboxConnection {
  /** Spread into createSwitchboard({ ...options, directory, … }); JSON-safe (the key is a PEM). */
  options: SandboxSwitchboardOptions;
  /** An access token both of the sandbox's APIs accept, for calling them by hand (curl, grpcurl). */
  token: string;
  endpoints: { interactionService: string; tokenEndpoint: string; pubsub: string };
}

function pem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** Plain-JSON wiring for a running sandbox, and a dev token fetched through its own JWT bearer flow. */
export async function sandboxConnection(sandbox: Sandbox): Promise<SandboxConnection> {
  const wiring = sandbox.switchboardOptions();
  const org = wiring.org!;
  const auth = wiring.auth as { jwt: { clientId: string; username: string; audience: string } };
  const pubsub = wiring.pubsub as SandboxSwitchboardOptions['pubsub'];
  const options: SandboxSwitchboardOptions = {
    org: { orgId: org.orgId, scrtUrl: org.scrtUrl, instanceUrl: org.instanceUrl!, authorizationContext: org.authorizationContext, loginUrl: org.loginUrl! },
    auth: { jwt: { clientId: auth.jwt.clientId, username: auth.jwt.username, privateKey: pem(sandbox.privateKey), audience: auth.jwt.audience } },
    pubsub: {
      endpoint: pubsub.endpoint,
      topic: pubsub.topic,
      payloadField: pubsub.payloadField,
      typeField: pubsub.typeField,
      insecure: true,
      replayPreset: pubsub.replayPreset,
    },
  };
  const tokens = createJwtBearerTokenProvider({ loginUrl: options.org.loginUrl, ...options.auth.jwt });
  return {
    options,
    token: await tokens.getToken(),
    endpoints: {
      interactionService: `${sandbox.http.url}/api/v1/`,
      tokenEndpoint: `${sandbox.http.url}/services/oauth2/token`,
      pubsub: sandbox.pubsub.address,
    },
  };
}

/**
 * The sandbox connected app's private key (PEM) from `path`; when the file does not exist, a new
 * 2048-bit RSA key is written there (mode 0600), so the sandbox and the app under test can share
 * it across processes and restarts.
 */
export async function loadOrCreateSandboxKey(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = pem(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
  await mkdir(dirname(path), { recursive: true });
  // 'wx': two processes starting at once must not overwrite each other's key.
  try {
    await writeFile(path, key, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readFile(path, 'utf8');
    throw err;
  }
  await chmod(path, 0o600);
  return key;
}
