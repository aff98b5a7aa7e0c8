import { createHash } from 'node:crypto';
import { assign, createMachine, fromPromise, not, setup, type AnyStateMachine } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { describe, expect, it } from 'vitest';
import {
  chartHash,
  escapeMermaid,
  exportChartConfig,
  exportChartIndex,
  exportChartJson,
  exportChartMermaid,
  renderChartFiles,
  type ChartStateConfig,
} from '../src/chart-export.js';

// ---- a small representative chart ------------------------------------------------------------------------------

interface Ctx {
  attempts: number;
  rep?: string;
}
type Ev =
  | { type: 'route'; vip: boolean }
  | { type: 'agent.accepted' }
  | { type: 'agent.declined' }
  | { type: 'cancel' };

// Implementations are registered by name, as in production: the chart only ever sees the names.
const routingSetup = setup({
  types: { context: {} as Ctx, events: {} as Ev },
  actors: { pickAgent: fromPromise<string, { attempts: number }>(async () => 'rep-1') },
  guards: {
    isVip: ({ event }) => event.type === 'route' && event.vip,
    canRetry: ({ context }) => context.attempts < 2,
  },
  actions: {
    notifyOffered: () => {},
    // capped so that graph traversal over (value, attempts) stays finite
    countAttempt: assign({ attempts: ({ context }) => Math.min(context.attempts + 1, 3) }),
  },
  delays: { ringTimeout: 30_000 },
});

/** A fresh machine each call (fresh inline functions too), so determinism is tested across instances. */
function buildRouting(opts: { ringTarget?: string } = {}) {
  return routingSetup.createMachine({
    id: 'routing',
    description: 'Routes one request to a rep.',
    initial: 'idle',
    context: { attempts: 0 },
    on: { cancel: { target: '.cancelled', description: 'The partner withdrew the request.' } },
    states: {
      idle: {
        description: 'Waiting for a route request.',
        on: {
          route: [
            { guard: 'isVip', target: 'routed', actions: 'notifyOffered', description: 'VIP requests skip the queue.' },
            { target: 'active' },
          ],
        },
      },
      active: {
        description: 'Looking for a rep:\nfirst pick one, then ring them.',
        initial: 'picking',
        entry: ['countAttempt', assign({ rep: undefined }), () => {}],
        states: {
          picking: {
            invoke: {
              id: 'pick',
              src: 'pickAgent',
              input: ({ context }) => ({ attempts: context.attempts }),
              onDone: { target: 'ringing', actions: assign({ rep: ({ event }) => event.output }) },
              onError: [
                { guard: 'canRetry', target: 'picking', reenter: true, actions: 'countAttempt' },
                { target: '#routing.failed' },
              ],
            },
          },
          ringing: {
            tags: ['offered'],
            entry: 'notifyOffered',
            after: { ringTimeout: { target: opts.ringTarget ?? 'picking', actions: 'countAttempt' } },
            on: {
              'agent.declined': { target: 'picking', description: 'The rep declined; pick again.' },
              'agent.accepted': 'accepted',
            },
          },
          accepted: { type: 'final' },
        },
        onDone: 'routed',
      },
      routed: { type: 'final', description: 'A rep accepted the work.' },
      failed: { type: 'final' },
      cancelled: { type: 'final', meta: { reportAs: 'CANCELLED', z: 1, a: () => 'dropped' } },
    },
  });
}

const RINGING = 'routing.active.ringing';
const EVENTS = [
  { type: 'route', vip: true },
  { type: 'route', vip: false },
  { type: 'agent.accepted' },
  { type: 'agent.declined' },
  { type: 'cancel' },
  { type: 'xstate.done.actor.pick', output: 'rep-1' },
  { type: 'xstate.error.actor.pick', error: new Error('no rep') },
  { type: `xstate.after.ringTimeout.${RINGING}` },
] as const;

/** The set of state values reachable from the initial state, as sorted JSON strings. */
function reachableValues(machine: AnyStateMachine, serializeState?: (s: any) => string): string[] {
  const paths = getShortestPaths(machine, {
    events: EVENTS as unknown as any[],
    ...(serializeState ? { serializeState } : {}),
  });
  return [...new Set(paths.map((p) => JSON.stringify(p.state.value)))].sort();
}

