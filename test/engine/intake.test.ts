// Intake alone, over a real registry and runner: dedupe by platform event id and by entry id, the
// dedupe keys a restart hands back, refusals that remember nothing, and the app's listeners.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Directory } from '../../src/directory.js';
import { AppEvents } from '../../src/engine/app-events.js';
import { StepRunner } from '../../src/engine/effects.js';
import { Intake } from '../../src/engine/intake.js';
import { SessionRegistry } from '../../src/engine/registry.js';
import { createRecordingInteractionService } from '../../src/io/recording-interaction-service.js';
import { participantChanged, repMessage, sessionStatusChanged } from '../../src/sandbox/payloads.js';
import { newConversation, REPS } from '../support/harness.js';

function intake() {
  const log = pino({ level: 'silent' });
  const api = createRecordingInteractionService();
  const events = new AppEvents(log);
  const runner = new StepRunner({ api, log, pickRep: () => undefined, isLive: () => false });
  const settings = { routingWindowMs: 60_000, reportReserveMs: 5_000, offerTimeoutMs: 20_000, maxOffers: 3, repickIntervalMs: 2_000, answerGraceMs: 5_000, initialRoutingTimeoutMs: 120_000, participantCap: 4 };
  const registry = new SessionRegistry({ machine: runner.session, settings, limits: { hibernateAfterMs: false, maxSessions: 2, idleExpiryMs: false }, directory: new Directory(), events, log });
  const i = new Intake({ registry, runner, api, events, log, parseOptions: {}, maxIdLength: 255, maxSessions: 2, dedupeWindow: 100, isStopped: () => false });
  return { i, registry, events };
}

describe('Intake', () => {
  it('applies an event once, whether it comes again under its event id or its entry id', () => {
    const { i, events } = intake();
    const messages: string[] = [];
    events.on('message', (m) => messages.push(m.entryId));
    const conv = newConversation();
    const msg = repMessage(conv, REPS[0], 'hello');
    expect(i.ingest(msg)).toMatchObject({ ok: true, kind: 'Message' });
    expect(i.ingest(msg)).toMatchObject({ ok: true, duplicate: true });
    expect(i.ingest({ ...msg, eventId: 'a-redelivery-with-a-new-event-id' })).toMatchObject({ ok: true, duplicate: true });
    expect(messages).toHaveLength(1);
    expect(i.counters).toMatchObject({ ingested: 2, duplicates: 2 });
  });

  it('takes back the dedupe keys a restart hands it, by namespace', () => {
    const { i } = intake();
    const conv = newConversation();
    const msg = repMessage(conv, REPS[0], 'hello');
    const entryId = JSON.parse(msg.payload).payload.identifier as string;
    i.rememberSeen([`entry:${entryId}`]);
    expect(i.ingest(msg)).toMatchObject({ ok: true, duplicate: true });
    const other = repMessage(conv, REPS[0], 'again');
    i.rememberSeen([`event:${other.eventId}`]);
    expect(i.ingest(other)).toMatchObject({ ok: true, kind: 'duplicate' });
  });

  it('refuses a new session past the bound without remembering the event', () => {
    const { i, registry } = intake();
    i.ingest(participantChanged(newConversation(), [{ operation: 'add', userId: REPS[0] }]));
    i.ingest(participantChanged(newConversation(), [{ operation: 'add', userId: REPS[0] }]));
    const third = participantChanged(newConversation(), [{ operation: 'add', userId: REPS[0] }]);
    expect(i.ingest(third)).toMatchObject({ ok: false, error: { code: 'SB_LIMIT' } });
    expect(registry.size).toBe(2);
    // Not remembered: once there is room, the same delivery is applied.
    registry.close();
    expect(i.ingest(third)).toMatchObject({ ok: true, kind: 'ParticipantChanged' });
  });

  it('a listener that throws is logged, and the others still hear the event', () => {
    const { i, events } = intake();
    const heard: string[] = [];
    events.on('message', () => {
      throw new Error('app bug');
    });
    events.on('message', (m) => heard.push(m.entryId));
    expect(i.ingest(repMessage(newConversation(), REPS[0], 'hi')).ok).toBe(true);
    expect(heard).toHaveLength(1);
  });

  it('a session made for a SessionStatusChanged starts with its status; a status it already has is not sent to it', () => {
    const { i, registry } = intake();
    const conv = newConversation();
    expect(i.ingest(sessionStatusChanged(conv, '0Mw000000000001AAA', 'Active'))).toMatchObject({ ok: true, kind: 'SessionStatusChanged' });
    const made = registry.live(conv.conversationIdentifier)!.getSnapshot();
    expect(made.context).toMatchObject({ status: 'Active', workItemId: '0Mw000000000001' });
    // The same status again (a new event): the session's snapshot is the same object, no transition ran.
    i.ingest(sessionStatusChanged(conv, '0Mw000000000001AAA', 'Active'));
    expect(registry.live(conv.conversationIdentifier)!.getSnapshot()).toBe(made);
    // A change is sent, and so is an end, whatever the status before it.
    i.ingest(sessionStatusChanged(conv, '0Mw000000000001AAA', 'Inactive'));
    expect(registry.live(conv.conversationIdentifier)!.getSnapshot().context.status).toBe('Inactive');
    i.ingest(sessionStatusChanged(conv, '0Mw000000000001AAA', 'Ended'));
    expect(registry.live(conv.conversationIdentifier)).toBeUndefined();
  });
});
