// View 2: Mermaid stateDiagram-v2 source, drawn from the resolved transitions.
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';
import { cfg, guardName, isRecord } from './shared.js';

// ---------------------------------------------------------------------------------------------------------------
// 2. Mermaid

/** All state nodes in document order, root first. */
export function allNodes(root: AnyStateNode): AnyStateNode[] {
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
