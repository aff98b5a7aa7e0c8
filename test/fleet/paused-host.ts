// A host in a child process, for tests that freeze it with SIGSTOP: it takes one org's lease,
// opens that org's store fenced with the epoch, commits whenever the parent asks (whether or not it
// still believes it owns the org, as an engine that has not yet reacted would) and reports lease events.
import pg from 'pg';
import { createLeaseManager } from '../../src/fleet/lease.js';
import { openPostgresSessionStore } from '../../src/io/store/postgres-store.js';
import { SwitchboardError } from '../../src/domain/errors.js';

export type ToHost = { type: 'commit'; id: string } | { type: 'exit' };
export type FromHost =
  | { type: 'ready'; epoch: number }
  | { type: 'committed'; id: string }
  | { type: 'refused'; id: string; code: string }
  | { type: 'lost'; epoch: number; reason: string };

const send = (m: FromHost) => process.send!(m);
const { PG_URL, ORG_ID, HOST_ID, TTL_MS } = process.env as Record<string, string>;

const pool = new pg.Pool({ connectionString: PG_URL, max: 3 });
pool.on('error', () => {});
const leases = createLeaseManager({ pool, hostId: HOST_ID!, ttlMs: Number(TTL_MS), renewEveryMs: Math.floor(Number(TTL_MS) / 4) });
leases.on('lost', ({ epoch, reason }) => send({ type: 'lost', epoch, reason }));
await leases.start();
const lease = await leases.acquire(ORG_ID!);
if (!lease) throw new Error(`${HOST_ID} could not take ${ORG_ID}`);
const store = await openPostgresSessionStore({ pool, orgId: ORG_ID! });
store.fence(lease.epoch);

process.on('message', (m: ToHost) => {
  if (m.type === 'exit') {
    void pool.end().finally(() => process.exit(0));
    return;
  }
  store
    .commit({ sessions: [{ conversationIdentifier: m.id, schemaVersion: 1, chartHash: 'h', savedAt: Date.now(), snapshot: { by: HOST_ID } }] })
    .then(
      () => send({ type: 'committed', id: m.id }),
      (err: unknown) => send({ type: 'refused', id: m.id, code: err instanceof SwitchboardError ? err.code : String(err) }),
    );
});
send({ type: 'ready', epoch: lease.epoch });
