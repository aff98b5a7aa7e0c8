// A SandboxOrg behind the sandbox HTTP server, and a plain-fetch caller that sends the standard
// headers (reference §1.1) unless a test overrides or removes them.
import { randomUUID } from 'node:crypto';
import type { AgentWorkEvent, PlatformEvent } from '../../src/domain/events.js';
import { FaultPlan } from '../../src/sandbox/faults.js';
import { startInteractionServer, type InteractionServer, type InteractionServerOptions } from '../../src/sandbox/http-server.js';
import { SandboxOrg, type SandboxOrgOptions, type SandboxRep } from '../../src/sandbox/org.js';

export const ORG_ID = '00DSB000000AAAA';
export const AUTH_CONTEXT = 'Partner1_ChannelDefinition1';
export const TOKEN = `${ORG_ID}!sandbox-access-token`;
export const CHANNEL = '8a2f3c4d-0000-4000-8000-00000000c0de';
export const ANN = '005SB000000ANN1';
export const BOB = '005SB000000BOB1';

export const REPS: SandboxRep[] = [
  { userId: ANN, name: 'Ann', behaviour: 'accept', answerAfterMs: 5 },
  { userId: BOB, name: 'Bob', behaviour: 'ignore' },
];

export interface Reply {
  status: number;
  // Tests read arbitrary fields of the JSON answer.
  body: any;
  headers: Headers;
}

export interface CallOptions {
  /** Header overrides; `undefined` removes a standard header. */
  headers?: Record<string, string | undefined>;
  requestId?: string;
  /** Send this body as is (no JSON encoding). */
  raw?: string | Uint8Array | FormData;
  token?: string;
}

export interface Sandbox {
  server: InteractionServer;
  org: SandboxOrg;
  events: PlatformEvent[];
  relayed: AgentWorkEvent[];
  faults: FaultPlan;
  call(method: string, resource: string, body?: unknown, opts?: CallOptions): Promise<Reply>;
  /** POST /interactions with one text message from `from`; returns the conversation and its work item. */
  converse(from?: string, text?: string): Promise<{ conversationIdentifier: string; workItemId: string; id: string }>;
  close(): Promise<void>;
}

export function textInteraction(text: string, id: string = randomUUID(), timestamp = Date.now()) {
  return {
    interactionType: 'EntryInteraction',
    timestamp,
    payload: { id, entryType: 'Message', abstractMessage: { messageType: 'StaticContentMessage', id, staticContent: { formatType: 'Text', text } } },
  };
}

export function interactionForm(json: unknown, file?: { data: Uint8Array; name: string; type: string }): FormData {
  const form = new FormData();
  form.append('json', new Blob([JSON.stringify(json)], { type: 'application/json' }));
  if (file) form.append('attachments', new Blob([file.data], { type: file.type }), file.name);
  return form;
}

export async function startSandbox(
  options: Omit<Partial<InteractionServerOptions>, 'org'> & { org?: Partial<SandboxOrgOptions>; seed?: number } = {},
): Promise<Sandbox> {
  const events: PlatformEvent[] = [];
  const relayed: AgentWorkEvent[] = [];
  const { org: orgOptions, seed, ...serverOptions } = options;
  const org = new SandboxOrg({ publish: (e) => events.push(e), relay: (e) => relayed.push(e), reps: REPS.map((r) => ({ ...r })), ...orgOptions });
  const faults = serverOptions.faults ?? new FaultPlan({ seed: seed ?? 1 });
  const server = await startInteractionServer({
    org,
    orgId: ORG_ID,
    authorizationContext: AUTH_CONTEXT,
    tokens: { isValid: (t) => t === TOKEN },
    ...serverOptions,
    faults,
  });

  async function call(method: string, resource: string, body?: unknown, opts: CallOptions = {}): Promise<Reply> {
    const multipart = opts.raw instanceof FormData;
    const headers: Record<string, string | undefined> = {
      authorization: `Bearer ${opts.token ?? TOKEN}`,
      orgid: ORG_ID,
      authorizationcontext: AUTH_CONTEXT,
      requestid: opts.requestId ?? randomUUID(),
      accept: 'application/json',
      ...(!multipart && { 'content-type': 'application/json' }),
      ...(method === 'PATCH' && resource === 'agentWork' && { authorizationcontexttype: 'ConversationChannelDefinition' }),
      ...opts.headers,
    };
    const sent = Object.fromEntries(Object.entries(headers).filter((e): e is [string, string] => e[1] !== undefined));
    const res = await fetch(`${server.url}/api/v1/${resource}`, {
      method,
      headers: sent,
      ...(opts.raw !== undefined ? { body: opts.raw } : body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // keep the text
    }
    return { status: res.status, body: parsed, headers: res.headers };
  }

  async function converse(from = `enduser-${randomUUID()}`, text = 'hello') {
    const id = randomUUID();
    const res = await call('POST', 'interactions', undefined, { raw: interactionForm({ to: CHANNEL, from, interactions: [textInteraction(text, id)] }) });
    if (res.status !== 202) throw new Error(`POST /interactions answered ${res.status}: ${JSON.stringify(res.body)}`);
    return { conversationIdentifier: res.body.conversationIdentifier as string, workItemId: (res.body.workItemIds as string[])[0]!, id };
  }

  return {
    server,
    org,
    events,
    relayed,
    faults,
    call,
    converse,
    async close() {
      org.close();
      await server.close();
    },
  };
}
