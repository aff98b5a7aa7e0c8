// What the benchmarks feed the engine, and the fakes that answer it.
//
// - Platform events are prepared in advance, in the shape the Pub/Sub intake hands over after Avro
//   decoding (`PlatformEvent`: type + JSON payload string + event id), built with the sandbox's own
//   payload builders so they carry everything a real event carries.
// - Effects are answered by an in-process fake that resolves at once. The recording service of
//   src/io is not used here: it structuredClones every body, keeps every call and counts calls per
//   endpoint with a filter over all of them (O(n) per call), which would measure the recorder.
// - A `Script` holds the answers that must be known when the events are built (which AgentWork id
//   POST /agentWork returns for a request, which rep the ACD picks), so the agent-work events that
//   follow can be prepared in advance too. Both engines consult the same script.
import { pino, type Logger } from 'pino';
import { Directory } from '../src/directory.js';
import type { PlatformEvent } from '../src/domain/events.js';
import type { CallContext, InteractionService, PickRep, PickRepRequest } from '../src/domain/ports.js';
import type { ConversationRef } from '../src/sandbox/payloads.js';
import { acknowledgement, participantChanged, repMessage, routingRequested, routingResult, sessionStatusChanged, typingIndicator } from '../src/sandbox/payloads.js';
import { createSwitchboard, type RoutingOptions } from '../src/switchboard.js';
import { createBaselineSwitchboard } from './baseline-reducer.js';
import { rng } from './lib.js';

export const QUEUE = '00G5g000001BILL';
export const FALLBACK_QUEUE = '00G5g000001TIER';
/** Three reps at most in a conference: the lifecycle's fourth invitation is rejected at the cap. */
export const PARTICIPANT_CAP = 3;
const REP_POOL = 64;
const CHANNELS = 4;

export const repId = (i: number) => `005${String(i % REP_POOL).padStart(12, '0')}`;
/** The MessagingSession id, 18 characters as Salesforce publishes it (the engine keeps 15). */
export const sessionId = (i: number) => `0Mw${String(i).padStart(12, '0')}AAA`;
const channelAddress = (i: number) => `c0ffee00-0000-4000-8000-${String(i % CHANNELS).padStart(12, '0')}`;

export interface Conversation extends ConversationRef {
  index: number;
  sessionId: string;
}

export function conversation(index: number, prefix = 'conv'): Conversation {
  // A UUID-shaped id, like Salesforce's, but deterministic.
  const hex = index.toString(16).padStart(12, '0');
  const tag = Buffer.from(prefix).toString('hex').padEnd(8, '0').slice(0, 8);
  return {
    index,
    conversationIdentifier: `${tag}-0000-4000-8000-${hex}`,
    channelAddressIdentifier: channelAddress(index),
    endUserClientId: `client-${hex}`,
    sessionId: sessionId(index),
  };
}

// ---- the script and the fakes ----

export interface Script {
  /** routingCorrelationId (the RoutingRequested's channelData.eventId) → the AgentWork id to answer. */
  workIds: Map<string, string>;
  /** conversationIdentifier → the rep the ACD picks. */
  picks: Map<string, string>;
}

export const newScript = (): Script => ({ workIds: new Map(), picks: new Map() });

export interface RecordedEffect {
  endpoint: string;
  key: string;
  body: string;
}

export interface FakeInteractions extends InteractionService {
  readonly counts: Record<string, number>;
  /** Every call with its key and body, only when created with `record`. */
  readonly recorded: RecordedEffect[];
}

