// The production charts and how they are written to docs/statecharts/.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderChartFiles } from './chart-export.js';
import { routingMachine } from './machines/routing.js';
import { sessionMachine } from './machines/session.js';
import { subscriptionMachine } from './machines/subscription.js';

export const CHARTS = [
  {
    name: 'session',
    machine: sessionMachine,
    summary:
      'One actor per messaging session (conversationIdentifier). It holds the end user, the reps present and the MessagingSession id, starts a routing child for each routing request, hands agent-work, RoutingResult and ParticipantChanged events to the child that owns them, rejects a conference at once when the participant cap is reached, and lets every child clean up when the session ends.',
  },
  {
    name: 'routing',
    machine: routingMachine,
    summary:
      'One actor per routing request: the initial routing of a new conversation, or a RoutingRequested (Transfer or Conference) to a rep, a queue, a flow with a fallback queue, or an external target. It walks the Interaction Service call sequence, offers the work to reps, handles decline, no answer, cancel, session end and errors, and holds the 60-second deadline. Every path keeps the invariants: exactly one routingResult per RoutingRequested, no PSR left, no AgentWork left offered.',
  },
  {
    name: 'subscription',
    machine: subscriptionMachine,
    summary:
      "The Pub/Sub stream's life: one Subscribe call per topic with at most 100 events outstanding, credit topped up before the 60-second idle window closes and held back while the engine is behind; a keepalive watchdog; reconnect with backoff and jitter, always cancelling the old call first; a token refresh on UNAUTHENTICATED; and a loud fallback when Salesforce refuses the stored replay id.",
  },
];

export function chartFiles(): Record<string, string> {
  return renderChartFiles(CHARTS);
}

export async function writeCharts(dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files = chartFiles();
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
  return Object.keys(files);
}
