// Chart export: the XState machines are Switchboard's spec, published in docs/statecharts/ for partners.
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
import { createHash } from 'node:crypto';
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';

// ---------------------------------------------------------------------------------------------------------------
// Types

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A transition as exported: only names and strings, keys in alphabetical order. */
export interface ChartTransition {
  actions?: string[];
  description?: string;
  guard?: string;
  meta?: JsonValue;
  reenter?: true;
  target?: string | string[];
}

export interface ChartInvoke {
  id: string;
  onDone?: ChartTransition | ChartTransition[];
  onError?: ChartTransition | ChartTransition[];
  onSnapshot?: ChartTransition | ChartTransition[];
  src: string;
  systemId?: string;
}

/** A state node config as exported (the root additionally carries the machine `id`). */
export interface ChartStateConfig {
  after?: Record<string, ChartTransition | ChartTransition[]>;
  always?: ChartTransition | ChartTransition[];
  description?: string;
  entry?: string[];
  exit?: string[];
  history?: 'shallow' | 'deep';
  id?: string;
  initial?: string | ChartTransition;
  invoke?: ChartInvoke | ChartInvoke[];
  meta?: JsonValue;
  on?: Record<string, ChartTransition | ChartTransition[]>;
  onDone?: ChartTransition | ChartTransition[];
  route?: ChartTransition;
  states?: Record<string, ChartStateConfig>;
  tags?: string[];
  target?: string;
  type?: 'parallel' | 'final' | 'history';
  version?: string;
}

export interface ChartEntry {
  /** File base name: `<name>.json`, `<name>.mmd`. Letters, digits, `.`, `_`, `-`. */
  name: string;
  machine: AnyStateMachine;
  /** One paragraph of Markdown shown above the chart in README.md. */
  summary: string;
}

/** Placeholder for an anonymous inline guard or an invoked actor that is not registered by key. */
export const INLINE = '(inline)';

// The raw config of a state node, read loosely: StateNode.config is typed with TODO generics.
interface LooseConfig {
  id?: unknown;
  version?: unknown;
  type?: unknown;
  initial?: unknown;
  history?: unknown;
  target?: unknown;
  states?: Record<string, LooseConfig>;
  on?: Record<string, unknown>;
  always?: unknown;
  after?: Record<string, unknown>;
  invoke?: unknown;
  onDone?: unknown;
  route?: unknown;
  entry?: unknown;
  exit?: unknown;
  tags?: unknown;
  meta?: unknown;
  description?: unknown;
}

const cfg = (node: AnyStateNode): LooseConfig => node.config as LooseConfig;

// ---------------------------------------------------------------------------------------------------------------
// Small helpers

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** A copy with keys in alphabetical order and `undefined` values removed. */
function sorted<T extends object>(obj: T): T {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(obj).sort(compare)) {
    const value = (obj as Record<string, unknown>)[key];
    if (value !== undefined) out[key] = value;
  }
  return out as T;
}

