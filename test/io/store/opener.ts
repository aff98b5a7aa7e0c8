// A process that opens an LMDB store, for tests that need a second process or must prove that a
// damaged store cannot kill the process that opens it. Usage: opener.ts <dir> hold|once
// Prints one JSON line: {"opened":true,"pid":…} or {"code":…,"message":…,"holder":…}; 'hold' then
// keeps the store open until it is killed, 'once' reads everything back, closes and exits.
import { SwitchboardError } from '../../../src/domain/errors.js';
import { openLmdbSessionStore } from '../../../src/io/store/lmdb-store.js';

const [dir, mode] = process.argv.slice(2);
try {
  const store = openLmdbSessionStore({ path: dir! });
  if (mode === 'hold') {
    await store.commit({ seen: [`held-by-${process.pid}`] });
    process.stdout.write(`${JSON.stringify({ opened: true, pid: process.pid })}\n`);
    setInterval(() => {}, 60_000);
  } else {
    const sessions = await store.loadSessions();
    await store.loadSeen(100);
    await store.commit({ seen: ['after-open'] });
    await store.close();
    process.stdout.write(`${JSON.stringify({ opened: true, pid: process.pid, sessions: sessions.length })}\n`);
  }
} catch (err) {
  const e = err as SwitchboardError & { holder?: unknown };
  process.stdout.write(`${JSON.stringify({ typed: err instanceof SwitchboardError, code: e.code, message: e.message, holder: e.holder })}\n`);
}
