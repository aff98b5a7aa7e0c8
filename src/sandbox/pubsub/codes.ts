// Salesforce's words, as clients see them (reference §3.3): the `error-code` values of the
// trailers, the authentication text, and a status with the `error-code` and `rpc-id` trailers.
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';

export const ERROR_CODES = {
  serviceUnavailable: 'sfdc.platform.eventbus.grpc.service.unavailable',
  replayIdCorrupted: 'sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted',
  replayIdValidationFailed: 'sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed',
} as const;

export const AUTH_DETAILS = 'An authentication exception occurred. Provide valid authentication via metadata headers';

export type StatusError = Partial<grpc.StatusObject> & { code: number; details: string };

export function statusError(code: grpc.status, details: string, errorCode?: string): StatusError {
  const metadata = new grpc.Metadata();
  if (errorCode) metadata.set('error-code', errorCode);
  metadata.set('rpc-id', randomUUID());
  return { code, details, metadata };
}
