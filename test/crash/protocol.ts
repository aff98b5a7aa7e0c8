// What the crash harness (the parent, in the vitest worker) and the engine child (test/crash/engine.ts)
// say to each other over the IPC channel of `child_process.fork`. Types only: both sides import it.
import type { DirectoryEntries } from '../../src/directory.js';
import type { PersistenceOptions } from '../../src/persistence.js';
import type { RoutingOptions, StartConversationRequest, SwitchboardOptions } from '../../src/switchboard.js';

/** Everything the child needs to build its switchboard: passed as JSON in CRASH_ENGINE_SETTINGS. */
export interface EngineSettings {
  /**
   * `sandbox.switchboardOptions()` made JSON-safe: the connected app's private key as a PEM string
   * (the child passes it to the JWT bearer flow exactly as the KeyObject would be).
   */
  wiring: {
    org: NonNullable<SwitchboardOptions['org']>;
    auth: { jwt: { clientId: string; username: string; privateKey: string; audience?: string } };
    pubsub: NonNullable<SwitchboardOptions['pubsub']>;
  };
  /** The LMDB store directory: the same one on every restart. */
  storePath: string;
  routing: RoutingOptions;
  /** The store's write-behind settings (flushDelayMs…); the engine's defaults when absent. */
  persistence?: PersistenceOptions;
  /** The engine's hibernateAfterMs (sleeping sessions); its default when absent. */
  hibernateAfterMs?: number | false;
  directory: DirectoryEntries;
  /** Which life of the engine this is (1 = first start). For the log only. */
  life: number;
  seed: number;
  /** Append pino lines here (sync writes, so a SIGKILL loses nothing already logged); none: silent. */
  logFile?: string;
  logLevel?: string;
  /** How often the child reports its stats. */
  statsIntervalMs: number;
}

export const SETTINGS_ENV = 'CRASH_ENGINE_SETTINGS';

export type ParentMessage =
  /** An onAgentWorkEvent relayed from the connector (sandbox.onAgentWork). */
  | { type: 'agentWork'; event: unknown }
  /** `sb.startConversation(req)`: answered by `conversationStarted` / `conversationFailed` with the same id. */
  | { type: 'startConversation'; id: number; req: StartConversationRequest };

/** The part of `sb.stats()` the parent looks at (plain JSON). */
export interface EngineStats {
  sessions: number;
  pendingRoutings: number;
  inFlightEffects: number;
  ingested: number;
  rejected: number;
  duplicates: number;
  unroutable: number;
  store?: { commits: number; restored: number; finishedStale: number; skippedSteps: number };
  /** Session actors that failed (the `error` event). */
  actorErrors: number;
  /** Sessions asleep now, and sleeping sessions woken since this life started. */
  hibernated: number;
  wakes: number;
  /** Agent-work events that arrived before start() finished and were held until it did. */
  heldAgentWork: number;
}

export type ChildMessage =
  | { type: 'ready'; pid: number; stats: EngineStats; startMs: number }
  | { type: 'stats'; stats: EngineStats }
  | { type: 'conversationStarted'; id: number; conversationIdentifier: string; workItemId?: string }
  | { type: 'conversationFailed'; id: number; error: string }
  | {
      type: 'finished';
      conversationIdentifier: string;
      routingId: string;
      routingType: string;
      outcome: string;
      reported: boolean;
      acceptedBy?: string;
    }
  | { type: 'actorError'; conversationIdentifier: string; error: string }
  | { type: 'stopped'; stats: EngineStats };
