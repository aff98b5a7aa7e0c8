// Every error Switchboard raises or reports is a SwitchboardError with a stable `code`, so a caller
// branches on `err.code` (or `instanceof`) and never parses a message. The catalogue with what each
// code means and what to do lives in docs/errors.md; a test keeps the two in step.

const BRAND = Symbol.for('switchboard.error');

export class SwitchboardError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    (this as unknown as Record<symbol, boolean>)[BRAND] = true;
  }

  /** `instanceof` that also holds across two copies of the package in one app. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this !== SwitchboardError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** Input that cannot become a typed event: bad JSON, a missing field, an unknown enum value, an oversized string. */
export class ParseError extends SwitchboardError {
  /** Dotted path of the offending field, e.g. `payload.routingParameters.channelData.eventId`. */
  readonly field: string;
  readonly replayId: string | undefined;
  constructor(field: string, reason: string, replayId?: string) {
    super('SB_PARSE', `${field}: ${reason}`);
    this.field = field;
    this.replayId = replayId;
  }
}

/** A request body that would be rejected by Salesforce, caught before it is sent. */
export class RequestValidationError extends SwitchboardError {
  readonly endpoint: string;
  readonly field: string;
  constructor(endpoint: string, field: string, reason: string) {
    super('SB_INVALID_REQUEST', `${endpoint} ${field}: ${reason}`);
    this.endpoint = endpoint;
    this.field = field;
  }
}

/**
 * How the engine treats a failed Interaction Service call:
 * - `retryable`: 10019, 10055, 10056, 10094, 500, HTTP 429/5xx, timeouts, connection errors, an open breaker.
 * - `capability`: 10075–10077, the org is not ready for a feature. Reported, never retried.
 * - `already-done`: 15109, an active AgentWork already exists. Counts as success.
 * - `auth`: 10004 or HTTP 401 after one refresh.
 * - `terminal`: anything else.
 */
export type ApiErrorKind = 'retryable' | 'capability' | 'already-done' | 'auth' | 'terminal';

const KIND_CODES: Record<ApiErrorKind, string> = {
  retryable: 'SB_API_RETRYABLE',
  capability: 'SB_API_CAPABILITY',
  'already-done': 'SB_API_ALREADY_DONE',
  auth: 'SB_API_AUTH',
  terminal: 'SB_API_TERMINAL',
};

export interface ApiErrorDetails {
  kind: ApiErrorKind;
  endpoint: string;
  /** Salesforce's Interaction API error code (e.g. 10034), when the body carried one. */
  apiCode?: number;
  status?: number;
  requestId?: string;
  /** From a Retry-After header. */
  retryAfterMs?: number;
  cause?: unknown;
}

export class InteractionApiError extends SwitchboardError {
  readonly kind: ApiErrorKind;
  readonly endpoint: string;
  readonly apiCode: number | undefined;
  readonly status: number | undefined;
  readonly requestId: string | undefined;
  readonly retryAfterMs: number | undefined;
  constructor(message: string, details: ApiErrorDetails, code = KIND_CODES[details.kind]) {
    super(code, message, { cause: details.cause });
    this.kind = details.kind;
    this.endpoint = details.endpoint;
    this.apiCode = details.apiCode;
    this.status = details.status;
    this.requestId = details.requestId;
    this.retryAfterMs = details.retryAfterMs;
  }
}

/** The breaker for an endpoint class is open: the call was not sent. Retryable once it half-opens. */
export class CircuitOpenError extends InteractionApiError {
  /** `retryAfterMs`: when the breaker lets a trial call through again. */
  constructor(endpoint: string, retryAfterMs?: number) {
    super(`circuit open for ${endpoint}: call not sent`, { kind: 'retryable', endpoint, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) }, 'SB_CIRCUIT_OPEN');
  }
}

/** No time left in the routing window for this call (or its next retry). */
export class DeadlineExceededError extends SwitchboardError {
  /** The call was sent and is still out: Salesforce may yet apply it (see mayHaveBeenApplied). */
  readonly inFlight: boolean;
  constructor(what: string, options: { inFlight?: boolean } = {}) {
    super('SB_DEADLINE', `${what}: no time left before the routing deadline`);
    this.inFlight = options.inFlight ?? false;
  }
}