/** Every guard name used anywhere in an exported config. */
function guardNames(node: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(node)) node.forEach((n) => guardNames(n, into));
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'guard' && typeof value === 'string') into.add(value);
      else guardNames(value, into);
    }
  }
  return into;
}

const reimport = (config: ChartStateConfig): any => JSON.parse(JSON.stringify(config));

// ---- 1. config -------------------------------------------------------------------------------------------------

describe('exportChartConfig', () => {
  const config = exportChartConfig(buildRouting());

  it('keeps the root id, initial, root transitions and description, with keys sorted', () => {
    expect(Object.keys(config)).toEqual(['description', 'id', 'initial', 'on', 'states']);
    expect(config.id).toBe('routing');
    expect(config.initial).toBe('idle');
    expect(config.on).toEqual({
      cancel: { description: 'The partner withdrew the request.', target: '.cancelled' },
    });
  });

  it('keeps states in authored order (not sorted)', () => {
    expect(Object.keys(config.states ?? {})).toEqual(['idle', 'active', 'routed', 'failed', 'cancelled']);
    expect(Object.keys(config.states?.active?.states ?? {})).toEqual(['picking', 'ringing', 'accepted']);
  });

  it('exports a guarded transition list with names only', () => {
    expect(config.states?.idle).toEqual({
      description: 'Waiting for a route request.',
      on: {
        route: [
          {
            actions: ['notifyOffered'],
            description: 'VIP requests skip the queue.',
            guard: 'isVip',
            target: 'routed',
          },
          { target: 'active' },
        ],
      },
    });
  });

  it('exports an invoke with id, src key and normalized onDone/onError; input functions are dropped', () => {
    expect(config.states?.active?.states?.picking).toEqual({
      invoke: {
        id: 'pick',
        onDone: { actions: ['xstate.assign'], target: 'ringing' },
        onError: [
          { actions: ['countAttempt'], guard: 'canRetry', reenter: true, target: 'picking' },
          { target: '#routing.failed' },
        ],
        src: 'pickAgent',
      },
    });
    expect(JSON.stringify(config.states?.active?.states?.picking?.invoke)).toBe(
      '{"id":"pick","onDone":{"actions":["xstate.assign"],"target":"ringing"},' +
        '"onError":[{"actions":["countAttempt"],"guard":"canRetry","reenter":true,"target":"picking"},' +
        '{"target":"#routing.failed"}],"src":"pickAgent"}',
    );
  });

  it('exports after, tags, entry and on of a nested state; XState’s own raise/cancel for `after` stay out', () => {
    const machine = buildRouting();
    expect(exportChartConfig(machine).states?.active?.states?.ringing).toEqual({
      after: { ringTimeout: { actions: ['countAttempt'], target: 'picking' } },
      entry: ['notifyOffered'],
      on: {
        'agent.accepted': { target: 'accepted' },
        'agent.declined': { description: 'The rep declined; pick again.', target: 'picking' },
      },
      tags: ['offered'],
    });
    // The resolved node has had xstate.raise (entry) / xstate.cancel (exit) appended for the delay.
    const ringing = machine.root.states.active?.states.ringing;
    const types = (list: readonly unknown[] | undefined) =>
      (list ?? []).map((a) => (typeof a === 'function' ? (a as { type?: string }).type ?? a.name : a));
    expect(types(ringing?.entry)).toEqual(['notifyOffered', 'xstate.raise']);
    expect(types(ringing?.exit)).toEqual(['xstate.cancel']);
  });

  it('names built-in entry actions and drops anonymous functions', () => {
    const active = config.states?.active;
    expect(active?.entry).toEqual(['countAttempt', 'xstate.assign']);
    expect(active?.onDone).toEqual({ target: 'routed' });
    expect(active?.initial).toBe('picking');
  });

  it('exports final states, meta (JSON only, keys sorted) and nothing for context', () => {
    expect(config.states?.routed).toEqual({ description: 'A rep accepted the work.', type: 'final' });
    expect(config.states?.failed).toEqual({ type: 'final' });
    expect(config.states?.cancelled).toEqual({ meta: { reportAs: 'CANCELLED', z: 1 }, type: 'final' });
    expect(JSON.stringify(config.states?.cancelled?.meta)).toBe('{"reportAs":"CANCELLED","z":1}');
    expect(JSON.stringify(config)).not.toContain('attempts');
  });

  it('names higher-order guards, inline guards, parallel and history states, and keeps explicit ids', () => {
    const m = createMachine({
      id: 'call',
      initial: 'live',
      states: {
        live: {
          type: 'parallel',
          states: {
            audio: {
              initial: 'on',
              states: { on: { on: { MUTE: 'off' } }, off: { id: 'muted' }, hist: { type: 'history', history: 'deep' } },
            },
            video: { initial: 'off', states: { off: {} } },
          },
          on: {
            HANGUP: { target: 'ended', guard: not('isIdle') },
            PING: { guard: () => true, actions: [() => {}, function ping() {}] },
            RESUME: '.audio.hist',
          },
        },
        ended: { type: 'final' },
      },
    });
    const c = exportChartConfig(m);
    expect(c.states?.live?.type).toBe('parallel');
    expect(c.states?.live?.on).toEqual({
      HANGUP: { guard: 'not(isIdle)', target: 'ended' },
      PING: { actions: ['ping'], guard: '(inline)' },
      RESUME: { target: '.audio.hist' },
    });
    expect(c.states?.live?.states?.audio?.states?.off).toEqual({ id: 'muted' });
    expect(c.states?.live?.states?.audio?.states?.hist).toEqual({ history: 'deep', type: 'history' });
  });

  it('is deterministic: two exports, and exports of two separately built machines, are equal', () => {
    const a = buildRouting();
    expect(exportChartConfig(a)).toEqual(exportChartConfig(a));
    expect(exportChartJson(a)).toBe(exportChartJson(buildRouting()));
    expect(exportChartMermaid(a)).toBe(exportChartMermaid(buildRouting()));
  });

  it('is unchanged by .provide(): implementations are not part of the chart', () => {
    const m = buildRouting();
    const provided = m.provide({ guards: { isVip: () => false }, actions: { notifyOffered: () => {} } });
    expect(exportChartJson(provided)).toBe(exportChartJson(m));
  });

  it('gives invokes without an id the deterministic id XState itself uses', () => {
    const m = createMachine({ id: 'm', initial: 'a', states: { a: { invoke: [{ src: 'x' }, { src: 'y', onDone: 'b' }] }, b: {} } });
    expect(exportChartConfig(m).states?.a?.invoke).toEqual([
      { id: '0.m.a', src: 'x' },
      { id: '1.m.a', onDone: { target: 'b' }, src: 'y' },
    ]);
  });
});

