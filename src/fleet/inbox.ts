// Forwarding: an input that reaches a host not owning its org (an agent-work relay, a new
// conversation) is written to a durable inbox row and the owner is woken with NOTIFY in the same
// transaction. NOTIFY is only a wake-up — it is not stored, and nobody may be listening at that
// moment — so the owner also drains its orgs' inboxes after every (re)connection and on a slow poll.
//
// Exactly once: an agent-work row is deleted in the very commit that writes the sessions it changed
// (PostgresSessionStore.consumeInbox), and that commit is fenced with the owner's lease epoch. An
// owner dying before it leaves both the row and the old sessions, and the next owner applies the
// input to the sessions as they were; a fenced (stale) owner deletes nothing. A new conversation is
// answered through a reply row, written with the deletion of its inbox row in one fenced
// transaction, and read back by the host that asked.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { ForwardedError, ForwardTimeoutError } from '../domain/errors.js';
import type { Logger } from '../io/log.js';
import { DEFAULT_SCHEMA, inTransaction, migrate, quoteSchema, storeError, txLimits } from '../io/store/postgres-schema.js';
import type { PostgresSessionStore } from '../io/store/postgres-store.js';
import type { IngestResult, StartConversationRequest } from '../switchboard.js';

export type InboxInput = { kind: 'agentWork'; event: unknown } | { kind: 'startConversation'; request: StartConversationRequest };

export interface InboxRunner {
  epoch: number;
  store: PostgresSessionStore;
  started: Promise<void>;
  apply(input: InboxInput): Promise<unknown> | IngestResult;
  /** Commits every change the engine holds, now. */
  flush(): Promise<void>;
}

export interface InboxOptions {
  pool: pg.Pool;
  schema?: string;
  /** Connection settings of the dedicated LISTEN connection (kept out of the pool). */
  connection: pg.ClientConfig;
  log: Logger;
  /** Orgs this host runs. */
  owned(): string[];
  runnerOf(orgId: string): InboxRunner | undefined;
  /** A lease was released somewhere: free orgs may be taken. */
  onFree(): void;
  /** Safety poll of the inboxes (lost wake-ups). Default 1 s. */
  pollMs?: number;
}

export interface Inbox {
  start(): Promise<void>;
  /** Writes the input for the org's owner and wakes it. */
  put(orgId: string, input: InboxInput): Promise<void>;
  /** Writes the input and waits for the owner's answer. */
  ask(orgId: string, input: InboxInput, timeoutMs: number): Promise<unknown>;
  /** Applies what waits in the org's inbox (this host owns the org). */
  drain(orgId: string): void;
  /** Tells the other hosts an org was released. */
  announceFree(orgId: string): Promise<void>;
  stop(): Promise<void>;
}

interface InboxRow {
  id: string;
  kind: InboxInput['kind'];
  payload: Buffer;
  reply_id: string | null;
}

type Reply = { ok: true; value: unknown } | { ok: false; error: { code?: string; message: string } };

const BATCH = 200;

