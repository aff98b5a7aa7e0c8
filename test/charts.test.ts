// The drift gate: docs/statecharts/ is the spec partners read, so it must match the code.
// `npm run charts` (vitest --update) rewrites the files; in CI a difference fails.
import { describe, expect, it } from 'vitest';
import { chartFiles } from '../src/charts.js';

describe('docs/statecharts', () => {
  const files = chartFiles();
  it('has a JSON config, a Mermaid diagram and an index page', () => {
    expect(Object.keys(files).sort()).toEqual(['README.md', 'routing.json', 'routing.mmd', 'session.json', 'session.mmd', 'subscription.json', 'subscription.mmd']);
  });
  for (const [name, content] of Object.entries(files)) {
    it(`${name} matches the machines`, async () => {
      await expect(content).toMatchFileSnapshot(`../docs/statecharts/${name}`);
    });
  }
});
