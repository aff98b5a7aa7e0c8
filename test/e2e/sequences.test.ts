// Every call sequence of reference §5, end to end: the real engine and adapters against the sandbox
// on loopback. Each test asserts the Interaction Service calls the sandbox saw reach the org, in
// order, then the DESIGN §3 invariants against the sandbox's own records.
import { afterEach, describe, expect, it } from 'vitest';
import type { PickRep } from '../../src/domain/ports.js';
import { FAULT_ERRORS } from '../../src/sandbox/faults.js';
import type { E2EOptions } from './fixture.js';
import {
  AVA,
  BEN,
  bodyOf,
  CAM,
  DECLINE_QUEUE,
  DIA,
  EVE,
  expectInvariants,
  FALLBACK_QUEUE,
  FAY,
  FLOW,
  GUS,
  HAL,
  IGNORE_QUEUE,
  QUEUE,
  startE2E,
  waitFor,
  type E2E,
} from './fixture.js';

let e2e: E2E | undefined;
afterEach(async () => {
  await e2e?.stop();
  e2e = undefined;
});

/** A sandbox, a switchboard, and one live conversation with Ava in it. */
async function live(options: E2EOptions = {}) {
  e2e = await startE2E(options);
  const { conv, rep } = await e2e.converse();
  expect(rep).toBe(AVA);
  return { e2e, conv, since: e2e.mark() };
}

/** Initial routing picks through the directory; every other pick goes to `other` (module scope: `e2e` is the fixture). */
const picker = (other: PickRep): PickRep => (req) => (req.routingType === 'Initial' ? e2e!.sb.directory.pickRep(req) : other(req));

/** Waits until the org saw `n` calls to `endpoint` for this conversation since `since`. */
function orgSaw(e: E2E, conv: string, endpoint: string, since: number, n = 1) {
  return waitFor(`${n} × ${endpoint}`, () => e.calls(conv, { since }).filter((c) => c === endpoint).length >= n);
}

describe('5.1 initial routing of a new conversation', () => {
  it('POST /interactions → PATCH /consent → POST /route Initial → POST /agentWork → accepted; no DELETE /route, no routingResult', async () => {
    e2e = await startE2E({ consentStatus: 'ExplicitlyOptedIn' });
    const { conv, rep } = await e2e.converse({ target: { kind: 'channelDefault' } });
    expect(rep).toBe(AVA);
    const records = e2e.records(conv);
    expect(records.map((r) => r.endpoint)).toEqual(['POST /interactions', 'PATCH /consent', 'POST /route', 'POST /agentWork']);
    expect(bodyOf(records, 'PATCH /consent')).toMatchObject({ consentStatus: 'ExplicitlyOptedIn' });
    expect(bodyOf(records, 'POST /route')).toEqual({ conversationIdentifier: conv, routingType: 'Initial' });
    const workItemId = e2e.sandbox.org.conversations.get(conv)!.workItemId;
    expect(bodyOf(records, 'POST /agentWork')).toMatchObject({ userId: AVA, workItemId, routingContext: { conversationIdentifier: conv, routingType: 'Initial' } });
    expect(e2e.seen.finished.map((f) => f.output)).toMatchObject([{ routingType: 'Initial', outcome: 'routed', acceptedBy: AVA, reported: false }]);
    expect(e2e.sandbox.org.conversations.get(conv)!.participants).toEqual(new Set([AVA]));
    await expectInvariants(e2e);
  });
});

