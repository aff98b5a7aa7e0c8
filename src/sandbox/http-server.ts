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
//   rate limit (429 + Retry-After) → scripted failures and the error rate → OrgId, AuthorizationContext,
//   RequestId, AuthorizationContextType → empty body (10100) → Content-Type (10016) → body parse →
//   RequestId replay (only with `dedupeRequestIds`) → field validation → the org.
//
// Where the reference is silent (documented choices):
// - HTTP status per code: 10004 → 401, 10094 → 503, 500 and 2xxxx → 500, every other code → 400.
//   So a wrong OrgId is 400 / 10016 (a configuration fault a token refresh cannot cure).
// - 401 and 429 come from the "gateway" and always carry the plain `{code, message}`; every other
//   error uses the endpoint's declared error type: `{success:false, errorDetail:{code,message}}` on
//   PATCH /consent, PATCH /agentWork, POST /routingResult and POST /participant, `{code,message}`
//   elsewhere. 429's body code is 429 (Salesforce documents none).
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
import {
  AGENT_WORK_STATUSES,
  CANCEL_REASONS,
  CONSENT_STATUSES,
  PARTICIPANT_ROLES,
  ROUTING_TYPES,
  isOneOf,
} from '../domain/enums.js';
import { InteractionApiError } from '../domain/errors.js';
import type {
  AgentWorkRequest,
  CallContext,
  ClearRouteRequest,
  ConsentRequest,
  InteractionRequest,
  MessagingSessionRequest,
  ParticipantRequest,
  PatchAgentWorkRequest,
  RouteRequest,
  RoutingInfo,
  RoutingResultRequest,
} from '../domain/ports.js';
import { FaultPlan, TOKEN_ENDPOINT, type InjectedKind, type InteractionEndpoint, type SandboxEndpoint } from './faults.js';
import type { SandboxOrg } from './org.js';
import { TOKEN_PATH, createTokenEndpoint, type JwtBearerConfig } from './token-endpoint.js';

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

// ---- error codes and texts (Salesforce ERRORCODES.md) ----

const MESSAGES: Record<number, string> = {
  10001: 'The AuthorizationContext in the request isn\'t valid for the provided value in the "to"/"channelAddressIdentifier" field.',
  10004: 'The supplied Authorization access token is not valid.',
  10007: 'The file ID field is empty.',
  10008: 'The file size exceeds the maximum limit of 25 MB.',
  10009: 'The file is empty or doesn’t exist.',
  10010: 'The interaction contentLength field is empty.',
  10011: 'The number of interactions of type AttachmentInteraction does not match the number of attachment files.',
  10012: 'Enter a valid workItemId for the MessagingSession ID.',
  10013: 'Enter either a capacityPercentage or a capacityWeight, but not both.',
  10014: 'Enter a capacity weight greater than or equal to 0.',
  10015: 'Enter a capacity percentage between 0 and 100, inclusive.',
  10016: 'Enter a valid header.',
  10018: 'The conversation identifier is not valid.',
  10020: 'The endUserClientId provided is not valid.',
  10021: 'Enter a valid Consent Status Enum value.',
  10024: 'For Flow based Routing, flow ID and Fallback Queue ID are required fields.',
  10027: 'The provided "to" field isn\'t valid.',
  10028: 'The provided "from" field isn\'t valid.',
  10029: "The provided interaction list isn't valid.",
  10030: 'Specify either a flow or a queue to Route API.',
  10032: 'Specified Queue ID is invalid.',
  10033: 'Should not pass in error message when routing result success.',
  10034: 'Error message missing when routing result false.',
  10037: 'The AppType provided is not supported.',
  10038: 'The Participant Role provided is not supported.',
  10039: 'Add participants to your conversation.',
  10045: 'Provide a valid message entry format.',
  10047: 'Specified Message Type is invalid.',
  10048: 'Specified Format Type is invalid.',
  10051: 'The file size (in bytes) of uploaded attachment is incorrect.',
  10054: 'Invalid subject of participant in conversation request.',
  10059: 'Interaction ID or Message ID is empty.',
  10060: 'Interaction ID and Message ID are mismatched.',
  10062: 'Invalid message type. Only StaticContentMessage, ChoicesResponseMessage, and FormResponseMessage types are supported for messages sent from an end user.',
  10069: 'Specify a valid channel address identifier or check your authorization configuration.',
  10071: 'Specify a valid session ID.',
  10075: "Your Salesforce org isn't ready to use the Routing API with conferencing. Upgrade to the latest version or set the routingType to Initial or Transfer.",
  10076: "Your Salesforce org isn't ready to use the Delete Route API with cancel reason. Upgrade to the latest version or remove cancelReason from the payload.",
  10077: "Your Salesforce org isn't ready to use the Agent Work API with agent action as conference. Upgrade to the latest version or set the agentAction to Transfer.",
  10082: 'Invalid workId: Please provide a valid workId.',
  10083: 'Invalid context type: The context type provided is not supported or is invalid.',
  10084: 'Invalid botId: Please provide a valid botId.',
  10085: 'Invalid status: Please provide a valid status.',
  10089: 'Invalid parameters passed to API.',
  10093: 'Invalid authorization context type.',
  10095: 'The MIME type of the uploaded file cannot be determined. Please check the file and try again.',
  10096: 'The channel variable value length in routing attribute payload is larger than the maximum length configured in Messaging Channel setup page.',
  10100: 'The request body is empty.',
  15106: 'Enter a valid userId.',
  15110: 'Enter a valid workItemId.',
  500: 'An internal server error occured. Please contact Salesforce Support.',
};

