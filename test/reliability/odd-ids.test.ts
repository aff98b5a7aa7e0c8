// D7: ids are data, never property names. An eventId, user id or AgentWork id spelled like a
// built-in property (`constructor`, `__proto__`, `toString`…) must route, join and leave like any
// other id. Run over every property Object.prototype has, plus a few more odd spellings.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { participantChanged, routingRequested, sessionStatusChanged } from '../../src/sandbox/payloads.js';
import { copyRecord, own, put, withKey, withoutKey } from '../../src/machines/records.js';
import { harness, newConversation, REPS } from '../support/harness.js';

const ODD_IDS = [...Object.getOwnPropertyNames(Object.prototype), '__proto__', 'prototype', '__lookupGetter__', 'length', '0', ''].filter(
  (id, i, all) => id !== '' && all.indexOf(id) === i,
);
const SESSION_ID = '0Mw000000000777AAA';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('records keyed by wire ids', () => {
  it('covers the odd ids it means to', () => {
    expect(ODD_IDS).toEqual(expect.arrayContaining(['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']));
  });

  for (const id of ODD_IDS) {
    it(`"${id}" is a key like any other`, () => {
      const empty: Record<string, number> = {};
      expect(own(empty, id)).toBeUndefined();
      const one = withKey(empty, id, 1);
      expect(own(one, id)).toBe(1);
      expect(Object.keys(one)).toEqual([id]);
      expect(Object.getPrototypeOf(one)).toBe(Object.prototype);
      const two = withKey(one, 'x', 2);
      expect(own(two, id)).toBe(1);
      expect(Object.keys(copyRecord(two)).sort()).toEqual([id, 'x'].sort());
      expect(own(withoutKey(two, id), id)).toBeUndefined();
      const target: Record<string, number> = {};
      put(target, id, 3);
      expect(own(target, id)).toBe(3);
      // What a snapshot does on its way to a store and back.
      expect(own(JSON.parse(JSON.stringify(two)) as Record<string, number>, id)).toBe(1);
    });
  }
});

describe('a session whose ids are spelled like built-in properties', () => {
  for (const id of ODD_IDS) {
    it(`routes a request with eventId "${id}" and tracks a rep "${id}"`, async () => {
      const h = harness();
      const conv = newConversation();
      h.sb.ingest(sessionStatusChanged(conv, SESSION_ID, 'Active'));
      const joined: string[] = [];
      const left: Array<string | undefined> = [];
      h.sb.on('participant.joined', (e) => joined.push(e.userId));
      h.sb.on('participant.left', (e) => left.push(e.userId));
      h.sb.ingest(participantChanged(conv, [{ operation: 'add', userId: id }]));
      expect(joined).toEqual([id]);
      expect(h.sb.session(conv.conversationIdentifier)!.reps.map((r) => r.userId)).toEqual([id]);

      const result = h.sb.ingest(routingRequested(conv, 'Transfer', { userId: REPS[1] }, { eventId: id }));
      expect(result).toMatchObject({ ok: true, kind: 'RoutingRequested' });
      await h.flush();
      expect(h.sb.session(conv.conversationIdentifier)!.pendingRoutings.map((p) => p.routingId)).toEqual([id]);
      const offer = h.api.callsTo('POST /agentWork');
      expect(offer).toHaveLength(1);
      expect(h.api.callsTo('POST /routingResult')).toHaveLength(1);

      h.sb.ingest(participantChanged(conv, [{ operation: 'remove', userId: id }]));
      expect(left).toEqual([id]);
      expect(h.sb.session(conv.conversationIdentifier)!.reps).toEqual([]);
    });
  }
});