/** An Interaction Service that answers at once, as Salesforce would on the happy path. */
export function createFakeInteractions(script?: Script, record = false): FakeInteractions {
  const counts: Record<string, number> = {};
  const recorded: RecordedEffect[] = [];
  let seq = 0;
  const note = (endpoint: string, req: unknown, ctx: CallContext) => {
    counts[endpoint] = (counts[endpoint] ?? 0) + 1;
    if (record) recorded.push({ endpoint, key: ctx.key, body: `${ctx.priority} ${ctx.requestId ?? '-'} ${JSON.stringify(req)}` });
  };
  const id = (prefix: string) => `${prefix}${String(++seq).padStart(12, '0')}`;
  return {
    counts,
    recorded,
    async postInteraction(req, ctx) {
      note('POST /interactions', req, ctx);
      return { conversationIdentifier: id('conv-'), workItemIds: [id('0Mw')] };
    },
    async patchConsent(req, ctx) {
      note('PATCH /consent', req, ctx);
    },
    async createRoute(req, ctx) {
      note('POST /route', req, ctx);
      return { psrId: id('0JR'), routingCorrelationId: id('corr-') };
    },
    async clearRoute(req, ctx) {
      note('DELETE /route', req, ctx);
    },
    async createAgentWork(req, ctx) {
      note('POST /agentWork', req, ctx);
      const scripted = req.routingContext ? script?.workIds.get(req.routingContext.routingCorrelationId) : undefined;
      return { agentWorkId: scripted ?? id('0Bz') };
    },
    async patchAgentWork(req, ctx) {
      note('PATCH /agentWork', req, ctx);
    },
    async reportRoutingResult(req, ctx) {
      note('POST /routingResult', req, ctx);
    },
    async removeParticipant(req, ctx) {
      note('POST /participant', req, ctx);
    },
    async updateMessagingSession(req, ctx) {
      note('POST /messagingSession', req, ctx);
    },
  };
}

/** The partner's ACD: the scripted rep for the conversation, else round-robin over the pool. */
export function createPickRep(script?: Script, record?: RecordedEffect[]): PickRep {
  let next = 0;
  return (req: PickRepRequest) => {
    if (record) record.push({ endpoint: 'pickRep', key: `${req.conversationIdentifier}/pick`, body: JSON.stringify(req) });
    const scripted = script?.picks.get(req.conversationIdentifier);
    if (scripted && !req.exclude.includes(scripted)) return scripted;
    for (let i = 0; i < REP_POOL; i++) {
      const rep = repId(next++);
      if (!req.exclude.includes(rep)) return rep;
    }
    return undefined;
  };
}

// ---- the engines under test ----

/** What both the XState switchboard and the hand-written baseline offer the benchmarks. */
export interface Engine {
  readonly kind: 'xstate' | 'baseline';
  ingest(event: PlatformEvent): unknown;
  agentWork(raw: unknown): unknown;
  settled(): Promise<void>;
  /** Puts every idle session to sleep now, as the switchboard does after `hibernateAfterMs` (the baseline has no such state: 0). */
  hibernate(): number;
  stats(): { sessions: number; pendingRoutings: number; rejected: number };
  stop(): Promise<void>;
}

export interface EngineSetup {
  script?: Script;
  record?: boolean;
  routing?: RoutingOptions;
  logger?: Logger;
  /** The switchboard's dedupe window (platform event ids and entry ids remembered). Default 10,000. */
  dedupeWindow?: number;
  /** The switchboard's `hibernateAfterMs`. Default: the library's default. */
  hibernateAfterMs?: number | false;
}

export interface EngineEnv {
  engine: Engine;
  api: FakeInteractions;
  /** Messages the app's `message` listener received. */
  messages: { count: number };
}

const silent = pino({ level: 'silent' });

function routingOptions(extra?: RoutingOptions): RoutingOptions {
  return { maxParticipantsOverride: PARTICIPANT_CAP, fallbackQueueId: FALLBACK_QUEUE, ...extra };
}

