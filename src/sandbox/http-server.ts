// The HTTP face of the local Salesforce: a node:http server answering the Interaction Service under
// /api/v1/<resource> (reference §1) in front of a SandboxOrg, plus the JWT bearer token endpoint
// (src/sandbox/token-endpoint.ts). It checks headers and bodies as strictly as the reference
// describes, maps the wire bodies onto the org's InteractionService methods and the results back onto
// the documented response bodies and success statuses, injects faults (src/sandbox/faults.ts),
// answers a repeated RequestId from memory when asked to (`dedupeRequestIds`), and records every
// request.
//
// Order of checks for an Interaction Service call:
//   route (404/405) → injected latency → Authorization (401 / 10004, expired tokens included) →
//   rate limit (429) → scripted failures and the error rate → OrgId, AuthorizationContext,
//   RequestId, AuthorizationContextType → empty body (10100) → Content-Type (10016) → body parse →
//   RequestId replay (only with `dedupeRequestIds`) → field validation → the org.
//
// Where the reference is silent (documented choices):
// - HTTP status per code: 10004 → 401, 10094 → 503, 500 and 2xxxx → 500, every other code → 400.
//   So a wrong OrgId is 400 / 10016 (a configuration fault a token refresh cannot cure).
// - 401 and 429 come from the "gateway" and always carry the plain `{code, message}`; every other
//   error uses the endpoint's declared error type: `{success:false, errorDetail:{code,message}}` on
//   PATCH /consent, PATCH /agentWork, POST /routingResult and POST /participant, `{code,message}`
//   elsewhere. 429's body code is 429 (Salesforce documents none), its message the documented
//   "Interaction request rate limit exceeded"; Retry-After only with `rateLimit(…, { retryAfter: true })`.
// - What Salesforce's own reference connector sends is accepted: capacityPercentage/capacityWeight
//   as numeric strings, `errorMessage: ""` on a successful routingResult (reference §8.12).
// - POST /agentWork whose routingContext names another conversation than the work item's → 15107;
//   for an end user a PATCH /consent set to OptedOut → 15103 (the documented "not fully opted in").
// - With `channelAddresses` (the channel's addresses), POST /interactions to another address → 10001
//   and PATCH /consent for one → 10069; without it any address is taken.
// - Malformed JSON, wrong field types and bad enum values without a dedicated code → 10089
//   ("Invalid parameters passed to API.").
// - RequestId replay is OFF by default, because Salesforce is not known to deduplicate on RequestId
//   and there is evidence that it does not (reference §8.10: its own connector sent one fixed
//   RequestId on every POST /interactions for months). Off, a repeated RequestId is an ordinary new
//   request and the org applies it again, as Salesforce most plausibly would: what each repeat then
//   does is the org model's business (src/sandbox/org.ts, docs/operations.md). With
//   `dedupeRequestIds: true`, a RequestId seen before for the same method+path: if its first
//   attempt succeeded, the stored answer is replayed (header `x-sandbox-replayed: true`, record
//   `replayed: true`) without calling the org; if it failed, the call runs again; if the body
//   differs, 400 / 10016 (a RequestId names one request). The last 100,000 RequestIds are remembered.
// - `faults.loseAnswerNext(endpoint)`: the org applies the call and the connection is reset instead
//   of answering (record `injected: 'lostAnswer'`, with the status the org would have answered).
// - Codes picked where several could apply: a bad AuthorizationContextType value → 10093; bad
//   channelAddressIdentifier on consent / messagingSession → 10069; a workItemId not 15 chars →
//   15110 on POST /agentWork (as the org), 10012 on routingResult and Chatbot PATCH /agentWork; a
//   missing `json` form part → 10100; attachment rules → 10007/10009/10010/10011/10051/10095.
// - Unknown paths → 404 `{code:404}`, known paths with another method → 405 `{code:405}`.
//
// It listens on 127.0.0.1 by default, without TLS.
import { createHash, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InteractionApiError } from '../domain/errors.js';
import { FaultPlan, TOKEN_ENDPOINT, type InjectedKind, type SandboxEndpoint } from './faults.js';
import type { SandboxOrg } from './org.js';
import { TOKEN_PATH, createTokenEndpoint, type JwtBearerConfig } from './token-endpoint.js';
import { errorBody, fail, HttpFail, MESSAGES, statusForCode } from './http/codes.js';
import { createRoutes, type Outcome, type Route } from './http/routes.js';
import { createValidators, type Parsed } from './http/validate.js';
import { describePart, parseBody, readBody, recordHeaders } from './http/body.js';
import { isOneOf } from '../domain/enums.js';
import { AUTHORIZATION_CONTEXT_TYPES, header, isText, ORG_ID, parseMultipart, stable, UUID, type Json, type MultipartPart } from './http/wire.js';

