// Host processes for the failover suite, seen from the test: spawn, signal, talk to, and the view
// of which host owns which org, from the events each one reported.
import { fork, type ChildProcess } from 'node:child_process';
import type { FromHost, ToHost } from './host-process.js';
import type { OrgWire } from './rig.js';
import { until } from './rig.js';

export interface Host {
  readonly hostId: string;
  readonly child: ChildProcess;
  readonly messages: FromHost[];
  /** Orgs this host reported acquired and not since released or lost. */
  readonly owned: Set<string>;
  alive: boolean;
  send(m: ToHost): void;
  startConversation(orgId: string, req: Extract<ToHost, { type: 'start' }>['req']): Promise<Extract<FromHost, { type: 'started' }>>;
  callsSince(since: number): Promise<Extract<FromHost, { type: 'calls' }>['calls']>;
  /** Graceful stop: hands its orgs over, exits. */
  stop(): Promise<void>;
  kill(signal: NodeJS.Signals): void;
}

let nextId = 0;

export async function spawnHost(hostId: string, env: { pgUrl: string; orgs: OrgWire[]; ttlMs: number; windowMs: number }): Promise<Host> {
  const child = fork(new URL('./host-process.ts', import.meta.url), {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, PG_URL: env.pgUrl, HOST_ID: hostId, ORGS: JSON.stringify(env.orgs), TTL_MS: String(env.ttlMs), WINDOW_MS: String(env.windowMs) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const messages: FromHost[] = [];
  const owned = new Set<string>();
  const waiters = new Map<number, (m: FromHost) => void>();
  child.on('message', (m: FromHost) => {
    messages.push(m);
    if (m.type === 'org.acquired') owned.add(m.orgId);
    if (m.type === 'org.released' || m.type === 'org.lost') owned.delete(m.orgId);
    if ((m.type === 'started' || m.type === 'calls') && waiters.has(m.id)) {
      waiters.get(m.id)!(m);
      waiters.delete(m.id);
    }
  });
  const host: Host = {
    hostId,
    child,
    messages,
    owned,
    alive: true,
    send: (m) => {
      if (host.alive && child.connected) child.send(m);
    },
    startConversation(orgId, req) {
      const id = ++nextId;
      return new Promise((resolve) => {
        waiters.set(id, resolve as (m: FromHost) => void);
        host.send({ type: 'start', id, orgId, req });
      });
    },
    callsSince(since) {
      const id = ++nextId;
      return new Promise((resolve) => {
        waiters.set(id, (m) => resolve((m as Extract<FromHost, { type: 'calls' }>).calls));
        host.send({ type: 'calls', id, since });
      });
    },
    async stop() {
      host.send({ type: 'stop' });
      await until(`${hostId} to stop`, () => messages.some((m) => m.type === 'stopped'), 30_000);
      host.alive = false;
      owned.clear();
    },
    kill(signal) {
      child.kill(signal);
      if (signal === 'SIGKILL') {
        host.alive = false;
        owned.clear();
      }
    },
  };
  child.on('exit', () => {
    host.alive = false;
  });
  await until(`${hostId} ready`, () => messages.some((m) => m.type === 'ready'), 30_000);
  return host;
}

/** Every org owned by exactly one live host. */
export function allOwned(hosts: Host[], orgIds: string[]): boolean {
  const live = hosts.filter((h) => h.alive);
  return orgIds.every((id) => live.filter((h) => h.owned.has(id)).length === 1);
}
