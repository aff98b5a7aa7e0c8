// The fleet host: many orgs per process, many processes on one PostgreSQL. Each org has one owner at
// a time (a lease with an epoch, src/fleet/lease.ts); this host runs one switchboard per org it
// owns, on a Postgres store fenced with that epoch, so a host that lost an org can neither commit
// nor (calls leave only after their write-ahead commit) call for it. Orgs are taken up to a fair
// share, handed over on stop() or when hosts join, and taken over within the lease TTL when a
// host dies; the new owner restores the org's sessions as after a crash and resumes its stream from
// the stored cursor.
//
// Inputs may reach any host (the load balancer picks): a host that does not own the org writes them
// to a durable inbox in the same database and wakes the owner with NOTIFY (src/fleet/inbox.ts).
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { ConfigError, StoppedError } from '../domain/errors.js';
import type { ContactListType } from '../domain/enums.js';
import { Directory, type Contact } from '../directory.js';
import { createLogger, type Logger } from '../io/log.js';
import { openPostgresSessionStore, type PostgresSessionStore } from '../io/store/postgres-store.js';
import { createSwitchboard, type IngestResult, type StartConversationRequest, type Switchboard, type SwitchboardOptions } from '../switchboard.js';
import { createInbox, type Inbox, type InboxInput } from './inbox.js';
import { createLeaseManager, type LeaseManager } from './lease.js';

/** One org the fleet serves. */
export interface FleetOrg {
  /**
   * The org's key in the fleet: its lease and its rows in the store. Normally `switchboard.org.orgId`;
   * unique in the list.
   */
  orgId: string;
  /** Everything its switchboard needs but the store: credentials, CCD topic and fields, directory, routing. */
  switchboard: Omit<SwitchboardOptions, 'store'>;
}

export interface FleetOptions {
  /** The fleet's database: a connection string (the fleet makes and closes its pool) or the app's `pg.Pool`. */
  postgres: string | pg.Pool;
  /** The orgs to serve: a list, or a function read again every `refreshOrgsMs` (orgs come and go). */
  orgs: readonly FleetOrg[] | (() => readonly FleetOrg[] | Promise<readonly FleetOrg[]>);
  /** Unique per running process. Default `<hostname>:<pid>:<random>`. */
  hostId?: string;
  /** How long a lease lasts unrenewed, on the database's clock: a dead host's orgs move within it. Default 15 s. */
  leaseTtlMs?: number;
  /** Lease renewal period. Default a third of the TTL. */
  renewEveryMs?: number;
  /** How often the org list is read again (when it is a function). Default 30 s. */
  refreshOrgsMs?: number;
  /** How often the host looks for free orgs and gives up surplus ones. Default: the renewal period. */
  balanceEveryMs?: number;
  /** How long a switchboard handed over may finish in-flight calls. Default 5 s. */
  drainMs?: number;
  /** Postgres schema (default `switchboard`). */
  schema?: string;
  /** Size of the pool the fleet makes from a connection string. Default 20. */
  maxConnections?: number;
  logger?: Logger;
  /** Called with each org's switchboard before it starts: wire the app's listeners (messages, session events). */
  onSwitchboard?: (orgId: string, switchboard: Switchboard) => void;
}

export interface FleetOrgEvent {
  orgId: string;
  epoch: number;
}

export interface FleetEvents {
  /** This host owns the org now and its switchboard has started (sessions restored). */
  'org.acquired': FleetOrgEvent;
  /** Handed over gracefully: the switchboard drained and committed, then the lease was released. */
  'org.released': FleetOrgEvent;
  /**
   * The lease is gone before this host gave it up (`taken`: another host holds it, a refused commit
   * or a renewal proved it; `expired`: renewals failed for a whole TTL). The switchboard has halted.
   */
  'org.lost': FleetOrgEvent & { reason: 'taken' | 'expired' };
  /** An org's switchboard failed to start; its lease was released so that another host may try. */
  'org.error': { orgId: string; error: unknown };
}

