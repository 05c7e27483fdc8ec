// Value formats: Gateway API durations, Kubernetes quantities, header regexes, typo distance.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { didYouMean, editDistance } from '../../src/config/diagnostics.js';
import { compileHeaderRegex, parseByteQuantity, parseDuration } from '../../src/config/units.js';

describe('parseDuration (GEP-2257)', () => {
  it.each([
    ['1h', 3_600_000],
    ['30s', 30_000],
    ['500ms', 500],
    ['1h30m', 5_400_000],
    ['3m', 180_000],
    ['0s', 0],
    ['1h1m1s1ms', 3_661_001],
  ])('%s = %d ms', (text, ms) => {
    expect(parseDuration(text)).toEqual({ ok: true, value: ms });
  });

  it.each(['', '30', '1.5s', '-1s', '1d', '30 s', '1h1m1s1ms1h', '123456s', 'PT30S'])('rejects %j with an example', (text) => {
    const r = parseDuration(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.hint).toMatch(/`30s`/);
  });
});

describe('parseByteQuantity', () => {
  it.each([
    ['50Mi', 50 * 2 ** 20],
    ['32Ki', 32 * 1024],
    ['1G', 1e9],
    ['1000', 1000],
    [1000, 1000],
    ['1.5Ki', 1536],
    ['1e3', 1000],
  ])('%s = %d bytes', (text, bytes) => {
    expect(parseByteQuantity(text)).toEqual({ ok: true, value: bytes });
  });

  it.each(['50MB', '-1Mi', '', 'lots', '0'])('rejects %j', (text) => {
    expect(parseByteQuantity(text).ok).toBe(false);
  });
});

describe('compileHeaderRegex', () => {
  it('anchors the whole value and keeps alternation inside', () => {
    const r = compileHeaderRegex('a|b');
    if (!('regex' in r)) throw new Error(r.error);
    expect(['a', 'b', 'ab', 'xa'].map((s) => r.regex.test(s))).toEqual([true, true, false, false]);
  });
  it('turns a leading RE2 (?i) into the i flag and rejects unknown flags', () => {
    const r = compileHeaderRegex('(?i)GPT-.*');
    expect('regex' in r && r.regex.test('gpt-4o')).toBe(true);
    expect(compileHeaderRegex('(?U)a')).toEqual({ error: 'flag (?U) is not supported' });
  });
});

describe('editDistance / didYouMean', () => {
  it('counts a transposition as one edit', () => {
    expect(editDistance('backendRefs', 'backednRefs')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
  });
  it('is symmetric and bounded by the longer length', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), (a, b) => {
        const d = editDistance(a, b);
        expect(editDistance(b, a)).toBe(d);
        expect(d).toBeLessThanOrEqual(Math.max(a.length, b.length));
        expect(d === 0).toBe(a === b);
      }),
    );
  });
  it('suggests only plausible typos', () => {
    expect(didYouMean('backendref', ['backendRefs', 'matches'])).toBe('backendRefs');
    expect(didYouMean('retries', ['retry', 'timeout'])).toBe('retry');
    expect(didYouMean('zzz', ['retry', 'timeout'])).toBeUndefined();
  });
});