function toArray(value: unknown): unknown[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** JSON-safe deep copy with sorted keys; functions, symbols and `undefined` disappear, cycles are cut. */
function toJson(value: unknown, seen: WeakSet<object> = new WeakSet()): JsonValue | undefined {
  if (value === null) return null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'bigint':
      return value.toString();
    case 'object':
      break;
    default:
      return undefined; // function, symbol, undefined
  }
  const obj = value as object;
  if (seen.has(obj)) return '[Circular]';
  seen.add(obj);
  try {
    if (Array.isArray(obj)) return obj.map((item) => toJson(item, seen) ?? null);
    const withToJson = obj as { toJSON?: unknown };
    if (typeof withToJson.toJSON === 'function') return toJson((withToJson.toJSON as () => unknown)(), seen);
    const out: Record<string, JsonValue> = {};
    for (const key of Object.keys(obj).sort(compare)) {
      const item = toJson((obj as Record<string, unknown>)[key], seen);
      if (item !== undefined) out[key] = item;
    }
    return out;
  } finally {
    seen.delete(obj);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Names of actions and guards

// An inline arrow function written directly as `entry: () => …` or `guard: () => …` gets the property's name from
// JavaScript. That name says nothing about the function, so it counts as anonymous.
const INFERRED_NAMES = new Set(['entry', 'exit', 'actions', 'guard']);
const fnName = (fn: { name: string }): string | undefined => (fn.name && !INFERRED_NAMES.has(fn.name) ? fn.name : undefined);

/** An action's name: a string key, `{type}`, a built-in (`xstate.assign`…), or a named function. */
function actionName(action: unknown): string | undefined {
  if (typeof action === 'string') return action;
  if (typeof action === 'function') {
    // Built-in action creators (assign, raise, sendTo, spawnChild, emit, enqueueActions, log, cancel, stopChild)
    // return functions that carry `resolve` and a `type` such as 'xstate.assign'.
    const builtin = action as { resolve?: unknown; type?: unknown };
    if ('resolve' in builtin && typeof builtin.type === 'string') return builtin.type;
    return fnName(action); // anonymous inline functions are dropped
  }
  if (isRecord(action) && typeof action.type === 'string') return action.type; // { type, params }
  return undefined;
}

function actionNames(actions: unknown): string[] {
  return toArray(actions)
    .map(actionName)
    .filter((n): n is string => n !== undefined);
}

/**
 * A guard's name: a string key, `{type}` reduced to the type, the higher-order guards spelled out
 * (`not(isVip)`, `and(a, b)`, `stateIn(…)`), a named function, or `(inline)`.
 */
export function guardName(guard: unknown): string {
  if (typeof guard === 'string') return guard;
  if (isRecord(guard) && typeof guard.type === 'string') return guard.type;
  if (typeof guard === 'function') {
    const g = guard as { check?: unknown; guards?: unknown; stateValue?: unknown };
    if (typeof g.check === 'function') {
      if (Array.isArray(g.guards)) return `${guard.name}(${g.guards.map(guardName).join(', ')})`;
      if ('stateValue' in g) {
        const sv = g.stateValue;
        return `${guard.name}(${typeof sv === 'string' ? sv : JSON.stringify(toJson(sv) ?? null)})`;
      }
    }
    return fnName(guard) ?? INLINE;
  }
  return INLINE;
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Normalized config

function exportTransition(config: unknown): ChartTransition {
  if (config === undefined) return {};
  if (typeof config === 'string') return { target: config };
  if (!isRecord(config)) return {};
  const out: ChartTransition = {};
  const actions = actionNames(config.actions);
  if (actions.length) out.actions = actions;
  if (typeof config.description === 'string') out.description = config.description;
  if (config.guard !== undefined) out.guard = guardName(config.guard);
  const meta = toJson(config.meta);
  if (meta !== undefined) out.meta = meta;
  if (config.reenter === true) out.reenter = true;
  const target = config.target;
  if (typeof target === 'string') out.target = target;
  else if (Array.isArray(target)) out.target = target.filter((t): t is string => typeof t === 'string');
  return sorted(out);
}

/** Keeps the arity as authored: one transition → object, an array → array. */
function exportTransitions(config: unknown): ChartTransition | ChartTransition[] {
  return Array.isArray(config) ? config.map(exportTransition) : exportTransition(config);
}

function exportTransitionMap(
  config: Record<string, unknown> | undefined,
): Record<string, ChartTransition | ChartTransition[]> | undefined {
  if (!config) return undefined;
  const keys = Object.keys(config).sort(compare);
  if (!keys.length) return undefined;
  const out: Record<string, ChartTransition | ChartTransition[]> = {};
  for (const key of keys) out[key] = exportTransitions(config[key]);
  return out;
}

/** The `setup({ actors })` key of an invoked logic object, if it is registered; else `(inline)`. */
function actorKey(machine: AnyStateMachine, src: unknown): string {
  if (typeof src === 'string') return src;
  const actors = machine.implementations.actors as Record<string, unknown>;
  for (const key of Object.keys(actors)) if (actors[key] === src) return key;
  return INLINE;
}

function exportInvokes(node: AnyStateNode): ChartInvoke | ChartInvoke[] | undefined {
  const raw = node.config.invoke as unknown;
  if (raw === undefined) return undefined;
  const resolved = node.invoke; // memoized; `id` is the authored id or the deterministic `<index>.<node id>`
  const configs = toArray(raw);
  const out = configs.map((invokeConfig, i): ChartInvoke => {
    const c = isRecord(invokeConfig) ? invokeConfig : {};
    const inv: ChartInvoke = {
      id: resolved[i]?.id ?? (typeof c.id === 'string' ? c.id : `${i}.${node.id}`),
      src: actorKey(node.machine, c.src),
    };
    if (c.onDone !== undefined) inv.onDone = exportTransitions(c.onDone);
    if (c.onError !== undefined) inv.onError = exportTransitions(c.onError);
    if (c.onSnapshot !== undefined) inv.onSnapshot = exportTransitions(c.onSnapshot);
    if (typeof c.systemId === 'string') inv.systemId = c.systemId;
    return sorted(inv);
  });
  return Array.isArray(raw) ? out : out[0];
}

function exportNode(node: AnyStateNode, isRoot: boolean): ChartStateConfig {
  const c = cfg(node);
  const out: ChartStateConfig = {};

  if (isRoot) {
    out.id = node.machine.id;
    if (typeof c.version === 'string') out.version = c.version;
  } else if (typeof c.id === 'string') {
    out.id = c.id; // explicit ids are kept: transitions may target them as '#id'
  }
  if (node.type === 'parallel' || node.type === 'final' || node.type === 'history') out.type = node.type;
  if (node.type === 'history') {
    out.history = node.history === 'deep' ? 'deep' : 'shallow';
    if (typeof c.target === 'string') out.target = c.target;
  }

  if (typeof c.initial === 'string') out.initial = c.initial;
  else if (isRecord(c.initial)) out.initial = exportTransition(c.initial);

  if (c.states && Object.keys(c.states).length) {
    const states: Record<string, ChartStateConfig> = {};
    for (const key of Object.keys(c.states)) {
      const child = node.states[key];
      if (child) states[key] = exportNode(child, false); // authored order, not sorted
    }
    out.states = states;
  }

  out.on = exportTransitionMap(c.on);
  if (c.always !== undefined) out.always = exportTransitions(c.always);
  out.after = exportTransitionMap(c.after);
  out.invoke = exportInvokes(node);
  if (c.onDone !== undefined) out.onDone = exportTransitions(c.onDone);
  if (c.route !== undefined) out.route = exportTransition(c.route);

  // From the config, not node.entry/node.exit: XState appends xstate.raise/xstate.cancel there for each `after`.
  const entry = actionNames(c.entry);
  if (entry.length) out.entry = entry;
  const exit = actionNames(c.exit);
  if (exit.length) out.exit = exit;

  const tags = toArray(c.tags).filter((t): t is string => typeof t === 'string');
  if (tags.length) out.tags = tags;
  const meta = toJson(c.meta);
  if (meta !== undefined) out.meta = meta;
  if (typeof c.description === 'string') out.description = c.description;

  return sorted(out);
}

/**
 * The machine as a normalized config: what `createMachine({...})` accepts. Keys are sorted except `states`
 * (authored order); actions and guards are names; context, inputs, outputs and other functions are dropped.
 */
export function exportChartConfig(machine: AnyStateMachine): ChartStateConfig {
  return exportNode(machine.root, true);
}

/** `exportChartConfig` as the committed file: pretty JSON, 2-space indent, trailing newline. */
export function exportChartJson(machine: AnyStateMachine): string {
  return `${JSON.stringify(exportChartConfig(machine), null, 2)}\n`;
}

/** First 16 hex digits of the SHA-256 of `exportChartJson(machine)` (so it is also the hash of `<name>.json`). */
export function chartHash(machine: AnyStateMachine): string {
  return createHash('sha256').update(exportChartJson(machine)).digest('hex').slice(0, 16);
}

// ---------------------------------------------------------------------------------------------------------------
// 2. Mermaid

/** All state nodes in document order, root first. */
function allNodes(root: AnyStateNode): AnyStateNode[] {
  const out: AnyStateNode[] = [];
  const walk = (n: AnyStateNode): void => {
    out.push(n);
    for (const child of Object.values(n.states) as AnyStateNode[]) walk(child);
  };
  walk(root);
  return out;
}

const children = (node: AnyStateNode): AnyStateNode[] => Object.values(node.states) as AnyStateNode[];

// Words the stateDiagram lexer treats as keywords when a line starts with them.
const MERMAID_KEYWORDS = /^(state|note|class|classdef|direction|default|style|click|scale|hide|end|acctitle|accdescr)$/i;

function mermaidIds(machine: AnyStateMachine): Map<AnyStateNode, string> {
  const ids = new Map<AnyStateNode, string>();
  const used = new Set<string>();
  for (const node of allNodes(machine.root)) {
    let base = [machine.id, ...node.path].join('_').replace(/\W/g, '_');
    if (MERMAID_KEYWORDS.test(base)) base = `${base}_`;
    let id = base;
    for (let n = 2; used.has(id); n++) id = `${base}_${n}`;
    used.add(id);
    ids.set(node, id);
  }
  return ids;
}

const MERMAID_ENTITIES: Record<string, string> = {
  '#': '#35;',
  ':': '#58;',
  ';': '#59;',
  '%': '#37;',
  '"': '#quot;',
  '<': '#lt;',
  '>': '#gt;',
};

/**
 * Text safe inside a Mermaid label, note or quoted state name. A `;` or a newline ends a label (so does `:` in the
 * jison grammar), `#` and `%%` start comments, `"` ends a quoted name and `direction LR` anywhere on a line is
 * read as a statement. Mermaid replaces entity codes (`#58;`) before it parses and decodes them when it renders.
 */
export function escapeMermaid(text: string): string {
  return text
    .replace(/\s*[\r\n]+\s*/g, ' ')
    .replace(/[#:;%"<>]/g, (ch) => MERMAID_ENTITIES[ch] ?? ch)
    .replace(/(direction)\s+(TB|BT|RL|LR)/gi, '$1#32;$2');
}

function formatDelay(delay: unknown): string {
  return typeof delay === 'number' ? `${delay}ms` : String(delay);
}

function edgeLabel(t: AnyTransitionDefinition): string {
  const ev = String(t.eventType);
  let base: string;
  let guard: unknown = t.guard;
  if (ev === '') {
    base = 'always';
  } else if (ev === 'xstate.route') {
    // Root-level transitions XState builds for `route` configs; the real guard is on the target's config.
    base = 'route';
    const target = t.target?.[0];
    const route = target ? cfg(target).route : undefined;
    guard = isRecord(route) ? route.guard : undefined;
  } else if (ev.startsWith('xstate.after.') && 'delay' in t) {
    base = `after ${formatDelay((t as { delay?: unknown }).delay)}`;
  } else if (ev.startsWith('xstate.done.actor.')) {
    base = `done: ${ev.slice('xstate.done.actor.'.length)}`;
  } else if (ev.startsWith('xstate.error.actor.')) {
    base = `error: ${ev.slice('xstate.error.actor.'.length)}`;
  } else if (ev.startsWith('xstate.snapshot.')) {
    base = `snapshot: ${ev.slice('xstate.snapshot.'.length)}`;
  } else if (ev.startsWith('xstate.done.state.')) {
    base = 'onDone';
  } else {
    base = ev;
  }
  return guard === undefined ? base : `${base} [${guardName(guard)}]`;
}

/** A description short and plain enough for a one-line Mermaid note. */
function isSimpleDescription(text: unknown): text is string {
  return typeof text === 'string' && text.length > 0 && text.length <= 80 && !/[\r\n`*_[\]{}|<>\\]/.test(text);
}

/**
 * Mermaid `stateDiagram-v2` source, with a trailing newline.
 *
 * Layout rules, all forced by how Mermaid assigns parents (an id referenced inside a `state X { }` block is
 * moved into X, the last block wins; references at the top level do not move anything):
 * - every state is declared in its parent's block, compound states as `state "key" as id { ... }`;
 * - an edge between siblings goes in their parent's block; every other edge (across composite states, out of
 *   a parallel region, from the root) goes at the top level, after all declarations;
 * - parallel regions are separated with `--`;
 * - a simple one-line description becomes a `note` on a top-level atomic state; other descriptions are left to
 *   the README's state table.
 */
export function exportChartMermaid(machine: AnyStateMachine): string {
  const ids = mermaidIds(machine);
  const idOf = (n: AnyStateNode): string => ids.get(n) as string;
  const root = machine.root;
  const rootHasEdges = root.transitions.size > 0 || (root.always?.length ?? 0) > 0;

  // Collect edges in document order, then assign each to the block it must be written in.
  const inBlock = new Map<AnyStateNode, string[]>();
  const topLevel: string[] = [];
  for (const source of allNodes(root)) {
    const transitions: AnyTransitionDefinition[] = [...source.transitions.values()].flat();
    if (source.always) transitions.push(...source.always);
    for (const t of transitions) {
      const inert = !t.target?.length && !t.actions.length && !t.reenter;
      if (inert) continue; // forbidden / no-op transitions have nothing to draw
      const label = escapeMermaid(edgeLabel(t));
      const targets = t.target?.length ? t.target : [source]; // targetless with actions: a self-loop
      for (const target of targets) {
        const line = `${idOf(source)} --> ${idOf(target)} : ${label}`;
        const parent = source.parent;
        const sameBlock = parent !== undefined && target.parent === parent && parent.type !== 'parallel';
        if (sameBlock) {
          const list = inBlock.get(parent) ?? [];
          list.push(line);
          inBlock.set(parent, list);
        } else {
          topLevel.push(line);
        }
      }
    }
  }

  const lines: string[] = ['stateDiagram-v2'];
  const emit = (depth: number, text: string): void => {
    lines.push(`${'  '.repeat(depth)}${text}`);
  };

  // The contents of a compound/parallel node's block (or of the whole diagram for the root).
  const emitContents = (node: AnyStateNode, depth: number): void => {
    const kids = children(node);
    if (node.type === 'parallel') {
      kids.forEach((kid, i) => {
        if (i > 0) emit(depth, '--');
        emitState(kid, depth);
      });
    } else {
      const initial = node.initial?.target[0];
      if (initial) emit(depth, `[*] --> ${idOf(initial)}`);
      for (const kid of kids) emitState(kid, depth);
      for (const kid of kids) if (kid.type === 'final') emit(depth, `${idOf(kid)} --> [*]`);
    }
    for (const line of inBlock.get(node) ?? []) emit(depth, line);
  };

  const emitState = (node: AnyStateNode, depth: number): void => {
    let name = node.key;
    if (node.type === 'history') name += node.history === 'deep' ? ' (H*)' : ' (H)';
    const decl = `state "${escapeMermaid(name)}" as ${idOf(node)}`;
    if (children(node).length) {
      emit(depth, `${decl} {`);
      emitContents(node, depth + 1);
      emit(depth, '}');
    } else {
      emit(depth, decl);
      // Notes only for top-level states: Mermaid draws a note's box at the top level even when its state is
      // inside a composite, and links the two across the composite's border.
      const description = cfg(node).description;
      if (depth === 1 && isSimpleDescription(description)) {
        emit(depth, `note right of ${idOf(node)} : ${escapeMermaid(description)}`);
      }
    }
  };

  if (rootHasEdges) {
    // The root has its own transitions: draw it as a composite state so they have a source.
    emit(1, `[*] --> ${idOf(root)}`);
    emitState(root, 1);
  } else {
    emitContents(root, 1);
  }
  for (const line of topLevel) emit(1, line);
  return `${lines.join('\n')}\n`;
}

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
