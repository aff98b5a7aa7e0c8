// End-to-end fixture: the real engine with its real adapters (JWT bearer auth, got over HTTP, grpc-js
// over gRPC) against the sandbox org on loopback. The routing window is shortened (the sandbox's own
// routing timeout equals it), so the 60-second paths run in a few seconds of real time.
//
// Invariants (DESIGN §3) are checked against the sandbox's own records, never the engine's view:
// - the org's audit: no PSR left, no AgentWork left offered, every RoutingRequested reported exactly
//   once and in time;
// - the participant cap, tracked over time from the ParticipantChanged events and by sampling the
//   org's conversations;
// - no step applied twice by the org (the sandbox, like Salesforce as far as anyone knows, does not
//   deduplicate RequestIds: a retry whose first attempt was applied must be harmless there), no
//   second live offer for one request, and exactly one POST /routingResult applied per
//   RoutingRequested of a conversation.
//
// E2E_SEED=<n> replays a run with the fault plan's seed printed in a test's name; E2E_LOG=debug
// shows the engine's logs.
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { expectOrgInvariants } from '../support/org-invariants.js';
import { expect } from 'vitest';
import type { RoutingType } from '../../src/domain/enums.js';
import type { PickRep, RouteExternally } from '../../src/domain/ports.js';
import type { DirectoryRep } from '../../src/directory.js';
import type { InteractionClientLimits } from '../../src/io/interaction-api/index.js';
import { startSandbox, type FaultPlan, type Sandbox, type SandboxRep } from '../../src/sandbox/index.js';
import type { HttpRecord } from '../../src/sandbox/http-server.js';
import type { RequestTarget } from '../../src/sandbox/payloads.js';
import { createSwitchboard, type RoutingOptions, type StartConversationRequest, type Switchboard, type SwitchboardEvents, type SwitchboardOptions } from '../../src/switchboard.js';

// ---- the cast ----

export const CHANNEL = '6f1c2a3b-0e2e-4e2e-8e2e-00000000c0de';
/** Initial routing goes to this queue (accepting reps only), unless a test asks for the channel default. */
export const INITIAL_QUEUE = '00GE2E00000INIT';
/** Reps who accept. */
export const QUEUE = '00GE2E00000SALE';
/** Cam (declines) first, then Dia (accepts). */
export const DECLINE_QUEUE = '00GE2E00000DECL';
/** Cam alone: every offer through it is declined. */
export const REFUSE_QUEUE = '00GE2E00000RFSE';
/** Eve and Fay: they never answer. */
export const IGNORE_QUEUE = '00GE2E00000IGNR';
/** The flows' fallback queue: Ben and Dia. */
export const FALLBACK_QUEUE = '00GE2E00000FALL';
export const FLOW = '300E2E00000FLOW';

export const AVA = '005E2E000000AVA';
export const BEN = '005E2E000000BEN';
export const CAM = '005E2E000000CAM';
export const DIA = '005E2E000000DIA';
export const EVE = '005E2E000000EVE';
export const FAY = '005E2E000000FAY';
export const GUS = '005E2E000000GUS';
export const HAL = '005E2E000000HAL';

export interface E2ERep extends SandboxRep {
  queueIds: string[];
  capacity?: number;
}

/** Insertion order matters: the directory's picker takes the longest-idle rep, ties in this order. */
export const CAST: E2ERep[] = [
  { userId: AVA, name: 'Ava', behaviour: 'accept', answerAfterMs: 40, queueIds: [INITIAL_QUEUE] },
  { userId: BEN, name: 'Ben', behaviour: 'accept', answerAfterMs: 60, queueIds: [QUEUE, FALLBACK_QUEUE] },
  { userId: CAM, name: 'Cam', behaviour: 'decline', answerAfterMs: 60, queueIds: [DECLINE_QUEUE, REFUSE_QUEUE] },
  { userId: DIA, name: 'Dia', behaviour: 'accept', answerAfterMs: 60, queueIds: [DECLINE_QUEUE, FALLBACK_QUEUE] },
  { userId: EVE, name: 'Eve', behaviour: 'ignore', queueIds: [IGNORE_QUEUE] },
  { userId: FAY, name: 'Fay', behaviour: 'ignore', queueIds: [IGNORE_QUEUE] },
  { userId: GUS, name: 'Gus', behaviour: 'accept', answerAfterMs: 50, queueIds: [QUEUE] },
  { userId: HAL, name: 'Hal', behaviour: 'accept', answerAfterMs: 50, queueIds: [QUEUE] },
];

