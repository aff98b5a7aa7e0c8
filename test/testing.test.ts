// switchboard-ccaas/testing as a partner's suite uses it: the event builders drive a real
// switchboard, and the recording service says what each call answered, so a test can accept the
// very offer that went out.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createSwitchboard, InteractionApiError } from '../src/index.js';
import {
  accepted,
  agentWorkEvent,
  createRecordingInteractionService,
  declined,
  newConversation,
  offers,
  participantChanged,
  routingRequested,
  sessionStatusChanged,
} from '../src/testing.js';
import { until } from './support/waiting.js';

const ANN = '005000000000ANN';
const BOB = '005000000000BOB';
const CAT = '005000000000CAT';
const QUEUE = '00G000000000Q01';
const SESSION = '0Mw000000000777AAA';


function wire() {
  const api = createRecordingInteractionService();
  const sb = createSwitchboard({
    interactions: api,
    logger: pino({ level: 'silent' }),
    directory: { reps: [ANN, BOB, CAT].map((userId) => ({ userId, name: userId, queueIds: [QUEUE] })), queues: [{ queueId: QUEUE, name: 'Billing' }] },
  });
  return { api, sb };
}

describe('switchboard-ccaas/testing', () => {
  it('builds events a switchboard accepts, and offers() hands back the offer to accept or decline', async () => {
    const { api, sb } = wire();
    const finished: Array<{ outcome: string; acceptedBy?: string }> = [];
    sb.on('routing.finished', (e) => finished.push(e.output));
    const conv = newConversation();
    expect(sb.ingest(sessionStatusChanged(conv, SESSION, 'Active'))).toMatchObject({ ok: true });
    expect(sb.ingest(participantChanged(conv, [{ operation: 'add', userId: ANN }]))).toMatchObject({ ok: true });
    expect(sb.ingest(routingRequested(conv, 'Conference', { queueId: QUEUE }))).toMatchObject({ ok: true });

    await until(() => offers(api).length === 1, 5_000, 5);
    const [first] = offers(api);
    expect(first!.workItemId).toBe(SESSION.slice(0, 15));
    expect(first!.workId).toMatch(/^0Bz/);
    sb.agentWork(declined(first!.workId, SESSION));

    await until(() => offers(api).length === 2, 5_000, 5);
    const second = offers(api)[1]!;
    expect(second.userId).not.toBe(first!.userId);
    sb.agentWork(accepted(second.workId, SESSION));
    await until(() => finished.length === 1, 5_000, 5);
    expect(finished[0]).toMatchObject({ outcome: 'routed', acceptedBy: second.userId });
    expect(agentWorkEvent('0Bz', SESSION, 'COMPLETED')).toEqual({ workId: '0Bz', workItemId: SESSION, workEvent: 'COMPLETED' });
    await sb.stop();
  });
});

describe('the recording interaction service', () => {
  it("records each call's answer, and the error of a call that failed", async () => {
    const api = createRecordingInteractionService();
    const ctx = { key: 'k', priority: 'start' as const };
    const route = await api.createRoute({ conversationIdentifier: 'c', routingType: 'Transfer' } as never, ctx);
    api.respond('POST /agentWork', () => ({ agentWorkId: '0Bz000000000042' }));
    await api.createAgentWork({ userId: ANN, workItemId: '0Mw000000000777' }, ctx);
    const boom = new InteractionApiError('invalid queue', { kind: 'terminal', endpoint: 'POST /route', apiCode: 10032 });
    api.failNext('POST /route', boom);
    await expect(api.createRoute({ conversationIdentifier: 'c', routingType: 'Transfer' } as never, ctx)).rejects.toBe(boom);
    api.respond('POST /routingResult', () => Promise.reject(new Error('late no')));
    await expect(api.reportRoutingResult({ conversationIdentifier: 'c', workItemId: '0Mw000000000777', success: true, externallyRouted: false }, ctx)).rejects.toThrow('late no');

    const [ok, work, failed, late] = api.calls;
    expect(ok).toMatchObject({ endpoint: 'POST /route', result: 'ok', answer: route });
    expect(work).toMatchObject({ endpoint: 'POST /agentWork', result: 'ok', answer: { agentWorkId: '0Bz000000000042' } });
    expect(failed).toMatchObject({ endpoint: 'POST /route', result: 'invalid queue', error: boom });
    expect(failed!.answer).toBeUndefined();
    expect(late).toMatchObject({ endpoint: 'POST /routingResult', result: 'late no' });
    expect((late!.error as Error).message).toBe('late no');
  });
});