export function createInbox(o: InboxOptions): Inbox {
  const s = quoteSchema(o.schema);
  const name = o.schema ?? DEFAULT_SCHEMA;
  const channels = { inbox: `${name}_inbox`, reply: `${name}_reply`, free: `${name}_free` };
  const limits = txLimits(5_000);
  const log = o.log.child({ component: 'inbox' });
  let listener: pg.Client | undefined;
  let stopped = false;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let poll: NodeJS.Timeout | undefined;
  let backoffMs = 100;
  /** Per org: the drain running, and whether another was asked for meanwhile. */
  const draining = new Map<string, { again: boolean }>();
  /** Agent-work rows applied here whose deleting commit has not landed yet. */
  const applied = new Set<string>();
  const waiting = new Map<string, () => void>();

  async function connect(): Promise<void> {
    const client = new pg.Client(o.connection);
    client.on('error', (err) => {
      log.warn({ err: { message: err.message } }, 'inbox listener connection failed: reconnecting');
      lost(client);
    });
    client.on('end', () => lost(client));
    client.on('notification', (n) => {
      if (n.channel === channels.inbox && n.payload) inbox.drain(n.payload);
      else if (n.channel === channels.reply && n.payload) waiting.get(n.payload)?.();
      else if (n.channel === channels.free) o.onFree();
    });
    await client.connect();
    for (const c of Object.values(channels)) await client.query(`LISTEN "${c}"`);
    listener = client;
    backoffMs = 100;
    // Wake-ups sent while nobody listened are gone: look at everything once.
    for (const orgId of o.owned()) inbox.drain(orgId);
    for (const check of waiting.values()) check();
  }

  function lost(client: pg.Client): void {
    if (listener !== client && listener !== undefined) return;
    listener = undefined;
    client.removeAllListeners('notification');
    client.end().catch(() => undefined);
    scheduleReconnect();
  }

  function scheduleReconnect(): void {
    if (stopped || reconnectTimer) return;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      connect().catch((err: unknown) => {
        log.warn({ err: { message: (err as Error).message } }, 'inbox listener could not connect');
        backoffMs = Math.min(backoffMs * 2, 5_000);
        scheduleReconnect();
      });
    }, backoffMs);
    reconnectTimer.unref();
  }

  async function write(orgId: string, input: InboxInput, replyId: string | null): Promise<void> {
    const payload = Buffer.from(JSON.stringify(input.kind === 'agentWork' ? input.event : input.request) ?? 'null', 'utf8');
    try {
      await inTransaction(o.pool, limits, async (client) => {
        await client.query(`INSERT INTO ${s}.inbox (org_id, kind, payload, reply_id) VALUES ($1, $2, $3, $4)`, [orgId, input.kind, payload, replyId]);
        // Sent at commit, so the owner never wakes before the row is visible.
        await client.query('SELECT pg_notify($1, $2)', [channels.inbox, orgId]);
      });
    } catch (err) {
      throw storeError(`forwarding ${input.kind} (org ${orgId})`, err);
    }
  }

  function inputOf(row: InboxRow): InboxInput {
    const value = JSON.parse(row.payload.toString('utf8')) as unknown;
    return row.kind === 'startConversation' ? { kind: 'startConversation', request: value as StartConversationRequest } : { kind: 'agentWork', event: value };
  }

  /** Deletes a startConversation row and writes its answer, in one transaction fenced with the epoch. */
  async function answer(orgId: string, epoch: number, row: InboxRow, reply: Reply): Promise<void> {
    await inTransaction(o.pool, limits, async (client) => {
      const lease = await client.query<{ epoch: string }>(`SELECT epoch FROM ${s}.leases WHERE org_id = $1 FOR KEY SHARE`, [orgId]);
      if (Number(lease.rows[0]?.epoch) !== epoch) throw new Error('fenced');
      await client.query(`DELETE FROM ${s}.inbox WHERE id = $1`, [row.id]);
      if (row.reply_id) {
        await client.query(`INSERT INTO ${s}.replies (reply_id, org_id, result) VALUES ($1, $2, $3) ON CONFLICT (reply_id) DO NOTHING`, [row.reply_id, orgId, Buffer.from(JSON.stringify(reply), 'utf8')]);
        await client.query('SELECT pg_notify($1, $2)', [channels.reply, row.reply_id]);
      }
    });
  }

  async function drainOnce(orgId: string): Promise<void> {
    const runner = o.runnerOf(orgId);
    if (!runner) return;
    await runner.started;
    const rows = (await o.pool.query<InboxRow>(`SELECT id, kind, payload, reply_id FROM ${s}.inbox WHERE org_id = $1 ORDER BY id LIMIT $2`, [orgId, BATCH])).rows.filter((r) => !applied.has(r.id));
    if (!rows.length) return;
    let batch: string[] = [];
    const settleBatch = async () => {
      if (!batch.length) return;
      const ids = batch;
      batch = [];
      const consumed = runner.store.consumeInbox(ids.map(Number));
      // Awaited below unless an earlier step throws; its refusal is that same failure.
      consumed.catch(() => undefined);
      try {
        // The sessions these inputs changed are committed, and the rows deleted with them; an input
        // that changed nothing durable has no engine commit to ride, so the rows go on their own.
        await runner.flush();
        await runner.store.flushInbox();
        await consumed;
      } finally {
        for (const id of ids) applied.delete(id);
      }
    };
    for (const row of rows) {
      // Halted or handed over meanwhile: what is left waits for the org's next owner.
      if (o.runnerOf(orgId)?.epoch !== runner.epoch) break;
      let input: InboxInput;
      try {
        input = inputOf(row);
      } catch {
        input = { kind: 'agentWork', event: null }; // unreadable: refused by the engine like any bad input
      }
      if (input.kind === 'agentWork') {
        applied.add(row.id);
        batch.push(row.id);
        const result = runner.apply(input) as IngestResult;
        if (!result.ok && result.error.code === 'SB_STOPPED') {
          // Halted under us: this row and the batch's stay for the next owner (which may be this
          // host again, so they must not stay marked as applied here).
          for (const id of batch) applied.delete(id);
          batch = [];
          return;
        }
        continue;
      }
      // A new conversation: the agent-work inputs before it are settled first, in order.
      await settleBatch();
      let reply: Reply;
      try {
        reply = { ok: true, value: await runner.apply(input) };
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'SB_STOPPED' || code === 'SB_FENCED') return; // the next owner answers it
        reply = { ok: false, error: { ...(typeof code === 'string' ? { code } : {}), message: (err as Error).message } };
      }
      await answer(orgId, runner.epoch, row, reply);
    }
    await settleBatch();
    if (rows.length === BATCH) inbox.drain(orgId);
  }

  const inbox: Inbox = {
    async start() {
      // Usually done already by the host's lease manager; cheap when the schema is current.
      await migrate(o.pool, o.schema, limits);
      await connect();
      poll = setInterval(() => {
        for (const orgId of o.owned()) inbox.drain(orgId);
        for (const check of waiting.values()) check();
      }, o.pollMs ?? 1_000);
      poll.unref();
    },

    put: (orgId, input) => write(orgId, input, null),

    async ask(orgId, input, timeoutMs) {
      const replyId = randomUUID();
      let wake: () => void = () => {};
      let woken = false;
      waiting.set(replyId, () => {
        woken = true;
        wake();
      });
      try {
        await write(orgId, input, replyId);
        const until = Date.now() + timeoutMs;
        for (;;) {
          const rows = await o.pool.query<{ result: Buffer }>(`DELETE FROM ${s}.replies WHERE reply_id = $1 RETURNING result`, [replyId]);
          const row = rows.rows[0];
          if (row) {
            const reply = JSON.parse(row.result.toString('utf8')) as Reply;
            if (reply.ok) return reply.value;
            throw new ForwardedError(orgId, reply.error.code, reply.error.message);
          }
          if (Date.now() >= until || stopped) {
            throw new ForwardTimeoutError(orgId, input.kind, timeoutMs);
          }
          await new Promise<void>((resolve) => {
            if (woken) {
              woken = false;
              resolve();
              return;
            }
            const t = setTimeout(resolve, Math.min(250, Math.max(1, until - Date.now())));
            wake = () => {
              clearTimeout(t);
              woken = false;
              resolve();
            };
          });
        }
      } finally {
        waiting.delete(replyId);
      }
    },

    drain(orgId) {
      if (stopped) return;
      const d = draining.get(orgId);
      if (d) {
        d.again = true;
        return;
      }
      const entry = { again: false };
      draining.set(orgId, entry);
      const loop = async () => {
        do {
          entry.again = false;
          await drainOnce(orgId).catch((err: unknown) => log.warn({ orgId, err: { message: (err as Error).message, code: (err as { code?: string }).code } }, 'draining the inbox failed; retried on the next wake-up or poll'));
        } while (entry.again && !stopped);
        draining.delete(orgId);
      };
      void loop();
    },

    async announceFree(orgId) {
      await o.pool.query('SELECT pg_notify($1, $2)', [channels.free, orgId]).catch(() => undefined);
    },

    async stop() {
      stopped = true;
      clearInterval(poll);
      clearTimeout(reconnectTimer);
      const l = listener;
      listener = undefined;
      if (l) {
        l.removeAllListeners('notification');
        await l.end().catch(() => undefined);
      }
    },
  };
  return inbox;
}
