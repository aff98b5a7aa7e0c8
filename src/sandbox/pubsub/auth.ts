// Per-call metadata auth, as Salesforce checks it: an accepted `accesstoken`, a non-empty
// `instanceurl` and a `tenantid` (equal to the configured one, when there is one). Unary calls that
// fail it are answered UNAUTHENTICATED before they reach their handler.
import * as grpc from '@grpc/grpc-js';
import { AUTH_DETAILS, statusError } from './codes.js';
import type { Counters } from './types.js';

type UnaryCall<Req> = grpc.ServerUnaryCall<Req, unknown>;
type Callback<Res> = grpc.sendUnaryData<Res>;

export interface Auth {
  /** The token the call carries when it is accepted; undefined (and counted) when it is not. */
  authenticate(md: grpc.Metadata): string | undefined;
  /** A unary handler behind the auth check; a handler returning a status fails the call with it. */
  guard<Req, Res>(fn: (call: UnaryCall<Req>) => Res | Partial<grpc.StatusObject>): (call: UnaryCall<Req>, cb: Callback<Res>) => void;
  addToken(token: string): void;
  /** The token stops being accepted. */
  revoke(token: string): void;
}

export function createAuth(accepted: Iterable<string>, tenantId: string | undefined, counters: Counters): Auth {
  const tokens = new Set(accepted);

  function authenticate(md: grpc.Metadata): string | undefined {
    const token = md.get('accesstoken')[0];
    const instanceUrl = md.get('instanceurl')[0];
    const tenant = md.get('tenantid')[0];
    const ok =
      typeof token === 'string' &&
      tokens.has(token) &&
      typeof instanceUrl === 'string' &&
      instanceUrl !== '' &&
      typeof tenant === 'string' &&
      (tenantId === undefined || tenant === tenantId);
    if (!ok) {
      counters.authFailures += 1;
      return undefined;
    }
    return token as string;
  }

  function guard<Req, Res>(fn: (call: UnaryCall<Req>) => Res | Partial<grpc.StatusObject>) {
    return (call: UnaryCall<Req>, cb: Callback<Res>) => {
      if (!authenticate(call.metadata)) {
        cb(statusError(grpc.status.UNAUTHENTICATED, AUTH_DETAILS) as grpc.ServiceError);
        return;
      }
      const out = fn(call);
      if (out && typeof out === 'object' && 'code' in out && typeof out.code === 'number') cb(out as grpc.ServiceError);
      else cb(null, out as Res);
    };
  }

  return {
    authenticate,
    guard,
    addToken: (token) => void tokens.add(token),
    revoke: (token) => void tokens.delete(token),
  };
}
