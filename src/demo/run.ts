// The demo: a switchboard wired to a local org plays conversation stories end to end and prints a
// timeline — who joined, which Interaction Service call went out, how long each routing request
// took against Salesforce's 60-second window — then audits the DESIGN §3 invariants against the
// org's own records and exits non-zero if any is broken.
import { pino } from 'pino';
import type { Writable } from 'node:stream';
import type { DirectoryEntries } from '../directory.js';
import type { RoutingType } from '../domain/enums.js';
import type { InteractionService } from '../domain/ports.js';
import { createJwtBearerTokenProvider } from '../io/auth/index.js';
import { createInteractionClient } from '../io/interaction-api/index.js';
import { createSwitchboard, type Switchboard } from '../switchboard.js';
import { startSandbox } from '../sandbox/index.js';
import type { SandboxOrg, SandboxRep } from '../sandbox/org.js';
import type { RequestTarget } from '../sandbox/payloads.js';
import { describeInspector, startInspectorRelay, type InspectorRelay } from './inspector.js';

const QUEUE = '00G5g000001BILL';
const FALLBACK_QUEUE = '00G5g000001TIER';
const FLOW = '3005g000000TRIA';
/** Cam and Dia only, Cam first: the queue where an offer is declined and the next rep is offered. */
const ESCALATIONS = '00G5g000001ESCL';

const REPS: SandboxRep[] = [
  { userId: '0055g00000AVA01', name: 'Ava', behaviour: 'accept', answerAfterMs: 300 },
  { userId: '0055g00000BEN02', name: 'Ben', behaviour: 'accept', answerAfterMs: 400 },
  { userId: '0055g00000CAM03', name: 'Cam', behaviour: 'decline', answerAfterMs: 350 },
  { userId: '0055g00000DIA04', name: 'Dia', behaviour: 'accept', answerAfterMs: 450 },
  { userId: '0055g00000EVE05', name: 'Eve', behaviour: 'ignore' },
];
const nameOf = (userId: string) => REPS.find((r) => r.userId === userId)?.name ?? userId;

/** The demo org's directory: everyone in the billing and fallback queues, Cam and Dia also in escalations. */
export const DEMO_DIRECTORY: DirectoryEntries = {
  reps: REPS.map((r) => ({ userId: r.userId, name: r.name, queueIds: r.name === 'Cam' || r.name === 'Dia' ? [QUEUE, FALLBACK_QUEUE, ESCALATIONS] : [QUEUE, FALLBACK_QUEUE] })),
  queues: [
    { queueId: QUEUE, name: 'Billing' },
    { queueId: ESCALATIONS, name: 'Escalations' },
  ],
  flows: [{ flowId: FLOW, name: 'Triage' }],
};
export const DEMO_FALLBACK_QUEUE = FALLBACK_QUEUE;

export interface DemoOptions {
  scenario?: string;
  out: Writable;
  color: boolean;
  /** Offer timeout for reps who ignore offers. */
  offerTimeoutMs?: number;
  /** Stream the session actors to the Stately inspector through a local relay on this port (0: any free one). */
  inspectPort?: number;
  /** With the inspector on, the demo keeps it up after the story until this settles (the CLI: Ctrl-C). */
  inspectUntil?: () => Promise<unknown>;
}

interface Stage {
  org: SandboxOrg;
  sb: Switchboard;
  say: (line: string) => void;
  conversation: string;
  /** Waits until the routing request ends; returns its outcome. */
  request: (routingType: RoutingType, target: RequestTarget, opts?: { cancelAfterMs?: number }) => Promise<string>;
}

