// The Postgres store's part in forwarding: inbox rows consumed by an engine are deleted in that
// engine's next commit, in its transaction — gone exactly when the sessions it wrote are there.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openPostgresSessionStore } from '../../../src/io/store/postgres-store.js';
import { createTestDatabase, type TestDatabase } from '../../support/postgres.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

const session = (id: string) => ({ conversationIdentifier: id, schemaVersion: 2, chartHash: 'h', savedAt: 1, snapshot: { id } });

it('deletes consumed inbox rows with the next commit, not when that commit fails, and refuses them once fenced', async () => {
  const orgId = '00DINBOXCOMMIT1';
  const store = await openPostgresSessionStore({ connectionString: db.url, orgId });
  const put = async () => (await db.sql<{ id: string }>(`INSERT INTO switchboard.inbox (org_id, kind, payload) VALUES ($1, 'agentWork', '\\x7b7d') RETURNING id`, [orgId]))[0]!.id;
  const left = async () => (await db.sql<{ id: string }>('SELECT id FROM switchboard.inbox WHERE org_id = $1 ORDER BY id', [orgId])).map((r) => r.id);
  const ids = [await put(), await put()];
  await db.sql(`CREATE OR REPLACE FUNCTION switchboard.refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN IF NEW.conversation_id = 'boom' THEN RAISE EXCEPTION 'refused by test trigger'; END IF; RETURN NEW; END $$`);
  await db.sql('CREATE OR REPLACE TRIGGER refuse_boom BEFORE INSERT ON switchboard.sessions FOR EACH ROW EXECUTE FUNCTION switchboard.refuse_boom()');
  try {
    let done = false;
    const consumed = store.consumeInbox(ids.map(Number)).then(() => (done = true));
    // The engine's commit fails: the rows stay, and wait for the next commit.
    await expect(store.commit({ sessions: [session('boom')] })).rejects.toMatchObject({ code: 'SB_STORE' });
    expect(await left()).toEqual(ids);
    expect(done).toBe(false);
    await store.commit({ sessions: [session('fine')] });
    await consumed;
    expect(await left()).toEqual([]);
    expect((await store.loadSessions()).map((s) => s.conversationIdentifier)).toEqual(['fine']);

    // Fenced by a newer epoch: the owner's deletions are refused with its commit.
    await db.sql(`INSERT INTO switchboard.leases (org_id, owner, epoch) VALUES ($1, 'someone', 5)`, [orgId]);
    store.fence(4);
    const third = await put();
    const refused = store.consumeInbox([Number(third)]);
    refused.catch(() => undefined);
    await expect(store.flushInbox()).rejects.toMatchObject({ code: 'SB_FENCED' });
    await expect(refused).rejects.toMatchObject({ code: 'SB_FENCED' });
    expect(await left()).toEqual([third]);
  } finally {
    await db.sql('DROP TRIGGER IF EXISTS refuse_boom ON switchboard.sessions');
    await store.close();
  }
});