describe('5.2 transfer', () => {
  it('to a flow: POST /route (flow + fallback queue) → POST /agentWork to the flow’s rep → POST /routingResult', async () => {
    const { e2e, conv, since } = await live({ flowChooses: () => GUS });
    const id = e2e.request(conv, 'Transfer', { flowId: FLOW, queueId: FALLBACK_QUEUE });
    expect(await e2e.finished(id)).toMatchObject({ outcome: 'routed', acceptedBy: GUS, reported: true });
    const records = e2e.records(conv, { since });
    expect(records.map((r) => r.endpoint)).toEqual(['POST /route', 'POST /agentWork', 'POST /routingResult']);
    expect(bodyOf(records, 'POST /route')).toEqual({ conversationIdentifier: conv, routingType: 'Transfer', routingInfo: { flow: { flowId: FLOW, queueId: FALLBACK_QUEUE } } });
    expect(bodyOf(records, 'POST /agentWork')).toMatchObject({ userId: GUS, routingContext: { routingType: 'Transfer', routingCorrelationId: id } });
    expect(bodyOf(records, 'POST /routingResult')).toMatchObject({ conversationIdentifier: conv, success: true, externallyRouted: false, routingType: 'Transfer' });
    await expectInvariants(e2e);
  });

  it('to a queue: POST /route (queue) → POST /agentWork → POST /routingResult', async () => {
    const { e2e, conv, since } = await live();
    const id = e2e.request(conv, 'Transfer', { queueId: QUEUE });
    expect(await e2e.finished(id)).toMatchObject({ outcome: 'routed', acceptedBy: BEN });
    const records = e2e.records(conv, { since });
    expect(records.map((r) => r.endpoint)).toEqual(['POST /route', 'POST /agentWork', 'POST /routingResult']);
    expect(bodyOf(records, 'POST /route')).toEqual({ conversationIdentifier: conv, routingType: 'Transfer', routingInfo: { queueId: QUEUE } });
    await expectInvariants(e2e);
  });

  it('to a rep: no /route; POST /agentWork to that rep → POST /routingResult', async () => {
    const { e2e, conv, since } = await live();
    const id = e2e.request(conv, 'Transfer', { userId: DIA });
    expect(await e2e.finished(id)).toMatchObject({ outcome: 'routed', acceptedBy: DIA });
    const records = e2e.records(conv, { since });
    expect(records.map((r) => r.endpoint)).toEqual(['POST /agentWork', 'POST /routingResult']);
    expect(bodyOf(records, 'POST /agentWork')).toMatchObject({ userId: DIA, routingContext: { routingType: 'Transfer', routingCorrelationId: id } });
    await expectInvariants(e2e);
  });

  it('to an external contact: the external router is called, then only POST /routingResult with externallyRouted: true', async () => {
    const handedOver: string[] = [];
    const { e2e, conv, since } = await live({ routeExternally: async (req) => void handedOver.push(req.externalId) });
    const id = e2e.request(conv, 'Transfer', { externalContactId: 'EXT-1' });
    expect(await e2e.finished(id)).toMatchObject({ outcome: 'externallyRouted', reported: true });
    expect(handedOver).toEqual(['EXT-1']);
    const records = e2e.records(conv, { since });
    expect(records.map((r) => r.endpoint)).toEqual(['POST /routingResult']);
    expect(bodyOf(records, 'POST /routingResult')).toMatchObject({ success: true, externallyRouted: true, routingType: 'Transfer' });
    await expectInvariants(e2e);
  });
});