/** What a fleet's input method did with it: applied here, or written to the owner's inbox. */
export type ForwardResult = { applied: true; result: IngestResult } | { applied: false; forwarded: true };

export interface Fleet {
  readonly hostId: string;
  /** Migrates the schema, starts the lease heartbeat and the inbox listener, takes a first share of orgs. */
  start(): Promise<void>;
  /** Leaves the live hosts, then hands every org over (drain, commit, release) and stops. Other hosts take them at once. */
  stop(): Promise<void>;
  /** Orgs this host runs now. */
  owned(): string[];
  /** The switchboard of an org this host runs. */
  switchboard(orgId: string): Switchboard | undefined;
  /** An agent-work event relayed from the rep's browser, at whichever host: applied by the org's owner, once. */
  agentWork(orgId: string, event: unknown): Promise<ForwardResult>;
  /** A new conversation, at whichever host: the owner opens it and the answer comes back here. */
  startConversation(orgId: string, req: StartConversationRequest, options?: { timeoutMs?: number }): Promise<{ conversationIdentifier: string; workItemId?: string }>;
  /**
   * getContacts() for the connector. The owner answers with the conversation's reps excluded; another
   * host answers from the org's directory alone (the conversation's presence lives on its owner).
   */
  getContacts(orgId: string, conversationIdentifier: string | undefined, listType: ContactListType, filter?: { contains?: string; limit?: number; offset?: number }): Contact[];
  /** Reads the org list if due, gives up surplus orgs and takes free ones, now. */
  rebalance(): Promise<void>;
  on<E extends keyof FleetEvents>(event: E, listener: (e: FleetEvents[E]) => void): () => void;
}

interface Running {
  epoch: number;
  store: PostgresSessionStore;
  sb: Switchboard;
  /** Resolves once started; inputs wait for it. */
  started: Promise<void>;
  /** Being handed over or halted: inputs go to the inbox. */
  leaving: boolean;
}