/**
 * Whether a failed call may still have been applied by Salesforce: it got no answer (a timeout, a
 * reset connection), a 5xx, or it is still out when its caller stopped waiting. A 429, an open
 * breaker, a 4xx or a call never sent was not applied.
 */
export function mayHaveBeenApplied(err: unknown): boolean {
  if (err instanceof DeadlineExceededError) return err.inFlight;
  return err instanceof InteractionApiError && err.kind === 'retryable' && !(err instanceof CircuitOpenError) && err.status !== 429;
}

/** Fetching or refreshing an access token failed. */
export class AuthError extends SwitchboardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SB_AUTH', message, options);
  }
}

/** createSwitchboard options that cannot work. */
export class ConfigError extends SwitchboardError {
  constructor(message: string) {
    super('SB_CONFIG', message);
  }
}

/** An effect port the engine needs was not provided. */
export class NotProvidedError extends SwitchboardError {
  constructor(what: string) {
    super('SB_NOT_PROVIDED', `${what} was not provided`);
  }
}

/** A call reached a switchboard that is stopping or stopped. */
export class StoppedError extends SwitchboardError {
  constructor() {
    super('SB_STOPPED', 'the switchboard is stopped');
  }
}

/** A public method was called with an argument it cannot use; `argument` names it. Nothing was done. */
export class InvalidArgumentError extends SwitchboardError {
  readonly argument: string;
  constructor(argument: string, reason: string) {
    super('SB_INVALID_ARGUMENT', `${argument}: ${reason}`);
    this.argument = argument;
  }
}

/** A configured bound was reached (`limit` names it, e.g. `sessions.max`); the input was refused, not applied. */
export class LimitError extends SwitchboardError {
  readonly limit: string;
  constructor(limit: string, message: string) {
    super('SB_LIMIT', message);
    this.limit = limit;
  }
}

export function isApiError(err: unknown, kind?: ApiErrorKind): err is InteractionApiError {
  return err instanceof InteractionApiError && (kind === undefined || err.kind === kind);
}

/** A short, secret-free description of any thrown value, for routing outcomes and logs. */
export function describeError(err: unknown): string {
  if (err instanceof SwitchboardError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}

// --- The Postgres store and the fleet's leases ---

/**
 * A Postgres store operation failed: connection, timeout, or a statement the database refused.
 * Nothing of a failed commit was written, unless `inDoubt`: the connection failed during COMMIT.
 */
export class StoreError extends SwitchboardError {
  /** PostgreSQL's SQLSTATE (e.g. `57014` statement timeout, `08006` connection failure), when the database answered. */
  readonly sqlState: string | undefined;
  /** The COMMIT itself failed: the transaction may have been applied or not. */
  readonly inDoubt: boolean;
  constructor(operation: string, cause: unknown, sqlState?: string, inDoubt = false) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    const outcome = inDoubt
      ? 'The connection failed during COMMIT, so it may or may not have been applied; write the same state again (commits are idempotent upserts)'
      : "Nothing of it was written; check the database's health and retry";
    super('SB_STORE', `postgres store: ${operation} failed${sqlState ? ` (SQLSTATE ${sqlState})` : ''}: ${reason}. ${outcome}`, { cause });
    this.sqlState = sqlState;
    this.inDoubt = inDoubt;
  }
}

/** The database's schema was migrated by a newer Switchboard than this one. */
export class StoreSchemaError extends SwitchboardError {
  readonly found: number;
  readonly supported: number;
  constructor(schema: string, found: number, supported: number) {
    super('SB_STORE_SCHEMA', `postgres schema ${schema} is at version ${found}, this library knows up to ${supported}: upgrade Switchboard on this host before it opens the store`);
    this.found = found;
    this.supported = supported;
  }
}