export { statusForCode } from './http/codes.js';
export { parseMultipart, type MultipartPart } from './http/wire.js';

// ---- public API ----

export interface HttpRecord {
  /** 1-based arrival order. */
  seq: number;
  method: string;
  /** Path without the query, e.g. `/api/v1/route`. */
  path: string;
  /** `METHOD /resource` (e.g. `POST /route`, `POST /services/oauth2/token`); undefined for unknown routes. */
  endpoint: SandboxEndpoint | undefined;
  /** Lower-cased header names; Authorization shown as `Bearer ***`. */
  headers: Record<string, string>;
  /**
   * The parsed body: JSON as sent; for POST /interactions `{ json, attachments? }` where
   * attachments describes the file part (`{ name, filename, contentType, size, sha256 }`); for the
   * token endpoint the form with the assertion shown as `***`; the raw text when it did not parse.
   */
  body: unknown;
  /** HTTP status answered; 0 while the request is still being served. */
  status: number;
  /** The response body sent (an issued access_token shown as `***`). */
  response: unknown;
  /** Date.now() when the request arrived. */
  receivedAt: number;
  /** Milliseconds from arrival to answer. */
  durationMs: number;
  /** The RequestId header, as sent. */
  requestId: string | undefined;
  /** True when the answer was replayed from an earlier attempt with the same RequestId. */
  replayed?: true;
  /** Set when the answer was injected by the fault plan (or the token was expired by it). */
  injected?: InjectedKind | 'expiredToken';
  /** Injected latency applied, ms. */
  delayedMs?: number;
  /** Whether the org's InteractionService method was called. */
  orgCalled: boolean;
}

export interface InteractionServerOptions {
  org: SandboxOrg;
  /** The 15-character org id the `OrgId` header must carry. */
  orgId: string;
  /** The CCD developer name the `AuthorizationContext` header must carry. */
  authorizationContext: string;
  /** Access tokens accepted besides those the token endpoint issues. */
  tokens?: { isValid(token: string): boolean };
  faults?: FaultPlan;
  /** Serve POST /services/oauth2/token (JWT bearer flow) with this connected app. */
  jwt?: { publicKey: KeyObject | string; clientId: string; audience: string };
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** `instance_url` in token responses. Default the server's own URL. */
  instanceUrl?: string;
  /** Called with each access token the token endpoint issues (the sandbox shares them with Pub/Sub). */
  onTokenIssued?: (token: string) => void;
  /** Features of a newer org; each defaults to true. Off → 10075 / 10076 / 10077. */
  features?: { conferenceRouting?: boolean; cancelReason?: boolean; conferenceAgentAction?: boolean };
  /** The channel's maximum routing attribute value length (10096). Default: no limit. */
  maxRoutingAttributeLength?: number;
  /** 10008 above this. Default 25 MiB. */
  maxAttachmentBytes?: number;
  /**
   * Answer a repeated RequestId from memory instead of calling the org again. Default false:
   * Salesforce is not known to deduplicate (reference §8.10), so the engine must be safe without it;
   * turn it on only to test a server that does.
   */
  dedupeRequestIds?: boolean;
}

