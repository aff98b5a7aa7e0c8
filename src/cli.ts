#!/usr/bin/env node
// `switchboard demo` plays a whole conference story; `switchboard charts` writes docs/statecharts/.
import { parseArgs } from 'node:util';
import { runDemo, SCENARIOS } from './demo/run.js';

const HELP = `switchboard <command> [options]

Commands
  demo [--scenario NAME] [--inspect [PORT]]
                           play a conversation story against the local sandbox (default: the whole conference);
                           --inspect streams the session actors to the Stately inspector via ws://localhost:PORT (8080)
  sandbox [--http-port N] [--grpc-port N]
                           run a local Salesforce (Interaction Service over HTTP, Pub/Sub over gRPC) until Ctrl-C
  charts [--out DIR]       write the statecharts (JSON for Stately Studio, Mermaid) to DIR (docs/statecharts)

Scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (command === 'demo') {
    const inspectAt = rest.indexOf('--inspect');
    let inspectPort: number | undefined;
    if (inspectAt >= 0) {
      const next = rest[inspectAt + 1];
      inspectPort = next && /^\d+$/.test(next) ? Number(rest.splice(inspectAt, 2)[1]) : (rest.splice(inspectAt, 1), 8080);
    }
    const { values } = parseArgs({ args: rest, options: { scenario: { type: 'string' } } });
    return runDemo({
      ...(values.scenario ? { scenario: values.scenario } : {}),
      ...(inspectPort ? { inspectPort } : {}),
      out: process.stdout,
      color: process.stdout.isTTY === true && !process.env.NO_COLOR,
    });
  }
  if (command === 'sandbox') {
    const { values } = parseArgs({ args: rest, options: { 'http-port': { type: 'string' }, 'grpc-port': { type: 'string' } } });
    const { startSandbox } = await import('./sandbox/index.js');
    const { DEMO_REPS } = await import('./demo/run.js');
    const sandbox = await startSandbox({
      reps: DEMO_REPS.map((r) => ({ ...r })),
      ...(values['http-port'] ? { httpPort: Number(values['http-port']) } : {}),
      ...(values['grpc-port'] ? { grpcPort: Number(values['grpc-port']) } : {}),
    });
    const wiring = sandbox.switchboardOptions();
    process.stdout.write(
      [
        'Local Salesforce sandbox',
        `  Interaction Service  ${sandbox.http.url}/api/v1/   (org.scrtUrl)`,
        `  OAuth token endpoint ${sandbox.http.url}/services/oauth2/token   (org.loginUrl)`,
        `  Pub/Sub API (gRPC)   ${sandbox.pubsub.address}   (pubsub.endpoint, insecure)`,
        `  orgId ${wiring.org!.orgId}  authorizationContext ${wiring.org!.authorizationContext}  topic ${wiring.pubsub!.topic}`,
        `  reps: ${DEMO_REPS.map((r) => `${r.name} ${r.userId} (${r.behaviour})`).join(', ')}`,
        'Ctrl-C to stop.',
        '',
      ].join('\n'),
    );
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    await sandbox.stop();
    return 0;
  }
  if (command === 'charts') {
    const { values } = parseArgs({ args: rest, options: { out: { type: 'string' } } });
    const { writeCharts } = await import('./charts.js');
    const written = await writeCharts(values.out ?? 'docs/statecharts');
    process.stdout.write(`wrote ${written.join(', ')}\n`);
    return 0;
  }
  process.stderr.write(`unknown command '${command}'\n\n${HELP}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  },
);
