// Restore at start: the sessions saved in the store come back — asleep when nothing is pending,
// as live actors otherwise (their deadlines re-armed from the absolute times in their context) —
// and a session saved by another chart or layout is finished cleanly rather than restored: the
// routingResult it still owes is sent, an AgentWork it left offered is cancelled, its PSR cleared.
import type { Logger } from 'pino';
import type { CallContext, InteractionService } from '../domain/ports.js';
import { stepKey } from '../domain/step-key.js';
import type { PersistedSession } from '../io/store/index.js';
import { refusalReportInput } from '../machines/routing-calls.js';
import type { Refusal } from '../machines/session.js';
import type { InDoubt, Persistence } from '../persistence.js';
import type { RoutingView, StepRunner } from './effects.js';
import { isIdleSnapshot, type SessionRegistry } from './registry.js';

export interface RestoreOptions {
  persistence: Persistence;
  registry: SessionRegistry;
  runner: StepRunner;
  api: InteractionService;
  log: Logger;
  /** Sessions with nothing pending are restored asleep unless sleep is off. */
  restoreAsleep: boolean;
  /** Dedupe keys saved with the sessions, as the store wrote them. */
  rememberSeen: (keys: string[]) => void;
  dedupeWindow: number;
}

export interface RestoreCounters {
  restored: number;
  finishedStale: number;
}

export async function restoreSessions(o: RestoreOptions, counters: RestoreCounters): Promise<void> {
  const { persistence, registry } = o;
  const { current, stale } = await persistence.load();
  // Oldest first, so idle expiry can stop at the first session still recent.
  current.sort((a, b) => a.savedAt - b.savedAt);
  for (const rec of current) {
    // A session with nothing pending is restored asleep: no actor is built for it until its next
    // event, so a restart with many idle sessions reaches the subscription (and the windows of
    // the requests still pending) sooner.
    if (o.restoreAsleep && isIdleSnapshot(rec.snapshot)) {
      registry.restoreAsleep(rec.conversationIdentifier, rec.snapshot, rec.savedAt);
      counters.restored += 1;
      continue;
    }
    const actor = registry.sessionFor(rec.conversationIdentifier, {}, rec.snapshot);
    if (actor.getSnapshot().status === 'error') {
      registry.forgetLive(rec.conversationIdentifier);
      await finishStale(o, rec);
      counters.finishedStale += 1;
      continue;
    }
    registry.adoptRestored(rec.conversationIdentifier, actor.getSnapshot().context);
    counters.restored += 1;
  }
  for (const rec of stale) {
    await finishStale(o, rec);
    counters.finishedStale += 1;
  }
  o.rememberSeen(await persistence.loadSeen(o.dedupeWindow));
  registry.ensureSweep();
  o.log.info({ restored: counters.restored, finishedStale: counters.finishedStale }, 'sessions restored from the store');
}

/**
 * A saved session from another chart or layout cannot run here: finish what it left open — the
 * one routingResult a request still owes, an AgentWork still offered, a PSR — and keep its people.
 */