describe('5.3 conference', () => {
  it('via a flow that picks a rep (contextParamMap.userId), the fallback queue from the configuration', async () => {
    const { e2e, conv, since } = await live({ flowChooses: () => HAL });
    const id = e2e.request(conv, 'Conference', { flowId: FLOW });
    expect(await e2e.finished(id)).toMatchObject({ outcome: 'routed', acceptedBy: HAL, offeredTo: [HAL] });
    const records = e2e.records(conv, { since });
    expect(records.map((r) => r.endpoint)).toEqual(['POST /route', 'POST /agentWork', 'POST /routingResult']);
    expect(bodyOf(records, 'POST /route')).toEqual({ conversationIdentifier: conv, routingType: 'Conference', routingInfo: { flow: { flowId: FLOW, queueId: FALLBACK_QUEUE } } });
    expect(bodyOf(records, 'POST /agentWork')).toMatchObject({ userId: HAL, routingContext: { routingType: 'Conference', routingCorrelationId: id } });
    expect(bodyOf(records, 'POST /routingResult')).toMatchObject({ success: true, routingType: 'Conference' });
    await waitFor('Hal in the session', () => e2e.sb.session(conv)?.reps.length === 2);
    await expectInvariants(e2e);
  });

  it('via a flow that falls back to its queue: the partner picks from the fallback queue', async () => {
    const { e2e, conv, since } = await live({ flowChooses: () => undefined });
    const id = e2e.request(conv, 'Conference', { flowId: FLOW, queueId: FALLBACK_QUEUE });
    expect(await e2e.finished(id)).toMatchObject({ outcome: 'routed', acceptedBy: BEN });
    expect(e2e.calls(conv, { since })).toEqual(['POST /route', 'POST /agentWork', 'POST /routingResult']);
    await expectInvariants(e2e);
  });

  it('via a queue: POST /route (queue) → POST /agentWork → POST /routingResult', async () => {
    const { e2e, conv, since } = await live();
    const id = e2e.request(conv, 'Conference', { queueId: QUEUE });
    expect(await e2e.finished(id)).toMatchObject({ outcome: 'routed', acceptedBy: BEN });
    const records = e2e.records(conv, { since });
    expect(records.map((r) => r.endpoint)).toEqual(['POST /route', 'POST /agentWork', 'POST /routingResult']);
    expect(bodyOf(records, 'POST /route')).toEqual({ conversationIdentifier: conv, routingType: 'Conference', routingInfo: { queueId: QUEUE } });
    await expectInvariants(e2e);
  });

  it('direct to a rep: no /route; POST /agentWork → POST /routingResult; the rep joins', async () => {
    const { e2e, conv, since } = await live();
    const id = e2e.request(conv, 'Conference', { userId: GUS });
    expect(await e2e.finished(id)).toMatchObject({ outcome: 'routed', acceptedBy: GUS });
    expect(e2e.calls(conv, { since })).toEqual(['POST /agentWork', 'POST /routingResult']);
    await waitFor('Gus in the session', () => e2e.sb.session(conv)?.reps.map((r) => r.userId).includes(GUS));
    expect(e2e.sandbox.org.conversations.get(conv)!.participants).toEqual(new Set([AVA, GUS]));
    await expectInvariants(e2e);
  });

  it('several pending conferences at once (direct, queue, flow): each routes its own rep', async () => {
    const { e2e, conv, since } = await live({ flowChooses: () => HAL });
    const ids = [
      e2e.request(conv, 'Conference', { userId: GUS }),
      e2e.request(conv, 'Conference', { queueId: QUEUE }),
      e2e.request(conv, 'Conference', { flowId: FLOW, queueId: FALLBACK_QUEUE }),
    ];
    const outs = await Promise.all(ids.map((id) => e2e.finished(id)));
    expect(outs.map((o) => o.outcome)).toEqual(['routed', 'routed', 'routed']);
    expect(outs.map((o) => o.acceptedBy)).toEqual([GUS, BEN, HAL]);
    const calls = e2e.calls(conv, { since });
    expect(calls.filter((c) => c === 'POST /route')).toHaveLength(2);
    expect(calls.filter((c) => c === 'POST /agentWork')).toHaveLength(3);
    expect(calls.filter((c) => c === 'POST /routingResult')).toHaveLength(3);
    await waitFor('four reps in the session', () => e2e.sb.session(conv)?.reps.length === 4);
    await expectInvariants(e2e);
  });

  it('several pending conferences racing for the last seats: the cap holds, the one too many is rejected', async () => {
    const { e2e, conv } = await live({ routing: { maxParticipantsOverride: 3 } });
    const ids = [GUS, HAL, BEN].map((userId) => e2e.request(conv, 'Conference', { userId }));
    const outs = await Promise.all(ids.map((id) => e2e.finished(id)));
    expect(outs.map((o) => o.outcome).sort()).toEqual(['rejected', 'routed', 'routed']);
    expect(outs.find((o) => o.outcome === 'rejected')!.message).toBe('participant cap reached (3 of 3)');
    await waitFor('three reps in the session', () => e2e.sb.session(conv)?.reps.length === 3);
    await expectInvariants(e2e);
  });

  it('at the participant cap: an immediate failed POST /routingResult and nothing else', async () => {
    const { e2e, conv } = await live({ routing: { maxParticipantsOverride: 2 } });
    await e2e.finished(e2e.request(conv, 'Conference', { userId: BEN }));
    await waitFor('Ben in the session', () => e2e.sb.session(conv)?.reps.length === 2);
    const since = e2e.mark();
    const id = e2e.request(conv, 'Conference', { queueId: QUEUE });
    expect(await e2e.finished(id)).toMatchObject({ outcome: 'rejected', reported: true, offeredTo: [] });
    const records = e2e.records(conv, { since });
    expect(records.map((r) => r.endpoint)).toEqual(['POST /routingResult']);
    expect(bodyOf(records, 'POST /routingResult')).toMatchObject({ success: false, routingType: 'Conference', errorMessage: 'participant cap reached (2 of 2)' });
    await expectInvariants(e2e);
  });
});

