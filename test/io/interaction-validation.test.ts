// Bodies Salesforce would reject are caught locally: a RequestValidationError naming the endpoint
// and field, and no request reaches the server.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RequestValidationError } from '../../src/domain/errors.js';
import type { InteractionService } from '../../src/domain/ports.js';
import { finish, makeClient, start } from './client-fixture.js';
import { FakeScrt } from './fake-scrt.js';

let fake: FakeScrt;
beforeAll(async () => {
  fake = await FakeScrt.start();
});
afterAll(() => fake.close());
afterEach(() => fake.reset());

const rr = { conversationIdentifier: 'c', workItemId: '0MwSB000000AAAA', success: true, externallyRouted: false };
const aw = { userId: '005SB000000AAAA', workItemId: '0MwSB000000AAAA' };

// Casts stand in for a JavaScript caller (or a bug) passing what the types forbid.
const cases: Array<[string, string, string, (c: InteractionService) => Promise<unknown>]> = [
  ['workItemId not 15 chars', 'POST /routingResult', 'workItemId', (c) => c.reportRoutingResult({ ...rr, workItemId: '0MwSB000000AAAAXYZ' }, finish)],
  ['errorMessage missing on failure', 'POST /routingResult', 'errorMessage', (c) => c.reportRoutingResult({ ...rr, success: false }, finish)],
  ['errorMessage empty on failure', 'POST /routingResult', 'errorMessage', (c) => c.reportRoutingResult({ ...rr, success: false, errorMessage: '' }, finish)],
  ['errorMessage on success', 'POST /routingResult', 'errorMessage', (c) => c.reportRoutingResult({ ...rr, errorMessage: 'x' }, finish)],
  ['routingType enum', 'POST /routingResult', 'routingType', (c) => c.reportRoutingResult({ ...rr, routingType: 'transfer' as never }, finish)],
  ['agentWork workItemId', 'POST /agentWork', 'workItemId', (c) => c.createAgentWork({ ...aw, workItemId: '0Mw' }, start)],
  ['capacityPercentage > 100', 'POST /agentWork', 'capacityPercentage', (c) => c.createAgentWork({ ...aw, capacityPercentage: 101 }, start)],
  ['capacityPercentage with weight', 'POST /agentWork', 'capacityPercentage', (c) => c.createAgentWork({ ...aw, capacityPercentage: 50, capacityWeight: 1 }, start)],
  ['routingContext enum', 'POST /agentWork', 'routingContext.routingType', (c) =>
    c.createAgentWork({ ...aw, routingContext: { conversationIdentifier: 'c', routingType: 'X' as never, routingCorrelationId: 'e' } }, start)],
  ['route routingType', 'POST /route', 'routingType', (c) => c.createRoute({ conversationIdentifier: 'c', routingType: 'Escalate' as never }, start)],
  ['flow without queueId', 'POST /route', 'routingInfo.flow.queueId', (c) =>
    c.createRoute({ conversationIdentifier: 'c', routingType: 'Initial', routingInfo: { flow: { flowId: '300' } } as never }, start)],
  ['routingInfo with neither', 'POST /route', 'routingInfo', (c) =>
    c.createRoute({ conversationIdentifier: 'c', routingType: 'Initial', routingInfo: {} as never }, start)],
  ['conversationIdentifier missing', 'POST /route', 'conversationIdentifier', (c) => c.createRoute({ conversationIdentifier: '', routingType: 'Initial' }, start)],
  ['cancelReason enum', 'DELETE /route', 'cancelReason', (c) => c.clearRoute({ conversationIdentifier: 'c', cancelReason: 'CANCEL' as never }, finish)],
  ['consentStatus enum (docs misspelling)', 'PATCH /consent', 'consentStatus', (c) =>
    c.patchConsent({ endUserClientId: 'e', channelAddressIdentifier: 'a', consentStatus: 'ExplicityOptedIn' as never }, start)],
  ['status enum', 'PATCH /agentWork', 'status', (c) => c.patchAgentWork({ workId: '0Bz', contextType: 'Agent', status: 'Closed' as never }, finish)],
  ['contextType enum', 'PATCH /agentWork', 'contextType', (c) => c.patchAgentWork({ workId: '0Bz', contextType: 'Bot' as never, status: 'Close' }, finish)],
  ['to > 240', 'POST /interactions', 'to', (c) => c.postInteraction({ to: 'x'.repeat(241), from: 'f', interaction: { kind: 'text', text: 'hi' } }, start)],
  ['from > 255', 'POST /interactions', 'from', (c) => c.postInteraction({ to: 't', from: 'x'.repeat(256), interaction: { kind: 'text', text: 'hi' } }, start)],
  ['message id ≠ payload id', 'POST /interactions', 'interaction.payload.abstractMessage.id', (c) =>
    c.postInteraction({ to: 't', from: 'f', interaction: { kind: 'entry', payload: { id: 'a', entryType: 'Message', abstractMessage: { id: 'b' } } } }, start)],
  ['participants not exactly one', 'POST /participant', 'participants', (c) =>
    c.removeParticipant({ conversationIdentifier: 'c', operation: 'Remove', participants: [] as never }, finish)],
  ['Inactivate without sessionId', 'POST /messagingSession', 'sessionId', (c) =>
    c.updateMessagingSession({ channelAddressIdentifier: 'a', endUserClientId: 'e', conversationIdentifier: 'c', operation: 'Inactivate' }, finish)],
];

describe('local validation', () => {
  it.each(cases)('%s', async (_name, endpoint, field, invoke) => {
    const { client } = makeClient(fake);
    const err = await invoke(client).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RequestValidationError);
    expect(err).toMatchObject({ code: 'SB_INVALID_REQUEST', endpoint, field });
    expect(client.stats().calls).toBe(0);
    await client.close();
    expect(fake.requests).toHaveLength(0);
  });

  it('accepts the boundaries: to of 240, from of 255, capacityPercentage 0 and 100', async () => {
    const { client } = makeClient(fake);
    await client.postInteraction({ to: 'x'.repeat(240), from: 'y'.repeat(255), interaction: { kind: 'text', text: 'hi' } }, start);
    await client.createAgentWork({ ...aw, capacityPercentage: 0 }, start);
    await client.createAgentWork({ ...aw, capacityPercentage: 100 }, start);
    expect(fake.apiRequests).toHaveLength(3);
    await client.close();
  });
});