/** A commit was refused because the org's lease moved to a newer epoch: another host owns the org now. */
export class FencedError extends SwitchboardError {
  readonly orgId: string;
  /** The epoch this store was fenced with. */
  readonly epoch: number;
  /** The lease's epoch in the database (undefined when the org has no lease row). */
  readonly currentEpoch: number | undefined;
  constructor(orgId: string, epoch: number, currentEpoch: number | undefined) {
    super('SB_FENCED', `org ${orgId}: commit refused, the lease is at epoch ${currentEpoch ?? 'none'} and this host holds epoch ${epoch}. Nothing was written; stop this org's engine, its new owner restores it`);
    this.orgId = orgId;
    this.epoch = epoch;
    this.currentEpoch = currentEpoch;
  }
}

// ── The store ────────────────────────────────────────────────────────────────────────────────────

/** Who holds a store's lock, as its lock file says. */
export interface StoreLockHolder {
  pid: number;
  host: string;
  /** ISO time the holder opened the store. */
  since: string;
}

/** Another process (or another open in this one) holds the store: two writers would lose dedupe keys and fight over the cursor. */
export class StoreLockedError extends SwitchboardError {
  readonly path: string;
  readonly holder: StoreLockHolder;
  constructor(path: string, holder: StoreLockHolder, hint: string) {
    super('SB_STORE_LOCKED', `store ${path} is in use by pid ${holder.pid} on ${holder.host} since ${holder.since}: ${hint}`);
    this.path = path;
    this.holder = holder;
  }
}

/** The store's files are damaged or missing: nothing was mapped or changed. Restore from a backup (docs/operations.md). */
export class StoreCorruptError extends SwitchboardError {
  readonly path: string;
  constructor(path: string, what: string, options?: { cause?: unknown }) {
    super(
      'SB_STORE_CORRUPT',
      `store ${path} is damaged: ${what}. Nothing was changed. Stop, restore the directory from a backup (docs/operations.md, "Backing up"); to start empty on purpose, move the directory away`,
      options,
    );
    this.path = path;
  }
}

/** The store's directory cannot be created, read or written (a file in the way, permissions, a read-only file system). */
export class StoreAccessError extends SwitchboardError {
  readonly path: string;
  /** The system's error code (ENOTDIR, EACCES, EROFS, …) when there was one. */
  readonly sysCode: string | undefined;
  constructor(path: string, reason: string, sysCode?: string, options?: { cause?: unknown }) {
    super('SB_STORE_ACCESS', `store ${path}: ${reason}`, options);
    this.path = path;
    this.sysCode = sysCode;
  }
}

/** A commit was refused; none of its batch was written. The persistence layer keeps the batch and retries it. */
export class StoreCommitError extends SwitchboardError {
  /** The entry being written when the store refused, e.g. `session <conversationIdentifier>`, when known. */
  readonly entry: string | undefined;
  constructor(reason: string, options?: { cause?: unknown; entry?: string }) {
    const at = options?.entry ? ` (writing ${options.entry.length > 200 ? `${options.entry.slice(0, 200)}…` : options.entry})` : '';
    super('SB_STORE_COMMIT', `store commit failed, nothing of it was written: ${reason}${at}`, options);
    this.entry = options?.entry;
  }
}

/** A call forwarded to the org's owner through the fleet's inbox got no answer in time. */
export class ForwardTimeoutError extends SwitchboardError {
  readonly orgId: string;
  constructor(orgId: string, what: string, timeoutMs: number) {
    super('SB_FORWARD_TIMEOUT', `${what} forwarded to the owner of org ${orgId}: no answer in ${timeoutMs} ms. It stays in the inbox and is applied when an owner drains it: do not repeat it blindly (a new conversation would be opened twice); check that some host owns the org`);
    this.orgId = orgId;
  }
}

/**
 * The org's owner answered a forwarded call with an error: `code` is the owner's error code
 * (SB_LIMIT, SB_INVALID_ARGUMENT…), or SB_FORWARD_FAILED when the owner's error had none.
 */
export class ForwardedError extends SwitchboardError {
  readonly orgId: string;
  constructor(orgId: string, code: string | undefined, message: string) {
    super(code ?? 'SB_FORWARD_FAILED', `org ${orgId}'s owner: ${message}`);
    this.orgId = orgId;
  }
}
