// The chart export's shared vocabulary: the exported shapes, and the small helpers every view uses
// (deterministic JSON, names of actions and guards).
import type { AnyStateMachine, AnyStateNode } from 'xstate';

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

export const cfg = (node: AnyStateNode): LooseConfig => node.config as LooseConfig;

// ---------------------------------------------------------------------------------------------------------------
// Small helpers

export const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** A copy with keys in alphabetical order and `undefined` values removed. */
export function sorted<T extends object>(obj: T): T {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(obj).sort(compare)) {
    const value = (obj as Record<string, unknown>)[key];
    if (value !== undefined) out[key] = value;
  }
  return out as T;
}

export function toArray(value: unknown): unknown[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** JSON-safe deep copy with sorted keys; functions, symbols and `undefined` disappear, cycles are cut. */
export function toJson(value: unknown, seen: WeakSet<object> = new WeakSet()): JsonValue | undefined {
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

export function actionNames(actions: unknown): string[] {
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
