// Small helpers the suites share: wait for a condition on the real clock, and capture what a
// command writes.
import { Writable } from 'node:stream';

/** Resolves once `check()` holds; throws after `ms`. */
export async function until(check: () => boolean, ms = 10_000, everyMs = 10): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A writable stream that keeps what is written, for a command's output. */
export function capture(): { out: Writable; text: () => string } {
  let text = '';
  const out = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  return { out, text: () => text };
}
