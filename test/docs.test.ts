// The guides name options and stats fields; these checks keep them honest as the code moves.
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createSwitchboard } from '../src/switchboard.js';
import { createRecordingInteractionService } from '../src/io/recording-interaction-service.js';
import { createMemorySessionStore } from '../src/io/store/index.js';

const read = (name: string) => readFileSync(new URL(`../docs/${name}`, import.meta.url), 'utf8');

describe('docs/operations.md', () => {
  it('names only stats fields that exist', () => {
    const sb = createSwitchboard({ interactions: createRecordingInteractionService(), store: createMemorySessionStore(), logger: pino({ level: 'silent' }) });
    const stats = sb.stats() as unknown as Record<string, unknown>;
    const doc = read('operations.md');
    const rows = [...doc.matchAll(/^\| `([a-z.\/A-Z, `]+)` \|/gm)].map((m) => m[1]!);
    const top = rows.flatMap((r) => r.split(/`, `|, /)).map((f) => f.replace(/`/g, ''));
    for (const field of top.filter((f) => !f.includes('.') && /^[a-z]/.test(f) && !f.includes(' '))) {
      if (['interactions', 'pubsub', 'store'].includes(field)) continue;
      expect(stats, `stats().${field}`).toHaveProperty(field.split('/')[0]!);
    }
    expect(stats).toHaveProperty('store.skippedSteps');
  });
});

describe('docs/embedding.md', () => {
  it('lists the events the switchboard emits', () => {
    const doc = read('embedding.md');
    for (const e of ['routing.started', 'routing.finished', 'participant.joined', 'participant.left', 'session.ended', 'message', 'entry', 'rejected', 'breaker', 'subscription']) {
      expect(doc).toContain(`\`${e}\``);
    }
  });
});
