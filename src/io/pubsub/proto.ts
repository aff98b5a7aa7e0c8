// Loads proto/pubsub_api.proto at run time from the package's own copy: nothing is fetched or
// generated. The path is resolved from this module, so it works from src/ (tsx, vitest) and from
// dist/ after the build, which mirrors src/ (dist/io/pubsub/proto.js → ../../../proto).
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type {
  FetchRequest,
  FetchResponse,
  ManagedFetchRequest,
  ManagedFetchResponse,
  PublishRequest,
  PublishResponse,
  SchemaInfo,
  SchemaRequest,
  TopicInfo,
  TopicRequest,
} from './wire.js';

export const PUBSUB_PROTO_PATH = fileURLToPath(new URL('../../../proto/pubsub_api.proto', import.meta.url));

/** The loader options the wire types in ./wire.ts assume. */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

type Unary<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, response?: Res) => void,
) => grpc.ClientUnaryCall;

/** The generated client's methods we call, typed against ./wire.ts. */
export interface PubSubClient extends grpc.Client {
  Subscribe(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<FetchRequest, FetchResponse>;
  ManagedSubscribe(
    metadata: grpc.Metadata,
    options?: grpc.CallOptions,
  ): grpc.ClientDuplexStream<ManagedFetchRequest, ManagedFetchResponse>;
  GetTopic: Unary<TopicRequest, TopicInfo>;
  GetSchema: Unary<SchemaRequest, SchemaInfo>;
  Publish: Unary<PublishRequest, PublishResponse>;
}

export interface PubSubClientConstructor {
  new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions): PubSubClient;
  service: grpc.ServiceDefinition;
}

let cached: PubSubClientConstructor | undefined;

/** The `eventbus.v1.PubSub` client constructor (and its service definition, for servers). */
export function loadPubSubService(): PubSubClientConstructor {
  if (!cached) {
    const definition = protoLoader.loadSync(PUBSUB_PROTO_PATH, PROTO_LOADER_OPTIONS);
    const pkg = grpc.loadPackageDefinition(definition) as unknown as {
      eventbus: { v1: { PubSub: PubSubClientConstructor } };
    };
    cached = pkg.eventbus.v1.PubSub;
  }
  return cached;
}
