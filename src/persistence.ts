// What the switchboard keeps in its store, and when. Sessions are marked dirty on every transition
// and written in batches; a batch that carries the replay cursor holds every session changed by the
// events before it, so sessions and stream position always agree after a crash. Each effect is
// journaled by its step key: written 'started' before the call goes out and 'done' with its answer,
// so a step that completed before a crash is not repeated after it.
import type { Logger } from 'pino';
import { describeError, isApiError, StoreCommitError, FencedError, StoppedError } from './domain/errors.js';
import { conversationOfKey } from './domain/step-key.js';
import { currentChartHash, restorableAsItIs, SCHEMA_VERSION } from './snapshot-version.js';
import type { EffectRecord, PersistedSession, SessionStore, StoreCommit } from './io/store/session-store.js';

/** What to do when the outcome of a step that was started before a crash is unknown. */
export type InDoubt =
  /** Send it again (with the same RequestId): Salesforce treats a repeat as harmless (15109 counts as done). */
  | 'repeat'
  /** Take it as done: repeating could do harm (a second routingResult). */
  | 'assume-done';

export interface PersistenceOptions {
  /** How long after a change a batch is written when no cursor save comes first. Default 25 ms. */
  flushDelayMs?: number;
  /** How long ended sessions' records are kept. Default 1 hour. */
  retentionMs?: number;
  /** How long journal entries are kept. Default 24 hours (a step is never repeated inside it). */
  journalRetentionMs?: number;
  /** Longest wait between retries of a failed commit (they back off from 100 ms). Default 5 s. */
  maxRetryDelayMs?: number;
}

/** What is known of failed commits, for `stats()`. */
export interface CommitFailureStats {
  /** Commits the store refused since start (each retry that fails counts). */
  commitFailures: number;
  /** Times one session's snapshot could not be written and was left out so the rest could commit. */
  refusedSessions: number;
  /** The last refusal: `code: message`, and when. Kept after a later success, for the record. */
  lastCommitError?: { message: string; at: number };
  /** A refused batch is waiting for its retry. */
  retryPending: boolean;
}

export interface RestoredSessions {
  /** Snapshots of the current charts: restore them as they are. */
  current: PersistedSession[];
  /** Snapshots from another chart or layout: finish their pending work and start afresh. */
  stale: PersistedSession[];
}

export class Persistence {
  readonly #store: SessionStore;
  readonly #log: Logger;
  readonly #flushDelayMs: number;
  readonly retentionMs: number;
  readonly #journalRetentionMs: number;
  readonly #snapshotOf: (conversationIdentifier: string) => unknown;
  readonly #dirty = new Set<string>();
  readonly #ended = new Map<string, unknown>();
  #seen: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  #chain: Promise<void> = Promise.resolve();
  /** The commit not yet started, which later callers join. */
  #next: Promise<void> | undefined;
  #cursor: StoreCommit['cursor'] | undefined;
  /** Journal records waiting for the next commit. */
  readonly #effects = new Map<string, EffectRecord>();
  #closed = false;
  /**
   * Set when close() begins its last commit. A step whose journal record is read only after that
   * would have its 'started' record ride the last commit and then leave after the engine's drain
   * ended: the next owner, seeing it started, would repeat it (a second routingResult). It is
   * refused instead, before its record is written, and the next owner sends it once.
   */
  #closing = false;
  /**
   * Why nothing more is committed (set with #closed): the store's FencedError, the engine's halt,
   * or a graceful close. Every commit asked for from then on is refused with it.
   */
  #closedBy: Error | undefined;
  /** Sessions a caller waits to see durable (commitSession), and the store's refusal of one. */
  readonly #awaited = new Map<string, unknown>();
  /**
   * Sessions from a batch the store refused, written with the next commit unless a newer snapshot
   * of the same conversation is in it by then.
   */
  readonly #carried = new Map<string, PersistedSession>();
  #retryTimer: NodeJS.Timeout | undefined;
  /** Steps whose write-ahead record was left out of a commit with their unwritable session, and why. */
  readonly #refusedSteps = new Map<string, unknown>();
  #failuresInRow = 0;
  readonly #maxRetryDelayMs: number;
  commits = 0;
  skippedSteps = 0;
  commitFailures = 0;
  /** Times a session's snapshot was left out of a commit because the store could not write it. */
  refusedSessions = 0;
  lastCommitError: { message: string; at: number } | undefined;

  constructor(store: SessionStore, log: Logger, snapshotOf: (conversationIdentifier: string) => unknown, options: PersistenceOptions = {}) {
    this.#store = store;
    this.#log = log;
    this.#snapshotOf = snapshotOf;
    this.#flushDelayMs = options.flushDelayMs ?? 25;
    this.retentionMs = options.retentionMs ?? 3_600_000;
    this.#journalRetentionMs = options.journalRetentionMs ?? 86_400_000;
    this.#maxRetryDelayMs = options.maxRetryDelayMs ?? 5_000;
  }

