// Per-call credentials for the Pub/Sub API. Salesforce reads three metadata headers on every RPC;
// the token is fetched for each new call (the caller's getToken caches) and force-refreshed only
// after an UNAUTHENTICATED. The token lives in the Metadata object and nowhere else: never log either.
import * as grpc from '@grpc/grpc-js';

export interface PubSubAuth {
  /** An access token for the org; `forceRefresh` after Salesforce rejected the current one. */
  getToken(options?: { forceRefresh?: boolean }): Promise<string>;
  /** https://<my-domain>.my.salesforce.com */
  instanceUrl: string;
  /** The org id. */
  tenantId: string;
}

export async function callMetadata(auth: PubSubAuth, forceRefresh = false): Promise<grpc.Metadata> {
  const token = await auth.getToken(forceRefresh ? { forceRefresh: true } : undefined);
  const md = new grpc.Metadata();
  md.set('accesstoken', token);
  md.set('instanceurl', auth.instanceUrl);
  md.set('tenantid', auth.tenantId);
  return md;
}

/** Salesforce's `error-code` trailer (e.g. `sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted`). */
export function errorCodeOf(metadata: grpc.Metadata | undefined): string | undefined {
  const value = metadata?.get('error-code')[0];
  return value === undefined ? undefined : String(value);
}
