// The Pub/Sub messages as @grpc/proto-loader hands them to us with the options in ./proto.ts
// (keepCase, longs as strings, enums as strings, defaults filled in): bytes are Buffers, int64 is a
// string, and every scalar field is present. Outgoing messages may leave fields out.

export type ReplayPresetName = 'LATEST' | 'EARLIEST' | 'CUSTOM';

export interface EventHeader {
  key: string;
  value: Buffer;
}

export interface ProducerEvent {
  id: string;
  schema_id: string;
  payload: Buffer;
  headers: EventHeader[];
}

export interface ConsumerEvent {
  event: ProducerEvent | null;
  replay_id: Buffer;
}

export interface WireError {
  code: 'UNKNOWN' | 'PUBLISH' | 'COMMIT';
  msg: string;
}

export interface TopicRequest {
  topic_name: string;
}

export interface TopicInfo {
  topic_name: string;
  tenant_guid: string;
  can_publish: boolean;
  can_subscribe: boolean;
  schema_id: string;
  rpc_id: string;
}

export interface SchemaRequest {
  schema_id: string;
}

export interface SchemaInfo {
  schema_json: string;
  schema_id: string;
  rpc_id: string;
}

export interface FetchRequest {
  topic_name?: string;
  replay_preset?: ReplayPresetName;
  replay_id?: Buffer;
  num_requested?: number;
  auth_refresh?: string;
}

export interface FetchResponse {
  events: ConsumerEvent[];
  latest_replay_id: Buffer;
  rpc_id: string;
  pending_num_requested: number;
}

export interface CommitReplayRequest {
  commit_request_id: string;
  replay_id: Buffer;
}

export interface CommitReplayResponse {
  commit_request_id: string;
  replay_id: Buffer;
  error: WireError | null;
  /** Epoch ms, as a string (int64). */
  process_time: string;
}

export interface ManagedFetchRequest {
  subscription_id?: string;
  developer_name?: string;
  num_requested?: number;
  auth_refresh?: string;
  commit_replay_id_request?: CommitReplayRequest;
}

export interface ManagedFetchResponse extends FetchResponse {
  commit_response: CommitReplayResponse | null;
}

export interface PublishRequest {
  topic_name: string;
  events: Array<Partial<ProducerEvent> & { payload: Buffer }>;
  auth_refresh?: string;
}

export interface PublishResult {
  replay_id: Buffer;
  error: WireError | null;
  correlation_key: string;
}

export interface PublishResponse {
  results: PublishResult[];
  schema_id: string;
  rpc_id: string;
}