// ---- round trip ------------------------------------------------------------------------------------------------

describe('round trip: createMachine(exported config)', () => {
  it('reaches the same state values for a chart without guards (invoke, after, nesting)', () => {
    const m = createMachine({
      id: 'plain',
      initial: 'idle',
      states: {
        idle: { on: { route: 'active', cancel: 'cancelled' } },
        active: {
          initial: 'picking',
          states: {
            picking: { invoke: { id: 'pick', src: 'pickAgent', onDone: 'ringing', onError: '#plain.failed' } },
            ringing: { after: { 1000: 'picking' }, on: { 'agent.accepted': 'accepted' } },
            accepted: { type: 'final' },
          },
          onDone: 'routed',
          on: { cancel: 'cancelled' },
        },
        routed: { type: 'final' },
        failed: { type: 'final' },
        cancelled: { type: 'final' },
      },
    });
    const events = [
      { type: 'route' },
      { type: 'cancel' },
      { type: 'agent.accepted' },
      { type: 'xstate.done.actor.pick' },
      { type: 'xstate.error.actor.pick' },
      { type: 'xstate.after.1000.plain.active.ringing' },
    ];
    const values = (machine: AnyStateMachine) =>
      [...new Set(getShortestPaths(machine, { events }).map((p) => JSON.stringify(p.state.value)))].sort();

    const copy = createMachine(reimport(exportChartConfig(m)));
    expect(values(m)).toEqual(
      ['"cancelled"', '"failed"', '"idle"', '"routed"', '{"active":"picking"}', '{"active":"ringing"}'].sort(),
    );
    expect(values(copy)).toEqual(values(m));
    expect(exportChartJson(copy)).toBe(exportChartJson(m)); // export is a fixed point
  });

  it('reaches the same (value, context) pairs when the implementations are provided by name', () => {
    const m = buildRouting();
    // Implementations, named delays included, come back by name; context is not part of the chart.
    // (Without `delays`, XState raises the `after` event at once: `ringing` would never be a stable state.)
    const copy = routingSetup.createMachine({ ...reimport(exportChartConfig(m)), context: { attempts: 0 } });
    const byValueAndAttempts = (s: any) => JSON.stringify([s.value, s.context.attempts]);

    const original = reachableValues(m, byValueAndAttempts);
    expect(original).toEqual(
      ['"cancelled"', '"failed"', '"idle"', '"routed"', '{"active":"picking"}', '{"active":"ringing"}'].sort(),
    );
    expect(reachableValues(copy, byValueAndAttempts)).toEqual(original);

    const pairs = (machine: AnyStateMachine) =>
      [...new Set(getShortestPaths(machine, { events: EVENTS as unknown as any[], serializeState: byValueAndAttempts })
        .map((p) => byValueAndAttempts(p.state)))].sort();
    expect(pairs(copy)).toEqual(pairs(m));
  });

  it('reaches the same state values with every exported guard and delay stubbed', () => {
    const m = buildRouting();
    const config = reimport(exportChartConfig(m));
    const names = guardNames(config);
    expect([...names].sort()).toEqual(['canRetry', 'isVip']);
    // `false` rather than `true`: an always-true isVip would hide `active` from both machines.
    const stubs = Object.fromEntries([...names].map((n) => [n, () => false]));

    const copy = setup({ guards: stubs, delays: { ringTimeout: 1 } }).createMachine(config);
    const byValue = (s: any) => JSON.stringify(s.value);
    const original = reachableValues(m.provide({ guards: stubs }), byValue);
    expect(original).toHaveLength(6);
    expect(reachableValues(copy, byValue)).toEqual(original);
  });
});