  failureStats(): CommitFailureStats {
    return { commitFailures: this.commitFailures, refusedSessions: this.refusedSessions, ...(this.lastCommitError ? { lastCommitError: { ...this.lastCommitError } } : {}), retryPending: this.#retryTimer !== undefined };
  }

  get store(): SessionStore {
    return this.#store;
  }

  /** True once close() has begun its last commit (or nothing more is committed): no step may leave from then on. */
  get closing(): boolean {
    return this.#closing || this.#closed;
  }

  /** Why nothing more is committed (fenced, halted or closed), or undefined while commits go on. */
  get closedBy(): Error | undefined {
    return this.#closed ? (this.#closedBy ?? new StoppedError()) : undefined;
  }

  /**
   * Nothing is committed from now on, not even what is already waiting: the engine halted (its org
   * may have another owner, whose restore must not be overtaken by this engine's later states).
   * A commit in flight keeps its own fate; every commit asked for later is refused with `reason`.
   */
  seal(reason: Error): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    if (this.#closed) return;
    this.#closed = true;
    this.#closedBy = reason;
  }

  markDirty(conversationIdentifier: string): void {
    if (this.#closed) return;
    this.#dirty.add(conversationIdentifier);
    this.#schedule();
  }

  /** The session reached its end: its last snapshot is kept, stamped, until the retention passes. */
  markEnded(conversationIdentifier: string, snapshot: unknown): void {
    if (this.#closed) return;
    this.#dirty.delete(conversationIdentifier);
    this.#ended.set(conversationIdentifier, snapshot);
    this.#schedule();
  }

  markSeen(key: string): void {
    this.#seen.push(key);
  }

  #schedule(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      // A failure is logged, counted and retried where it is met (#failed); nobody waits here.
      void this.commit().catch(() => {});
    }, this.#flushDelayMs);
  }

  /**
   * Everything changed so far, in one commit; with the cursor when the Pub/Sub intake saves it.
   * Group commit: while one transaction is being written, every caller joins the next one, which
   * gathers all that changed meanwhile — many steps share one fsync instead of queueing for one each.
   */
  commit(cursor?: StoreCommit['cursor']): Promise<void> {
    // Closed, fenced or halted: what a caller waits for will never be durable here — say so, rather
    // than resolve an empty commit as if it were.
    if (this.#closed) return Promise.reject(this.closedBy);
    if (cursor) this.#cursor = cursor;
    if (this.#next) return this.#next;
    const next = this.#chain.then(() => {
      // From here on, changes belong to the commit after this one.
      this.#next = undefined;
      // Sealed while this commit waited its turn: its batch is not written.
      if (this.#closed) throw this.closedBy;
      const batch = this.#takeBatch();
      if (!batch) return;
      const ok = () => {
        this.commits += 1;
        this.#failuresInRow = 0;
      };
      const fail = (failed: StoreCommit) => (err: unknown) => {
        this.#failed(failed, err);
        // The callers waiting for this commit — a step's write-ahead record among them — learn
        // that it is not durable, so no call leaves without its record.
        throw err;
      };
      return this.#store.commit(batch).then(ok, (err: unknown) => {
        const rest = this.#withoutRefusedSession(batch, err);
        if (!rest) return fail(batch)(err);
        return rest.sessions || rest.cursor || rest.seen || rest.effects ? this.#store.commit(rest).then(ok, fail(rest)) : undefined;
      });
    });
    this.#next = next;
    this.#chain = next.catch(() => {});
    return next;
  }

  /**
   * Commits now, and resolves only once this conversation's session is durable: rejects when the
   * commit is refused, when the store refused that session's snapshot (the rest of the batch being
   * written without it), or when nothing may be committed any more (fenced, halted, closed).
   */
  async commitSession(conversationIdentifier: string): Promise<void> {
    this.markDirty(conversationIdentifier);
    this.#awaited.set(conversationIdentifier, undefined);
    try {
      await this.commit();
      const refused = this.#awaited.get(conversationIdentifier);
      if (refused !== undefined) throw refused;
    } finally {
      this.#awaited.delete(conversationIdentifier);
    }
  }

