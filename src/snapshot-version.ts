// Which saved sessions the running charts restore as they are: the persisted layout's version, the
// hash of the charts a snapshot was taken from, and the earlier charts whose snapshots still fit.
import { chartHash } from './chart-export.js';
import type { PersistedSession } from './io/store/session-store.js';
import { routingMachine } from './machines/routing.js';
import { sessionMachine } from './machines/session.js';

/**
 * Version of the persisted layout. Bump it when a snapshot from the previous layout cannot be
 * restored as it is (the chart hash covers the charts, not the shape of their context).
 * 2: sessions hold `joining` (accepted reps not yet present).
 * 3: a routing's context nests its settings, route and offer (kept under V8's fast-object limit);
 *    routing children are named by slot (`routing:0`…), not by routing id.
 * 4: a session's pending routings are a list (`routings: PendingRouting[]`), not a record keyed by
 *    routing id, and its `workIndex` is gone (agent-work events find their request by `workId`);
 *    a request refused at once is a `Refusal` of the session (its failed routingResult out), not a
 *    routing child.
 */
export const SCHEMA_VERSION = 4;

let cachedHash: string | undefined;
/** The hash of the charts a snapshot must come from to be restored as it is. */
export function currentChartHash(): string {
  cachedHash ??= `${chartHash(sessionMachine)}.${chartHash(routingMachine)}`;
  return cachedHash;
}

/**
 * Earlier charts whose snapshots the current charts restore as they are, with the session states
 * each had: the same states under the same names and the same context layout, only transitions,
 * guards or actions changed. A session saved by one of them is restored, not finished as stale, so
 * an upgrade (or a fleet host of the new version taking an org over) keeps its pending requests.
 * List a chart here only when that holds; test/persistence.test.ts checks that its states still
 * exist and that its routing chart is the current one.
 */
export const RESTORABLE_EARLIER_CHARTS: ReadonlyMap<string, { session: readonly string[] }> = new Map([
  // 2026-12-06: before the session chart's conditions became guards and its end with nothing
  // pending went straight to `ended`; the same states, context and routing chart.
  ['d624b2d36e44f8ec.04929d7f2bcc1567', { session: ['active', 'ending', 'ended'] }],
  // 2026-12-07: before the session kept the AgentWork ids whose offer is over (closedWork) and
  // whether an offer without an id has ended (unnamedOfferEnded); the same states and routing
  // chart, and the context differs only by those keys, which are optional (absent: nothing yet).
  ['bfbb91b382e42059.04929d7f2bcc1567', { session: ['active', 'ending', 'ended'] }],
]);

/** Whether a saved session is restored as it is; if not, it is finished as stale (src/engine/restore.ts). */
export function restorableAsItIs(rec: Pick<PersistedSession, 'schemaVersion' | 'chartHash'>): boolean {
  return rec.schemaVersion === SCHEMA_VERSION && (rec.chartHash === currentChartHash() || RESTORABLE_EARLIER_CHARTS.has(rec.chartHash));
}