// ---- 2. Mermaid ------------------------------------------------------------------------------------------------

describe('exportChartMermaid', () => {
  const mmd = exportChartMermaid(buildRouting());
  const lines = mmd.split('\n').map((l) => l.trim());

  it('is a stateDiagram-v2 with the root drawn as a composite when it has its own transitions', () => {
    expect(mmd.startsWith('stateDiagram-v2\n')).toBe(true);
    expect(mmd.endsWith('\n')).toBe(true);
    expect(lines).toContain('[*] --> routing');
    expect(lines).toContain('state "routing" as routing {');
    expect(lines).toContain('routing --> routing_cancelled : cancel');
  });

  it('draws nested states as composite states with their initial and final markers', () => {
    expect(lines).toContain('state "active" as routing_active {');
    expect(lines).toContain('[*] --> routing_idle');
    expect(lines).toContain('[*] --> routing_active_picking');
    expect(lines).toContain('state "ringing" as routing_active_ringing');
    expect(lines).toContain('routing_active_accepted --> [*]');
    expect(lines).toContain('routing_routed --> [*]');
    expect(lines).toContain('routing_failed --> [*]');
  });

  it('labels guarded, delayed, invoke and done edges', () => {
    expect(lines).toContain('routing_idle --> routing_routed : route [isVip]');
    expect(lines).toContain('routing_idle --> routing_active : route');
    expect(lines).toContain('routing_active_ringing --> routing_active_picking : after ringTimeout');
    expect(lines).toContain('routing_active_picking --> routing_active_ringing : done#58; pick');
    expect(lines).toContain('routing_active_picking --> routing_active_picking : error#58; pick [canRetry]');
    expect(lines).toContain('routing_active --> routing_routed : onDone');
  });

  it('writes an edge between siblings inside their block, and every other edge at the top level', () => {
    const indent = (text: string) => mmd.split('\n').find((l) => l.trim() === text)?.match(/^ */)?.[0].length;
    expect(indent('routing_active_ringing --> routing_active_picking : after ringTimeout')).toBe(6);
    expect(indent('routing_idle --> routing_active : route')).toBe(4);
    // across composite states: at the top level, or Mermaid would move `failed` into `active`
    expect(indent('routing_active_picking --> routing_failed : error#58; pick')).toBe(2);
    // each state is declared exactly once
    const declared = lines.filter((l) => l.startsWith('state ')).map((l) => l.split(' as ')[1]?.replace(' {', ''));
    expect(new Set(declared).size).toBe(declared.length);
    expect(declared).toHaveLength(9);
  });

  it('draws eventless transitions, parallel regions, history states and simple notes', () => {
    const m = createMachine({
      id: 'call',
      initial: 'live',
      states: {
        live: {
          type: 'parallel',
          states: {
            audio: { initial: 'on', states: { on: { on: { MUTE: 'off' } }, off: {}, hist: { type: 'history' } } },
            video: { initial: 'off', states: { off: { always: { guard: 'camAllowed', target: 'on' } }, on: {} } },
          },
          on: { HANGUP: 'ended' },
        },
        ended: { type: 'final', description: 'The call is over; bye #1' },
        gone: { description: 'Line one\nline two' },
      },
    });
    const out = exportChartMermaid(m);
    expect(out).toBe(
      [
        'stateDiagram-v2',
        '  [*] --> call_live',
        '  state "live" as call_live {',
        '    state "audio" as call_live_audio {',
        '      [*] --> call_live_audio_on',
        '      state "on" as call_live_audio_on',
        '      state "off" as call_live_audio_off',
        '      state "hist (H)" as call_live_audio_hist',
        '      call_live_audio_on --> call_live_audio_off : MUTE',
        '    }',
        '    --',
        '    state "video" as call_live_video {',
        '      [*] --> call_live_video_off',
        '      state "off" as call_live_video_off',
        '      state "on" as call_live_video_on',
        '      call_live_video_off --> call_live_video_on : always [camAllowed]',
        '    }',
        '  }',
        '  state "ended" as call_ended',
        '  note right of call_ended : The call is over#59; bye #35;1',
        '  state "gone" as call_gone',
        '  call_ended --> [*]',
        '  call_live --> call_ended : HANGUP',
        '',
      ].join('\n'),
    );
  });

  it('makes ids safe and unique', () => {
    const m = createMachine({
      id: 'my-chart',
      initial: 'a-b',
      states: { 'a-b': { on: { 'go:now': 'a_b' } }, a_b: {}, 'x y': {} },
    });
    const out = exportChartMermaid(m);
    expect(out).toContain('state "a-b" as my_chart_a_b\n');
    expect(out).toContain('state "a_b" as my_chart_a_b_2\n');
    expect(out).toContain('state "x y" as my_chart_x_y\n');
    expect(out).toContain('my_chart_a_b --> my_chart_a_b_2 : go#58;now');
  });

  it('escapes what the Mermaid lexer would misread', () => {
    expect(escapeMermaid('done: pick')).toBe('done#58; pick');
    expect(escapeMermaid('a;b #c %%d')).toBe('a#59;b #35;c #37;#37;d');
    expect(escapeMermaid('say "hi" <b>')).toBe('say #quot;hi#quot; #lt;b#gt;');
    expect(escapeMermaid('set direction LR\nnow')).toBe('set direction#32;LR now');
  });
});

