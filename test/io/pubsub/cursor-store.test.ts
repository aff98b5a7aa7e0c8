// The cursor store port: the in-memory default and the crash-safe file store.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { createFileCursorStore, createMemoryCursorStore } from '../../../src/io/store/index.js';
import { createCursorWriter } from '../../../src/io/pubsub/cursor-writer.js';
import { encodeReplayId } from '../../../src/io/pubsub/replay-id.js';
import { tempStoreDir } from '../../support/temp-dir.js';

test('memory store: keeps opaque bytes per topic, as copies', async () => {
  const store = createMemoryCursorStore();
  expect(await store.load('/event/a__e')).toBeUndefined();
  const id = Buffer.from([1, 2, 3]);
  await store.save('/event/a__e', id);
  id[0] = 9;
  expect(await store.load('/event/a__e')).toEqual(Buffer.from([1, 2, 3]));
  expect(await store.load('/event/b__e')).toBeUndefined();
});

test('file store: survives a new instance, one file per topic, no temp files left', async () => {
  const dir = tempStoreDir('sb-cursor-');
  const a = createFileCursorStore(join(dir, 'cursors'));
  expect(await a.load('/event/ns__Conversation__e')).toBeUndefined();
  await a.save('/event/ns__Conversation__e', encodeReplayId(41n));
  await a.save('/event/ns__Conversation__e', encodeReplayId(42n));
  await a.save('/event/ns__Other__e', encodeReplayId(7n));
  const b = createFileCursorStore(join(dir, 'cursors'));
  expect(await b.load('/event/ns__Conversation__e')).toEqual(encodeReplayId(42n));
  expect(await b.load('/event/ns__Other__e')).toEqual(encodeReplayId(7n));
  expect((await readdir(join(dir, 'cursors'))).sort()).toEqual(['event_ns__Conversation__e.replay', 'event_ns__Other__e.replay']);
});

test('the cursor writer coalesces a burst into few saves and always ends on the newest', async () => {
  let release!: () => void;
  let gate = new Promise<void>((r) => (release = r));
  const saved: string[] = [];
  const writer = createCursorWriter(
    {
      load: async () => undefined,
      save: async (_t, id) => {
        await gate;
        saved.push(id.toString('hex'));
      },
    },
    '/event/a__e',
    () => {},
  );
  for (let i = 1; i <= 50; i++) writer.advance(i.toString(16).padStart(2, '0'));
  gate = Promise.resolve();
  release();
  await writer.flush();
  expect(saved).toEqual(['01', '32']);
  expect(writer.saved).toBe('32');
});
