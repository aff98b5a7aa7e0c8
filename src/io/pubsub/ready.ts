// What start() checks before it resolves: the CCD's field names against the topic's schema, and
// that the stream is subscribed.
import * as grpc from '@grpc/grpc-js';
import type { ActorRefFrom, StateValue } from 'xstate';
import { ConfigError } from '../../domain/errors.js';
import type { subscriptionMachine } from '../../machines/subscription.js';
import { PubSubStreamError } from './errors.js';

/** The CCD's payload and type fields must be fields of the topic's schema (SB_CONFIG names those it has). */
/** `{streaming: {link: {subscribed: 'flowing'}, watchdog: …}}` → `subscribed.flowing`. */
export function describeSubscriptionState(value: StateValue): string {
  if (typeof value === 'string') return value;
  const streaming = (value as Record<string, StateValue>).streaming;
  if (streaming && typeof streaming === 'object') {
    let link = (streaming as Record<string, StateValue>).link;
    const path: string[] = [];
    while (link !== undefined) {
      if (typeof link === 'string') {
        path.push(link);
        break;
      }
      const [key, child] = Object.entries(link)[0]!;
      path.push(key);
      link = child;
    }
    return path.join('.');
  }
  return Object.keys(value)[0] ?? 'unknown';
}

export function checkFields(type: { fields?: ReadonlyArray<{ name: string }> }, topic: string, names: { payloadField: string; typeField: string }): void {
  const fields = (type.fields ?? []).map((f) => f.name);
  if (fields.length === 0) return;
  const missing = (['payloadField', 'typeField'] as const).filter((k) => !fields.includes(names[k]));
  if (missing.length === 0) return;
  const custom = fields.filter((f) => f.endsWith('__c'));
  throw new ConfigError(
    `${missing.map((k) => `pubsub.${k} '${names[k]}'`).join(' and ')} ${missing.length > 1 ? 'are not fields' : 'is not a field'} of ${topic}; its schema has ${(custom.length ? custom : fields).join(', ')} (the CCD's CustomEventPayloadField and CustomEventTypeField)`,
  );
}

/**
 * Resolves once the stream is subscribed — Salesforce took the Subscribe call and our first
 * FetchRequest with it — so an event published after start() returns is delivered, also from
 * LATEST. Rejects when the subscription gives up, or after `timeoutMs` (it keeps trying).
 */
export function untilSubscribed(a: ActorRefFrom<typeof subscriptionMachine>, topic: string, timeoutMs: number, lastError: () => string | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.unsubscribe();
      reject(new PubSubStreamError(grpc.status.DEADLINE_EXCEEDED, `not subscribed to ${topic} within ${timeoutMs} ms${lastError() ? ` (last: ${lastError()})` : ''}; the subscription keeps trying`));
    }, timeoutMs);
    timer.unref?.();
    const sub = a.subscribe({
      next(snapshot) {
        const state = describeSubscriptionState(snapshot.value);
        if (state.startsWith('subscribed')) {
          clearTimeout(timer);
          sub.unsubscribe();
          resolve();
        } else if (snapshot.status !== 'active') {
          clearTimeout(timer);
          sub.unsubscribe();
          reject(new PubSubStreamError(grpc.status.CANCELLED, `the subscription to ${topic} ended before it was established (${state})`));
        }
      },
      error(err) {
        clearTimeout(timer);
        reject(err);
      },
    });
  });
}
