// A small fake of Salesforce's side for the io tests: the Interaction Service under /api/v1/ and the
// OAuth token endpoint, on a real loopback HTTP server (no mocked got). It records every request
// (method, path, headers, parsed body including multipart parts, a monotonic receive time) and
// answers from per-path scripts: one-shot replies first, then the path's standing reply.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID, verify, type KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface MultipartPart {
  name: string;
  filename?: string;
  contentType?: string;
  headers: Record<string, string>;
  data: Buffer;
}

export interface RecordedRequest {
  seq: number;
  method: string;
  /** Path without query, e.g. `/api/v1/route`. */
  path: string;
  headers: IncomingHttpHeaders;
  /** performance.now() when the request arrived: monotonic, for ordering and window counts. */
  receivedAt: number;
  rawBody: Buffer;
  /** JSON bodies parsed; for multipart, the `json` part parsed. */
  body: unknown;
  form?: Record<string, string>;
  parts?: MultipartPart[];
}

export interface Reply {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  delayMs?: number;
  /** Destroy the socket instead of answering (the client sees a reset). */
  destroy?: boolean;
}

export type Responder = Reply | ((req: RecordedRequest) => Reply | Promise<Reply>);

export interface TokenEndpointConfig {
  publicKey: KeyObject;
  clientId: string;
  username: string;
  audience: string;
}

export const API = '/api/v1/';
export const api = (resource: string) => `${API}${resource}`;
export const TOKEN_PATH = '/services/oauth2/token';
export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/** Default answers, shaped like reference §1.4–§1.11. */
const DEFAULTS: Record<string, (req: RecordedRequest) => Reply> = {
  [`POST ${api('interactions')}`]: (req) => {
    const first = (req.body as { interactions?: Array<{ id?: string; payload?: { id?: string } }> })?.interactions?.[0];
    return {
      status: 202,
      body: { conversationIdentifier: 'conv-0001', id: first?.payload?.id ?? first?.id, workItemIds: ['0MwSB000000AAAA'], success: true },
    };
  },
  [`PATCH ${api('consent')}`]: () => ({ status: 200, body: { success: true } }),
  [`POST ${api('route')}`]: () => ({
    status: 202,
    body: {
      success: true,
      psrId: '0JRSB000000AAAA',
      workItemId: '0MwSB000000AAAA',
      routingCorrelationId: 'c0ffee00-0000-4000-8000-000000000001',
      contextParamMap: { userId: '005SB000000AAAA' },
    },
  }),
  [`DELETE ${api('route')}`]: () => ({ status: 202, body: { success: true } }),
  [`POST ${api('agentWork')}`]: () => ({
    status: 202,
    body: {
      id: '0BzSB000000AAAA',
      agentWorkId: '0BzSB000000AAAA',
      success: true,
      agentWorkDetails: { existPsr: true, psrId: '0JRSB000000AAAA', routingContext: {} },
    },
  }),
  [`PATCH ${api('agentWork')}`]: () => ({ status: 202, body: { success: true } }),
  [`POST ${api('routingResult')}`]: () => ({ status: 202, body: { success: true } }),
  [`POST ${api('participant')}`]: () => ({ status: 200, body: { success: true } }),
  [`POST ${api('messagingSession')}`]: () => ({ status: 200, body: { success: true } }),
};

export class FakeScrt {
  readonly requests: RecordedRequest[] = [];
  /** Access tokens issued by the token endpoint, in order. */
  readonly issued: string[] = [];
  /** When set, /api/v1 requests whose bearer token fails it get 401 {code: 10004}. */
  acceptToken: ((token: string) => boolean) | undefined;
  tokenEndpoint: TokenEndpointConfig | undefined;

  readonly #oneShots = new Map<string, Responder[]>();
  readonly #standing = new Map<string, Responder>();
  #seq = 0;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<FakeScrt> {
    let fake: FakeScrt | undefined;
    const server = createServer((req, res) => void fake!.#handle(req, res));
    server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    fake = new FakeScrt(server, `http://127.0.0.1:${port}`);
    return fake;
  }

  /** Replies used once each, in order, for `METHOD path` (path like `/api/v1/route` or `api('route')`). */
  script(method: string, path: string, ...replies: Responder[]): this {
    const key = `${method} ${path}`;
    this.#oneShots.set(key, [...(this.#oneShots.get(key) ?? []), ...replies]);
    return this;
  }

  /** The reply for `METHOD path` once its one-shot replies are used up. */
  always(method: string, path: string, responder: Responder): this {
    this.#standing.set(`${method} ${path}`, responder);
    return this;
  }

  /** Back to the default reply for `METHOD path`. */
  clear(method: string, path: string): this {
    this.#oneShots.delete(`${method} ${path}`);
    this.#standing.delete(`${method} ${path}`);
    return this;
  }

