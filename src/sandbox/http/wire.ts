// Small readers of the wire: headers, media types, multipart bodies, JSON shapes.
import type { IncomingMessage } from 'node:http';

export type Json = Record<string, unknown>;

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const ORG_ID = /^[a-zA-Z0-9]{15}$/;
export const AUTHORIZATION_CONTEXT_TYPES = ['ConversationChannelDefinition', 'EmbeddedMessagingChannel', 'ExternalConversationParticipant'] as const;
export const INBOUND_ENTRY_TYPES = [
  'Message', 'MessageDeliveryFailed', 'TypingStartedIndicator', 'TypingStoppedIndicator', 'DeliveryAcknowledgement',
  'ReadAcknowledgement', 'RoutingWorkResult', 'ParticipantChanged', 'RoutingResult', 'Note', 'FlagRaise', 'FlagLower',
  'EndUserConsentUpdated', 'SessionStatusChanged', 'ConsultConversationInfo',
] as const;
export const MESSAGE_TYPES = ['ChoicesMessage', 'ChoicesResponseMessage', 'FormMessage', 'FormResponseMessage', 'StaticContentMessage'] as const;
export const END_USER_MESSAGE_TYPES = ['StaticContentMessage', 'ChoicesResponseMessage', 'FormResponseMessage'] as const;
export const FORMAT_TYPES = [
  'Attachments', 'RichLink', 'Media', 'Buttons', 'Carousel', 'QuickReplies', 'ListPicker', 'Selections', 'Links', 'TimePicker',
  'Application', 'Result', 'Inputs', 'WebView', 'Text', 'ExperienceType', 'Flow', 'MessageDefinition',
] as const;
export const APP_TYPES = ['custom', 'agent', 'chatbot', 'conversation', 'live_message', 'iamessage'] as const;

export function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isText(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0;
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

/** `name="value"` / `name=value` parameters of a header value. */
export function headerParams(value: string): Record<string, string> {
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
export function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (isObj(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stable(v[k])}`).join(',')}}`;
  return JSON.stringify(v) ?? 'undefined';
}
