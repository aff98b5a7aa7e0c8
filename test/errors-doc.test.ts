import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('docs/errors.md', () => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  const codes = new Set(sources(new URL('../src', import.meta.url).pathname).flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/'(SB_[A-Z_]+)'/g)].map((m) => m[1]!)));

  it('documents every error code the source raises', () => {
    expect(codes.size).toBeGreaterThan(5);
    expect([...codes].filter((code) => !doc.includes(`\`${code}\``))).toEqual([]);
  });

  it('documents no code the source no longer has', () => {
    const documented = [...doc.matchAll(/`(SB_[A-Z_]+)`/g)].map((m) => m[1]!);
    expect(documented.filter((code) => !codes.has(code))).toEqual([]);
  });

  it('lists every routing outcome', () => {
    const outcomes = readFileSync(new URL('../src/machines/routing-context.ts', import.meta.url), 'utf8').match(/export type RoutingOutcome =([^;]+);/)![1]!.match(/'(\w+)'/g)!.map((s) => s.slice(1, -1));
    expect(outcomes.length).toBeGreaterThan(5);
    expect(outcomes.filter((o) => !doc.includes(`| \`${o}\` |`))).toEqual([]);
  });
});