interface Scenario {
  name: string;
  title: string;
  steps: Array<{ label: string; run: (s: Stage) => Promise<void> }>;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

const STORY: Scenario['steps'] = [
  { label: 'a rep adds a second rep through a queue', run: async (s) => void (await s.request('Conference', { queueId: QUEUE })) },
  { label: 'a third rep through a flow (Cam declines, the next rep is offered)', run: async (s) => void (await s.request('Conference', { flowId: FLOW, queueId: FALLBACK_QUEUE })) },
  { label: 'a fourth rep is asked for, beyond the cap of 3: rejected at once', run: async (s) => void (await s.request('Conference', { queueId: QUEUE })) },
  {
    label: 'warm transfer: the reps talked, now the first rep leaves',
    run: async (s) => {
      s.org.repLeaves(s.conversation, REPS[0]!.userId);
      await wait(20);
    },
  },
  { label: 'an invite the requesting rep cancels before Eve answers', run: async (s) => void (await s.request('Conference', { userId: REPS[4]!.userId }, { cancelAfterMs: 200 })) },
  {
    label: 'the end user ends the conversation',
    run: async (s) => {
      s.org.endUserLeaves(s.conversation);
      await wait(30);
    },
  },
];

export const SCENARIOS: Scenario[] = [
  { name: 'conference', title: 'A conference, start to end', steps: STORY },
  { name: 'transfer', title: 'A transfer to a queue', steps: [{ label: 'the rep transfers to the billing queue', run: async (s) => void (await s.request('Transfer', { queueId: QUEUE })) }] },
  {
    name: 'decline',
    title: 'An invitee declines, the next rep is offered',
    steps: [
      {
        label: 'the rep invites a colleague through the escalations queue: Cam is offered first and declines, then Dia',
        run: async (s) => void (await s.request('Conference', { queueId: ESCALATIONS })),
      },
    ],
  },
  { name: 'cancel', title: 'A cancelled invite', steps: [STORY[4]!] },
];

function paint(color: boolean) {
  const c = (code: number) => (s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { dim: c(2), bold: c(1), green: c(32), red: c(31), yellow: c(33), cyan: c(36) };
}

/** Wraps a service so every call is reported once it answers. */
function tap(service: InteractionService, onCall: (endpoint: string, body: unknown, ms: number, error?: unknown, answer?: unknown) => void): InteractionService {
  const endpoints: Record<keyof InteractionService, string> = {
    postInteraction: 'POST /interactions',
    patchConsent: 'PATCH /consent',
    createRoute: 'POST /route',
    clearRoute: 'DELETE /route',
    createAgentWork: 'POST /agentWork',
    patchAgentWork: 'PATCH /agentWork',
    reportRoutingResult: 'POST /routingResult',
    removeParticipant: 'POST /participant',
    updateMessagingSession: 'POST /messagingSession',
  };
  const tapped = {} as Record<string, unknown>;
  for (const [method, endpoint] of Object.entries(endpoints)) {
    tapped[method] = async (body: unknown, ctx: unknown) => {
      const started = Date.now();
      try {
        const out = await (service as unknown as Record<string, (b: unknown, c: unknown) => Promise<unknown>>)[method]!(body, ctx);
        onCall(endpoint, body, Date.now() - started, undefined, out);
        return out;
      } catch (err) {
        onCall(endpoint, body, Date.now() - started, err);
        throw err;
      }
    };
  }
  return tapped as unknown as InteractionService;
}

function describeCall(endpoint: string, body: Record<string, unknown>): string {
  switch (endpoint) {
    case 'POST /route': {
      const info = body.routingInfo as { flow?: { flowId: string }; queueId?: string } | undefined;
      return `${body.routingType}${info?.flow ? ` flow ${info.flow.flowId}` : info?.queueId ? ` queue ${info.queueId}` : ''}`;
    }
    case 'POST /agentWork':
      return `offer to ${nameOf(String(body.userId))}`;
    case 'PATCH /agentWork':
      return `${body.status} ${body.workId}`;
    case 'DELETE /route':
      return `cancelReason ${body.cancelReason ?? '—'}`;
    case 'POST /routingResult':
      return body.success ? `success (${body.routingType})` : `failure: ${body.errorMessage}`;
    default:
      return '';
  }
}

export { REPS as DEMO_REPS };

export async function runDemo(options: DemoOptions): Promise<number> {
  const p = paint(options.color);
  const chosen = options.scenario ? SCENARIOS.filter((s) => s.name === options.scenario) : [SCENARIOS[0]!];
  if (chosen.length === 0) {
    options.out.write(`unknown scenario '${options.scenario}'; choose one of ${SCENARIOS.map((s) => s.name).join(', ')}\n`);
    return 2;
  }
  let inspector: InspectorRelay | undefined;
  if (options.inspectPort !== undefined) {
    inspector = await startInspectorRelay(options.inspectPort);
    describeInspector(inspector, options.out);
  }
  let failures = 0;
  try {
    for (const scenario of chosen) failures += await play(scenario, options, p, inspector?.inspect);
    if (inspector) {
      // The story takes seconds; the charts are worth a longer look. Stay up until told to stop.
      options.out.write(`\nInspector still up at ${inspector.url}: Ctrl-C to exit.\n`);
      await (options.inspectUntil ?? untilInterrupted)();
    }
  } finally {
    await inspector?.stop();
  }
  return failures === 0 ? 0 : 1;
}

function untilInterrupted(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

async function play(scenario: Scenario, options: DemoOptions, p: ReturnType<typeof paint>, inspect?: Parameters<typeof createSwitchboard>[0]['inspect']): Promise<number> {
  const t0 = Date.now();
  const say = (line: string) => options.out.write(`${p.dim(`${String(Date.now() - t0).padStart(6)} ms`)}  ${line}\n`);
  options.out.write(`\n${p.bold(scenario.title)}\n`);
  let requestStartedAt = 0;
  // The sandbox is a local Salesforce on loopback: the switchboard reaches it exactly as a real org,
  // with the JWT bearer flow, got over HTTP and grpc-js over gRPC.
  const sandbox = await startSandbox({ reps: REPS.map((r) => ({ ...r })), flowChooses: () => undefined });
  const org = sandbox.org;
  const wiring = sandbox.switchboardOptions();
  const silent = pino({ level: 'silent' });
  const tokens = createJwtBearerTokenProvider({ loginUrl: wiring.org!.loginUrl!, ...('jwt' in wiring.auth! ? wiring.auth.jwt : ({} as never)) });
  const client = createInteractionClient({ scrtUrl: wiring.org!.scrtUrl, orgId: wiring.org!.orgId, authorizationContext: wiring.org!.authorizationContext, tokens, logger: silent });
  let psrExplained = false;
  const offeredTo = new Map<string, string>();
  const api = tap(client, (endpoint, body, ms, error, answer) => {
    const agentWorkId = (answer as { agentWorkId?: string } | undefined)?.agentWorkId;
    if (endpoint === 'POST /agentWork' && agentWorkId) offeredTo.set(agentWorkId, String((body as { userId?: string }).userId));
    const budget = requestStartedAt ? p.dim(` [${((Date.now() - requestStartedAt) / 1000).toFixed(2)} s of 60 s]`) : '';
    const detail = describeCall(endpoint, body as Record<string, unknown>);
    say(`${error ? p.red('✗') : p.cyan('→')} ${p.bold(endpoint)} ${detail} ${p.dim(`${ms} ms`)}${budget}${error ? ` ${p.red(String((error as Error).message))}` : ''}`);
    if (endpoint === 'POST /route' && !error && !psrExplained) {
      psrExplained = true;
      say(p.dim('  POST /route opens a PSR (PendingServiceRouting): the request Salesforce keeps open while the partner routes; a rep accepting ends it, or DELETE /route clears it'));
    }
  });
  const sb: Switchboard = createSwitchboard({
    interactions: api,
    org: wiring.org!,
    auth: { provider: tokens },
    pubsub: wiring.pubsub!,
    logger: silent,
    directory: DEMO_DIRECTORY,
    consentStatus: 'ExplicitlyOptedIn',
    routing: { offerTimeoutMs: options.offerTimeoutMs ?? 1_500, maxParticipantsOverride: 3, fallbackQueueId: FALLBACK_QUEUE },
    ...(inspect ? { inspect } : {}),
  });
  sandbox.onAgentWork((e) => {
    // What the rep's console relays; the switchboard decides what happens next.
    const who = nameOf(offeredTo.get(e.workId) ?? '');
    if (e.workEvent === 'DECLINED') say(`${p.red('✗')} ${who} declined the offer`);
    else if (e.workEvent === 'ACCEPTED') say(`${p.green('✓')} ${who} accepted the offer`);
    sb.agentWork(e);
  });
  await sb.start();
  say(`${p.dim(`sandbox: Interaction Service ${sandbox.http.url}, Pub/Sub ${sandbox.pubsub.address}`)}`);
  sb.on('participant.joined', (e) => say(`${p.green('+')} ${nameOf(e.userId)} joined`));
  sb.on('participant.left', (e) => say(`${p.yellow('-')} ${nameOf(e.userId)} left${e.warmTransferTo ? ` (warm transfer to ${e.warmTransferTo.map(nameOf).join(', ')})` : ''}`));
  sb.on('routing.finished', (e) => {
    const ok = e.output.outcome === 'routed' || e.output.outcome === 'externallyRouted';
    say(`${ok ? p.green('✓') : p.yellow('•')} ${e.output.routingType} routing ${p.bold(e.output.outcome)}${e.output.acceptedBy ? ` by ${nameOf(e.output.acceptedBy)}` : ''}${e.output.message ? ` — ${e.output.message}` : ''} ${p.dim(`in ${e.durationMs} ms`)}`);
  });
  sb.on('session.ended', () => say(`${p.dim('■')} session ended`));

  const total = scenario.steps.length + 1;
  say(`${p.bold(`[1/${total}]`)} an end user writes in; initial routing`);
  const finishedOnce = (routingType: RoutingType) =>
    new Promise<string>((resolve) => {
      const off = sb.on('routing.finished', (e) => {
        if (e.output.routingType === routingType) {
          off();
          resolve(e.output.outcome);
        }
      });
    });
  const initialDone = finishedOnce('Initial');
  const { conversationIdentifier } = await sb.startConversation({ to: 'channel-demo', from: 'end-user-42', text: 'Hi, my invoice is wrong' });
  await initialDone;
  await wait(20);

  const stage: Stage = {
    org,
    sb,
    say,
    conversation: conversationIdentifier,
    async request(routingType, target, opts = {}) {
      const done = finishedOnce(routingType);
      requestStartedAt = Date.now();
      const eventId = org.requestRouting(conversationIdentifier, routingType, target);
      if (opts.cancelAfterMs !== undefined) {
        setTimeout(() => {
          say(`${p.yellow('↩')} the requesting rep cancels the invite`);
          org.cancelRouting(eventId);
        }, opts.cancelAfterMs);
      }
      const outcome = await done;
      requestStartedAt = 0;
      await wait(20);
      return outcome;
    },
  };
  for (const [i, step] of scenario.steps.entries()) {
    say(`${p.bold(`[${i + 2}/${total}]`)} ${step.label}`);
    await step.run(stage);
  }
  await sb.settled();
  const received = sb.stats().pubsub?.handled ?? 0;
  await sb.stop();
  await client.close();
  await sandbox.stop();

  const audit = org.audit();
  const problems = Object.entries(audit).filter(([, v]) => v.length > 0);
  options.out.write('\n');
  if (problems.length === 0) {
    options.out.write(`${p.green('✓')} invariants hold: no PSR left, no AgentWork left offered, exactly one routingResult per request, each inside 60 s\n`);
    options.out.write(p.dim(`  ${sandbox.http.records.length} HTTP requests, ${received} platform events over gRPC, in ${Date.now() - t0} ms\n`));
    return 0;
  }
  for (const [k, v] of problems) options.out.write(`${p.red('✗')} ${k}: ${v.join(', ')}\n`);
  return 1;
}