export const DEFAULT_ROUTING = {
  routingWindowMs: 4_000,
  reportReserveMs: 800,
  offerTimeoutMs: 600,
} as const;

/** A seed from E2E_SEED (to replay a failure) or the test's own default. */
export function seedFrom(fallback: number): number {
  const env = process.env.E2E_SEED;
  return env !== undefined && env !== '' ? Number(env) >>> 0 : fallback;
}

export interface E2EOptions {
  seed?: number;
  reps?: E2ERep[];
  routing?: RoutingOptions;
  limits?: InteractionClientLimits;
  flowChooses?: (flowId: string) => string | undefined;
  pickRep?: PickRep;
  routeExternally?: RouteExternally;
  consentStatus?: SwitchboardOptions['consentStatus'];
  /** Faults in place before the switchboard starts (so the first token fetch and the first calls see them). */
  faults?: (plan: FaultPlan) => void;
  /** Merged over the sandbox's pubsub options (backoff, keepalive…). */
  pubsub?: Partial<NonNullable<SwitchboardOptions['pubsub']>>;
  /** The switchboard's store (memory only when omitted). */
  store?: SwitchboardOptions['store'];
}

export type Finished = SwitchboardEvents['routing.finished'];

export interface E2E {
  sandbox: Sandbox;
  sb: Switchboard;
  seed: number;
  /** The effective participant cap. */
  cap: number;
  routingWindowMs: number;
  /** What the app's listeners saw, in order. */
  seen: {
    started: Array<SwitchboardEvents['routing.started']>;
    finished: Finished[];
    ignored: Array<SwitchboardEvents['routing.ignored']>;
    joined: Array<SwitchboardEvents['participant.joined']>;
    left: Array<SwitchboardEvents['participant.left']>;
    ended: Array<SwitchboardEvents['session.ended']>;
    errors: Array<SwitchboardEvents['error']>;
  };
  /** The most reps ever in each conversation, from ParticipantChanged and from sampling the org. */
  peakParticipants: Map<string, number>;
  /** A new conversation through sb.startConversation; waits until its rep joined (unless told not to). */
  converse(opts?: { target?: StartConversationRequest['target']; waitForRep?: boolean }): Promise<{ conv: string; rep: string | undefined }>;
  /** The org publishes a RoutingRequested; returns its eventId (the engine's routingId). */
  request(conv: string, routingType: RoutingType, target: RequestTarget): string;
  /** Resolves with the routing.finished of this routing id. */
  finished(routingId: string, timeoutMs?: number): Promise<Finished['output']>;
  /** Org-reaching Interaction Service calls of one conversation, in arrival order (`METHOD /resource`). */
  calls(conv: string, opts?: { since?: number; all?: boolean }): string[];
  /** The HTTP records of one conversation (org-reaching only unless `all`). */
  records(conv: string, opts?: { since?: number; all?: boolean }): HttpRecord[];
  /** A position in sandbox.http.records, for `since`. */
  mark(): number;
  /** Waits until nothing is pending: no routing, no effect in flight, every RoutingRequested answered. */
  quiesce(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function waitFor<T>(what: string, check: () => T | undefined | null | false, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const API = '/api/v1/';

export async function startE2E(options: E2EOptions = {}): Promise<E2E> {
  const reps = (options.reps ?? CAST).map((r) => ({ ...r, queueIds: [...r.queueIds] }));
  const routing: RoutingOptions = { ...DEFAULT_ROUTING, fallbackQueueId: FALLBACK_QUEUE, ...options.routing };
  const routingWindowMs = routing.routingWindowMs!;
  const sandbox = await startSandbox({
    reps: reps.map(({ queueIds: _q, capacity: _c, ...r }) => r),
    routingTimeoutMs: routingWindowMs,
    seed: options.seed ?? 1,
    // The org knows its channel: a conversation on any other address is refused (10001), as in Salesforce.
    channelAddresses: [CHANNEL],
    ...(options.flowChooses ? { flowChooses: options.flowChooses } : {}),
  });
  options.faults?.(sandbox.faults);
  const wiring = sandbox.switchboardOptions();
  const queues = [INITIAL_QUEUE, QUEUE, DECLINE_QUEUE, REFUSE_QUEUE, IGNORE_QUEUE, FALLBACK_QUEUE];
  const directoryReps: DirectoryRep[] = reps.map((r) => ({ userId: r.userId, name: r.name, queueIds: r.queueIds, capacity: r.capacity ?? 50 }));
  const logLevel = process.env.E2E_LOG ?? 'silent';
  const sb = createSwitchboard({
    ...wiring,
    pubsub: { ...wiring.pubsub!, backoff: { initialMs: 100, maxMs: 1_000, jitter: 0.5 }, ...options.pubsub },
    directory: {
      reps: directoryReps,
      queues: queues.map((queueId) => ({ queueId, name: queueId })),
      flows: [{ flowId: FLOW, name: 'Triage' }],
      externals: [{ id: 'EXT-1', name: 'Partner desk' }],
    },
    routing,
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.pickRep ? { pickRep: options.pickRep } : {}),
    ...(options.routeExternally ? { routeExternally: options.routeExternally } : {}),
    ...(options.consentStatus ? { consentStatus: options.consentStatus } : {}),
    ...(options.store ? { store: options.store } : {}),
    logger: pino({ level: logLevel }),
  });
  const platformCap = routing.platformParticipantCap ?? 5;
  const cap = Math.min(routing.maxParticipantsOverride ?? platformCap, platformCap);

  const seen: E2E['seen'] = { started: [], finished: [], ignored: [], joined: [], left: [], ended: [], errors: [] };
  const present = new Map<string, number>();
  const peakParticipants = new Map<string, number>();
  const peak = (conv: string, n: number) => peakParticipants.set(conv, Math.max(peakParticipants.get(conv) ?? 0, n));
  sb.on('routing.started', (e) => seen.started.push(e));
  sb.on('routing.finished', (e) => seen.finished.push(e));
  sb.on('routing.ignored', (e) => seen.ignored.push(e));
  sb.on('session.ended', (e) => seen.ended.push(e));
  sb.on('error', (e) => seen.errors.push(e));
  sb.on('participant.joined', (e) => {
    seen.joined.push(e);
    const n = (present.get(e.conversationIdentifier) ?? 0) + 1;
    present.set(e.conversationIdentifier, n);
    peak(e.conversationIdentifier, n);
  });
  sb.on('participant.left', (e) => {
    seen.left.push(e);
    present.set(e.conversationIdentifier, (present.get(e.conversationIdentifier) ?? 1) - 1);
  });
  // The org's own truth, sampled: a rep accepted by the org counts even if its event were lost.
  const sampler = setInterval(() => {
    for (const c of sandbox.org.conversations.values()) peak(c.conversationIdentifier, c.participants.size);
  }, 5);

  sandbox.onAgentWork((e) => sb.agentWork(e));
  await sb.start();

  const org = sandbox.org;
  const convByWorkItem = (workItemId: unknown) => [...org.conversations.values()].find((c) => c.workItemId === workItemId)?.conversationIdentifier;
  const convByWorkId = (workId: unknown) => [...org.conversations.values()].find((c) => c.works.has(String(workId)))?.conversationIdentifier;
  const convByEndUser = (from: unknown) => [...org.conversations.values()].find((c) => c.endUserClientId === from)?.conversationIdentifier;

  /** The conversation an Interaction Service request belongs to, from its body. */
  function convOf(r: HttpRecord): string | undefined {
    const body = (r.body ?? {}) as Record<string, unknown>;
    switch (r.endpoint) {
      case 'POST /interactions': {
        const res = r.response as { conversationIdentifier?: string } | undefined;
        return res?.conversationIdentifier ?? convByEndUser((body.json as { from?: string } | undefined)?.from);
      }
      case 'PATCH /consent':
        return convByEndUser(body.endUserClientId);
      case 'POST /agentWork':
        return convByWorkItem(body.workItemId);
      case 'PATCH /agentWork':
        return convByWorkId(body.workId);
      default:
        return typeof body.conversationIdentifier === 'string' ? body.conversationIdentifier : undefined;
    }
  }

  function records(conv: string, opts: { since?: number; all?: boolean } = {}): HttpRecord[] {
    return sandbox.http.records
      .slice(opts.since ?? 0)
      .filter((r) => r.path.startsWith(API) && (opts.all || r.orgCalled) && convOf(r) === conv);
  }

  let n = 0;
  const e2e: E2E = {
    sandbox,
    sb,
    seed: sandbox.faults.seed,
    cap,
    routingWindowMs,
    seen,
    peakParticipants,
    async converse(opts = {}) {
      const from = `enduser-${++n}-${randomUUID().slice(0, 8)}`;
      const target = opts.target ?? { kind: 'queue' as const, queueId: INITIAL_QUEUE };
      const { conversationIdentifier: conv } = await sb.startConversation({ to: CHANNEL, from, text: 'Hello, my invoice is wrong', target });
      if (opts.waitForRep === false) return { conv, rep: undefined };
      await waitFor(`initial routing of ${conv}`, () => seen.finished.find((f) => f.conversationIdentifier === conv && f.output.routingType === 'Initial'));
      const rep = await waitFor(`a rep in ${conv}`, () => sb.session(conv)?.reps[0]?.userId);
      return { conv, rep };
    },
    request(conv, routingType, target) {
      return org.requestRouting(conv, routingType, target);
    },
    async finished(routingId, timeoutMs = 15_000) {
      const f = await waitFor(`routing ${routingId} to finish`, () => seen.finished.find((e) => e.output.routingId === routingId), timeoutMs);
      return f.output;
    },
    calls: (conv, opts) => records(conv, opts).map((r) => r.endpoint!),
    records,
    mark: () => sandbox.http.records.length,
    async quiesce(timeoutMs = 15_000) {
      // Soft: on a timeout the invariant checks that follow say what is left, which beats "timed out".
      await waitFor(
        'the switchboard to settle',
        () => {
          const s = sb.stats();
          const answered = [...org.requests.values()].every((r) => r.reported > 0 || r.timedOut);
          return s.pendingRoutings === 0 && s.inFlightEffects === 0 && answered && sandbox.http.records.every((r) => r.status !== 0);
        },
        timeoutMs,
      ).catch(() => undefined);
    },
    async stop() {
      clearInterval(sampler);
      await sb.stop({ drainMs: 1_000 });
      await sandbox.stop();
    },
  };
  return e2e;
}

/**
 * DESIGN §3, checked against the sandbox's records: the org's audit is empty, no conversation ever
 * held more reps than the cap, and no step reached the org twice.
 */
export async function expectInvariants(e2e: E2E): Promise<void> {
  await e2e.quiesce();
  const { org, http } = e2e.sandbox;
  // 1–3 and the rest of DESIGN §3, from the org's own records.
  expectOrgInvariants(org, http.records, { label: `seed ${e2e.seed}` });
  // 4: the participant cap, over time and now.
  for (const c of org.conversations.values()) {
    expect(c.participants.size, `reps in ${c.conversationIdentifier} now`).toBeLessThanOrEqual(e2e.cap);
  }
  for (const [conv, peak] of e2e.peakParticipants) expect(peak, `peak reps in ${conv}`).toBeLessThanOrEqual(e2e.cap);
  // Nothing still in flight, no session actor failed.
  expect(e2e.seen.errors, 'session actors that failed').toEqual([]);
}

/** The first record of an endpoint in a list (for body assertions). */
export function bodyOf(records: HttpRecord[], endpoint: string, nth = 0): Record<string, unknown> {
  const r = records.filter((x) => x.endpoint === endpoint)[nth];
  if (!r) throw new Error(`no ${endpoint} #${nth + 1} among ${records.map((x) => x.endpoint).join(', ')}`);
  return r.body as Record<string, unknown>;
}