export interface InteractionServer {
  /** http://127.0.0.1:PORT */
  url: string;
  records: HttpRecord[];
  faults: FaultPlan;
  close(): Promise<void>;
}

const API_PREFIX = '/api/v1/';
const JSON_LIMIT = 1024 * 1024;
const DEFAULT_ATTACHMENT_LIMIT = 25 * 1024 * 1024;
const MAX_REMEMBERED_REQUESTS = 100_000;

export async function startInteractionServer(options: InteractionServerOptions): Promise<InteractionServer> {
  const { org, orgId, authorizationContext } = options;
  if (typeof orgId !== 'string' || !ORG_ID.test(orgId)) throw new TypeError('orgId must be the 15-character org id');
  if (!isText(authorizationContext)) throw new TypeError('authorizationContext is required');
  const faults = options.faults ?? new FaultPlan();
  const features = { conferenceRouting: true, cancelReason: true, conferenceAgentAction: true, ...options.features };
  const dedupe = options.dedupeRequestIds === true;
  const maxAttachment = options.maxAttachmentBytes ?? DEFAULT_ATTACHMENT_LIMIT;
  const records: HttpRecord[] = [];
  const issued = new Set<string>();
  const replays = new Map<string, { fingerprint: string; outcome: Promise<Outcome | undefined> }>();
  let url = '';
  let seq = 0;

  const tokenEndpoint = options.jwt
    ? createTokenEndpoint({
        ...(options.jwt as JwtBearerConfig),
        orgId,
        instanceUrl: () => options.instanceUrl ?? url,
        onIssue: (t) => {
          issued.add(t);
          options.onTokenIssued?.(t);
        },
      })
    : undefined;

  const tokenValid = (token: string): boolean => {
    // A token minted for another org (`<orgId>!…`) is not valid here.
    const bang = token.indexOf('!');
    if (bang === 15 && token.slice(0, 15) !== orgId) return false;
    return issued.has(token) || (options.tokens?.isValid(token) ?? false);
  };

  const routes = createRoutes(org, createValidators({ features, maxAttachment, maxRoutingAttributeLength: options.maxRoutingAttributeLength }));
  const resources = new Set(Object.keys(routes).map((k) => k.split(' ')[1]!));

  // ---- transport ----

  function loseAnswer(res: ServerResponse, rec: HttpRecord, outcome: Outcome): void {
    rec.injected = 'lostAnswer';
    rec.status = outcome.status;
    rec.response = outcome.body;
    rec.durationMs = Date.now() - rec.receivedAt;
    res.socket?.resetAndDestroy();
    res.destroy();
  }

  function send(res: ServerResponse, rec: HttpRecord, status: number, body: Json, headers: Record<string, string> = {}): void {
    rec.status = status;
    rec.response = body;
    rec.durationMs = Date.now() - rec.receivedAt;
    if (res.destroyed) return;
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

  async function handleToken(req: IncomingMessage, res: ServerResponse, rec: HttpRecord): Promise<void> {
    const { data, tooLarge } = await readBody(req, 64 * 1024);
    const form = new URLSearchParams(data.toString('utf8'));
    rec.body = Object.fromEntries([...form.entries()].map(([k, v]) => [k, k === 'assertion' ? '***' : v]));
    const ms = faults.latencyFor(TOKEN_ENDPOINT);
    if (ms > 0) {
      rec.delayedMs = ms;
      await delay(ms);
    }
    if (!tokenEndpoint) return send(res, rec, 404, { error: 'not_found', error_description: 'the JWT bearer flow is not configured on this sandbox' });
    const injected = faults.inject(TOKEN_ENDPOINT);
    if (injected) {
      rec.injected = injected.kind;
      return send(res, rec, injected.status, { error: 'temporarily_unavailable', error_description: injected.message }, injected.headers);
    }
    if (tooLarge) return send(res, rec, 400, { error: 'invalid_request', error_description: 'request body too large' });
    const reply = tokenEndpoint(header(req, 'content-type'), data);
    send(res, rec, reply.status, reply.body);
    // Records never hold a credential.
    if (typeof reply.body.access_token === 'string') rec.response = { ...reply.body, access_token: '***' };
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, rec: HttpRecord, route: Route): Promise<void> {
    const ep = route.endpoint;
    const shape = route.errorShape;
    const limit = route.multipart ? maxAttachment + 1024 * 1024 : JSON_LIMIT;
    const bodyRead = readBody(req, limit);

    const ms = faults.latencyFor(ep);
    if (ms > 0) {
      rec.delayedMs = ms;
      await delay(ms);
    }
    const { data, tooLarge } = await bodyRead;
    const contentType = header(req, 'content-type');

    // Record a readable body before any check can answer.
    let parsed: Parsed | undefined;
    let parseError: HttpFail | undefined;
    try {
      parsed = parseBody(route, data, contentType, tooLarge);
    } catch (err) {
      if (!(err instanceof HttpFail)) throw err;
      parseError = err;
    }
    rec.body = parsed
      ? route.multipart
        ? { json: parsed.json, ...(parsed.attachment && { attachments: describePart(parsed.attachment) }) }
        : parsed.json
      : data.length > 0 && !route.multipart
        ? data.toString('utf8')
        : undefined;

    try {
      // Gateway: the token, then the rate limit and injected failures.
      const auth = header(req, 'authorization');
      const m = auth ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
      if (!m) throw new HttpFail(401, 10004, `${MESSAGES[10004]} (Authorization: Bearer <token> is required)`, {}, true);
      const token = m[1]!;
      if (faults.isExpired(token)) {
        rec.injected = 'expiredToken';
        throw new HttpFail(401, 10004, `${MESSAGES[10004]} (expired)`, {}, true);
      }
      if (!tokenValid(token)) throw new HttpFail(401, 10004, MESSAGES[10004]!, {}, true);
      const injected = faults.inject(ep);
      if (injected) {
        rec.injected = injected.kind;
        throw new HttpFail(injected.status, injected.code, injected.message, injected.headers, injected.kind === 'rateLimit');
      }

      // Standard headers.
      const orgHeader = header(req, 'orgid');
      if (orgHeader !== orgId) fail(10016, orgHeader === undefined ? 'OrgId is required' : 'OrgId does not match the org');
      const context = header(req, 'authorizationcontext');
      if (context !== authorizationContext) fail(10001, context === undefined ? 'AuthorizationContext is required' : 'AuthorizationContext');
      const requestId = header(req, 'requestid');
      if (requestId === undefined || !UUID.test(requestId)) fail(10016, requestId === undefined ? 'RequestId is required' : 'RequestId must be a UUID');
      const contextType = header(req, 'authorizationcontexttype');
      if (route.contextType === 'required' && contextType === undefined) fail(10016, 'AuthorizationContextType is required');
      if (route.contextType !== 'ignored' && contextType !== undefined) {
        if (!isOneOf(AUTHORIZATION_CONTEXT_TYPES, contextType)) fail(10093, `AuthorizationContextType ${JSON.stringify(contextType)}`);
        if (contextType !== 'ConversationChannelDefinition') fail(10093, `AuthorizationContextType must be ConversationChannelDefinition here`);
      }
      if (parseError) throw parseError;
      const p = parsed!;

      if (!dedupe) {
        const outcome = await route.run(p, async (fn) => {
          rec.orgCalled = true;
          return fn({ key: requestId, priority: 'start' });
        });
        return answer(res, rec, ep, outcome);
      }
      // The same request again: answer from memory (never calling the org twice for one RequestId).
      const key = `${req.method} ${rec.path} ${requestId.toLowerCase()}`;
      const fingerprint = createHash('sha256')
        .update(stable(p.json))
        .update(p.attachment ? createHash('sha256').update(p.attachment.data).digest('hex') : '')
        .digest('hex');
      const previous = replays.get(key);
      if (previous) {
        if (previous.fingerprint !== fingerprint) fail(10016, 'RequestId was already used for a different request');
        const outcome = await previous.outcome;
        if (outcome) {
          rec.replayed = true;
          return send(res, rec, outcome.status, outcome.body, { 'x-sandbox-replayed': 'true' });
        }
      }
      let settle!: (o: Outcome | undefined) => void;
      replays.set(key, { fingerprint, outcome: new Promise((r) => (settle = r)) });
      // Bounded memory for long load runs: forget the oldest RequestIds first.
      if (replays.size > MAX_REMEMBERED_REQUESTS) replays.delete(replays.keys().next().value!);
      let outcome: Outcome | undefined;
      try {
        outcome = await route.run(p, async (fn) => {
          rec.orgCalled = true;
          return fn({ key: requestId, priority: 'start' });
        });
      } finally {
        if (!outcome) replays.delete(key);
        settle(outcome);
      }
      return answer(res, rec, ep, outcome);
    } catch (err) {
      if (err instanceof HttpFail) {
        const body = err.plain ? { code: err.code, message: err.message } : errorBody(shape, err.code, err.message);
        return send(res, rec, err.status, body, err.headers);
      }
      if (err instanceof InteractionApiError && err.apiCode !== undefined) {
        // The org's message is `<code>: <text>`.
        const text = err.message.replace(/^\d+:\s*/, '');
        return send(res, rec, statusForCode(err.apiCode), errorBody(shape, err.apiCode, text));
      }
      return send(res, rec, 500, errorBody(shape, 500, MESSAGES[500]!));
    }
  }

  /** The org's outcome goes back — unless the fault plan loses it, or holds it back a while. */
  async function answer(res: ServerResponse, rec: HttpRecord, ep: SandboxEndpoint, outcome: Outcome): Promise<void> {
    if (outcome.status < 300 && faults.takeLostAnswer(ep)) return loseAnswer(res, rec, outcome);
    const slowAnswer = faults.answerLatencyFor(ep);
    if (slowAnswer > 0) await delay(slowAnswer);
    send(res, rec, outcome.status, outcome.body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const method = (req.method ?? 'GET').toUpperCase();
    const rec: HttpRecord = {
      seq: ++seq,
      method,
      path,
      endpoint: undefined,
      headers: recordHeaders(req),
      body: undefined,
      status: 0,
      response: undefined,
      receivedAt: Date.now(),
      durationMs: 0,
      requestId: header(req, 'requestid'),
      orgCalled: false,
    };
    records.push(rec);
    try {
      if (path === TOKEN_PATH) {
        if (method !== 'POST') {
          req.resume();
          return send(res, rec, 405, { error: 'invalid_request', error_description: 'POST only' }, { allow: 'POST' });
        }
        rec.endpoint = TOKEN_ENDPOINT;
        return await handleToken(req, res, rec);
      }
      const resource = path.startsWith(API_PREFIX) ? path.slice(API_PREFIX.length) : undefined;
      const route = resource !== undefined ? routes[`${method} ${resource}`] : undefined;
      if (!route) {
        req.resume();
        if (resource !== undefined && resources.has(resource)) {
          const allow = Object.keys(routes).filter((k) => k.endsWith(` ${resource}`)).map((k) => k.split(' ')[0]!);
          return send(res, rec, 405, { code: 405, message: `Method ${method} not allowed on ${path}` }, { allow: allow.join(', ') });
        }
        return send(res, rec, 404, { code: 404, message: `No such resource: ${path}` });
      }
      rec.endpoint = route.endpoint;
      await handleApi(req, res, rec, route);
    } catch {
      if (rec.status === 0) send(res, rec, 500, { code: 500, message: MESSAGES[500]! });
    }
  }

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  url = `http://${host}:${address.port}`;

  return {
    url,
    records,
    faults,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
