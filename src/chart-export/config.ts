// View 1: the normalized machine config (Stately Studio imports it wrapped in createMachine), and
// the hash persisted snapshots are tagged with.
import { createHash } from 'node:crypto';
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { type ChartInvoke, type ChartStateConfig, type ChartTransition, INLINE, actionNames, cfg, compare, guardName, isRecord, sorted, toArray, toJson } from './shared.js';

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
