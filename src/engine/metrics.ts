// Metrics through OpenTelemetry's API — the package only: the app brings the SDK and exporter (and
// without one every instrument is a no-op that costs next to nothing). Names and units are listed
// in docs/operations.md, "Metrics: OpenTelemetry".
import { metrics, type Attributes, type Counter, type Histogram, type Meter } from '@opentelemetry/api';
import { InteractionApiError } from '../domain/errors.js';
import type { InteractionClient } from '../io/interaction-api/index.js';
import type { AppEvents } from './app-events.js';

const SCOPE = 'switchboard-ccaas';

export interface EngineGauges {
  sessions(): number;
  asleep(): number;
  pendingRoutings(): number;
  inFlight(): number;
  /** ms between now and the newest platform event's CreatedDate, when any arrived. */
  lagMs(): number | undefined;
  queueDepth(): number | undefined;
}

export class EngineMetrics {
  readonly #outcomes: Counter;
  readonly #reportMargin: Histogram;
  readonly #callDuration: Histogram;
  readonly #queueWait: Histogram;
  readonly #breakerOpens: Counter;
  readonly #reconnects: Counter;
  readonly #decodeErrors: Counter;
  readonly #rejected: Counter;

  constructor(meter: Meter | undefined, gauges: EngineGauges, base: Attributes = {}) {
    const m = meter ?? metrics.getMeter(SCOPE);
    this.#outcomes = m.createCounter('switchboard.routing.outcomes', { description: 'Routing requests finished, by outcome and routing type.', unit: '{request}' });
    this.#reportMargin = m.createHistogram('switchboard.routing.report_margin', {
      description: 'Time left in the routing window when POST /routingResult was answered (negative: late).',
      unit: 'ms',
    });
    this.#callDuration = m.createHistogram('switchboard.interaction.duration', { description: 'Interaction Service calls, from the engine asking to the answer, by endpoint and status.', unit: 'ms' });
    this.#queueWait = m.createHistogram('switchboard.interaction.queue_wait', { description: 'Time a call waited for a rate-limit slot and a connection, by priority.', unit: 'ms' });
    this.#breakerOpens = m.createCounter('switchboard.interaction.breaker_opens', { description: 'Circuit breakers opened, by endpoint class.', unit: '{open}' });
    this.#reconnects = m.createCounter('switchboard.pubsub.reconnects', { description: 'Pub/Sub streams that ended and were opened again.', unit: '{stream}' });
    this.#decodeErrors = m.createCounter('switchboard.pubsub.decode_errors', { description: 'Platform events that could not be decoded (skipped).', unit: '{event}' });
    this.#rejected = m.createCounter('switchboard.intake.rejected', { description: 'Input refused (malformed, over a limit, after stop), by error code.', unit: '{event}' });
    const gauge = (name: string, description: string, unit: string, read: () => number | undefined) =>
      m.createObservableGauge(name, { description, unit }).addCallback((r) => {
        const v = read();
        if (v !== undefined) r.observe(v, base);
      });
    gauge('switchboard.sessions', 'Sessions held, awake and asleep.', '{session}', gauges.sessions);
    gauge('switchboard.sessions.asleep', 'Sessions asleep (held as a snapshot).', '{session}', gauges.asleep);
    gauge('switchboard.routing.pending', 'Routing requests in progress.', '{request}', gauges.pendingRoutings);
    gauge('switchboard.interaction.in_flight', 'Calls and rep picks in flight.', '{call}', gauges.inFlight);
    gauge('switchboard.interaction.queue_depth', 'Calls waiting in the rate limiter.', '{call}', gauges.queueDepth);
    gauge('switchboard.pubsub.lag', 'Now minus the newest platform event’s CreatedDate.', 'ms', gauges.lagMs);
    this.#base = base;
  }

  readonly #base: Attributes;
  // A measurement reuses the attribute set of its values rather than build one per call (the SDK
  // only reads them). They are few: endpoints × statuses, outcomes × routing types, error codes.
  readonly #outcomeSets = new AttributeSets((outcome, routingType) => ({ outcome, 'routing.type': routingType }));
  readonly #callSets = new AttributeSets((endpoint, status) => ({ endpoint, status }));
  readonly #queueSets = new AttributeSets((priority) => ({ priority }));
  readonly #breakerSets = new AttributeSets((endpointClass) => ({ 'endpoint.class': endpointClass }));
  readonly #rejectedSets = new AttributeSets((code) => ({ code }));

  routingFinished(outcome: string, routingType: string): void {
    this.#outcomes.add(1, this.#outcomeSets.get(this.#base, outcome, routingType));
  }

  /** A call answered (or failed) after `ms`; a routingResult also records its margin to the window's end. */
  call(endpoint: string, ms: number, err: unknown, windowEnd?: number): void {
    const status = err === undefined ? 'ok' : err instanceof InteractionApiError ? (err.status !== undefined ? String(err.status) : err.kind) : 'error';
    this.#callDuration.record(ms, this.#callSets.get(this.#base, endpoint, status));
    if (endpoint === 'POST /routingResult' && windowEnd !== undefined) this.#reportMargin.record(windowEnd - Date.now(), this.#base);
  }

  queueWait(ms: number, priority: string): void {
    this.#queueWait.record(ms, this.#queueSets.get(this.#base, priority));
  }

  breakerOpened(endpointClass: string): void {
    this.#breakerOpens.add(1, this.#breakerSets.get(this.#base, endpointClass));
  }

  reconnect(): void {
    this.#reconnects.add(1, this.#base);
  }

  decodeError(): void {
    this.#decodeErrors.add(1, this.#base);
  }

  rejected(code: string): void {
    this.#rejected.add(1, this.#rejectedSets.get(this.#base, code));
  }
}

/** Attribute sets made once per pair of values, with the engine's base attributes, and reused. */
class AttributeSets {
  readonly #sets = new Map<string, Map<string, Attributes>>();
  constructor(readonly make: (a: string, b: string) => Attributes) {}

  get(base: Attributes, a: string, b = ''): Attributes {
    let byB = this.#sets.get(a);
    if (!byB) this.#sets.set(a, (byB = new Map()));
    let set = byB.get(b);
    if (!set) byB.set(b, (set = Object.freeze(Object.assign({}, base, this.make(a, b)))));
    return set;
  }
}

/** What the engine reports as it happens, turned into measurements. */
export function wireMetrics(m: EngineMetrics, events: AppEvents, client: InteractionClient | undefined): void {
  events.on('routing.finished', (e) => m.routingFinished(e.output.outcome, e.output.routingType));
  events.on('rejected', (e) => m.rejected(e.error.code));
  client?.on('breaker', (change) => {
    if (change.state === 'open') m.breakerOpened(change.endpointClass);
  });
  client?.on('queued', (q) => m.queueWait(q.waitMs, q.priority));
}
