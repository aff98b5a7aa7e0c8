import { describe, expect, it } from 'vitest';
import { runDemo, SCENARIOS } from '../src/demo/run.js';
import { capture } from './support/waiting.js';


describe('the demo', () => {
  it('plays the whole conference story and the invariants hold', async () => {
    const c = capture();
    expect(await runDemo({ out: c.out, color: false })).toBe(0);
    const text = c.text();
    for (const line of [
      'Initial routing routed by Ava',
      'Ben joined',
      'offer to Cam',
      'Conference routing routed by Dia',
      'POST /routingResult failure: participant cap reached (3 of 3)',
      'Ava left (warm transfer to Ben, Dia)',
      'PATCH /agentWork Cancel',
      'Conference routing cancelled',
      'session ended',
      '✓ invariants hold',
    ]) expect(text).toContain(line);
    expect(text).not.toMatch(/\x1b\[/);
  });

  for (const s of SCENARIOS.filter((x) => x.name !== 'conference')) {
    it(`plays the '${s.name}' scenario`, async () => {
      const c = capture();
      expect(await runDemo({ scenario: s.name, out: c.out, color: false })).toBe(0);
      expect(c.text()).toContain(s.title);
    });
  }

  it("the 'decline' scenario shows a decline, then the next rep offered and accepting", async () => {
    const c = capture();
    expect(await runDemo({ scenario: 'decline', out: c.out, color: false })).toBe(0);
    const text = c.text();
    const order = ['offer to Cam', 'Cam declined the offer', 'offer to Dia', 'Conference routing routed by Dia'].map((line) => text.indexOf(line));
    expect(order.every((at) => at >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it('explains PSR once, before the audit speaks of it', async () => {
    const c = capture();
    expect(await runDemo({ scenario: 'transfer', out: c.out, color: false })).toBe(0);
    const text = c.text();
    expect(text.match(/PendingServiceRouting/g)).toHaveLength(1);
    expect(text.indexOf('PendingServiceRouting')).toBeLessThan(text.indexOf('no PSR left'));
  });

  it('refuses an unknown scenario', async () => {
    const c = capture();
    expect(await runDemo({ scenario: 'nope', out: c.out, color: false })).toBe(2);
    expect(c.text()).toMatch(/unknown scenario/);
  });
});