describe('5.4 the requesting rep cancels a pending invite', () => {
  it('direct to a rep (no PSR): PATCH /agentWork Cancel, no DELETE /route', async () => {
    const { e2e, conv, since } = await live({ routing: { offerTimeoutMs: 10_000 } });
    const id = e2e.request(conv, 'Conference', { userId: EVE });
    await orgSaw(e2e, conv, 'POST /routingResult', since);
    e2e.sandbox.org.cancelRouting(id, AVA);
    expect(await e2e.finished(id)).toMatchObject({ outcome: 'cancelled' });
    const records = e2e.records(conv, { since });
    expect(records.map((r) => r.endpoint)).toEqual(['POST /agentWork', 'POST /routingResult', 'PATCH /agentWork']);
    const workId = (records[0]!.response as { agentWorkId: string }).agentWorkId;
    expect(bodyOf(records, 'PATCH /agentWork')).toEqual({ workId, contextType: 'Agent', status: 'Cancel' });
    await expectInvariants(e2e);
  });

  it('through a queue (a PSR exists): PATCH /agentWork Cancel, then DELETE /route Cancel', async () => {
    const { e2e, conv, since } = await live({ routing: { offerTimeoutMs: 10_000 } });
    const id = e2e.request(conv, 'Conference', { queueId: IGNORE_QUEUE });
    await orgSaw(e2e, conv, 'POST /routingResult', since);
    e2e.sandbox.org.cancelRouting(id, AVA);
    expect(await e2e.finished(id)).toMatchObject({ outcome: 'cancelled', offeredTo: [EVE] });
    const records = e2e.records(conv, { since });
    expect(records.map((r) => r.endpoint)).toEqual(['POST /route', 'POST /agentWork', 'POST /routingResult', 'PATCH /agentWork', 'DELETE /route']);
    expect(bodyOf(records, 'PATCH /agentWork')).toMatchObject({ status: 'Cancel', contextType: 'Agent' });
    expect(bodyOf(records, 'DELETE /route')).toEqual({ conversationIdentifier: conv, cancelReason: 'Cancel' });
    await expectInvariants(e2e);
  });
});

describe('5.5 a rep declines', () => {
  it('the next rep is offered and accepts', async () => {
    const { e2e, conv, since } = await live();
    const id = e2e.request(conv, 'Conference', { queueId: DECLINE_QUEUE });
    expect(await e2e.finished(id)).toMatchObject({ outcome: 'routed', acceptedBy: DIA, offeredTo: [CAM, DIA] });
    const records = e2e.records(conv, { since });
    expect(records.map((r) => r.endpoint)).toEqual(['POST /route', 'POST /agentWork', 'POST /routingResult', 'POST /agentWork']);
    expect([bodyOf(records, 'POST /agentWork', 0).userId, bodyOf(records, 'POST /agentWork', 1).userId]).toEqual([CAM, DIA]);
    await expectInvariants(e2e);
  });

  it('everyone declines: DELETE /route Decline once the offers are used up', async () => {
    const { e2e, conv, since } = await live({ routing: { maxOffers: 2 } });
    e2e.sandbox.org.setBehaviour(DIA, 'decline');
    const id = e2e.request(conv, 'Conference', { queueId: DECLINE_QUEUE });
    expect(await e2e.finished(id)).toMatchObject({ outcome: 'declined', offeredTo: [CAM, DIA] });
    const records = e2e.records(conv, { since });
    expect(records.map((r) => r.endpoint)).toEqual(['POST /route', 'POST /agentWork', 'POST /routingResult', 'POST /agentWork', 'DELETE /route']);
    expect(bodyOf(records, 'DELETE /route')).toMatchObject({ cancelReason: 'Decline' });
    await expectInvariants(e2e);
  });
});

describe('5.6 no accept within the offer timeout', () => {
  it('the offer is cancelled and the next rep, who accepts, is offered', async () => {
    const { e2e, conv, since } = await live();
    e2e.sandbox.org.setBehaviour(FAY, 'accept');
    const id = e2e.request(conv, 'Conference', { queueId: IGNORE_QUEUE });
    expect(await e2e.finished(id)).toMatchObject({ outcome: 'routed', acceptedBy: FAY, offeredTo: [EVE, FAY] });
    const records = e2e.records(conv, { since });
    expect(records.map((r) => r.endpoint)).toEqual(['POST /route', 'POST /agentWork', 'POST /routingResult', 'PATCH /agentWork', 'POST /agentWork']);
    expect(bodyOf(records, 'PATCH /agentWork')).toMatchObject({ status: 'Cancel', workId: (records[1]!.response as { agentWorkId: string }).agentWorkId });
    await expectInvariants(e2e);
  });

  it('nobody accepts: cancel → next rep → cancel → DELETE /route Unavailable', async () => {
    const { e2e, conv, since } = await live({ routing: { maxOffers: 2 } });
    const id = e2e.request(conv, 'Conference', { queueId: IGNORE_QUEUE });
    expect(await e2e.finished(id)).toMatchObject({ outcome: 'noAnswer', offeredTo: [EVE, FAY] });
    const records = e2e.records(conv, { since });
    expect(records.map((r) => r.endpoint)).toEqual([
      'POST /route',
      'POST /agentWork',
      'POST /routingResult',
      'PATCH /agentWork',
      'POST /agentWork',
      'PATCH /agentWork',
      'DELETE /route',
    ]);
    expect(bodyOf(records, 'DELETE /route')).toMatchObject({ cancelReason: 'Unavailable' });
    await expectInvariants(e2e);
  });
});