  /**
   * One session whose snapshot the store cannot write must not stop every conversation (each
   * step's write-ahead record rides the shared batch). When the store names the session it was
   * writing, the batch is written again at once without it: the other callers go on; that
   * session's own steps are refused (their records could not be made durable with the state that
   * issues them), and its snapshot is tried again when it next changes. Returns undefined when
   * the refusal is not pinned on a session of this batch (then the whole batch is retried).
   */
  #withoutRefusedSession(batch: StoreCommit, err: unknown): StoreCommit | undefined {
    const entry = err instanceof StoreCommitError ? err.entry : undefined;
    if (!entry?.startsWith('session ')) return undefined;
    const bad = entry.slice('session '.length);
    const sessions = batch.sessions ?? [];
    if (!sessions.some((s) => s.conversationIdentifier === bad)) return undefined;
    this.commitFailures += 1;
    this.refusedSessions += 1;
    this.lastCommitError = { message: describeError(err), at: Date.now() };
    if (this.#awaited.has(bad)) this.#awaited.set(bad, err);
    const rest: StoreCommit = { ...batch };
    const kept = sessions.filter((s) => s.conversationIdentifier !== bad);
    if (kept.length) rest.sessions = kept;
    else delete rest.sessions;
    const effects = (batch.effects ?? []).filter(([key, record]) => {
      if (record.state !== 'started' || conversationOfKey(key) !== bad) return true;
      this.#refusedSteps.set(key, err);
      return false;
    });
    if (effects.length) rest.effects = effects;
    else delete rest.effects;
    this.#log.error({ err, conversationIdentifier: bad, refusedSessions: this.refusedSessions }, "the store cannot write this session's snapshot; committed the rest without it, its steps are refused");
    return rest;
  }

