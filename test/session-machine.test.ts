// The session chart on its own, with a stand-in routing child (provide()): how agent-work events
// find the request whose offer they answer, now that pending routings are a list and the AgentWork
// id is kept on each (no separate index).
import { describe, expect, it } from 'vitest';
import { createActor, sendParent, setup, type AnyActorRef } from 'xstate';
import { sessionMachine, type SessionInput } from '../src/machines/session.js';

const REP_X = '005000000000X01';
const REP_Y = '005000000000Y01';

const settings: SessionInput['settings'] = { routingWindowMs: 60_000, reportReserveMs: 5_000, offerTimeoutMs: 20_000, maxOffers: 3, repickIntervalMs: 2_000, answerGraceMs: 5_000, initialRoutingTimeoutMs: 120_000, participantCap: 4 };

/** A routing child that tells its session of the offers it is sent (OFFER) and remembers every event it gets. */
function session() {
  const heard: string[] = [];
  const child = setup({
    types: { input: {} as { routingId: string }, context: {} as { routingId: string }, events: {} as { type: string; userId?: string; workId?: string } },
  }).createMachine({
    context: ({ input }) => ({ routingId: input.routingId }),
    on: {
      OFFER: { actions: sendParent(({ context, event }) => ({ type: 'routing.offered', routingId: context.routingId, userId: event.userId!, ...(event.workId ? { workId: event.workId } : {}) })) },
      '*': { actions: ({ event }) => void heard.push(`${event.type}${event.workId ? ` ${event.workId}` : ''}`) },
    },
  });
  const actor = createActor(sessionMachine.provide({ actors: { routing: child as never } }), { input: { conversationIdentifier: 'conv-1', workItemId: '0Mw000000000001', settings } });
  actor.start();
  actor.send({ type: 'ROUTING_REQUESTED', request: { kind: 'RoutingRequested', routingEventId: 'rr-1', routingType: 'Conference', target: { kind: 'queue', queueId: '00G000000000001' } } as never, receivedAt: Date.now() });
  const routing = Object.values(actor.getSnapshot().children)[0] as AnyActorRef;
  const accepted = (workId: string) => actor.send({ type: 'AGENT_WORK', event: { workId, workItemId: '0Mw000000000001', workEvent: 'ACCEPTED' } });
  return { actor, routing, heard, accepted };
}

describe('session chart: agent-work events reach the request that made the offer', () => {
  it('by the AgentWork id of its offer', () => {
    const { actor, routing, heard, accepted } = session();
    routing.send({ type: 'OFFER', userId: REP_X, workId: '0Bz000000000001' });
    expect(actor.getSnapshot().context.routings).toMatchObject([{ routingId: 'rr-1', offeredTo: REP_X, workId: '0Bz000000000001' }]);
    accepted('0Bz000000000001');
    expect(heard).toEqual(['REP_ACCEPTED 0Bz000000000001']);
  });

  it('an answer that arrives before its offer is known is held, then handed over', () => {
    const { routing, heard, accepted } = session();
    accepted('0Bz000000000001');
    expect(heard).toEqual([]);
    routing.send({ type: 'OFFER', userId: REP_X, workId: '0Bz000000000001' });
    expect(heard).toEqual(['REP_ACCEPTED 0Bz000000000001']);
  });

  it('after a second offer without an id (15109 on a repeat), the first offer’s AgentWork no longer finds the request, and its answer is held', () => {
    const { actor, routing, heard, accepted } = session();
    routing.send({ type: 'OFFER', userId: REP_X, workId: '0Bz000000000001' });
    routing.send({ type: 'OFFER', userId: REP_Y });
    expect(actor.getSnapshot().context.routings).toMatchObject([{ offeredTo: REP_Y, workId: '0Bz000000000001', staleWorkId: true }]);
    accepted('0Bz000000000001');
    expect(heard, 'a late answer to the first offer is not the second offer’s').toEqual([]);
    expect(actor.getSnapshot().context.heldWork).toHaveLength(1);
  });

  it('the one offer without an id (its request never had one) owns an answer for an AgentWork no offer names', () => {
    const { routing, heard, accepted } = session();
    routing.send({ type: 'OFFER', userId: REP_Y });
    accepted('0Bz000000000002');
    expect(heard).toEqual(['REP_ACCEPTED 0Bz000000000002']);
  });
});