describe('5.7 a terminal error', () => {
  it('POST /route answers 10032: a failed routingResult, then DELETE /route Unknown; never retried', async () => {
    const { e2e, conv, since } = await live();
    e2e.sandbox.faults.failNext('POST /route', 1, FAULT_ERRORS.invalidQueue);
    const id = e2e.request(conv, 'Conference', { queueId: QUEUE });
    const out = await e2e.finished(id);
    expect(out).toMatchObject({ outcome: 'failed', reported: true, offeredTo: [] });
    expect(out.message).toMatch(/POST \/route failed/);
    const all = e2e.records(conv, { since, all: true });
    expect(all.map((r) => [r.endpoint, r.status, r.injected ?? null])).toEqual([
      ['POST /route', 400, 'failNext'],
      ['POST /routingResult', 202, null],
      ['DELETE /route', 202, null],
    ]);
    expect(bodyOf(all, 'POST /routingResult')).toMatchObject({ success: false, routingType: 'Conference' });
    expect(bodyOf(all, 'DELETE /route')).toEqual({ conversationIdentifier: conv, cancelReason: 'Unknown' });
    await expectInvariants(e2e);
  });
});

describe('5.7 a refused offer', () => {
  const INVALID_USER = { status: 400, code: 15106, message: 'Enter a valid userId.' };

  it('POST /agentWork answers 15106: never retried; the next rep is offered', async () => {
    const { e2e, conv, since } = await live();
    e2e.sandbox.faults.failNext('POST /agentWork', 1, INVALID_USER);
    const id = e2e.request(conv, 'Conference', { queueId: QUEUE });
    expect(await e2e.finished(id)).toMatchObject({ outcome: 'routed', acceptedBy: GUS, offeredTo: [BEN, GUS] });
    const all = e2e.records(conv, { since, all: true });
    expect(all.map((r) => [r.endpoint, r.status])).toEqual([
      ['POST /route', 202],
      ['POST /agentWork', 400],
      ['POST /agentWork', 202],
      ['POST /routingResult', 202],
    ]);
    expect([bodyOf(all, 'POST /agentWork', 0).userId, bodyOf(all, 'POST /agentWork', 1).userId]).toEqual([BEN, GUS]);
    await expectInvariants(e2e);
  });

  it('a refused offer counts against routing.maxOffers: with maxOffers 1 there is no second POST /agentWork', async () => {
    const { e2e, conv, since } = await live({ routing: { maxOffers: 1 } });
    e2e.sandbox.faults.failNext('POST /agentWork', 1, INVALID_USER);
    const id = e2e.request(conv, 'Conference', { queueId: QUEUE });
    const out = await e2e.finished(id);
    expect(e2e.records(conv, { since, all: true }).map((r) => r.endpoint)).toEqual(['POST /route', 'POST /agentWork', 'POST /routingResult', 'DELETE /route']);
    expect(out).toMatchObject({ outcome: 'failed', offeredTo: [BEN] });
    await expectInvariants(e2e);
  });
});