export function createEngine(kind: Engine['kind'], setup: EngineSetup = {}): EngineEnv {
  const api = createFakeInteractions(setup.script, setup.record);
  const pickRep = createPickRep(setup.script, setup.record ? api.recorded : undefined);
  const messages = { count: 0 };
  const options = {
    interactions: api,
    pickRep,
    directory: new Directory(),
    logger: setup.logger ?? silent,
    routing: routingOptions(setup.routing),
    ...(setup.dedupeWindow !== undefined ? { dedupeWindow: setup.dedupeWindow } : {}),
    ...(setup.hibernateAfterMs !== undefined ? { hibernateAfterMs: setup.hibernateAfterMs } : {}),
  };
  if (kind === 'xstate') {
    const sb = createSwitchboard(options);
    sb.on('message', () => void (messages.count += 1));
    return {
      api,
      messages,
      engine: {
        kind,
        ingest: (e) => sb.ingest(e),
        agentWork: (w) => sb.agentWork(w),
        settled: () => sb.settled(),
        hibernate: () => sb.hibernate({ idleForMs: 0 }),
        stats: () => sb.stats(),
        stop: () => sb.stop({ drainMs: 1_000 }),
      },
    };
  }
  const b = createBaselineSwitchboard(options);
  b.on('message', () => void (messages.count += 1));
  return {
    api,
    messages,
    engine: { kind, ingest: (e) => b.ingest(e), agentWork: (w) => b.agentWork(w), settled: () => b.settled(), hibernate: () => 0, stats: () => b.stats(), stop: () => b.stop() },
  };
}

// ---- the traffic ----

export type Step = { kind: 'event'; event: PlatformEvent } | { kind: 'agentWork'; event: { workId: string; workItemId: string; workEvent: 'ACCEPTED' } };

/** Steps grouped in phases; the effects a phase starts are drained before the next phase. */
export interface Traffic {
  phases: Step[][];
  /** What each phase is, for reports. */
  labels: string[];
  /** Steps in all phases: platform events plus agent-work events. */
  steps: number;
  script: Script;
}

const TEXTS = [
  'Thanks for waiting — I am bringing in a colleague from billing who can look at the invoice with us.',
  'Could you confirm the last four digits of the card on file and the date of the last payment you made?',
  'I can see the order was shipped on Tuesday; the tracking number is in the email we sent you this morning.',
  'Of course. I have refunded the duplicate charge; it should appear on your statement within 3–5 business days.',
];

/** A fresh flat string with the same characters. */
export const flat = (s: string): string => Buffer.from(s, 'utf8').toString('utf8');

/**
 * The event as the Pub/Sub intake hands it over: every string decoded from the wire, so flat. The
 * sandbox builders take `eventId` from `randomUUID()`, which Node assembles as a tree of ~20
 * concatenated pieces (about 600 B until flattened); the switchboard keeps event ids in its dedupe
 * set, so an unflattened id would inflate its memory and slow its hashing.
 */
export function wire(e: PlatformEvent): PlatformEvent {
  return { type: e.type, payload: flat(e.payload), ...(e.eventId ? { eventId: flat(e.eventId) } : {}), ...(e.replayId ? { replayId: flat(e.replayId) } : {}) };
}

const ev = (event: PlatformEvent): Step => ({ kind: 'event', event: wire(event) });
const accepted = (workId: string, workItemId: string): Step => ({ kind: 'agentWork', event: { workId, workItemId, workEvent: 'ACCEPTED' } });