async function finishStale(o: RestoreOptions, rec: Pick<PersistedSession, 'conversationIdentifier' | 'chartHash' | 'snapshot'>): Promise<void> {
  const { api, runner, persistence, registry } = o;
  const conv = rec.conversationIdentifier;
  const snap = rec.snapshot as { context?: Record<string, any>; children?: Record<string, { snapshot?: { context?: Record<string, any> } }> };
  const ctx = snap?.context ?? {};
  o.log.error({ conversationIdentifier: conv, savedChart: rec.chartHash }, 'saved session is from another chart: finishing its pending routing requests and starting it afresh');
  for (const child of Object.values(snap?.children ?? {})) {
    const c = child?.snapshot?.context;
    if (!c || typeof c.routingId !== 'string') continue;
    // The old chart's step keys, so its journal still stops a step that went out from going twice,
    // and treats one whose fate is unknown as the live path does (reportInDoubt).
    // Finishing steps: their window is long gone, so they get the clean-up budget.
    const keyOf = (step: string) => stepKey(conv, c.routingId, step);
    const attempt = async (what: string, priority: CallContext['priority'], step: string, run: (ctx: CallContext) => Promise<unknown>, inDoubt: InDoubt = 'repeat') => {
      try {
        await runner.sendStep(what, keyOf(step), priority, inDoubt, Date.now(), run);
      } catch {
        // Logged by the runner; nothing more can be done for a request abandoned by a chart change.
      }
    };
    // A routingResult is owed if none was started, or if one was started and never answered (the
    // chart counts it as sent when it starts, so only the journal tells these apart; reportInDoubt
    // below decides on one in doubt). Counted as sent with no record at all, it either never left
    // (write-ahead: its record is committed before it goes; a graceful stop refused it after its
    // last commit had begun, the state that counts it sent already saved) or its record was pruned
    // (a day later): inside its window it is the first, and owed; past it, a report that never left
    // has been answered by Salesforce's own timeout, and one sent now could answer a request opened
    // since — as for a report in doubt (reportInDoubt).
    const reportState = await persistence.stepState(keyOf('routingResult'));
    const reportOwed = !c.reported || reportState === 'started' || (reportState === undefined && typeof c.deadlineAt === 'number' && Date.now() < c.deadlineAt);
    if (c.requested && reportOwed && typeof c.workItemId === 'string') {
      await attempt('POST /routingResult', 'finish', 'routingResult', (cc) =>
        api.reportRoutingResult({ conversationIdentifier: conv, workItemId: c.workItemId, success: false, externallyRouted: c.target?.kind === 'external', routingType: c.routingType, errorMessage: 'Switchboard restarted with a different routing chart; the request was abandoned' }, cc),
        await runner.reportInDoubt(keyOf('routingResult'), Object.values(snap?.children ?? {}).map((x) => x?.snapshot?.context as RoutingView)),
      );
    }
    // Layouts before schema 3 kept the offer's fields at the top of the context.
    const workOpen = c.offer?.open ?? c.workOpen;
    const workId = c.offer?.workId ?? c.workId;
    if (workOpen && typeof workId === 'string') {
      await attempt('PATCH /agentWork', 'finish', `cancel:${workId}`, (cc) => api.patchAgentWork({ workId, contextType: 'Agent', status: 'Cancel' }, cc));
    }
    if (c.routeOpen) await attempt('DELETE /route', 'finish', 'clearRoute', (cc) => api.clearRoute({ conversationIdentifier: conv, cancelReason: 'Unknown' }, cc));
  }
  // Requests the session refused at once whose failed routingResult had not answered (no child).
  for (const r of Array.isArray(ctx.refusals) ? (ctx.refusals as Array<Record<string, any>>) : []) {
    if (typeof r?.routingId !== 'string' || typeof r.workItemId !== 'string') continue;
    // The same request and step key the live path sends (refusalReportInput); past its window, so the clean-up budget.
    const { request, key } = refusalReportInput(conv, { ...(r as Refusal), target: r.target ?? { kind: 'channelDefault' }, reason: String(r.reason ?? 'refused') });
    try {
      await runner.sendStep('POST /routingResult', key, 'finish', await runner.reportInDoubt(key, [{ routingId: r.routingId, deadlineAt: r.deadlineAt }]), Date.now(), (cc) => api.reportRoutingResult(request, cc));
    } catch {
      // Logged by the runner; nothing more can be done for a request abandoned by a chart change.
    }
  }
  const actor = registry.sessionFor(conv, {
    ...(typeof ctx.channelAddressIdentifier === 'string' ? { channelAddressIdentifier: ctx.channelAddressIdentifier } : {}),
    ...(typeof ctx.endUserClientId === 'string' ? { endUserClientId: ctx.endUserClientId } : {}),
    ...(typeof ctx.workItemId === 'string' ? { workItemId: ctx.workItemId } : {}),
  });
  const reps = Object.values((ctx.reps ?? {}) as Record<string, { userId: string; role: string }>);
  if (reps.length) actor.send({ type: 'PARTICIPANT_CHANGED', entry: { kind: 'ParticipantChanged', conversationIdentifier: conv, channelAddressIdentifier: String(ctx.channelAddressIdentifier ?? ''), entryId: `restored:${conv}`, entries: reps.map((r) => ({ operation: 'add' as const, participant: { appType: 'agent', subject: r.userId, role: r.role } })) } });
}
