// Flow control against the sandbox server, judged from the server's side: how much credit the
// client had outstanding, and whether Salesforce's idle window ever closed a stream.
import { afterEach, expect, test } from 'vitest';
import type { PubSubServer } from '../../../src/sandbox/pubsub-server.js';
import { intakeFor, numbers, publishMany, range, startServer, streamsStarted, waitFor, type Harness } from './helpers.js';

let server: PubSubServer | undefined;
let h: Harness | undefined;
afterEach(async () => {
  await h?.intake.stop();
  await server?.stop();
  h = undefined;
});

test('credit never exceeds 100 outstanding over 1,000 events, each FetchRequest asks for 1–100', async () => {
  server = await startServer({ maxEventsPerResponse: 25 });
  h = intakeFor(server, { replayPreset: 'EARLIEST' });
  await h.intake.start();
  for (let chunk = 0; chunk < 10; chunk++) {
    publishMany(server, chunk * 100 + 1, 100);
    await waitFor(() => h!.handled.length === (chunk + 1) * 100, `${(chunk + 1) * 100} handled`);
  }
  expect(numbers(h.handled)).toEqual(range(1, 1000));
  const [stream, ...others] = server.records().streams;
  expect(others).toEqual([]);
  expect(stream!.maxOutstanding).toBeLessThanOrEqual(100);
  expect(stream!.fetchRequests.every((n) => n >= 1 && n <= 100)).toBe(true);
  expect(stream!.delivered).toBe(1000);
  expect(h.intake.stats()).toMatchObject({ received: 1000, handled: 1000, duplicates: 0, streamsOpened: 1 });
});

test('credit is re-requested before the idle window closes: a small batch keeps one stream open past many windows', async () => {
  // Idle window 600 ms; batches of 10 run out three times while 35 events arrive.
  server = await startServer({ idleTimeoutMs: 600, keepaliveIntervalMs: 100 });
  h = intakeFor(server, { batchSize: 10 });
  await h.intake.start();
  await streamsStarted(server);
  publishMany(server, 1, 35);
  await waitFor(() => h!.handled.length === 35, '35 handled');
  // Stay connected for well over an idle window, counted in server keepalives (~100 ms each).
  const before = server.records().streams[0]!.keepalives;
  await waitFor(() => server!.records().streams[0]!.keepalives >= before + 9, 'nine keepalives');
  const streams = server.records().streams;
  expect(streams).toHaveLength(1);
  expect(streams[0]!.closedBy).toBeUndefined();
  expect(streams[0]!.maxOutstanding).toBeLessThanOrEqual(10);
  // Every event was asked for, and credit is outstanding now: the server has no idle clock running.
  const requested = streams[0]!.fetchRequests.reduce((a, b) => a + b, 0);
  expect(requested).toBeGreaterThan(35);
  expect(requested - streams[0]!.delivered).toBeLessThanOrEqual(10);
  expect(numbers(h.handled)).toEqual(range(1, 35));
});

test('an engine slower than the stream: in-flight never exceeds maxInFlight, order kept, nothing lost', async () => {
  server = await startServer({ idleTimeoutMs: 1_000, maxEventsPerResponse: 25 });
  const seen: number[] = [];
  let active = 0;
  let maxActive = 0;
  h = intakeFor(server, {
    replayPreset: 'EARLIEST',
    maxInFlight: 5,
    handle: async (e) => {
      active += 1;
      maxActive = Math.max(maxActive, active);
      seen.push(h!.intake.stats().inFlight);
      await new Promise((r) => setTimeout(r, 3));
      h!.handled.push(e);
      active -= 1;
    },
  });
  publishMany(server, 1, 80);
  await h.intake.start();
  await waitFor(() => h!.handled.length === 80, '80 handled');
  expect(numbers(h.handled)).toEqual(range(1, 80));
  expect(Math.max(...seen)).toBeLessThanOrEqual(5);
  expect(h.intake.stats().peakInFlight).toBeLessThanOrEqual(5);
  expect(maxActive).toBe(1);
  const streams = server.records().streams;
  expect(streams).toHaveLength(1);
  expect(streams[0]!.maxOutstanding).toBeLessThanOrEqual(5);
  expect(streams[0]!.closedBy).toBeUndefined();
});

test('a stalled engine lets Salesforce close the idle stream; when it resumes nothing is lost or repeated', async () => {
  server = await startServer({ idleTimeoutMs: 300, keepaliveIntervalMs: 100 });
  let release!: () => void;
  const stalled = new Promise<void>((r) => (release = r));
  h = intakeFor(server, {
    replayPreset: 'EARLIEST',
    maxInFlight: 2,
    handle: async (e) => {
      if (h!.handled.length === 0) await stalled;
      h!.handled.push(e);
    },
  });
  publishMany(server, 1, 6);
  await h.intake.start();
  await waitFor(() => server!.records().streams.some((s) => s.closedBy === 'idle'), 'an idle close');
  expect(h.intake.stats().inFlight).toBeLessThanOrEqual(2);
  release();
  await waitFor(() => h!.handled.length === 6, '6 handled');
  publishMany(server, 7, 4);
  await waitFor(() => h!.handled.length === 10, '10 handled');
  expect(numbers(h.handled)).toEqual(range(1, 10));
  expect(server.records().streams.every((s) => s.maxOutstanding <= 2)).toBe(true);
});