function shuffled<T>(items: T[], random: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Phases built per conversation, then interleaved: each phase visits the conversations in a shuffled order. */
function interleave(perConversation: Step[][][], random: () => number): Step[][] {
  const phaseCount = perConversation[0]?.length ?? 0;
  const phases: Step[][] = [];
  for (let p = 0; p < phaseCount; p++) {
    const phase: Step[] = [];
    for (const conv of shuffled(perConversation, random)) phase.push(...conv[p]!);
    phases.push(phase);
  }
  return phases;
}

/**
 * One exchange of a chat as the rep's side publishes it (5 platform events): the rep's console
 * acknowledges the end user's last message (DeliveryAcknowledgement, ReadAcknowledgement), the rep
 * types (TypingStartedIndicator, TypingStoppedIndicator) and sends a Message. The end user's own
 * messages reach Salesforce through POST /interactions and are not on this stream.
 */
function exchange(c: Conversation, rep: string, text: string, endUserEntryId: string): Step[] {
  return [
    ev(acknowledgement(c, rep, 'Delivery', endUserEntryId)),
    ev(acknowledgement(c, rep, 'Read', endUserEntryId)),
    ev(typingIndicator(c, rep, true)),
    ev(typingIndicator(c, rep, false)),
    ev(repMessage(c, rep, text)),
  ];
}

/** `count` exchanges with `rep`, numbered from `first`: the number picks the text and the end user's entry id. */
function chat(c: Conversation, rep: string, first: number, count: number, textAt: (n: number) => string): Step[] {
  return Array.from({ length: count }, (_, k) => exchange(c, rep, textAt(first + k), `${c.conversationIdentifier.slice(0, 24)}${String(first + k).padStart(12, '0')}`)).flat();
}

/**
 * A whole conversation's life, for `n` conversations live at once (18 steps each, plus
 * 5 × `exchanges` when the chat around the routing is included):
 *  1. SessionStatusChanged Active, rep A joins (ParticipantChanged add), two Messages;
 *  2. RoutingRequested Conference to rep B            → POST /agentWork, POST /routingResult;
 *  3. agent-work ACCEPTED, B joins, RoutingResult None, a Message;
 *  4. RoutingRequested Conference to a queue          → POST /route, pickRep, POST /agentWork, POST /routingResult;
 *  5. agent-work ACCEPTED, the picked rep C joins, RoutingResult None, a Message;
 *  6. RoutingRequested Conference to rep D            → rejected at the cap of 3: POST /routingResult (failure);
 *  7. rep A leaves (a warm transfer), a Message;
 *  8. SessionStatusChanged Ended                      → the session ends and is dropped.
 * With `exchanges` > 0, that many chat exchanges (see `exchange`) are spread over phases 1, 3, 5
 * and 7, between the reps present then: the traffic of a real conversation, where routing events
 * are a few among many entries.
 */
export function lifecycleTraffic(n: number, seed = 7, prefix = 'life', exchanges = 0): Traffic {
  // Exchanges in chat phase k (0–3: phases 1, 3, 5, 7), the first phases taking any remainder.
  const chatCount = (k: number) => Math.floor(exchanges / 4) + (k < exchanges % 4 ? 1 : 0);
  const script = newScript();
  const random = rng(seed);
  const perConversation: Step[][][] = [];
  for (let i = 0; i < n; i++) {
    const c = conversation(i, prefix);
    const [a, b, d] = [repId(i), repId(i + 1), repId(i + 3)];
    const picked = repId(i + 2);
    const text = (k: number) => TEXTS[(i + k) % TEXTS.length]!;
    const rrB = routingRequested(c, 'Conference', { userId: b });
    const rrQ = routingRequested(c, 'Conference', { queueId: QUEUE });
    const rrD = routingRequested(c, 'Conference', { userId: d });
    const workB = `0Bz${String(2 * i).padStart(12, '0')}`;
    const workC = `0Bz${String(2 * i + 1).padStart(12, '0')}`;
    script.workIds.set(rrB.routingEventId, workB);
    script.workIds.set(rrQ.routingEventId, workC);
    script.picks.set(c.conversationIdentifier, picked);
    const phaseChat = (k: number, rep: string): Step[] => chat(c, rep, k * 100, chatCount(k), text);
    perConversation.push([
      [ev(sessionStatusChanged(c, c.sessionId, 'Active', 'Waiting')), ev(participantChanged(c, [{ operation: 'add', userId: a, displayName: 'Ava' }])), ev(repMessage(c, a, text(0))), ev(repMessage(c, a, text(1))), ...phaseChat(0, a)],
      [ev(rrB)],
      [accepted(workB, c.sessionId), ev(participantChanged(c, [{ operation: 'add', userId: b, displayName: 'Ben' }])), ev(routingResult(c, 'Conference', 'None', { workOwnerId: b })), ev(repMessage(c, b, text(2))), ...phaseChat(1, b)],
      [ev(rrQ)],
      [accepted(workC, c.sessionId), ev(participantChanged(c, [{ operation: 'add', userId: picked, displayName: 'Cam' }])), ev(routingResult(c, 'Conference', 'None', { workOwnerId: picked })), ev(repMessage(c, picked, text(3))), ...phaseChat(2, picked)],
      [ev(rrD)],
      [ev(participantChanged(c, [{ operation: 'remove', userId: a }])), ev(repMessage(c, b, text(0))), ...phaseChat(3, b)],
      [ev(sessionStatusChanged(c, c.sessionId, 'Ended', 'Active'))],
    ]);
  }
  const phases = interleave(perConversation, random);
  const labels = exchanges === 0 ? LIFECYCLE_LABELS : LIFECYCLE_LABELS.map((l, p) => (p % 2 === 0 && p < 8 ? `${l} + ${chatCount(p / 2)} chat exchanges` : l));
  return { phases, labels, steps: phases.reduce((s, p) => s + p.length, 0), script };
}

/**
 * A typical conversation, for `n` conversations live at once: a short support chat with one
 * conference, where routing events are a few among the chat's many entries (5 × `exchanges` + 8 steps):
 *  1. SessionStatusChanged Active, rep A joins, half the exchanges with A;
 *  2. RoutingRequested Conference to a queue         → POST /route, pickRep, POST /agentWork, POST /routingResult;
 *  3. agent-work ACCEPTED, the picked rep C joins, RoutingResult None, a quarter of the exchanges with C;
 *  4. rep A leaves (a warm transfer), the rest of the exchanges with C;
 *  5. SessionStatusChanged Ended                      → the session ends and is dropped.
 * The conference goes through a queue, the costliest routing path (four calls), and every
 * conversation has one, where a contact center sees a transfer or conference in a minority of them.
 */
export function typicalTraffic(n: number, seed = 7, prefix = 'typ', exchanges = 12): Traffic {
  const script = newScript();
  const random = rng(seed);
  const perConversation: Step[][][] = [];
  const first = Math.ceil(exchanges / 2);
  const second = Math.ceil((exchanges - first) / 2);
  const third = exchanges - first - second;
  for (let i = 0; i < n; i++) {
    const c = conversation(i, prefix);
    const a = repId(i);
    const picked = repId(i + 2);
    const rrQ = routingRequested(c, 'Conference', { queueId: QUEUE });
    const workC = `0Bz${String(i).padStart(12, '0')}`;
    script.workIds.set(rrQ.routingEventId, workC);
    script.picks.set(c.conversationIdentifier, picked);
    const textAt = (n: number) => TEXTS[(i + n) % TEXTS.length]!;
    perConversation.push([
      [ev(sessionStatusChanged(c, c.sessionId, 'Active', 'Waiting')), ev(participantChanged(c, [{ operation: 'add', userId: a, displayName: 'Ava' }])), ...chat(c, a, 0, first, textAt)],
      [ev(rrQ)],
      [accepted(workC, c.sessionId), ev(participantChanged(c, [{ operation: 'add', userId: picked, displayName: 'Cam' }])), ev(routingResult(c, 'Conference', 'None', { workOwnerId: picked })), ...chat(c, picked, first, second, textAt)],
      [ev(participantChanged(c, [{ operation: 'remove', userId: a }])), ...chat(c, picked, first + second, third, textAt)],
      [ev(sessionStatusChanged(c, c.sessionId, 'Ended', 'Active'))],
    ]);
  }
  const phases = interleave(perConversation, random);
  const labels = [
    `SessionStatusChanged Active (session created), rep A joins, ${first} chat exchanges`,
    'RoutingRequested Conference → queue (route, pickRep, agentWork, routingResult)',
    `agent-work ACCEPTED, C joins, RoutingResult None, ${second} chat exchanges`,
    `rep A leaves (warm transfer), ${third} chat exchanges`,
    'SessionStatusChanged Ended (session stops)',
  ];
  return { phases, labels, steps: phases.reduce((s, p) => s + p.length, 0), script };
}

export const LIFECYCLE_LABELS = [
  'SessionStatusChanged Active (session created), rep A joins, 2 Messages',
  'RoutingRequested Conference → rep B (agentWork, routingResult)',
  'agent-work ACCEPTED, B joins, RoutingResult None, Message',
  'RoutingRequested Conference → queue (route, pickRep, agentWork, routingResult)',
  'agent-work ACCEPTED, C joins, RoutingResult None, Message',
  'RoutingRequested Conference → rep D, rejected at the cap (routingResult failure)',
  'rep A leaves (warm transfer), Message',
  'SessionStatusChanged Ended (session stops)',
];

/** The events that make `n` idle sessions: SessionStatusChanged Active + rep A joins (built lazily, in chunks). */
export function* idleSessionEvents(from: number, to: number, prefix = 'idle'): Generator<PlatformEvent> {
  for (let i = from; i < to; i++) {
    const c = conversation(i, prefix);
    yield wire(sessionStatusChanged(c, c.sessionId, 'Active', 'Waiting'));
    yield wire(participantChanged(c, [{ operation: 'add', userId: repId(i), displayName: 'Ava' }]));
  }
}

/**
 * A steady-state cycle on sessions that already exist (idle ones, rep A present), 8 steps each:
 *  1. RoutingRequested Conference to rep X            → POST /agentWork, POST /routingResult;
 *  2. agent-work ACCEPTED, X joins, RoutingResult None, two Messages, X leaves, SessionStatusChanged Active.
 */
export function cycleTraffic(indexes: number[], prefix: string, round: number, seed: number): Traffic {
  const script = newScript();
  const random = rng(seed);
  const perConversation: Step[][][] = [];
  for (const i of indexes) {
    const c = conversation(i, prefix);
    const x = repId(i + 1 + (round % 7));
    const rr = routingRequested(c, 'Conference', { userId: x });
    const workId = `0Bz${String(round).padStart(4, '0')}${String(i).padStart(8, '0')}`;
    script.workIds.set(rr.routingEventId, workId);
    perConversation.push([
      [ev(rr)],
      [
        accepted(workId, c.sessionId),
        ev(participantChanged(c, [{ operation: 'add', userId: x, displayName: 'Xia' }])),
        ev(routingResult(c, 'Conference', 'None', { workOwnerId: x })),
        ev(repMessage(c, x, TEXTS[i % TEXTS.length]!)),
        ev(repMessage(c, repId(i), TEXTS[(i + 1) % TEXTS.length]!)),
        ev(participantChanged(c, [{ operation: 'remove', userId: x }])),
        ev(sessionStatusChanged(c, c.sessionId, 'Active', 'Active')),
      ],
    ]);
  }
  const phases = interleave(perConversation, random);
  return { phases, labels: ['RoutingRequested Conference → rep X', 'ACCEPTED, joins, RoutingResult None, 2 Messages, leaves, status'], steps: phases.reduce((s, p) => s + p.length, 0), script };
}

/** Feeds one phase synchronously. */
export function feed(engine: Engine, phase: Step[]): void {
  for (const step of phase) {
    if (step.kind === 'event') engine.ingest(step.event);
    else engine.agentWork(step.event);
  }
}

/** Feeds every phase, draining the effects after each; returns the time spent in each part, and per phase (feed + drain). */
export async function play(engine: Engine, traffic: Traffic, clock: () => bigint): Promise<{ syncNs: bigint; drainNs: bigint; phaseNs: bigint[] }> {
  let syncNs = 0n;
  let drainNs = 0n;
  const phaseNs: bigint[] = [];
  for (const phase of traffic.phases) {
    const t0 = clock();
    feed(engine, phase);
    const t1 = clock();
    await engine.settled();
    const t2 = clock();
    syncNs += t1 - t0;
    drainNs += t2 - t1;
    phaseNs.push(t2 - t0);
  }
  return { syncNs, drainNs, phaseNs };
}
