// Chart export (the views live in ./chart-export/): the XState machines are Switchboard's spec, published in docs/statecharts/ for partners.
//
// Three views of one machine, all deterministic (same machine → byte-identical output):
// - `exportChartConfig` / `exportChartJson`: a *normalized machine config*, the object `createMachine({...})`
//   accepts. Wrapped in `createMachine(...)` it imports into Stately Studio ("Import from code"), and it is the
//   shape the Stately inspector renders. Implementations are reduced to names; context is never exported.
// - `exportChartMermaid`: Mermaid `stateDiagram-v2` source.
// - `exportChartIndex`: the docs/statecharts/README.md page that ties them together.
// `chartHash` tags persisted snapshots with the chart they were taken from (see stack notes §1.3/§1.4).
//
// Why the raw `StateNode.config` and not `machine.definition` / `toJSON()`: the definition is the *resolved*
// shape (absolute `#id` targets, `after` expanded into `xstate.after.*` events, and `node.entry`/`node.exit`
// mutated with `xstate.raise`/`xstate.cancel` for every delay), which nothing imports. The Mermaid view is the
// opposite: it uses the resolved `node.transitions` Map (plus `node.always`) so every edge points at a real node.
import { exportChartJson } from './chart-export/config.js';
import { exportChartIndex } from './chart-export/index-page.js';
import { exportChartMermaid } from './chart-export/mermaid.js';
import type { ChartEntry } from './chart-export/shared.js';

export { chartHash, exportChartConfig, exportChartJson } from './chart-export/config.js';
export { exportChartIndex } from './chart-export/index-page.js';
export { escapeMermaid, exportChartMermaid } from './chart-export/mermaid.js';
export { guardName, INLINE, type ChartEntry, type ChartInvoke, type ChartStateConfig, type ChartTransition, type JsonValue } from './chart-export/shared.js';

// ---------------------------------------------------------------------------------------------------------------
// 4. Files

const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Every file of docs/statecharts/: `<name>.json` and `<name>.mmd` per machine, then `README.md`.
 * Throws on a name that is not a safe file name or is used twice.
 */
export function renderChartFiles(machines: ChartEntry[]): Record<string, string> {
  const files: Record<string, string> = {};
  const seen = new Set<string>();
  for (const { name, machine } of machines) {
    if (!FILE_NAME.test(name)) throw new Error(`Chart name ${JSON.stringify(name)} is not a safe file name`);
    if (seen.has(name.toLowerCase())) throw new Error(`Chart name ${JSON.stringify(name)} is used twice`);
    seen.add(name.toLowerCase());
    files[`${name}.json`] = exportChartJson(machine);
    files[`${name}.mmd`] = exportChartMermaid(machine);
  }
  files['README.md'] = exportChartIndex(machines);
  return files;
}
