// The CLI as a user meets it: real child processes, real ports.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { runDemo } from '../src/demo/run.js';
import { InspectorUnavailableError } from '../src/demo/inspector.js';
import { capture, until } from './support/waiting.js';

const REPO = new URL('..', import.meta.url).pathname;
const BIN = new URL('../bin/switchboard.js', import.meta.url).pathname;

function cli(args: string[], command = process.execPath, prefix: string[] = [BIN]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, [...prefix, ...args], { cwd: REPO, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}



let blocker: Server | undefined;
afterEach(async () => {
  if (blocker) await new Promise((r) => blocker!.close(r));
  blocker = undefined;
});

async function takenPort(): Promise<number> {
  blocker = createServer();
  blocker.listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  return (blocker.address() as { port: number }).port;
}

describe('switchboard CLI', () => {
  it('`npm start -- --help` prints the usage, no stack', async () => {
    const out = await cli(['start', '--silent', '--', '--help'], 'npm', []);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('switchboard <command>');
    expect(out.stdout).toContain('Scenarios: conference, transfer, decline, cancel');
    expect(out.stderr).not.toMatch(/\n\s+at /);
  });

  it('an unknown option is a one-line error with the usage, exit 2', async () => {
    const out = await cli(['demo', '--bogus']);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/^switchboard: Unknown option '--bogus'/);
    expect(out.stderr).not.toMatch(/\n\s+at /);
  });

  it('`demo --inspect PORT` on a taken port says so clearly, exit 2', async () => {
    const port = await takenPort();
    const out = await cli(['demo', '--inspect', String(port)]);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain(`port ${port} on 127.0.0.1 is already in use`);
    expect(out.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('demo --inspect', () => {
  it('refuses a taken port with a typed error', async () => {
    const port = await takenPort();
    const err = await runDemo({ scenario: 'transfer', out: capture().out, color: false, inspectPort: port }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InspectorUnavailableError);
  });

  it('keeps the inspector up after the story until told to stop, on loopback only', async () => {
    const c = capture();
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const done = runDemo({ scenario: 'transfer', out: c.out, color: false, inspectPort: 0, inspectUntil: () => released });
    const deadline = Date.now() + 15_000;
    while (!c.text().includes('Inspector still up')) {
      if (Date.now() > deadline) throw new Error(`the demo never finished its story:\n${c.text()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const url = c.text().match(/Inspector still up at (http:\/\/127\.0\.0\.1:\d+)/)![1]!;
    // Well past the moment the old demo tore the relay down.
    await new Promise((r) => setTimeout(r, 2_000));
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('stately.ai/inspect');
    // A viewer that connects late still gets the session actors' inspection events.
    const { WebSocket } = createRequire(createRequire(import.meta.url).resolve('@statelyai/inspect'))('ws') as { WebSocket: new (url: string) => { on(e: string, l: (d: unknown) => void): void; close(): void } };
    const viewer = new WebSocket(url.replace('http:', 'ws:'));
    const received: string[] = [];
    viewer.on('message', (d) => received.push(String(d)));
    await until(() => received.some((m) => m.includes('@xstate.')));
    viewer.close();
    const port = Number(new URL(url).port);
    const external = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal);
    if (external) await expect(fetch(`http://${external.address}:${port}`)).rejects.toThrow();
    release();
    expect(await done).toBe(0);
    await expect(fetch(url)).rejects.toThrow();
  });
});
