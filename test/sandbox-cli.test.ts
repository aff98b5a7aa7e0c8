// `switchboard sandbox` and the sandbox entry's helpers: the key lives in a file another process
// can read, the printed token works on the sandbox's APIs, and the printed options wire a
// switchboard. Real files, real loopback servers.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { runSandboxCommand } from '../src/demo/sandbox-command.js';
import { createInteractionClient, createStaticTokenProvider, createSwitchboard } from '../src/index.js';
import { loadOrCreateSandboxKey, sandboxConnection, startSandbox } from '../src/sandbox-entry.js';
import { capture, until } from './support/waiting.js';



/** Runs the command until `stop()`; resolves its output once it printed. */
async function sandboxCommand(args: string[]) {
  const out = capture();
  const err = capture();
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  const exited = runSandboxCommand(args, { out: out.out, err: err.out, until: stopped });
  await until(() => out.text().includes('\n') && (args.includes('--json') || out.text().includes('Ctrl-C')));
  return { text: out.text(), errors: err.text, stop: async () => (stop(), exited) };
}

const silent = pino({ level: 'silent' });
const scratch = mkdtempSync(join(tmpdir(), 'sb-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('loadOrCreateSandboxKey', () => {
  it('writes a private key (0600) on first use and returns the same key after', async () => {
    const path = join(mkdtempSync(join(scratch, 'key-')), 'nested', 'sandbox-key.pem');
    const first = await loadOrCreateSandboxKey(path);
    expect(first).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(await loadOrCreateSandboxKey(path)).toBe(first);
    expect(readFileSync(path, 'utf8')).toBe(first);
  });
});

describe('switchboard sandbox --json', () => {
  it('prints a token the Interaction Service accepts and options that wire a switchboard, with the key from --key', async () => {
    const keyPath = join(mkdtempSync(join(scratch, 'run-')), 'key.pem');
    const run = await sandboxCommand(['--json', '--key', keyPath]);
    try {
      const printed = JSON.parse(run.text.trim()) as { options: any; token: string; endpoints: { interactionService: string }; keyPath: string };
      expect(run.text.trim().split('\n')).toHaveLength(1);
      expect(printed.keyPath).toBe(keyPath);
      // The options hold the very key written to the file: another process signs with it.
      expect(printed.options.auth.jwt.privateKey).toBe(readFileSync(keyPath, 'utf8'));

      // The dev token works on its own…
      const client = createInteractionClient({
        scrtUrl: printed.options.org.scrtUrl,
        orgId: printed.options.org.orgId,
        authorizationContext: printed.options.org.authorizationContext,
        tokens: createStaticTokenProvider(() => printed.token),
        logger: silent,
      });
      const started = await client.postInteraction({ to: 'channel-1', from: 'end-user-1', interaction: { kind: 'text', text: 'hi' } }, { key: 'k', priority: 'start' });
      expect(started.conversationIdentifier).toBeTruthy();
      await client.close();

      // …and the options, parsed from JSON, wire a switchboard that subscribes and routes.
      const sb = createSwitchboard({ ...printed.options, logger: silent });
      await sb.start();
      const { conversationIdentifier } = await sb.startConversation({ to: 'channel-2', from: 'end-user-2', text: 'hello' });
      // No --agent-work-url: nobody relays the rep's answer, so the routing waits at its offer —
      // an offer to one of the printed directory's reps, made through the printed wiring.
      await until(() => Boolean(sb.session(conversationIdentifier)?.pendingRoutings.some((r) => r.workId)));
      const reps = (printed.options.directory.reps as Array<{ userId: string }>).map((r) => r.userId);
      expect(reps).toContain(sb.session(conversationIdentifier)!.pendingRoutings.find((r) => r.workId)!.offeredTo);
      await sb.stop();
    } finally {
      expect(await run.stop()).toBe(0);
    }
  });

  it('without --json, prints the endpoints, the token and the options as JSON', async () => {
    const keyPath = join(mkdtempSync(join(scratch, 'run-')), 'key.pem');
    const run = await sandboxCommand(['--key', keyPath]);
    try {
      expect(run.text).toContain('Dev access token');
      expect(run.text).toContain(keyPath);
      const json = run.text.slice(run.text.indexOf('{'), run.text.lastIndexOf('}') + 1);
      expect(JSON.parse(json).org.orgId).toMatch(/^00D\w{12}$/);
    } finally {
      await run.stop();
    }
  });

  it('refuses an --agent-work-url that is not http(s)', async () => {
    await expect(runSandboxCommand(['--agent-work-url', 'localhost:3000'], { out: capture().out, err: capture().out, until: Promise.resolve() })).rejects.toThrow(/--agent-work-url must be an http/);
  });
});

describe('startSandbox({ privateKey })', () => {
  it('accepts assertions signed with the given key, and sandboxConnection() hands it out as PEM', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const sandbox = await startSandbox({ reps: [], privateKey: pem });
    try {
      const connection = await sandboxConnection(sandbox);
      expect(connection.options.auth.jwt.privateKey).toBe(pem);
      expect(connection.token).toMatch(/^00D\w{12}!/);
      expect(connection.endpoints.pubsub).toMatch(/^127\.0\.0\.1:\d+$/);
    } finally {
      await sandbox.stop();
    }
  });
});
