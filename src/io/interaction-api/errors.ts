// Every failed Interaction Service call becomes an InteractionApiError whose `kind` tells the engine
// what to do (reference §1.3, §1.13; DESIGN §4). The HTTP status ↔ code pairing is not documented
// (UNCONFIRMED in the reference), so a Salesforce code, when present, decides first and the status
// only fills in when there is none (or it says nothing definite).
import { RequestError } from 'got';
import { InteractionApiError, type ApiErrorKind } from '../../domain/errors.js';

/** Codes whose documented meaning is "retry" (10019 migration, 10055/10056 precondition, 10094 downstream timeout, 500). */
export const RETRYABLE_CODES: ReadonlySet<number> = new Set([10019, 10055, 10056, 10094, 500]);
/** The org is not ready for Conference routing / cancelReason / the Conference agent action. */
export const CAPABILITY_CODES: ReadonlySet<number> = new Set([10075, 10076, 10077]);
/** An active AgentWork already exists for this user and work item. */
export const ALREADY_DONE_CODE = 15109;
/** Invalid token. */
export const INVALID_TOKEN_CODE = 10004;

/** Transport failures worth another try: the request may not have been processed. */
const RETRYABLE_TRANSPORT_CODES: ReadonlySet<string> = new Set([
  'ETIMEDOUT',
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ENOTFOUND',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'EAI_AGAIN',
  'EADDRINUSE',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

export function kindFor(status: number | undefined, apiCode: number | undefined): ApiErrorKind {
  if (apiCode !== undefined) {
    if (CAPABILITY_CODES.has(apiCode)) return 'capability';
    if (apiCode === ALREADY_DONE_CODE) return 'already-done';
    if (apiCode === INVALID_TOKEN_CODE) return 'auth';
    if (RETRYABLE_CODES.has(apiCode)) return 'retryable';
  }
  if (status === 401) return 'auth';
  if (status === 429 || (status !== undefined && status >= 500)) return 'retryable';
  return 'terminal';
}

/** True for a rejection that a fresh token may cure (the client refreshes once on it). */
export function isTokenRejection(err: InteractionApiError): boolean {
  return err.status === 401 || err.apiCode === INVALID_TOKEN_CODE;
}

/** Retry-After is either delay-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

export interface ApiFailure {
  apiCode?: number;
  message?: string;
}

function toCode(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^\d+$/.test(v.trim())) return Number(v.trim());
  return undefined;
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/**
 * The error a response carries, if any. Besides the plain `{code, message}` error body, several
 * 200/202 responses report failure in-band: `{success:false, errorDetail:{code,message}}`, POST
 * /route's `errors:{apiErrorCode, errorMessage}`, and POST /messagingSession's `errorReason`.
 */
export function failureOf(status: number, body: Record<string, unknown> | undefined): ApiFailure | undefined {
  const b = body ?? {};
  const isError = status >= 400 || b.success === false;
  if (!isError) return undefined;
  const detail = obj(b.errorDetail) ?? obj(b.errors);
  const apiCode = toCode(b.code) ?? toCode(detail?.code) ?? toCode(detail?.apiErrorCode);
  const message = [b.message, detail?.message, detail?.errorMessage, b.errorReason].find(
    (m): m is string => typeof m === 'string' && m.length > 0,
  );
  return { ...(apiCode !== undefined && { apiCode }), ...(message !== undefined && { message }) };
}

export interface ErrorContext {
  /** `METHOD /path`. */
  endpoint: string;
  requestId: string;
  /** Strings that must not appear in a message (the access token). */
  secrets?: readonly string[];
  now?: number;
}

/** Removes secrets and anything shaped like a bearer credential from text bound for a message or log. */
export function scrub(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('[redacted]');
  return out.replace(/Bearer\s+\S+/gi, 'Bearer [redacted]');
}

export function errorFromResponse(
  res: { status: number; headers: Record<string, string | string[] | undefined>; failure: ApiFailure },
  ctx: ErrorContext,
): InteractionApiError {
  const { apiCode, message } = res.failure;
  const kind = kindFor(res.status, apiCode);
  const retryAfterMs = parseRetryAfter(res.headers['retry-after'], ctx.now);
  const parts = [`HTTP ${res.status}`, apiCode !== undefined ? `code ${apiCode}` : undefined].filter(Boolean).join(', ');
  const text = scrub(`${ctx.endpoint} failed (${parts})${message ? `: ${message}` : ''} [requestId ${ctx.requestId}]`, ctx.secrets);
  return new InteractionApiError(text, {
    kind,
    endpoint: ctx.endpoint,
    status: res.status,
    requestId: ctx.requestId,
    ...(apiCode !== undefined && { apiCode }),
    ...(retryAfterMs !== undefined && { retryAfterMs }),
  });
}

/**
 * A request that got no HTTP response: connection refused or reset, timeout, DNS. got's own error
 * holds the request options (headers included), so only its name, code and message travel on.
 */
export function errorFromTransport(err: unknown, ctx: ErrorContext): InteractionApiError {
  const code = typeof (err as { code?: unknown } | null)?.code === 'string' ? (err as { code: string }).code : undefined;
  const name = err instanceof Error ? err.name : 'Error';
  const detail = scrub(err instanceof Error ? err.message : String(err), ctx.secrets);
  const retryable = (code !== undefined && RETRYABLE_TRANSPORT_CODES.has(code)) || name === 'TimeoutError';
  const cause = Object.assign(new Error(detail), { name, ...(code !== undefined && { code }) });
  const isGot = err instanceof RequestError;
  return new InteractionApiError(
    `${ctx.endpoint} failed (${code ?? name}${isGot ? '' : ', unexpected'}): ${detail} [requestId ${ctx.requestId}]`,
    { kind: retryable ? 'retryable' : 'terminal', endpoint: ctx.endpoint, requestId: ctx.requestId, cause },
  );
}
