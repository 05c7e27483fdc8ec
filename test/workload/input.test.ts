import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ArraySplitter } from '../../src/workload/unroll/input.js';

// Strings heavy in what the splitter has to get right: quotes, runs of backslashes, brackets.
const tricky = fc.array(fc.constantFrom('"', '\\', '\\\\', '\\"', '[', ']', '{', '}', ',', 'a', ' ', '\n', 'é', '中'), { maxLength: 12 }).map((a) => a.join(''));
const value = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small' }, tricky, fc.integer(), fc.boolean(), fc.constant(null), fc.array(tie('v'), { maxLength: 4 }), fc.dictionary(tricky, tie('v'), { maxKeys: 3 })),
})).v;

describe('ArraySplitter', () => {
  it('yields each element of a top-level array whatever the chunking', () => {
    fc.assert(
      fc.property(fc.array(value, { maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 30 }), fc.boolean(), (arr, cuts, pretty) => {
        const bytes = Buffer.from(JSON.stringify(arr, null, pretty ? 1 : undefined), 'utf8');
        const s = new ArraySplitter();
        const out: unknown[] = [];
        let at = 0;
        let k = 0;
        while (at < bytes.length) {
          const end = Math.min(bytes.length, at + cuts[k++ % cuts.length]!);
          for (const el of s.push(bytes.subarray(at, end))) out.push(JSON.parse(el.toString('utf8')));
          at = end;
        }
        expect(out).toEqual(arr);
        expect(s.closed).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