  to(method: string, path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && r.path === path);
  }

  get apiRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.path.startsWith(API));
  }

  get tokenRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.path === TOKEN_PATH);
  }

  reset(): void {
    this.requests.length = 0;
    this.issued.length = 0;
    this.#oneShots.clear();
    this.#standing.clear();
    this.acceptToken = undefined;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const receivedAt = performance.now();
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const rawBody = Buffer.concat(chunks);
    const path = (req.url ?? '/').split('?')[0]!;
    const recorded: RecordedRequest = {
      seq: ++this.#seq,
      method: req.method ?? 'GET',
      path,
      headers: req.headers,
      receivedAt,
      rawBody,
      body: undefined,
    };
    parseBody(recorded);
    this.requests.push(recorded);

    const reply = await this.#reply(recorded);
    if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
    if (reply.destroy) {
      req.socket.destroy();
      return;
    }
    if (res.destroyed) return;
    const payload = reply.body === undefined ? '' : typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
    res.writeHead(reply.status ?? 200, {
      ...(payload && typeof reply.body !== 'string' && { 'content-type': 'application/json' }),
      ...reply.headers,
    });
    res.end(payload);
  }

  async #reply(req: RecordedRequest): Promise<Reply> {
    // Authentication comes first, as at the real edge: a scripted reply is for an accepted request.
    if (req.path.startsWith(API) && this.acceptToken) {
      const token = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1] ?? '';
      if (!this.acceptToken(token)) return { status: 401, body: { code: 10004, message: 'Invalid token' } };
    }
    const key = `${req.method} ${req.path}`;
    const queued = this.#oneShots.get(key);
    const scripted = queued?.shift() ?? this.#standing.get(key);
    if (scripted) return typeof scripted === 'function' ? scripted(req) : scripted;
    if (req.path === TOKEN_PATH && req.method === 'POST') return this.#issueToken(req);
    const fallback = DEFAULTS[key];
    return fallback ? fallback(req) : { status: 404, body: { code: 10000, message: `no route ${key}` } };
  }

  /** The JWT bearer grant: checks the RS256 signature with the configured public key and the claims. */
  #issueToken(req: RecordedRequest): Reply {
    const bad = (description: string): Reply => ({ status: 400, body: { error: 'invalid_grant', error_description: description } });
    const cfg = this.tokenEndpoint;
    if (!cfg) return { status: 404, body: { error: 'not_found' } };
    if (!String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) return bad('not form-encoded');
    if (req.form?.grant_type !== JWT_BEARER) return bad('unsupported grant type');
    const jwt = decodeJwt(req.form.assertion ?? '');
    if (!jwt) return bad('malformed assertion');
    if (jwt.header.alg !== 'RS256') return bad('alg must be RS256');
    if (!verify('RSA-SHA256', Buffer.from(jwt.signingInput), cfg.publicKey, jwt.signature)) return bad('invalid signature');
    const c = jwt.claims;
    if (c.iss !== cfg.clientId) return { status: 400, body: { error: 'invalid_client_id', error_description: 'client identifier invalid' } };
    if (c.sub !== cfg.username) return bad('user hasn’t approved this consumer');
    if (c.aud !== cfg.audience) return bad('audience is invalid');
    const nowS = Date.now() / 1000;
    if (typeof c.exp !== 'number' || c.exp <= nowS || c.exp > nowS + 300) return bad('expiration time is invalid');
    const token = `00DSB000000AAAA!tok-${this.issued.length + 1}-${randomUUID().slice(0, 8)}`;
    this.issued.push(token);
    return {
      status: 200,
      body: { access_token: token, instance_url: 'https://example.my.salesforce.com', token_type: 'Bearer', scope: 'interaction_api' },
    };
  }
}

export interface DecodedJwt {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  signingInput: string;
  signature: Buffer;
}

export function decodeJwt(jwt: string): DecodedJwt | undefined {
  const [h, p, s] = jwt.split('.');
  if (!h || !p || !s) return undefined;
  try {
    return {
      header: JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>,
      claims: JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>,
      signingInput: `${h}.${p}`,
      signature: Buffer.from(s, 'base64url'),
    };
  } catch {
    return undefined;
  }
}

function parseBody(req: RecordedRequest): void {
  const type = String(req.headers['content-type'] ?? '');
  const text = req.rawBody.toString('utf8');
  if (type.startsWith('application/json')) {
    req.body = text ? JSON.parse(text) : undefined;
  } else if (type.startsWith('application/x-www-form-urlencoded')) {
    req.form = Object.fromEntries(new URLSearchParams(text));
  } else if (type.startsWith('multipart/form-data')) {
    const boundary = /boundary=("?)([^";]+)\1/.exec(type)?.[2];
    req.parts = boundary ? parseMultipart(req.rawBody, boundary) : [];
    const json = req.parts.find((p) => p.name === 'json');
    req.body = json ? JSON.parse(json.data.toString('utf8')) : undefined;
  }
}

/** Enough of RFC 7578 for tests: parts, their headers, name/filename, content type and bytes. */
export function parseMultipart(buf: Buffer, boundary: string): MultipartPart[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: MultipartPart[] = [];
  let at = buf.indexOf(delimiter);
  while (at !== -1) {
    const start = at + delimiter.length;
    if (buf.subarray(start, start + 2).toString() === '--') break; // closing delimiter
    const next = buf.indexOf(delimiter, start);
    if (next === -1) break;
    const part = buf.subarray(start + 2, next - 2); // drop the CRLF after the delimiter and before the next
    const split = part.indexOf('\r\n\r\n');
    const headers: Record<string, string> = {};
    for (const line of part.subarray(0, split).toString('utf8').split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const disposition = headers['content-disposition'] ?? '';
    const filename = /filename="([^"]*)"/.exec(disposition)?.[1];
    parts.push({
      name: /\bname="([^"]*)"/.exec(disposition)?.[1] ?? '',
      ...(filename !== undefined && { filename }),
      ...(headers['content-type'] !== undefined && { contentType: headers['content-type'] }),
      headers,
      data: Buffer.from(part.subarray(split + 4)),
    });
    at = next;
  }
  return parts;
}

/** Counts the most requests that fall in any half-open window [t, t + windowMs) of the receive times. */
export function maxInAnyWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let max = 0;
  let lo = 0;
  for (let hi = 0; hi < sorted.length; hi++) {
    while (sorted[hi]! - sorted[lo]! >= windowMs) lo++;
    max = Math.max(max, hi - lo + 1);
  }
  return max;
}