// ---- 3. index page ---------------------------------------------------------------------------------------------

describe('exportChartIndex', () => {
  const m = buildRouting();
  const page = exportChartIndex([{ name: 'routing', machine: m, summary: 'How one routing request is handled.' }]);
  const lines = page.split('\n');

  it('has the summary, the file links, the hash and the diagram', () => {
    expect(page).toContain('## routing\n\nHow one routing request is handled.\n');
    expect(page).toContain('[`routing.json`](./routing.json)');
    expect(page).toContain('[`routing.mmd`](./routing.mmd)');
    expect(page).toContain(`chart hash \`${chartHash(m)}\``);
    expect(page).toContain(`\`\`\`mermaid\n${exportChartMermaid(m)}\`\`\``);
  });

  it('explains how to open the JSON in Stately Studio', () => {
    expect(page).toContain('## How to open these in Stately Studio');
    expect(page).toMatch(/wrap the file contents in\s+`createMachine\(\.\.\.\)`/);
    expect(page).toContain('Import from code');
    expect(page).toMatch(/Guards, actions, delays and invoked actors appear by name/);
  });

  it('has one row per state, with its description or —', () => {
    const stateRows = lines.filter((l) => /^\| `[^`]+` \| (atomic|compound|parallel|final|history)/.test(l));
    expect(stateRows).toEqual([
      '| `idle` | atomic | Waiting for a route request. |',
      '| `active` | compound | Looking for a rep:<br>first pick one, then ring them. |',
      '| `active.picking` | atomic | — |',
      '| `active.ringing` | atomic | — |',
      '| `active.accepted` | final | — |',
      '| `routed` | final | A rep accepted the work. |',
      '| `failed` | final | — |',
      '| `cancelled` | final | — |',
    ]);
  });

  it('lists the events from `on` keys with where they are handled and their descriptions', () => {
    const start = lines.indexOf('| Event | Handled in | Description |');
    expect(start).toBeGreaterThan(0);
    expect(lines.slice(start + 2, start + 6)).toEqual([
      '| `cancel` | `(root)` | The partner withdrew the request. |',
      '| `route` | `idle` | VIP requests skip the queue. |',
      '| `agent.declined` | `active.ringing` | The rep declined; pick again. |',
      '| `agent.accepted` | `active.ringing` | — |',
    ]);
    expect(lines[start + 6]).toBe('');
    expect(page).not.toMatch(/\| `xstate\./);
  });

  it('escapes table cells', () => {
    const m2 = createMachine({ id: 'p', initial: 'a', states: { a: { description: 'x | y' } } });
    expect(exportChartIndex([{ name: 'p', machine: m2, summary: 's' }])).toContain('| `a` | atomic | x \\| y |');
  });
});