export function createFleet(options: FleetOptions): Fleet {
  if (!options || typeof options !== 'object') throw new ConfigError('createFleet needs options');
  if (typeof options.postgres !== 'string' && !(options.postgres && typeof (options.postgres as pg.Pool).connect === 'function')) {
    throw new ConfigError('createFleet: `postgres` must be a connection string or a pg.Pool');
  }
  if (!Array.isArray(options.orgs) && typeof options.orgs !== 'function') throw new ConfigError('createFleet: `orgs` must be a list of orgs or a function returning one');
  const hostId = options.hostId ?? `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const ttlMs = options.leaseTtlMs ?? 15_000;
  const renewEveryMs = options.renewEveryMs ?? Math.max(1, Math.floor(ttlMs / 3));
  const balanceEveryMs = options.balanceEveryMs ?? renewEveryMs;
  const refreshOrgsMs = options.refreshOrgsMs ?? 30_000;
  const drainMs = options.drainMs ?? 5_000;
  const log = (options.logger ?? createLogger({ level: 'silent' })).child({ component: 'fleet', hostId });
  const ownPool = typeof options.postgres === 'string';
  const pool =
    typeof options.postgres === 'string'
      ? new pg.Pool({ connectionString: options.postgres, max: options.maxConnections ?? 20, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 10_000, application_name: `switchboard-fleet ${hostId}`.slice(0, 63) })
      : options.postgres;
  if (ownPool) pool.on('error', (err) => log.warn({ err: { message: err.message } }, 'idle postgres connection failed'));
  const leases: LeaseManager = createLeaseManager({ pool, hostId, ttlMs, renewEveryMs, ...(options.schema ? { schema: options.schema } : {}), logger: log });
  const running = new Map<string, Running>();
  /** Orgs being started or handed over: the balancer leaves them alone meanwhile. */
  const busy = new Set<string>();
  const listeners: { [E in keyof FleetEvents]: Set<(e: FleetEvents[E]) => void> } = {
    'org.acquired': new Set(),
    'org.released': new Set(),
    'org.lost': new Set(),
    'org.error': new Set(),
  };
  let orgs = new Map<string, FleetOrg>();
  /** Orgs whose switchboard failed to start here: not taken again before `retryAt` (backing off). */
  const failed = new Map<string, { attempts: number; retryAt: number }>();
  let orgsReadAt = -Infinity;
  let timer: NodeJS.Timeout | undefined;
  let balancing: Promise<void> | undefined;
  /** A rebalance was asked for while one ran: it runs again, since what woke it may come too late for this one. */
  let balanceAgain = false;
  let state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  let inbox: Inbox | undefined;

  function emit<E extends keyof FleetEvents>(event: E, e: FleetEvents[E]): void {
    for (const listener of listeners[event]) {
      try {
        listener(e);
      } catch (err) {
        log.error({ err, event }, 'fleet listener threw');
      }
    }
  }

  async function readOrgs(force = false): Promise<void> {
    // A fixed list is read once; a function again every refreshOrgsMs (a failure keeps the last list).
    if (!force && (typeof options.orgs !== 'function' || performance.now() - orgsReadAt < refreshOrgsMs)) return;
    const list = typeof options.orgs === 'function' ? await options.orgs() : options.orgs;
    const next = new Map<string, FleetOrg>();
    for (const org of list) {
      if (!org || typeof org.orgId !== 'string' || !org.orgId || !org.switchboard) throw new ConfigError('createFleet: every org needs `orgId` and `switchboard` options');
      if (next.has(org.orgId)) throw new ConfigError(`createFleet: org ${org.orgId} is listed twice`);
      next.set(org.orgId, org);
    }
    orgs = next;
    orgsReadAt = performance.now();
  }

  /** Starts the org's switchboard under a lease just taken; restore from the store is the takeover. */
  async function run(orgId: string, epoch: number): Promise<void> {
    const org = orgs.get(orgId);
    if (!org) {
      await leases.release(orgId).catch(() => undefined);
      return;
    }
    busy.add(orgId);
    let r: Running | undefined;
    try {
      const store = await openPostgresSessionStore({ pool, orgId, ...(options.schema ? { schema: options.schema } : {}), logger: log });
      store.fence(epoch);
      // Every call is asked for at the last moment whether the lease still holds on this host's clock.
      const sb = createSwitchboard({ logger: log.child({ orgId }), ...org.switchboard, store, stillOwner: () => leases.holds(orgId, epoch) });
      sb.on('fenced', (e) => leases.fenced(orgId, e.error.epoch));
      options.onSwitchboard?.(orgId, sb);
      r = { epoch, store, sb, started: Promise.resolve(), leaving: false };
      r.started = sb.start();
      running.set(orgId, r);
      await r.started;
    } catch (error) {
      // Options the switchboard refuses (SB_CONFIG), a store that cannot open, a start that fails:
      // the lease must not stay held by a host that does not run the org.
      if (r && running.get(orgId) === r) running.delete(orgId);
      await r?.sb.halt();
      log.error({ orgId, err: { message: (error as Error).message, code: (error as { code?: string }).code } }, 'org switchboard failed to start: lease released');
      if (leases.epochOf(orgId) === epoch) await leases.release(orgId).catch(() => undefined);
      // A misconfigured org (bad credentials, a wrong topic) must not be restarted in a tight
      // loop: this host waits 1 s, 2 s, 4 s… (at most a minute) before trying it again.
      const attempts = (failed.get(orgId)?.attempts ?? 0) + 1;
      failed.set(orgId, { attempts, retryAt: performance.now() + Math.min(60_000, 1_000 * 2 ** (attempts - 1)) });
      emit('org.error', { orgId, error });
      return;
    } finally {
      busy.delete(orgId);
    }
    failed.delete(orgId);
    if (leases.epochOf(orgId) !== epoch) return; // lost while starting: the lost handler halted it
    emit('org.acquired', { orgId, epoch });
    inbox?.drain(orgId);
  }

  /** Graceful handover: drain and commit the org's switchboard, then release so another host takes it at once. */
  async function handOver(orgId: string): Promise<void> {
    const r = running.get(orgId);
    if (!r) return;
    busy.add(orgId);
    r.leaving = true;
    try {
      await r.started.catch(() => undefined);
      // Whatever the last commit's fate, the lease goes: the next owner restores what was committed,
      // and the journal makes it repeat (with the same RequestId) only what may not have been done.
      await r.sb.stop({ drainMs }).catch((err: unknown) => log.error({ orgId, err: { message: (err as Error).message, code: (err as { code?: string }).code } }, 'stopping the org for its handover failed'));
      await r.store.flushInbox().catch(() => undefined);
      running.delete(orgId);
      if (leases.epochOf(orgId) === r.epoch) {
        await leases.release(orgId);
        emit('org.released', { orgId, epoch: r.epoch });
        await inbox?.announceFree(orgId);
      }
    } finally {
      busy.delete(orgId);
    }
  }

  leases.on('lost', ({ orgId, epoch, reason }) => {
    const r = running.get(orgId);
    if (!r || r.epoch !== epoch) return;
    r.leaving = true;
    running.delete(orgId);
    // Halting stops every actor now; calls already waiting for their write-ahead commit are refused by the fence.
    void r.sb.halt();
    emit('org.lost', { orgId, epoch, reason });
  });

  async function balanceOnce(): Promise<void> {
    if (state !== 'running') return;
    await readOrgs();
    // Orgs no longer listed are handed over (and, released, nobody takes them).
    for (const orgId of [...running.keys()]) if (!orgs.has(orgId) && !busy.has(orgId)) await handOver(orgId);
    const ids = [...orgs.keys()];
    if (!ids.length) return;
    const share = await leases.fairShare(ids.length);
    // A host that joined has nothing: the others give up their surplus, one org per round each, so
    // the fleet converges without every host dropping orgs at once.
    const mine = [...running.keys()].filter((id) => !busy.has(id));
    if (mine.length > share) await handOver(mine[mine.length - 1]!);
    if (running.size + busy.size >= share) return;
    for (const orgId of ids) {
      if (state !== 'running' || running.size >= share) break;
      if (running.has(orgId) || busy.has(orgId)) continue;
      if ((failed.get(orgId)?.retryAt ?? 0) > performance.now()) continue;
      const lease = await leases.acquire(orgId).catch((err: unknown) => {
        log.warn({ orgId, err: { message: (err as Error).message } }, 'acquiring a lease failed');
        return undefined;
      });
      if (lease) await run(orgId, lease.epoch);
    }
  }

  function rebalance(): Promise<void> {
    if (balancing) {
      // An org released after this round looked at it (a departing host's releases each come with
      // a wake-up, some while a round runs) would otherwise wait for the next timed round.
      balanceAgain = true;
      return balancing;
    }
    const round = async (): Promise<void> => {
      do {
        balanceAgain = false;
        await balanceOnce().catch((err: unknown) => log.warn({ err: { message: (err as Error).message, code: (err as { code?: string }).code } }, 'rebalancing failed'));
      } while (balanceAgain && state === 'running');
    };
    balancing = round().finally(() => {
      balancing = undefined;
    });
    return balancing;
  }

  /** The running switchboard of an org this host owns, once started; undefined otherwise. */
  async function ownerHere(orgId: string): Promise<Running | undefined> {
    const r = running.get(orgId);
    if (!r || r.leaving) return undefined;
    await r.started.catch(() => undefined);
    return running.get(orgId) === r && !r.leaving ? r : undefined;
  }

  function applyInput(r: Running, input: InboxInput): Promise<unknown> | IngestResult {
    if (input.kind === 'agentWork') return r.sb.agentWork(input.event);
    return r.sb.startConversation(input.request);
  }

  const fleet: Fleet = {
    hostId,

    async start() {
      if (state !== 'new') throw new ConfigError('a fleet starts once: create a new one');
      state = 'running';
      await readOrgs(true);
      await leases.start();
      inbox = createInbox({
        pool,
        ...(options.schema ? { schema: options.schema } : {}),
        connection: typeof options.postgres === 'string' ? { connectionString: options.postgres } : (pool as unknown as { options: pg.ClientConfig }).options,
        log,
        owned: () => [...running.keys()],
        runnerOf: (orgId) => {
          const r = running.get(orgId);
          return r && !r.leaving ? { epoch: r.epoch, store: r.store, started: r.started, apply: (input) => applyInput(r, input), flush: () => r.sb.flush() } : undefined;
        },
        onFree: () => void rebalance(),
      });
      await inbox.start();
      await rebalance();
      timer = setInterval(() => void rebalance(), balanceEveryMs);
      timer.unref();
    },

    async stop() {
      if (state === 'stopped' || state === 'stopping') return;
      const wasRunning = state === 'running';
      state = 'stopping';
      clearInterval(timer);
      await balancing;
      if (wasRunning) {
        // Leave the live hosts first: the others' fair share then counts without this host, so
        // each release below (which wakes them) lets them take that org at once — all of them,
        // not just up to their share of a fleet that still counted this host.
        await leases.depart().catch((err: unknown) => log.warn({ err: { message: (err as Error).message } }, 'removing the heartbeat failed: the other hosts count this one until it expires'));
        // All at once: each org's drain waits only for its own calls, so an org with a slow call in
        // flight holds up its own handover, not every org listed after it.
        await Promise.all([...running.keys()].map((orgId) => handOver(orgId).catch((err: unknown) => log.error({ orgId, err: { message: (err as Error).message } }, 'handing an org over failed'))));
      }
      await inbox?.stop();
      await leases.stop().catch((err: unknown) => log.warn({ err: { message: (err as Error).message } }, 'releasing leases failed: they expire with their TTL'));
      if (ownPool) await pool.end().catch(() => undefined);
      state = 'stopped';
    },

    owned: () => [...running.keys()],
    switchboard: (orgId) => running.get(orgId)?.sb,

    async agentWork(orgId, event) {
      // While stopping, the host still takes input: it goes to the inbox for the orgs' next owners.
      if (state !== 'running' && state !== 'stopping') throw new StoppedError();
      const r = await ownerHere(orgId);
      if (r) {
        const result = r.sb.agentWork(event);
        // A switchboard halted meanwhile refuses: the input goes to the new owner instead.
        if (result.ok || result.error.code !== 'SB_STOPPED') return { applied: true, result };
      }
      await inbox!.put(orgId, { kind: 'agentWork', event });
      return { applied: false, forwarded: true };
    },

    async startConversation(orgId, req, opts = {}) {
      if (state !== 'running') throw new StoppedError();
      const r = await ownerHere(orgId);
      if (r) {
        try {
          return await r.sb.startConversation(req);
        } catch (err) {
          if ((err as { code?: string }).code !== 'SB_STOPPED' && (err as { code?: string }).code !== 'SB_FENCED') throw err;
        }
      }
      return inbox!.ask(orgId, { kind: 'startConversation', request: req }, opts.timeoutMs ?? 30_000) as Promise<{ conversationIdentifier: string; workItemId?: string }>;
    },

    getContacts(orgId, conversationIdentifier, listType, filter) {
      const r = running.get(orgId);
      if (r && !r.leaving) return r.sb.getContacts(conversationIdentifier, listType, filter);
      const org = orgs.get(orgId);
      if (!org) throw new ConfigError(`getContacts: org ${orgId} is not one of the fleet's orgs`);
      const directory = org.switchboard.directory instanceof Directory ? org.switchboard.directory : new Directory(org.switchboard.directory);
      return directory.contacts({ listType, present: [], capReached: false, ...filter });
    },

    rebalance,

    on(event, listener) {
      listeners[event].add(listener);
      return () => void listeners[event].delete(listener);
    },
  };
  return fleet;
}