/** HTTP status for an Interaction API code (UNCONFIRMED in the reference; see the header comment). */
export function statusForCode(code: number): number {
  if (code === 10004) return 401;
  if (code === 10094) return 503;
  if (code === 500 || (code >= 20000 && code < 30000)) return 500;
  return 400;
}

class HttpFail extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly headers: Record<string, string> = {},
    /** Plain `{code,message}` regardless of the endpoint (gateway answers). */
    readonly plain = false,
  ) {
    super(message);
  }
}

function fail(code: number, detail?: string): never {
  const text = MESSAGES[code] ?? `Error ${code}.`;
  throw new HttpFail(statusForCode(code), code, detail ? `${text} (${detail})` : text);
}

// ---- small parsers ----

type Json = Record<string, unknown>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ORG_ID = /^[a-zA-Z0-9]{15}$/;
const AUTHORIZATION_CONTEXT_TYPES = ['ConversationChannelDefinition', 'EmbeddedMessagingChannel', 'ExternalConversationParticipant'] as const;
const INBOUND_ENTRY_TYPES = [
  'Message', 'MessageDeliveryFailed', 'TypingStartedIndicator', 'TypingStoppedIndicator', 'DeliveryAcknowledgement',
  'ReadAcknowledgement', 'RoutingWorkResult', 'ParticipantChanged', 'RoutingResult', 'Note', 'FlagRaise', 'FlagLower',
  'EndUserConsentUpdated', 'SessionStatusChanged', 'ConsultConversationInfo',
] as const;
const MESSAGE_TYPES = ['ChoicesMessage', 'ChoicesResponseMessage', 'FormMessage', 'FormResponseMessage', 'StaticContentMessage'] as const;
const END_USER_MESSAGE_TYPES = ['StaticContentMessage', 'ChoicesResponseMessage', 'FormResponseMessage'] as const;
const FORMAT_TYPES = [
  'Attachments', 'RichLink', 'Media', 'Buttons', 'Carousel', 'QuickReplies', 'ListPicker', 'Selections', 'Links', 'TimePicker',
  'Application', 'Result', 'Inputs', 'WebView', 'Text', 'ExperienceType', 'Flow', 'MessageDefinition',
] as const;
const APP_TYPES = ['custom', 'agent', 'chatbot', 'conversation', 'live_message', 'iamessage'] as const;

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isText(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

/** `name="value"` / `name=value` parameters of a header value. */
function headerParams(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /;\s*([^=;\s]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/g;
  for (const m of value.matchAll(re)) out[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!.trim();
  return out;
}

export interface MultipartPart {
  name: string;
  filename?: string;
  contentType?: string;
  data: Buffer;
}

/** A small RFC 7578 multipart/form-data parser over a complete body. Throws on malformed input. */
export function parseMultipart(body: Buffer, boundary: string): MultipartPart[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const next = Buffer.from(`\r\n--${boundary}`);
  let pos = body.indexOf(delimiter);
  if (pos !== 0 && !(pos > 0 && body.subarray(pos - 2, pos).toString() === '\r\n')) throw new Error('no opening boundary');
  const parts: MultipartPart[] = [];
  for (;;) {
    pos += delimiter.length;
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return parts; // closing delimiter
    // Transport padding (spaces/tabs) may follow a boundary before the CRLF.
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++;
    if (body[pos] !== 0x0d || body[pos + 1] !== 0x0a) throw new Error('boundary not followed by CRLF');
    pos += 2;
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    if (headerEnd < 0) throw new Error('part headers not terminated');
    const headers: Record<string, string> = {};
    for (const line of body.subarray(pos, headerEnd).toString('utf8').split('\r\n')) {
      if (line.length === 0) continue;
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`bad part header line: ${line}`);
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const dataStart = headerEnd + 4;
    const end = body.indexOf(next, dataStart);
    if (end < 0) throw new Error('part not terminated by a boundary');
    const disposition = headers['content-disposition'];
    if (!disposition || mediaType(disposition) !== 'form-data') throw new Error('part without Content-Disposition: form-data');
    const params = headerParams(disposition);
    if (params.name === undefined) throw new Error('part without a name');
    parts.push({
      name: params.name,
      ...(params.filename !== undefined && { filename: params.filename }),
      ...(headers['content-type'] !== undefined && { contentType: headers['content-type'] }),
      data: body.subarray(dataStart, end),
    });
    pos = end + 2;
  }
}

/** JSON with sorted keys, for comparing two bodies sent under one RequestId. */
function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (isObj(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stable(v[k])}`).join(',')}}`;
  return JSON.stringify(v) ?? 'undefined';
}

// ---- routes ----

type ErrorShape = 'error' | 'detail';

interface Parsed {
  json: Json;
  /** POST /interactions only. */
  attachment?: MultipartPart;
}

interface Outcome {
  status: number;
  body: Json;
}

interface Route {
  endpoint: InteractionEndpoint;
  multipart: boolean;
  errorShape: ErrorShape;
  /** AuthorizationContextType: required (must be ConversationChannelDefinition), optional (checked when sent), or not declared (ignored). */
  contextType: 'required' | 'optional' | 'ignored';
  run(p: Parsed, call: (fn: (ctx: CallContext) => Promise<Json>) => Promise<Json>): Promise<Outcome>;
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

  // ---- body → port request mappings (reference §1.4–§1.11) ----

  function routingAttributes(v: unknown, field: string): Record<string, string> | undefined {
    if (v === undefined) return undefined;
    if (!isObj(v) || Object.values(v).some((x) => typeof x !== 'string')) fail(10089, `${field} must be an object of strings`);
    const max = options.maxRoutingAttributeLength;
    if (max !== undefined) {
      for (const [k, x] of Object.entries(v)) if ((x as string).length > max) fail(10096, `${field}.${k}`);
    }
    return v as Record<string, string>;
  }

  function interactionRequest(p: Parsed): InteractionRequest {
    const j = p.json;
    if (!isText(j.to) || j.to.length > 240) fail(10027, 'to');
    if (!isText(j.from) || j.from.length > 255) fail(10028, 'from');
    const attrs = routingAttributes(j.routingAttributes, 'routingAttributes');
    if (!Array.isArray(j.interactions) || j.interactions.length !== 1) fail(10029, 'interactions must hold exactly one interaction');
    const i: unknown = j.interactions[0];
    if (!isObj(i)) fail(10029, 'interactions[0] must be an object');
    if (!Number.isInteger(i.timestamp)) fail(10029, 'interactions[0].timestamp must be an integer (ms)');
    const timestamp = i.timestamp as number;
    const base = { to: j.to, from: j.from, ...(attrs && { routingAttributes: attrs }) };
    const file = p.attachment;

    if (i.interactionType === 'AttachmentInteraction') {
      if (!file) fail(10011, 'an AttachmentInteraction needs one file in the attachments part');
      if (!isText(i.id)) fail(10007, 'interactions[0].id');
      if (i.attachmentIndex !== 0) fail(10011, 'interactions[0].attachmentIndex must be 0 (one file)');
      if (i.contentLength === undefined || i.contentLength === null) fail(10010, 'interactions[0].contentLength');
      if (!Number.isInteger(i.contentLength)) fail(10089, 'interactions[0].contentLength must be an integer');
      if (file.data.byteLength === 0) fail(10009, 'attachments');
      if (file.data.byteLength > maxAttachment) fail(10008, `${file.data.byteLength} bytes`);
      if (i.contentLength !== file.data.byteLength) fail(10051, `contentLength ${String(i.contentLength)} ≠ ${file.data.byteLength} bytes`);
      if (!file.contentType) fail(10095, 'attachments part has no Content-Type');
      if (i.text !== undefined && i.text !== null && typeof i.text !== 'string') fail(10089, 'interactions[0].text must be a string or null');
      return {
        ...base,
        interaction: { kind: 'text', text: typeof i.text === 'string' ? i.text : '', id: i.id, timestamp },
        attachment: { name: file.filename ?? 'attachment', contentType: file.contentType, data: new Uint8Array(file.data) },
      };
    }
    if (i.interactionType !== 'EntryInteraction') fail(10029, `interactions[0].interactionType ${JSON.stringify(i.interactionType)}`);
    if (file) fail(10011, 'an attachment file needs an AttachmentInteraction');
    const payload = i.payload;
    if (!isObj(payload)) fail(10029, 'interactions[0].payload is required');
    if (!isOneOf(INBOUND_ENTRY_TYPES, payload.entryType)) fail(10029, `payload.entryType ${JSON.stringify(payload.entryType)}`);
    if (!isText(payload.id)) fail(10059, 'payload.id');
    if (payload.entryType !== 'Message') return { ...base, interaction: { kind: 'entry', payload, timestamp } };

    const m = payload.abstractMessage;
    if (!isObj(m)) fail(10045, 'payload.abstractMessage is required');
    if (!isText(m.id)) fail(10059, 'payload.abstractMessage.id');
    if (m.id !== payload.id) fail(10060);
    if (!isOneOf(MESSAGE_TYPES, m.messageType)) fail(10047, `messageType ${JSON.stringify(m.messageType)}`);
    if (!isOneOf(END_USER_MESSAGE_TYPES, m.messageType)) fail(10062);
    if (m.messageType === 'StaticContentMessage') {
      const sc = m.staticContent;
      if (!isObj(sc)) fail(10045, 'staticContent is required');
      if (!isOneOf(FORMAT_TYPES, sc.formatType)) fail(10048, `formatType ${JSON.stringify(sc.formatType)}`);
      if (sc.formatType === 'Text') {
        if (typeof sc.text !== 'string') fail(10045, 'staticContent.text must be a string');
        return { ...base, interaction: { kind: 'text', text: sc.text, id: payload.id, timestamp } };
      }
    }
    return { ...base, interaction: { kind: 'entry', payload, timestamp } };
  }

  function consentRequest(j: Json): ConsentRequest {
    if (!isText(j.endUserClientId) || j.endUserClientId.length > 240) fail(10020, 'endUserClientId');
    if (!isText(j.channelAddressIdentifier) || j.channelAddressIdentifier.length > 240) fail(10069, 'channelAddressIdentifier');
    if (!isOneOf(CONSENT_STATUSES, j.consentStatus)) fail(10021, `consentStatus ${JSON.stringify(j.consentStatus)}`);
    return { endUserClientId: j.endUserClientId, channelAddressIdentifier: j.channelAddressIdentifier, consentStatus: j.consentStatus };
  }

  function routeRequest(j: Json): RouteRequest {
    if (!isText(j.conversationIdentifier)) fail(10018, 'conversationIdentifier');
    if (!isOneOf(ROUTING_TYPES, j.routingType)) fail(10089, `routingType ${JSON.stringify(j.routingType)}`);
    if (j.routingType === 'Conference' && !features.conferenceRouting) fail(10075);
    const req: RouteRequest = { conversationIdentifier: j.conversationIdentifier, routingType: j.routingType };
    const info = j.routingInfo;
    if (info === undefined) return req;
    if (!isObj(info)) fail(10089, 'routingInfo must be an object');
    const attrs = routingAttributes(info.routingAttributes, 'routingInfo.routingAttributes');
    const hasFlow = info.flow !== undefined && info.flow !== null;
    const hasQueue = info.queueId !== undefined && info.queueId !== null;
    if (hasFlow === hasQueue) fail(10030, hasFlow ? 'both a flow and a queue were given' : 'neither a flow nor a queue was given');
    let routingInfo: RoutingInfo;
    if (hasFlow) {
      const flow = info.flow;
      if (!isObj(flow) || !isText(flow.flowId) || !isText(flow.queueId)) fail(10024);
      routingInfo = { flow: { flowId: flow.flowId, queueId: flow.queueId } };
    } else {
      if (!isText(info.queueId)) fail(10032, 'routingInfo.queueId');
      routingInfo = { queueId: info.queueId };
    }
    if (attrs) routingInfo.routingAttributes = attrs;
    return { ...req, routingInfo };
  }

  function clearRouteRequest(j: Json): ClearRouteRequest {
    if (!isText(j.conversationIdentifier)) fail(10018, 'conversationIdentifier');
    if (j.cancelReason === undefined) return { conversationIdentifier: j.conversationIdentifier };
    if (!isOneOf(CANCEL_REASONS, j.cancelReason)) fail(10089, `cancelReason ${JSON.stringify(j.cancelReason)}`);
    if (!features.cancelReason) fail(10076);
    return { conversationIdentifier: j.conversationIdentifier, cancelReason: j.cancelReason };
  }

  function agentWorkRequest(j: Json): AgentWorkRequest {
    if (!isText(j.userId)) fail(15106, 'userId');
    if (typeof j.workItemId !== 'string' || j.workItemId.length !== 15) fail(15110, 'workItemId must be exactly 15 characters');
    const req: AgentWorkRequest = { userId: j.userId, workItemId: j.workItemId };
    const pct = j.capacityPercentage;
    const weight = j.capacityWeight;
    if (pct !== undefined && weight !== undefined) fail(10013);
    if (pct !== undefined) {
      if (typeof pct !== 'number' || !Number.isFinite(pct) || pct < 0 || pct > 100) fail(10015);
      req.capacityPercentage = pct;
    }
    if (weight !== undefined) {
      if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) fail(10014);
      req.capacityWeight = weight;
    }
    const rc = j.routingContext;
    if (rc !== undefined) {
      if (!isObj(rc) || !isText(rc.conversationIdentifier) || !isText(rc.routingCorrelationId)) {
        fail(10089, 'routingContext needs conversationIdentifier, routingType and routingCorrelationId');
      }
      if (!isOneOf(ROUTING_TYPES, rc.routingType)) fail(10089, `routingContext.routingType ${JSON.stringify(rc.routingType)}`);
      req.routingContext = { conversationIdentifier: rc.conversationIdentifier, routingType: rc.routingType, routingCorrelationId: rc.routingCorrelationId };
    }
    const vis = j.agentActionVisibilities;
    if (vis !== undefined) {
      if (!Array.isArray(vis)) fail(10089, 'agentActionVisibilities must be an array');
      req.agentActionVisibilities = vis.map((v: unknown, i) => {
        if (!isObj(v) || !isOneOf(['Transfer', 'Conference'] as const, v.agentAction) || typeof v.visible !== 'boolean') {
          fail(10089, `agentActionVisibilities[${i}]`);
        }
        if (v.agentAction === 'Conference' && !features.conferenceAgentAction) fail(10077);
        return { agentAction: v.agentAction, visible: v.visible };
      });
    }
    return req;
  }

  function patchAgentWorkRequest(j: Json): PatchAgentWorkRequest {
    if (!isText(j.workId)) fail(10082, 'workId');
    if (!isOneOf(['Agent', 'Chatbot'] as const, j.contextType)) fail(10083, `contextType ${JSON.stringify(j.contextType)}`);
    if (j.contextType === 'Chatbot') {
      if (typeof j.workItemId !== 'string' || j.workItemId.length !== 15) fail(10012, 'workItemId is required for Chatbot');
      if (!isText(j.botId)) fail(10084, 'botId is required for Chatbot');
    }
    if (!isOneOf(AGENT_WORK_STATUSES, j.status)) fail(10085, `status ${JSON.stringify(j.status)}`);
    // The org models rep work only; a Chatbot workId is unknown to it (10082).
    return { workId: j.workId, contextType: j.contextType as 'Agent', status: j.status };
  }

  function routingResultRequest(j: Json): RoutingResultRequest {
    if (!isText(j.conversationIdentifier) || j.conversationIdentifier.length > 240) fail(10018, 'conversationIdentifier');
    if (typeof j.workItemId !== 'string' || j.workItemId.length !== 15) fail(10012, 'workItemId must be exactly 15 characters');
    if (typeof j.success !== 'boolean') fail(10089, 'success must be a boolean');
    if (typeof j.externallyRouted !== 'boolean') fail(10089, 'externallyRouted must be a boolean');
    // "Must be absent": a present null counts as present.
    if (j.success && 'errorMessage' in j) fail(10033);
    if (!j.success && !isText(j.errorMessage)) fail(10034);
    if (j.routingType !== undefined && !isOneOf(ROUTING_TYPES, j.routingType)) fail(10089, `routingType ${JSON.stringify(j.routingType)}`);
    return {
      conversationIdentifier: j.conversationIdentifier,
      workItemId: j.workItemId,
      success: j.success,
      externallyRouted: j.externallyRouted,
      ...(!j.success && { errorMessage: j.errorMessage as string }),
      ...(j.routingType !== undefined && { routingType: j.routingType }),
    };
  }

  function participantRequest(j: Json): ParticipantRequest {
    if (!isText(j.conversationIdentifier)) fail(10018, 'conversationIdentifier');
    if (j.operation !== 'Remove') fail(10089, `operation ${JSON.stringify(j.operation)}`);
    if (!Array.isArray(j.participants) || j.participants.length === 0) fail(10039);
    if (j.participants.length !== 1) fail(10089, 'participants must hold exactly one participant');
    const p: unknown = j.participants[0];
    if (!isObj(p)) fail(10089, 'participants[0] must be an object');
    if (!isOneOf(APP_TYPES, p.appType)) fail(10037, `appType ${JSON.stringify(p.appType)}`);
    if (!isOneOf(PARTICIPANT_ROLES, p.role)) fail(10038, `role ${JSON.stringify(p.role)}`);
    if (!isText(p.subject)) fail(10054);
    return { conversationIdentifier: j.conversationIdentifier, operation: 'Remove', participants: [{ appType: p.appType, subject: p.subject, role: p.role }] };
  }

  function messagingSessionRequest(j: Json): MessagingSessionRequest {
    if (!isText(j.channelAddressIdentifier)) fail(10069, 'channelAddressIdentifier');
    if (!isText(j.endUserClientId)) fail(10020, 'endUserClientId');
    if (!isText(j.conversationIdentifier)) fail(10018, 'conversationIdentifier');
    if (!isOneOf(['End', 'Inactivate'] as const, j.operation)) fail(10089, `operation ${JSON.stringify(j.operation)}`);
    if (j.operationBy !== undefined && !isOneOf(['EndUser', 'System'] as const, j.operationBy)) fail(10089, `operationBy ${JSON.stringify(j.operationBy)}`);
    if (j.operation === 'Inactivate' && !isText(j.sessionId)) fail(10071, 'sessionId is required for Inactivate');
    if (j.sessionId !== undefined && !isText(j.sessionId)) fail(10071, 'sessionId');
    return {
      channelAddressIdentifier: j.channelAddressIdentifier,
      endUserClientId: j.endUserClientId,
      conversationIdentifier: j.conversationIdentifier,
      operation: j.operation,
      ...(j.operationBy !== undefined && { operationBy: j.operationBy }),
      ...(j.sessionId !== undefined && { sessionId: j.sessionId as string }),
    };
  }

  const ok = { success: true };

  const routes: Record<string, Route> = {
    'POST interactions': {
      endpoint: 'POST /interactions',
      multipart: true,
      errorShape: 'error',
      contextType: 'ignored',
      async run(p, call) {
        const req = interactionRequest(p);
        const res = await call((ctx) => org.postInteraction(req, ctx) as unknown as Promise<Json>);
        const i = req.interaction;
        const id = (res.id as string | undefined) ?? (i.kind === 'text' ? i.id : (i.payload.id as string));
        return { status: 202, body: { conversationIdentifier: res.conversationIdentifier, id, workItemIds: res.workItemIds, success: true } };
      },
    },
    'PATCH consent': {
      endpoint: 'PATCH /consent',
      multipart: false,
      errorShape: 'detail',
      contextType: 'ignored',
      async run(p, call) {
        const req = consentRequest(p.json);
        await call(async (ctx) => (await org.patchConsent(req, ctx), {}));
        return { status: 200, body: ok };
      },
    },
    'POST route': {
      endpoint: 'POST /route',
      multipart: false,
      errorShape: 'error',
      contextType: 'optional',
      async run(p, call) {
        const req = routeRequest(p.json);
        const res = await call((ctx) => org.createRoute(req, ctx) as unknown as Promise<Json>);
        return { status: 202, body: { success: true, ...res } };
      },
    },
    'DELETE route': {
      endpoint: 'DELETE /route',
      multipart: false,
      errorShape: 'error',
      contextType: 'ignored',
      async run(p, call) {
        const req = clearRouteRequest(p.json);
        await call(async (ctx) => (await org.clearRoute(req, ctx), {}));
        return { status: 202, body: ok };
      },
    },
    'POST agentWork': {
      endpoint: 'POST /agentWork',
      multipart: false,
      errorShape: 'error',
      contextType: 'ignored',
      async run(p, call) {
        const req = agentWorkRequest(p.json);
        const res = await call((ctx) => org.createAgentWork(req, ctx) as unknown as Promise<Json>);
        const existPsr = res.existPsr === true;
        let psrId = res.psrId as string | undefined;
        if (existPsr && psrId === undefined) {
          psrId = [...org.conversations.values()].find((c) => c.workItemId === req.workItemId)?.psr?.psrId;
        }
        return {
          status: 202,
          body: {
            id: res.agentWorkId,
            agentWorkId: res.agentWorkId,
            success: true,
            agentWorkDetails: {
              existPsr,
              routingContext: req.routingContext ?? null,
              ...(req.capacityPercentage !== undefined && { capacityPercentage: req.capacityPercentage }),
              ...(req.capacityWeight !== undefined && { capacityWeight: req.capacityWeight }),
              ...(psrId !== undefined && { psrId }),
            },
          },
        };
      },
    },
    'PATCH agentWork': {
      endpoint: 'PATCH /agentWork',
      multipart: false,
      errorShape: 'detail',
      contextType: 'required',
      async run(p, call) {
        const req = patchAgentWorkRequest(p.json);
        await call(async (ctx) => (await org.patchAgentWork(req, ctx), {}));
        return { status: 202, body: ok };
      },
    },
    'POST routingResult': {
      endpoint: 'POST /routingResult',
      multipart: false,
      errorShape: 'detail',
      contextType: 'ignored',
      async run(p, call) {
        const req = routingResultRequest(p.json);
        await call(async (ctx) => (await org.reportRoutingResult(req, ctx), {}));
        return { status: 202, body: ok };
      },
    },
    'POST participant': {
      endpoint: 'POST /participant',
      multipart: false,
      errorShape: 'detail',
      contextType: 'ignored',
      async run(p, call) {
        const req = participantRequest(p.json);
        await call(async (ctx) => (await org.removeParticipant(req, ctx), {}));
        return { status: 200, body: ok };
      },
    },
    'POST messagingSession': {
      endpoint: 'POST /messagingSession',
      multipart: false,
      errorShape: 'error',
      contextType: 'ignored',
      async run(p, call) {
        const req = messagingSessionRequest(p.json);
        await call(async (ctx) => (await org.updateMessagingSession(req, ctx), {}));
        return { status: 200, body: ok };
      },
    },
  };
  const resources = new Set(Object.keys(routes).map((k) => k.split(' ')[1]!));

  // ---- transport ----

  function errorBody(shape: ErrorShape, code: number, message: string): Json {
    return shape === 'detail' ? { success: false, errorDetail: { code, message } } : { code, message };
  }

  /** The org applied the call; its answer is lost: the connection is reset (recorded with what the org answered). */
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

  /** Reads the whole body; past `limit` bytes it keeps draining but reports `tooLarge`. */
  function readBody(req: IncomingMessage, limit: number): Promise<{ data: Buffer; tooLarge: boolean }> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let tooLarge = false;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) tooLarge = true;
        else chunks.push(chunk);
      });
      req.on('end', () => resolve({ data: Buffer.concat(chunks), tooLarge }));
      req.on('error', reject);
    });
  }

  function recordHeaders(req: IncomingMessage): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined) continue;
      out[k] = k === 'authorization' ? (/^bearer\s/i.test(String(v)) ? 'Bearer ***' : '***') : Array.isArray(v) ? v.join(', ') : v;
    }
    return out;
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

  function parseBody(route: Route, data: Buffer, contentType: string | undefined, tooLarge: boolean): Parsed {
    if (tooLarge) fail(route.multipart ? 10008 : 10089, 'request body too large');
    if (data.length === 0) fail(10100);
    const type = mediaType(contentType);
    if (!route.multipart) {
      if (type !== 'application/json') fail(10016, 'Content-Type must be application/json');
      let json: unknown;
      try {
        json = JSON.parse(data.toString('utf8'));
      } catch {
        fail(10089, 'the body is not valid JSON');
      }
      if (!isObj(json)) fail(10089, 'the body must be a JSON object');
      return { json };
    }
    if (type !== 'multipart/form-data') fail(10016, 'Content-Type must be multipart/form-data');
    const boundary = headerParams(contentType!).boundary;
    if (!boundary) fail(10016, 'Content-Type multipart/form-data needs a boundary');
    let parts: MultipartPart[];
    try {
      parts = parseMultipart(data, boundary);
    } catch (err) {
      fail(10089, `malformed multipart body: ${(err as Error).message}`);
    }
    const jsonParts = parts.filter((x) => x.name === 'json');
    const files = parts.filter((x) => x.name === 'attachments');
    const other = parts.find((x) => x.name !== 'json' && x.name !== 'attachments');
    if (other) fail(10089, `unexpected form part ${JSON.stringify(other.name)}`);
    if (jsonParts.length !== 1) fail(jsonParts.length === 0 ? 10100 : 10089, 'exactly one json part is required');
    const jp = jsonParts[0]!;
    if (jp.contentType !== undefined && mediaType(jp.contentType) !== 'application/json') fail(10089, 'the json part must be application/json');
    if (files.length > 1) fail(10011, 'at most one attachments file');
    let json: unknown;
    try {
      json = JSON.parse(jp.data.toString('utf8'));
    } catch {
      fail(10089, 'the json part is not valid JSON');
    }
    if (!isObj(json)) fail(10089, 'the json part must be a JSON object');
    return files[0] ? { json, attachment: files[0] } : { json };
  }

  function describePart(p: MultipartPart) {
    return {
      name: p.name,
      ...(p.filename !== undefined && { filename: p.filename }),
      ...(p.contentType !== undefined && { contentType: p.contentType }),
      size: p.data.byteLength,
      sha256: createHash('sha256').update(p.data).digest('hex'),
    };
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
