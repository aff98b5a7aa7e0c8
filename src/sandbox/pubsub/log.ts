// The retained event log: every published event in order, its replay id the 8-byte big-endian
// `firstReplayId + index`, so a replay id names a position in the log.
import { encodeReplayId } from '../../io/pubsub/replay-id.js';
import type { ProducerEvent } from '../../io/pubsub/wire.js';

export interface LogEntry {
  replayId: Buffer;
  event: ProducerEvent;
}

export class EventLog {
  readonly entries: LogEntry[] = [];

  /** `onAppend` runs after each event is added (the open streams are woken to send it). */
  constructor(
    readonly firstReplayId: bigint,
    private readonly onAppend: () => void,
  ) {}

  get length(): number {
    return this.entries.length;
  }

  append(event: ProducerEvent): Buffer {
    const replayId = encodeReplayId(this.firstReplayId + BigInt(this.entries.length));
    this.entries.push({ replayId, event });
    this.onAppend();
    return replayId;
  }
}
