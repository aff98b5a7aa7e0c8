// The Pub/Sub server's public shapes: its options, the faults it can inject, what it records, and
// the handle `startPubSubServer` returns. Re-exported by ../pubsub-server.ts.

export interface ManagedSubscriptionConfig {
  developerName: string;
  /** The 18-char record id; generated when omitted. */
  id?: string;
  /** Where a subscription with no commit yet starts. Default LATEST. */
  replayPreset?: 'LATEST' | 'EARLIEST';
}

export interface PubSubServerOptions {
  /** Default `/event/sb__Conversation__e`. */
  topic?: string;
  /** The custom payload field. Default `sb__Payload__c`. */
  payloadField?: string;
  /** The custom event type field. Default `sb__EventType__c`. */
  typeField?: string;
  /** Access tokens accepted in the `accesstoken` header. Default `['sandbox-token']`. */
  tokens?: Iterable<string>;
  /** When set, the `tenantid` header must equal it. */
  tenantId?: string;
  /** How often an idle stream gets an empty keepalive FetchResponse. Default 60 s (Salesforce: within 270 s). */
  keepaliveIntervalMs?: number;
  /** A stream with nothing requested for this long is closed. Default 60 s, as Salesforce. */
  idleTimeoutMs?: number;
  /** Events per FetchResponse at most. Default 25. */
  maxEventsPerResponse?: number;
  /** Replay id of the first published event. Default 2^40, so ids are wider than 32 bits like real ones. */
  firstReplayId?: bigint;
  managedSubscriptions?: ManagedSubscriptionConfig[];
  /** Default 0: any free port. */
  port?: number;
}

export interface PublishOptions {
  eventId?: string;
  /** CreatedDate; a bigint beyond 2^53 exercises BigInt-safe longs. Default now. */
  createdDate?: number | bigint;
  createdById?: string;
  /** Store bytes that do not decode with the schema. */
  malformed?: boolean;
}

export interface Published {
  replayId: Buffer;
  eventId: string;
  schemaId: string;
}

export type PubSubFault =
  /** Fail open streams with UNAVAILABLE, or INTERNAL "RST_STREAM" — after `afterEvents` more events have been sent, i.e. mid-batch. */
  | { type: 'drop'; code?: 'UNAVAILABLE' | 'INTERNAL'; afterEvents?: number }
  /** The token stops being valid; streams opened with it fail with UNAUTHENTICATED. */
  | { type: 'expireToken'; token: string }
  /** The next Subscribe from a CUSTOM replay id is refused as corrupted. */
  | { type: 'rejectReplayId'; errorCode?: string }
  /** Open streams stop sending anything — no events, no keepalives — but stay open (a half-open connection). */
  | { type: 'silence' }
  /** A new schema (an extra field, a new schema id) for everything published from now on. */
  | { type: 'changeSchema' }
  /** The next `count` delivered events are each delivered again in the next response. */
  | { type: 'duplicate'; count?: number }
  /** The next two events go out in swapped order. */
  | { type: 'reorder' };

export type StreamCloseReason = 'client' | 'idle' | 'fault' | 'auth' | 'replay' | 'invalid' | 'server';

export interface StreamRecord {
  id: number;
  kind: 'subscribe' | 'managed';
  /** The token the stream was opened with (this is a test server). */
  token: string;
  replayPreset?: string;
  /** Hex of the CUSTOM replay id asked for. */
  replayId?: string;
  subscription?: string;
  /** num_requested of every request, in order. */
  fetchRequests: number[];
  /** The most credit the client ever had outstanding on this stream, before the server's cap of 100. */
  maxOutstanding: number;
  delivered: number;
  /** Hex replay ids in the order sent (duplicates included). */
  deliveredReplayIds: string[];
  keepalives: number;
  openedAt: number;
  closedAt?: number;
  closedBy?: StreamCloseReason;
  status?: { code: number; details: string };
}

export interface PubSubServerRecords {
  streams: StreamRecord[];
  getTopicCalls: number;
  /** GetSchema calls by schema id. */
  getSchemaCalls: Record<string, number>;
  commits: Array<{ subscription: string; replayId: string }>;
  authFailures: number;
  published: number;
  schemaId: string;
}

export interface PubSubServer {
  /** `127.0.0.1:<port>`. */
  address: string;
  topic: string;
  /** Appends an event to the log (the type or payload may be null to make a bad event). */
  publish(eventType: string | null, payloadJson: string | null, opts?: PublishOptions): Published;
  inject(fault: PubSubFault): { schemaId?: string };
  addToken(token: string): void;
  records(): PubSubServerRecords;
  /** Streams not yet closed. */
  openStreams(): StreamRecord[];
  stop(): Promise<void>;
}

/** What the server counts as it goes; `records()` hands out copies. */
export interface Counters {
  getTopicCalls: number;
  /** GetSchema calls by schema id. */
  getSchemaCalls: Record<string, number>;
  commits: Array<{ subscription: string; replayId: string }>;
  authFailures: number;
}
