// The faults real clients trip over (reference §7), injected on demand: which are armed and waiting
// for a stream to trip them (a drop after so many events, duplicates, a swap, a refused replay id),
// and `inject`, which arms them or acts at once on the open streams (an expired token, silence, a
// schema change).
import * as grpc from '@grpc/grpc-js';
import type { Auth } from './auth.js';
import { AUTH_DETAILS, ERROR_CODES, statusError, type StatusError } from './codes.js';
import type { Schemas } from './schemas.js';
import type { Streams } from './streams.js';
import type { PubSubFault } from './types.js';

/** Faults waiting for a stream to trip them. */
export class PendingFaults {
  /** Fail the stream that sends `remaining` more events. */
  drop: { code: grpc.status; remaining: number } | undefined;
  /** How many of the next delivered events are delivered again. */
  duplicate = 0;
  /** The next two events go out swapped. */
  reorder = false;
  /** The error code the next Subscribe from a CUSTOM replay id is refused with. */
  rejectReplay: string | undefined;

  /** Disarms the drop fault; the status a stream it trips on fails with. */
  tripDrop(): StatusError {
    const code = this.drop?.code ?? grpc.status.UNAVAILABLE;
    this.drop = undefined;
    return code === grpc.status.INTERNAL
      ? statusError(grpc.status.INTERNAL, 'Received RST_STREAM with code 0', ERROR_CODES.serviceUnavailable)
      : statusError(grpc.status.UNAVAILABLE, 'The service is unavailable. Try again later.', ERROR_CODES.serviceUnavailable);
  }

  /** Disarms the replay-id refusal; its error code, when one was armed. */
  takeReplayRejection(): string | undefined {
    const errorCode = this.rejectReplay;
    this.rejectReplay = undefined;
    return errorCode;
  }
}

export interface FaultTargets {
  faults: PendingFaults;
  streams: Streams;
  auth: Auth;
  schemas: Schemas;
}

export function inject(fault: PubSubFault, { faults, streams, auth, schemas }: FaultTargets): { schemaId?: string } {
  const open = streams.live();
  switch (fault.type) {
    case 'drop': {
      const code = fault.code === 'INTERNAL' ? grpc.status.INTERNAL : grpc.status.UNAVAILABLE;
      faults.drop = { code, remaining: Math.max(0, fault.afterEvents ?? 0) };
      // Nothing left to send first: drop the open streams now.
      if (faults.drop.remaining === 0) {
        const target = open.find((s) => s.started);
        if (target) streams.dropNow(target);
      }
      return {};
    }
    case 'expireToken':
      auth.revoke(fault.token);
      for (const s of open) {
        if (s.rec.token === fault.token) streams.close(s, 'auth', statusError(grpc.status.UNAUTHENTICATED, AUTH_DETAILS));
      }
      return {};
    case 'rejectReplayId':
      faults.rejectReplay = fault.errorCode ?? ERROR_CODES.replayIdCorrupted;
      return {};
    case 'silence':
      for (const s of open) s.silenced = true;
      return {};
    case 'changeSchema': {
      const version = schemas.add(`sb__Extra${schemas.size + 1}__c`);
      return { schemaId: version.id };
    }
    case 'duplicate':
      faults.duplicate += Math.max(1, fault.count ?? 1);
      return {};
    case 'reorder':
      faults.reorder = true;
      return {};
  }
}
