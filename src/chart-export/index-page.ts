// View 3: docs/statecharts/README.md, the page that ties the charts together.
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { type ChartEntry, INLINE, cfg, isRecord, toArray } from './shared.js';
import { chartHash } from './config.js';
import { allNodes, exportChartMermaid } from './mermaid.js';

// ---------------------------------------------------------------------------------------------------------------
// 3. README.md index

function mdCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, '<br>');
}

function mdCode(text: string): string {
  const fence = text.includes('`') ? '``' : '`';
  const pad = fence.length > 1 ? ' ' : '';
  return `${fence}${pad}${text.replace(/\|/g, '\\|')}${pad}${fence}`;
}

const dotted = (node: AnyStateNode): string => node.path.join('.');

function stateType(node: AnyStateNode): string {
  if (node.type === 'history') return node.history === 'deep' ? 'history (deep)' : 'history';
  return node.type;
}

interface EventRow {
  event: string;
  handledIn: string[];
  descriptions: string[];
}

/** Events from every `on` key in the chart, in document order, excluding XState's internal `xstate.*` ones. */
function eventRows(machine: AnyStateMachine): EventRow[] {
  const rows = new Map<string, EventRow>();
  for (const node of allNodes(machine.root)) {
    const on = cfg(node).on;
    if (!on) continue;
    for (const event of Object.keys(on)) {
      if (event.startsWith('xstate.')) continue;
      let row = rows.get(event);
      if (!row) {
        row = { event, handledIn: [], descriptions: [] };
        rows.set(event, row);
      }
      const where = node.path.length ? dotted(node) : '(root)';
      if (!row.handledIn.includes(where)) row.handledIn.push(where);
      for (const t of toArray(on[event])) {
        if (isRecord(t) && typeof t.description === 'string' && !row.descriptions.includes(t.description)) {
          row.descriptions.push(t.description);
        }
      }
    }
  }
  return [...rows.values()];
}

const STUDIO_HELP = [
  '## How to open these in Stately Studio',
  '',
  'Each `<name>.json` file is a normalized XState v5 machine config: the object you would pass to',
  '`createMachine(...)`. To view or edit a chart in Stately Studio, wrap the file contents in',
  '`createMachine(...)` and paste that into **Import from code** (<https://stately.ai/docs/import-from-code>).',
  'Guards, actions, delays and invoked actors appear by name only: their implementations, and the machine',
  `context, live in the TypeScript source. Anonymous inline functions are omitted or shown as \`${INLINE}\`.`,
  'The `.mmd` files hold the same charts as Mermaid `stateDiagram-v2` source; they are rendered inline below.',
  '',
  'The chart hash is the first 16 hex digits of the SHA-256 of the `.json` file. Persisted snapshots carry it,',
  'so a snapshot can be matched to the chart it was taken from.',
].join('\n');

/** The docs/statecharts/README.md page for a set of machines, in the given order. */
export function exportChartIndex(machines: ChartEntry[]): string {
  const out: string[] = [
    '# Switchboard statecharts',
    '',
    'The XState machines below are the specification of Switchboard. These files are generated from the',
    'machines in `src/` (`npm run charts`); edit the machines, not these files.',
    '',
  ];
  if (machines.length) {
    out.push(...machines.map(({ name }) => `- [${name}](#${name.toLowerCase().replace(/[^\w-]/g, '')})`), '');
  }
  out.push(STUDIO_HELP, '');

  for (const { name, machine, summary } of machines) {
    out.push(`## ${name}`, '', summary.trim(), '');
    const rootDescription = cfg(machine.root).description;
    if (typeof rootDescription === 'string' && rootDescription.trim()) out.push(rootDescription.trim(), '');
    out.push(
      `Files: [\`${name}.json\`](./${name}.json) (machine config) · [\`${name}.mmd\`](./${name}.mmd) (Mermaid) · ` +
        `machine id \`${machine.id}\` · chart hash \`${chartHash(machine)}\``,
      '',
      '```mermaid',
      exportChartMermaid(machine).trimEnd(),
      '```',
      '',
      '### States',
      '',
      '| State | Type | Description |',
      '|---|---|---|',
    );
    for (const node of allNodes(machine.root).slice(1)) {
      const description = cfg(node).description;
      const text = typeof description === 'string' && description.trim() ? mdCell(description.trim()) : '—';
      out.push(`| ${mdCode(dotted(node))} | ${stateType(node)} | ${text} |`);
    }
    out.push('', '### Events', '');
    const rows = eventRows(machine);
    if (!rows.length) {
      out.push('This machine accepts no external events.', '');
      continue;
    }
    out.push('| Event | Handled in | Description |', '|---|---|---|');
    for (const row of rows) {
      const description = row.descriptions.length ? mdCell(row.descriptions.join('; ')) : '—';
      out.push(`| ${mdCode(row.event)} | ${row.handledIn.map(mdCode).join(', ')} | ${description} |`);
    }
    out.push('');
  }
  return `${out.join('\n').trimEnd()}\n`;
}
