// The fleet's test rig: one sandbox org per fleet org (each a real HTTP + gRPC Salesforce on
// loopback), the org configs a fleet host needs to reach them, and the invariants (DESIGN §3) checked
// from each sandbox's own records — never from what the hosts believe.
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { FleetOrg } from '../../src/fleet/fleet.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { expectOrgInvariants as expectOrgInvariantsOf } from '../support/org-invariants.js';
import { CAST, CHANNEL, DEFAULT_ROUTING, FALLBACK_QUEUE, FLOW, INITIAL_QUEUE, QUEUE, DECLINE_QUEUE, REFUSE_QUEUE, IGNORE_QUEUE } from '../e2e/fixture.js';

export { CHANNEL, INITIAL_QUEUE, QUEUE };

/** The JSON-safe description of an org a host process can rebuild its config from. */
export interface OrgWire {
  orgId: string;
  scrtUrl: string;
  grpc: string;
  privateKeyPem: string;
}

export interface RigOrg {
  orgId: string;
  sandbox: Sandbox;
  wire: OrgWire;
}

export const ROUTING = { ...DEFAULT_ROUTING, fallbackQueueId: FALLBACK_QUEUE };

/** Starts one sandbox per org. Its reps accept fast: the fleet's tests are about ownership, not routing paths. */
export async function startOrgs(n: number, prefix = 'FLT', routingWindowMs: number = ROUTING.routingWindowMs): Promise<RigOrg[]> {
  const out: RigOrg[] = [];
  for (let i = 0; i < n; i++) {
    const sandbox = await startSandbox({ reps: CAST.map(({ queueIds: _q, ...r }) => r), routingTimeoutMs: routingWindowMs, seed: i + 1 });
    const o = sandbox.switchboardOptions();
    const orgId = `00D${prefix}${String(i + 1).padStart(15 - 3 - prefix.length, '0')}`;
    out.push({
      orgId,
      sandbox,
      wire: { orgId, scrtUrl: o.org!.scrtUrl, grpc: o.pubsub!.endpoint!, privateKeyPem: String(sandbox.privateKey.export({ type: 'pkcs8', format: 'pem' })) },
    });
  }
  return out;
}

/** The fleet's config of an org, from its wire description (what a host process receives). */
export function fleetOrgOf(w: OrgWire, routingWindowMs: number = ROUTING.routingWindowMs): FleetOrg {
  const queues = [INITIAL_QUEUE, QUEUE, DECLINE_QUEUE, REFUSE_QUEUE, IGNORE_QUEUE, FALLBACK_QUEUE];
  return {
    orgId: w.orgId,
    switchboard: {
      // Every sandbox answers as the same Salesforce org id; the fleet keys the org by `orgId` above.
      org: { orgId: '00DSB0000000001', scrtUrl: w.scrtUrl, instanceUrl: w.scrtUrl, authorizationContext: 'Sandbox_Chat', loginUrl: w.scrtUrl },
      auth: { jwt: { clientId: 'sandbox-connected-app', username: 'integration@sandbox.local', privateKey: w.privateKeyPem, audience: 'http://sandbox.login' } },
      pubsub: {
        endpoint: w.grpc,
        topic: '/event/sb__Conversation__e',
        payloadField: 'sb__Payload__c',
        typeField: 'sb__EventType__c',
        insecure: true,
        replayPreset: 'EARLIEST',
        backoff: { initialMs: 100, maxMs: 1_000, jitter: 0.5 },
      },
      directory: {
        reps: CAST.map((r) => ({ userId: r.userId, name: r.name, queueIds: r.queueIds, capacity: 200 })),
        queues: queues.map((queueId) => ({ queueId, name: queueId })),
        flows: [{ flowId: FLOW, name: 'Triage' }],
      },
      routing: { ...ROUTING, routingWindowMs },
    },
  };
}

export function newEndUser(): string {
  return `enduser-${randomUUID().slice(0, 12)}`;
}

export const startRequest = (from = newEndUser()) => ({ to: CHANNEL, from, text: 'Hello', target: { kind: 'queue' as const, queueId: INITIAL_QUEUE } });


/**
 * DESIGN §3 and §6, from the sandbox's records (test/support/org-invariants.ts). Hosts are killed
 * here, so an offer whose id no answer ever told (its repeat met 15109) may be left: returned.
 */
export function expectOrgInvariants(org: RigOrg, label = org.orgId): string[] {
  return expectOrgInvariantsOf(org.sandbox.org, org.sandbox.http.records, { label, allowUnnamedOffers: true });
}

/**
 * Every RoutingRequested of the org answered (or timed out by the org), its clean-up done (no PSR,
 * no offer left: the calls after a failed routingResult), no call unanswered.
 */
export function orgQuiet(org: RigOrg): boolean {
  const audit = org.sandbox.org.audit();
  return (
    [...org.sandbox.org.requests.values()].every((r) => r.reported > 0 || r.timedOut) &&
    audit.openPsrs.length === 0 &&
    audit.offeredWork.length === 0 &&
    org.sandbox.http.records.every((r) => r.status !== 0)
  );
}

/** Waits for orgQuiet; on a timeout the invariant checks that follow say what is left. */
export async function settle(orgs: RigOrg[], timeoutMs = 30_000): Promise<void> {
  await until('every org quiet', () => orgs.every(orgQuiet), timeoutMs).catch(() => undefined);
}

/** The org-reaching calls of one conversation (for a failure's message). */
export function callsOf(org: RigOrg, conv: string): string[] {
  return org.sandbox.http.records.filter((r) => r.orgCalled && JSON.stringify(r.body ?? '').includes(conv)).map((r) => `${r.seq} ${r.endpoint} ${r.status}`);
}

export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
