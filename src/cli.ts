#!/usr/bin/env node
// `switchboard demo` plays a whole conference story; `switchboard sandbox` runs the local Salesforce
// for an app in another process; `switchboard charts` writes docs/statecharts/.
import { parseArgs } from 'node:util';
import { SwitchboardError } from './domain/errors.js';
import { InspectorUnavailableError } from './demo/inspector.js';
import { runDemo, SCENARIOS } from './demo/run.js';
import { runSandboxCommand, UsageError } from './demo/sandbox-command.js';

const HELP = `switchboard <command> [options]

Commands
  demo [--scenario NAME] [--inspect [PORT]]
                           play a conversation story against the local sandbox (default: the whole conference);
                           --inspect streams the session actors to the Stately inspector through a relay on
                           127.0.0.1:PORT (8080; 0 picks a free port) and stays up until Ctrl-C
                           (needs the optional peer dependency @statelyai/inspect)
  sandbox [--key FILE] [--agent-work-url URL] [--json] [--http-port N] [--grpc-port N]
                           run a local Salesforce (Interaction Service over HTTP, Pub/Sub over gRPC) until
                           Ctrl-C; prints a dev token and the options that wire a switchboard to it
                           (\`switchboard sandbox --help\` for more)
  charts [--out DIR]       write the statecharts (JSON for Stately Studio, Mermaid) to DIR (docs/statecharts)

Scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}
`;

const wantsHelp = (args: string[]) => args.includes('--help') || args.includes('-h');

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(HELP);
    return 0;
  }
  if (command === 'demo') {
    // `npm start -- --help` arrives here as `demo --help`.
    if (wantsHelp(rest)) {
      process.stdout.write(HELP);
      return 0;
    }
    const inspectAt = rest.indexOf('--inspect');
    let inspectPort: number | undefined;
    if (inspectAt >= 0) {
      const next = rest[inspectAt + 1];
      inspectPort = next && /^\d+$/.test(next) ? Number(rest.splice(inspectAt, 2)[1]) : (rest.splice(inspectAt, 1), 8080);
      if (inspectPort > 65_535) throw new UsageError(`--inspect: ${inspectPort} is not a port number`);
    }
    const { values } = parseArgs({ args: rest, options: { scenario: { type: 'string' } } });
    return runDemo({
      ...(values.scenario ? { scenario: values.scenario } : {}),
      ...(inspectPort !== undefined ? { inspectPort } : {}),
      out: process.stdout,
      color: process.stdout.isTTY === true && !process.env.NO_COLOR,
    });
  }
  if (command === 'sandbox') {
    return runSandboxCommand(rest, { out: process.stdout, err: process.stderr });
  }
  if (command === 'charts') {
    if (wantsHelp(rest)) {
      process.stdout.write(HELP);
      return 0;
    }
    const { values } = parseArgs({ args: rest, options: { out: { type: 'string' } } });
    const { writeCharts } = await import('./charts.js');
    const written = await writeCharts(values.out ?? 'docs/statecharts');
    process.stdout.write(`wrote ${written.join(', ')}\n`);
    return 0;
  }
  process.stderr.write(`unknown command '${command}'\n\n${HELP}`);
  return 2;
}

/** Mistakes the user can fix from the message alone: no stack trace. */
function isUserFacing(err: unknown): err is Error {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    err instanceof UsageError ||
    err instanceof InspectorUnavailableError ||
    err instanceof SwitchboardError ||
    (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_'))
  );
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (isUserFacing(err)) {
      const usage = err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS_');
      process.stderr.write(`switchboard: ${err.message}\n${usage ? `\n${HELP}` : ''}`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  },
);
