// `switchboard sandbox`: the local Salesforce on its own, for an app in another process. Its
// connected app key lives in a file (written on first use, or yours with --key), so the app can sign
// the same JWT assertions; it prints a dev token and a ready-to-paste options object, and relays the
// scripted reps' agent-work events to the app's own relay endpoint (--agent-work-url), as a
// connector in a rep's browser would.
import { parseArgs } from 'node:util';
import type { Writable } from 'node:stream';
import { startSandbox } from '../sandbox/index.js';
import { loadOrCreateSandboxKey, sandboxConnection } from '../sandbox-entry.js';
import { DEMO_DIRECTORY, DEMO_FALLBACK_QUEUE, DEMO_REPS } from './run.js';

export const DEFAULT_SANDBOX_KEY_PATH = '.switchboard/sandbox-key.pem';

export const SANDBOX_HELP = `switchboard sandbox [options]

Runs a local Salesforce on 127.0.0.1 until Ctrl-C: the Interaction Service over HTTP with the OAuth
JWT token endpoint, the Pub/Sub API over gRPC, and scripted reps (${DEMO_REPS.map((r) => `${r.name} ${r.behaviour}s`).join(', ')}).

Options
  --key FILE             the connected app's private key (PEM); created there if missing
                         (default ${DEFAULT_SANDBOX_KEY_PATH})
  --agent-work-url URL   POST each rep's agent-work event ({ workId, workItemId, workEvent }) as JSON
                         to your relay endpoint, which calls switchboard.agentWork()
  --http-port N          Interaction Service + token endpoint port (default: any free port)
  --grpc-port N          Pub/Sub API port (default: any free port)
  --json                 print one line of JSON ({ options, token, endpoints, reps }) and nothing else
  --help                 this text
`;

function port(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) throw new UsageError(`${flag} must be a port number, got ${JSON.stringify(value)}`);
  return n;
}

/** A mistake on the command line: printed with the usage, no stack. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export async function runSandboxCommand(args: string[], io: { out: Writable; err: Writable; until?: Promise<unknown> }): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      'http-port': { type: 'string' },
      'grpc-port': { type: 'string' },
      key: { type: 'string' },
      'agent-work-url': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    io.out.write(SANDBOX_HELP);
    return 0;
  }
  const relayTo = values['agent-work-url'];
  if (relayTo !== undefined && !/^https?:\/\//.test(relayTo)) throw new UsageError(`--agent-work-url must be an http(s) URL, got ${JSON.stringify(relayTo)}`);
  const keyPath = values.key ?? DEFAULT_SANDBOX_KEY_PATH;
  const privateKey = await loadOrCreateSandboxKey(keyPath);
  const httpPort = port(values['http-port'], '--http-port');
  const grpcPort = port(values['grpc-port'], '--grpc-port');
  const sandbox = await startSandbox({
    reps: DEMO_REPS.map((r) => ({ ...r })),
    privateKey,
    ...(httpPort !== undefined ? { httpPort } : {}),
    ...(grpcPort !== undefined ? { grpcPort } : {}),
  });
  try {
    if (relayTo) {
      sandbox.onAgentWork((event) => {
        fetch(relayTo, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) }).then(
          (res) => {
            if (!res.ok) io.err.write(`agent-work relay: ${relayTo} answered HTTP ${res.status} for ${event.workEvent} ${event.workId}\n`);
          },
          (err: unknown) => io.err.write(`agent-work relay: ${relayTo} unreachable (${(err as Error).cause ?? (err as Error).message}) for ${event.workEvent} ${event.workId}\n`),
        );
      });
    }
    const connection = await sandboxConnection(sandbox);
    // Ready to spread into createSwitchboard(): the org wiring plus a directory of the scripted reps.
    const options = { ...connection.options, directory: DEMO_DIRECTORY, routing: { fallbackQueueId: DEMO_FALLBACK_QUEUE } };
    const reps = DEMO_REPS.map((r) => ({ userId: r.userId, name: r.name, behaviour: r.behaviour }));
    if (values.json) {
      io.out.write(`${JSON.stringify({ options, token: connection.token, endpoints: connection.endpoints, reps, keyPath, agentWorkUrl: relayTo ?? null })}\n`);
    } else {
      io.out.write(
        [
          'Local Salesforce sandbox (127.0.0.1)',
          `  Interaction Service  ${connection.endpoints.interactionService}   (org.scrtUrl)`,
          `  OAuth token endpoint ${connection.endpoints.tokenEndpoint}   (org.loginUrl)`,
          `  Pub/Sub API (gRPC)   ${connection.endpoints.pubsub}   (pubsub.endpoint, insecure)`,
          `  connected app key    ${keyPath}`,
          `  reps: ${reps.map((r) => `${r.name} ${r.userId} (${r.behaviour})`).join(', ')}`,
          `  agent-work events:   ${relayTo ? `POSTed to ${relayTo}` : 'not relayed (start with --agent-work-url URL)'}`,
          '',
          'Dev access token (both APIs accept it):',
          `  ${connection.token}`,
          '',
          'Options for createSwitchboard (JSON; spread it in, add your listeners and store):',
          JSON.stringify(options, null, 2),
          '',
          'Ctrl-C to stop.',
          '',
        ].join('\n'),
      );
    }
    await (io.until ?? new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    }));
  } finally {
    await sandbox.stop();
  }
  return 0;
}
