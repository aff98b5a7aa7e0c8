// A request's body: read (bounded), parsed as JSON or multipart/form-data with the documented codes
// for what is wrong, and described for the request records without the secrets of its headers.
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { fail } from './codes.js';
import type { Parsed } from './validate.js';
import { headerParams, isObj, mediaType, parseMultipart, type MultipartPart } from './wire.js';

/** Reads the whole body; past `limit` bytes it keeps draining but reports `tooLarge`. */
export function readBody(req: IncomingMessage, limit: number): Promise<{ data: Buffer; tooLarge: boolean }> {
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

export function recordHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    out[k] = k === 'authorization' ? (/^bearer\s/i.test(String(v)) ? 'Bearer ***' : '***') : Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

export function parseBody(route: { multipart: boolean }, data: Buffer, contentType: string | undefined, tooLarge: boolean): Parsed {
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

export function describePart(p: MultipartPart) {
  return {
    name: p.name,
    ...(p.filename !== undefined && { filename: p.filename }),
    ...(p.contentType !== undefined && { contentType: p.contentType }),
    size: p.data.byteLength,
    sha256: createHash('sha256').update(p.data).digest('hex'),
  };
}
