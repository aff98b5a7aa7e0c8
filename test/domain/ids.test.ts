import { describe, it, expect } from 'vitest';
import { isId15, isSalesforceId, newRequestId, toId15 } from '../../src/domain/ids.js';

const ID15 = '0MwSB000001Ab3C';
const ID18 = '0MwSB000001Ab3CKAQ';

describe('isSalesforceId', () => {
  it.each([ID15, ID18, '005x00000000001'])('accepts %s', (id) => {
    expect(isSalesforceId(id)).toBe(true);
  });

  it.each([
    ['14 chars', ID15.slice(0, 14)],
    ['16 chars', `${ID15}A`],
    ['17 chars', ID18.slice(0, 17)],
    ['19 chars', `${ID18}A`],
    ['a dash', '0MwSB000001Ab3-'],
    ['a space', `${ID15.slice(0, 14)} `],
    ['empty', ''],
    ['a uuid', 'c6b2f1d8-2a8e-4a1f-9c53-0b1e3f5d7a90'],
  ])('rejects %s', (_label, id) => {
    expect(isSalesforceId(id)).toBe(false);
  });

  it('rejects non-strings', () => {
    expect(isSalesforceId(undefined)).toBe(false);
    expect(isSalesforceId(null)).toBe(false);
    expect(isSalesforceId(123456789012345)).toBe(false);
  });
});

describe('isId15', () => {
  it('is true only for exactly 15 alphanumerics', () => {
    expect(isId15(ID15)).toBe(true);
    expect(isId15(ID18)).toBe(false);
    expect(isId15(ID15.slice(0, 14))).toBe(false);
    expect(isId15('0MwSB000001Ab3-')).toBe(false);
    expect(isId15(null)).toBe(false);
  });
});

describe('toId15', () => {
  it('cuts an 18-char id to its first 15', () => {
    expect(toId15(ID18)).toBe(ID15);
    expect(isId15(toId15(ID18))).toBe(true);
  });

  it('returns a 15-char id unchanged', () => {
    expect(toId15(ID15)).toBe(ID15);
  });

  it.each([
    ['empty', ''],
    ['too short', 'abc'],
    ['16 chars', `${ID15}A`],
    ['18 chars that are not an id', '0MwSB000001Ab3C-KA'],
    ['too long', `${ID18}XYZ`],
  ])('returns anything else as is (%s), for isId15 to judge', (_label, id) => {
    expect(toId15(id)).toBe(id);
    expect(isId15(toId15(id))).toBe(false);
  });
});

describe('newRequestId', () => {
  it('returns a v4 uuid, fresh each call', () => {
    const a = newRequestId();
    const b = newRequestId();
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(b).not.toBe(a);
  });
});
