// A fleet host as its own process, for the failover suite: SIGKILL, SIGSTOP and SIGCONT are real.
// It runs createFleet against the sandboxes described in ORGS and talks to the test over IPC: it
// reports the fleet's events, takes inputs (agent-work relays, new conversations) as a load
// balancer would hand them to it, and tells which Interaction Service calls it made and when — the
// sandbox's records cannot say which host a request came from.
import { pino } from 'pino';
import { createFleet } from '../../src/fleet/fleet.js';
import { createJwtBearerTokenProvider } from '../../src/io/auth/index.js';
import { createInteractionClient } from '../../src/io/interaction-api/index.js';
import type { CallContext, InteractionService } from '../../src/domain/ports.js';
import type { StartConversationRequest } from '../../src/switchboard.js';
import { fleetOrgOf, type OrgWire } from './rig.js';

export type ToHost =
  | { type: 'agentWork'; orgId: string; event: unknown }
  | { type: 'start'; id: number; orgId: string; req: StartConversationRequest }
  | { type: 'calls'; id: number; since: number }
  | { type: 'stop' };

export type FromHost =
  | { type: 'ready'; hostId: string }
  | { type: 'org.acquired' | 'org.released'; orgId: string; epoch: number }
  | { type: 'org.lost'; orgId: string; epoch: number; reason: string }
  | { type: 'org.error'; orgId: string; message: string }
  | { type: 'fenced'; orgId: string }
  | { type: 'started'; id: number; conv?: string; code?: string; message?: string }
  | { type: 'calls'; id: number; calls: Array<{ orgId: string; call: string; at: number }> }
  | { type: 'stopped' };

const send = (m: FromHost) => process.send?.(m);
const wires = JSON.parse(process.env.ORGS!) as OrgWire[];
const hostId = process.env.HOST_ID!;
const calls: Array<{ orgId: string; call: string; at: number }> = [];
const clients = new Map<string, InteractionService>();

/**
 * The real HTTP client of the org, each call noted with this host's clock at the moment it leaves:
 * when the client's last check before sending (ctx.mayProceed) lets it go. A call refused there
 * (the lease lapsed during a pause) never reached the org and is not noted.
 */
function clientOf(w: OrgWire): InteractionService {
  let c = clients.get(w.orgId);
  if (!c) {
    const base = fleetOrgOf(w).switchboard;
    const jwt = (base.auth as { jwt: { clientId: string; username: string; privateKey: string; audience: string } }).jwt;
    const real = createInteractionClient({
      scrtUrl: w.scrtUrl,
      orgId: base.org!.orgId,
      authorizationContext: base.org!.authorizationContext,
      tokens: createJwtBearerTokenProvider({ loginUrl: w.scrtUrl, ...jwt }),
    });
    c = new Proxy(real, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          const ctx = (args[1] ?? {}) as CallContext;
          const leaves = () => {
            const ok = ctx.mayProceed ? ctx.mayProceed() : true;
            if (ok) calls.push({ orgId: w.orgId, call: String(prop), at: Date.now() });
            return ok;
          };
          return (v as (...a: unknown[]) => unknown).apply(target, [args[0], { ...ctx, mayProceed: leaves }, ...args.slice(2)]);
        };
      },
    }) as InteractionService;
    clients.set(w.orgId, c);
  }
  return c;
}

const fleet = createFleet({
  postgres: process.env.PG_URL!,
  hostId,
  orgs: () => wires.map((w) => {
    const org = fleetOrgOf(w, Number(process.env.WINDOW_MS ?? 4_000));
    return { ...org, switchboard: { ...org.switchboard, interactions: clientOf(w) } };
  }),
  leaseTtlMs: Number(process.env.TTL_MS ?? 1_500),
  balanceEveryMs: 100,
  refreshOrgsMs: 1_000,
  drainMs: 3_000,
  logger: pino({ level: process.env.FLEET_LOG ?? 'silent' }),
  onSwitchboard: (orgId, sb) => sb.on('fenced', () => send({ type: 'fenced', orgId })),
});
fleet.on('org.acquired', (e) => send({ type: 'org.acquired', ...e }));
fleet.on('org.released', (e) => send({ type: 'org.released', ...e }));
fleet.on('org.lost', (e) => send({ type: 'org.lost', ...e }));
fleet.on('org.error', (e) => send({ type: 'org.error', orgId: e.orgId, message: (e.error as Error).message }));

process.on('message', (m: ToHost) => {
  switch (m.type) {
    case 'agentWork':
      fleet.agentWork(m.orgId, m.event).catch(() => undefined);
      break;
    case 'start':
      fleet.startConversation(m.orgId, m.req).then(
        (r) => send({ type: 'started', id: m.id, conv: r.conversationIdentifier }),
        (err: { code?: string; message?: string }) => send({ type: 'started', id: m.id, ...(err.code ? { code: err.code } : {}), message: String(err.message) }),
      );
      break;
    case 'calls':
      send({ type: 'calls', id: m.id, calls: calls.filter((c) => c.at >= m.since) });
      break;
    case 'stop':
      void fleet.stop().then(() => {
        send({ type: 'stopped' });
        setTimeout(() => process.exit(0), 50);
      });
      break;
  }
});

await fleet.start();
send({ type: 'ready', hostId });