// ---- 4. hash and files -----------------------------------------------------------------------------------------

describe('chartHash', () => {
  it('is 16 hex digits of the SHA-256 of the JSON file, stable across instances', () => {
    const m = buildRouting();
    const hash = chartHash(m);
    expect(hash).toMatch(/^[0-9a-f]{16}$/);
    expect(chartHash(buildRouting())).toBe(hash);
    expect(hash).toBe(createHash('sha256').update(exportChartJson(m)).digest('hex').slice(0, 16));
  });

  it('changes when the chart changes', () => {
    expect(chartHash(buildRouting({ ringTarget: 'accepted' }))).not.toBe(chartHash(buildRouting()));
  });
});

describe('renderChartFiles', () => {
  const machines = [
    { name: 'routing', machine: buildRouting(), summary: 'Routing.' },
    { name: 'plain', machine: createMachine({ id: 'plain', initial: 'a', states: { a: {} } }), summary: 'Plain.' },
  ];

  it('renders <name>.json, <name>.mmd and README.md', () => {
    const files = renderChartFiles(machines);
    expect(Object.keys(files)).toEqual(['routing.json', 'routing.mmd', 'plain.json', 'plain.mmd', 'README.md']);
    expect(files['routing.json']).toBe(`${JSON.stringify(exportChartConfig(machines[0]!.machine), null, 2)}\n`);
    expect(files['routing.json']).toContain('\n  "id": "routing",\n');
    expect(JSON.parse(files['plain.json']!)).toEqual({ id: 'plain', initial: 'a', states: { a: {} } });
    expect(files['plain.mmd']).toBe('stateDiagram-v2\n  [*] --> plain_a\n  state "a" as plain_a\n');
    expect(files['README.md']).toBe(exportChartIndex(machines));
    expect(files['README.md']).toContain('This machine accepts no external events.');
    expect(renderChartFiles(machines)).toEqual(files);
  });

  it('refuses unsafe or duplicate names', () => {
    const machine = buildRouting();
    expect(() => renderChartFiles([{ name: '../x', machine, summary: '' }])).toThrow(/not a safe file name/);
    expect(() =>
      renderChartFiles([
        { name: 'a', machine, summary: '' },
        { name: 'A', machine, summary: '' },
      ]),
    ).toThrow(/used twice/);
  });
});