describe('5.8 the routing window', () => {
  it('the picker has nobody: asked again while the window allows, then a failed routingResult inside it and DELETE /route Unavailable', async () => {
    let asked = 0;
    const { e2e, conv, since } = await live({
      routing: { repickIntervalMs: 500 },
      pickRep: picker(() => void asked++),
    });
    const id = e2e.request(conv, 'Conference', { queueId: QUEUE });
    expect(await e2e.finished(id)).toMatchObject({ outcome: 'unavailable', reported: true });
    expect(asked).toBeGreaterThan(1);
    const records = e2e.records(conv, { since });
    expect(records.map((r) => r.endpoint)).toEqual(['POST /route', 'POST /routingResult', 'DELETE /route']);
    expect(bodyOf(records, 'POST /routingResult')).toMatchObject({ success: false, errorMessage: 'no rep available' });
    expect(bodyOf(records, 'DELETE /route')).toMatchObject({ cancelReason: 'Unavailable' });
    // Inside Salesforce's window: the org never timed the request out (the audit checks `late` too).
    expect(e2e.sandbox.org.requests.get(id)).toMatchObject({ reported: 1, timedOut: false, lateReports: 0 });
    await expectInvariants(e2e);
  });

  it('a hung rep picker: at the window less the reserve, a failed routingResult and DELETE /route Unavailable', async () => {
    let release!: () => void;
    const hung = new Promise<undefined>((r) => (release = () => r(undefined)));
    const { e2e, conv, since } = await live({
      pickRep: picker(() => hung),
    });
    try {
      const id = e2e.request(conv, 'Conference', { queueId: QUEUE });
      expect(await e2e.finished(id)).toMatchObject({ outcome: 'timedOut', reported: true });
      const records = e2e.records(conv, { since });
      expect(records.map((r) => r.endpoint)).toEqual(['POST /route', 'POST /routingResult', 'DELETE /route']);
      expect(bodyOf(records, 'POST /routingResult')).toMatchObject({ success: false, errorMessage: 'routing deadline reached' });
      expect(e2e.sandbox.org.requests.get(id)).toMatchObject({ reported: 1, timedOut: false, lateReports: 0 });
    } finally {
      release();
    }
    await expectInvariants(e2e);
  });

  it('every rep ignores the offer: offers time out one after another until the window closes, then DELETE /route Unavailable', async () => {
    const { e2e, conv, since } = await live({ routing: { repickIntervalMs: 300 } });
    const id = e2e.request(conv, 'Conference', { queueId: IGNORE_QUEUE });
    expect(await e2e.finished(id)).toMatchObject({ outcome: 'unavailable', offeredTo: [EVE, FAY] });
    const records = e2e.records(conv, { since });
    expect(records.map((r) => r.endpoint)).toEqual([
      'POST /route',
      'POST /agentWork',
      'POST /routingResult',
      'PATCH /agentWork',
      'POST /agentWork',
      'PATCH /agentWork',
      'DELETE /route',
    ]);
    expect(bodyOf(records, 'DELETE /route')).toMatchObject({ cancelReason: 'Unavailable' });
    expect(e2e.sandbox.org.requests.get(id)).toMatchObject({ reported: 1, timedOut: false });
    await expectInvariants(e2e);
  });
});

describe('5.9 leave and end', () => {
  it('a warm transfer: a second rep joins, then the first leaves; participant.left names who stayed', async () => {
    const { e2e, conv } = await live();
    await e2e.finished(e2e.request(conv, 'Conference', { userId: BEN }));
    await waitFor('Ben in the session', () => e2e.sb.session(conv)?.reps.length === 2);
    e2e.sandbox.org.repLeaves(conv, AVA);
    const left = await waitFor('Ava to leave', () => e2e.seen.left.find((l) => l.userId === AVA));
    expect(left).toMatchObject({ conversationIdentifier: conv, userId: AVA, warmTransferTo: [BEN] });
    expect(e2e.sb.session(conv)!.transfers).toMatchObject([{ from: AVA, to: [BEN] }]);
    await expectInvariants(e2e);
  });

  it('the end user leaves mid-offer: the AgentWork is cancelled and the PSR cleared, then the session ends', async () => {
    const { e2e, conv, since } = await live({ routing: { offerTimeoutMs: 10_000 } });
    const id = e2e.request(conv, 'Conference', { queueId: IGNORE_QUEUE });
    await orgSaw(e2e, conv, 'POST /routingResult', since);
    e2e.sandbox.org.endUserLeaves(conv);
    expect(await e2e.finished(id)).toMatchObject({ outcome: 'ended' });
    const records = e2e.records(conv, { since });
    expect(records.map((r) => r.endpoint)).toEqual(['POST /route', 'POST /agentWork', 'POST /routingResult', 'PATCH /agentWork', 'DELETE /route']);
    expect(bodyOf(records, 'PATCH /agentWork')).toMatchObject({ status: 'Cancel' });
    expect(bodyOf(records, 'DELETE /route')).toMatchObject({ cancelReason: 'Cancel' });
    await waitFor('the session to end', () => e2e.seen.ended.find((e) => e.conversationIdentifier === conv));
    expect(e2e.sb.session(conv)).toBeUndefined();
    await expectInvariants(e2e);
  });
});
