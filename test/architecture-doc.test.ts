// docs/architecture.md is the map a newcomer follows: every file it names must exist, every chart
// state it names must be in the exported charts, and every file under src/engine/ must be on it.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../', import.meta.url);
const doc = readFileSync(new URL('docs/architecture.md', root), 'utf8');

describe('docs/architecture.md', () => {
  it('names only files that exist', () => {
    const paths = [...new Set([...doc.matchAll(/`((?:src|test)\/[\w./-]+\.ts)`/g)].map((m) => m[1]!))];
    expect(paths.length).toBeGreaterThan(20);
    expect(paths.filter((p) => !existsSync(new URL(p, root)))).toEqual([]);
  });

  it('covers every room of the engine', () => {
    const rooms = readdirSync(new URL('src/engine/', root)).map((f) => `src/engine/${f}`);
    expect(rooms.filter((f) => f !== 'src/engine/types.ts' && !doc.includes(`\`${f}\``))).toEqual([]);
  });

  it('names only chart states that exist', () => {
    const routing = readFileSync(new URL('docs/statecharts/routing.mmd', root), 'utf8');
    const named = [...doc.matchAll(/routing `([a-zA-Z.]+)`/g)].map((m) => m[1]!.split('.').pop()!);
    expect(named.length).toBeGreaterThan(3);
    expect(named.filter((s) => !routing.includes(s))).toEqual([]);
  });
});
