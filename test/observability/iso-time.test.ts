// The ledger's and the access log's timestamps: isoTime reuses the second's prefix, and must write
// exactly what Date#toISOString writes for every instant, across second, year and era boundaries.
import { describe, expect, it } from 'vitest';
import { isoTime } from '../../src/core/clock.js';

describe('isoTime', () => {
  it('matches Date#toISOString across second boundaries, millisecond padding and calendar edges', () => {
    const samples = [0, 1, 9, 10, 99, 100, 999, 1000, 1001, -1, -999, -1000, -1001, 951_782_400_000 /* 2000-02-29 */, 253_402_300_799_999 /* 9999-12-31T23:59:59.999 */, 253_402_300_800_000 /* +010000 */, -62_198_755_200_001 /* before year 0 */];
    const now = Date.now();
    for (let i = 0; i < 5000; i++) samples.push(now + i * 7);
    let seed = 42;
    for (let i = 0; i < 5000; i++) {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      samples.push(Math.floor((seed / 2 ** 31) * 8.64e15 * 2 - 8.64e15));
    }
    // In order and out of order: the cached second must never leak into another second's string.
    for (const ms of [...samples, ...samples.slice().reverse()]) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });

  it('falls back to Date for fractional milliseconds', () => {
    expect(isoTime(1_765_000_000_123.6)).toBe(new Date(1_765_000_000_123.6).toISOString());
  });
});