  /**
   * A refused batch is not lost: what it carried goes back to wait for the next commit, merged
   * with what changed meanwhile (the newer wins), and a retry is scheduled with a bounded backoff.
   * 'started' journal records are the exception: their callers get the rejection and do not send
   * the call, so the record would claim a call that never left.
   */
  #failed(batch: StoreCommit, err: unknown): void {
    if (err instanceof FencedError) {
      // Final: the org's lease moved on, the engine halts, and the new owner restores what was
      // committed before. Nothing is kept or retried for a store that will never write again here.
      this.commitFailures += 1;
      this.lastCommitError = { message: describeError(err), at: Date.now() };
      if (!this.#closed) this.#closedBy = err;
      this.#closed = true;
      return;
    }
    this.commitFailures += 1;
    this.#failuresInRow += 1;
    this.lastCommitError = { message: describeError(err), at: Date.now() };
    for (const s of batch.sessions ?? []) {
      // A live session is snapshotted afresh for the retry (the newest state wins, and a snapshot
      // that could not be written is not offered again as it was); the refused record stays as a
      // fallback for one that has no snapshot any more, and for an ended one.
      if (s.endedAt === undefined) this.#dirty.add(s.conversationIdentifier);
      if (!this.#carried.has(s.conversationIdentifier)) this.#carried.set(s.conversationIdentifier, s);
    }
    this.#cursor ??= batch.cursor;
    if (batch.seen?.length) this.#seen.unshift(...batch.seen);
    for (const [key, record] of batch.effects ?? []) {
      if (record.state !== 'started' && !this.#effects.has(key)) this.#effects.set(key, record);
    }
    const retryInMs = Math.min(this.#maxRetryDelayMs, 100 * 2 ** Math.min(this.#failuresInRow - 1, 16));
    this.#log.error({ err, failures: this.commitFailures, inARow: this.#failuresInRow, retryInMs }, 'store commit failed; its batch is kept and retried');
    if (this.#closed || this.#retryTimer) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (!this.#closed) void this.commit().catch(() => {});
    }, retryInMs);
  }

  #takeBatch(): StoreCommit | undefined {
    const now = Date.now();
    const batch: StoreCommit = {};
    const sessions: PersistedSession[] = [];
    const taken = new Set<string>();
    for (const id of this.#dirty) {
      const snapshot = this.#snapshotOf(id);
      if (snapshot !== undefined) {
        sessions.push({ conversationIdentifier: id, schemaVersion: SCHEMA_VERSION, chartHash: currentChartHash(), savedAt: now, snapshot });
        taken.add(id);
      }
    }
    this.#dirty.clear();
    for (const [id, snapshot] of this.#ended) {
      sessions.push({ conversationIdentifier: id, schemaVersion: SCHEMA_VERSION, chartHash: currentChartHash(), savedAt: now, endedAt: now, snapshot });
      taken.add(id);
    }
    this.#ended.clear();
    // What a refused batch held, unless this batch has a newer record of the same conversation.
    for (const [id, rec] of this.#carried) if (!taken.has(id)) sessions.push(rec);
    this.#carried.clear();
    if (sessions.length) batch.sessions = sessions;
    if (this.#cursor) batch.cursor = this.#cursor;
    this.#cursor = undefined;
    if (this.#seen.length) batch.seen = this.#seen.splice(0);
    if (this.#effects.size) {
      batch.effects = [...this.#effects];
      this.#effects.clear();
    }
    return batch.sessions || batch.cursor || batch.seen || batch.effects ? batch : undefined;
  }

  /** Loads what was saved: current snapshots, stale ones, and purges ended sessions past retention. */
  async load(): Promise<RestoredSessions> {
    const now = Date.now();
    const all = await this.#store.loadSessions();
    const current: PersistedSession[] = [];
    const stale: PersistedSession[] = [];
    const removed: string[] = [];
    for (const rec of all) {
      if (rec.endedAt !== undefined) {
        if (now - rec.endedAt > this.retentionMs) removed.push(rec.conversationIdentifier);
        continue;
      }
      if (restorableAsItIs(rec)) current.push(rec);
      else stale.push(rec);
    }
    if (removed.length) await this.#store.commit({ removed });
    await this.#store.pruneEffects(now - this.#journalRetentionMs);
    return { current, stale };
  }

  loadSeen(limit: number): Promise<string[]> {
    return this.#store.loadSeen(limit);
  }

  /** A step's journal record: the one waiting for the next commit, else the stored one. */
  async #record(key: string): Promise<EffectRecord | undefined> {
    return this.#effects.get(key) ?? (await this.#store.effect(key));
  }

  /** What the journal knows of a step: 'started' (its fate unknown after a crash), 'done', or nothing. */
  async stepState(key: string): Promise<EffectRecord['state'] | undefined> {
    return (await this.#record(key))?.state;
  }

  /**
   * Runs one step at most once across crashes: a step journaled 'done' returns its recorded answer;
   * one journaled 'started' (outcome unknown) is repeated or assumed done, as the step allows.
   * `run` is told whether it is such a repeat.
   */
  async journaled<T>(key: string, inDoubt: InDoubt, run: (repeat: boolean) => Promise<T>): Promise<T> {
    const rec = await this.#record(key);
    if (rec?.state === 'done') {
      this.skippedSteps += 1;
      this.#log.info({ key }, 'step completed before a restart; not repeated');
      return (rec.output ?? undefined) as T;
    }
    if (rec?.state === 'started') {
      if (inDoubt === 'assume-done') {
        this.skippedSteps += 1;
        this.#log.warn({ key }, 'step may have been sent before a restart; taken as done, not repeated');
        return undefined as T;
      }
      this.#log.warn({ key }, 'step may have been sent before a restart; repeating it with the same RequestId');
    } else {
      // Once the last commit has begun (see #closing), a new record would ride it and the step go
      // out after the drain: refused before the record, so the next start sends it, once.
      if (this.closing) throw this.#closedBy ?? new StoppedError();
      // Write-ahead: the session state that issues this step and the step's 'started' record are
      // committed together before the step goes out, so a crash can only restore a state that
      // issues this same step (same key, same rep) — never one from before it that might choose
      // differently. The session is marked here, at the step, because a routing child's moves do
      // not reach the session's observers and an earlier commit may have taken its flag.
      this.markDirty(conversationOfKey(key));
      this.#effects.set(key, { state: 'started', at: Date.now() });
      await this.commit();
      const refused = this.#refusedSteps.get(key);
      if (refused !== undefined) {
        this.#refusedSteps.delete(key);
        throw refused;
      }
    }
    let output: T;
    try {
      output = await run(rec?.state === 'started');
    } catch (err) {
      // A repeat that meets "already done" (15109) proves the first attempt went through: done.
      if (rec?.state === 'started' && isApiError(err, 'already-done')) output = {} as T;
      else throw err;
    }
    // 'done' is committed at once, without waiting for the flush delay (nor making the step wait for
    // it): until it is durable the step is in doubt and a crash repeats it, and Salesforce is not
    // known to deduplicate RequestIds (reference §8.10), so every millisecond of doubt is a chance to
    // apply a step twice (a second routingResult).
    this.#effects.set(key, { state: 'done', at: Date.now(), output: output ?? null });
    void this.commit().catch((err: unknown) => {
      // A halted or fenced engine commits nothing more, and has said so once already.
      if (!this.#closed) this.#log.error({ err }, 'store commit failed');
    });
    return output;
  }

  async close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    if (this.#closed) {
      // Fenced or sealed before: nothing more to write; let a commit in flight end.
      await this.#chain;
      return;
    }
    // The last attempt: if the store refuses it, close() rejects, so the app knows its last
    // changes are not saved — and no retry is left behind.
    this.#closing = true;
    try {
      await this.commit();
    } finally {
      this.#closedBy ??= new StoppedError();
      this.#closed = true;
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
    }
    await this.#chain;
  }
}
