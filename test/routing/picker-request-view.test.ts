// What a session-key expression reads from the body: a top-level string field, found without
// parsing, the same as JSON.parse would give, and never a field of the same name nested deeper.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { topLevelString } from '../../src/upstream/pool/request-view.js';

describe('topLevelString', () => {
  it('agrees with JSON.parse on any object, with decoys nested inside', () => {
    const value = fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.boolean());
    fc.assert(
      fc.property(fc.dictionary(fc.oneof(fc.constantFrom('model', 'user', 'messages'), fc.string()), fc.oneof(value, fc.dictionary(fc.constantFrom('model', 'user'), fc.string()), fc.array(fc.record({ user: fc.string(), model: fc.string() })))), fc.boolean(), (obj, pretty) => {
        const raw = Buffer.from(JSON.stringify(obj, null, pretty ? 2 : 0));
        const parsed = JSON.parse(raw.toString()) as Record<string, unknown>;
        for (const key of ['model', 'user']) {
          const own = Object.hasOwn(parsed, key) ? parsed[key] : undefined;
          expect(topLevelString(raw, key)).toBe(typeof own === 'string' ? own : undefined);
        }
      }),
    );
  });

  it('decodes escapes and ignores what is not an object', () => {
    expect(topLevelString(Buffer.from('{"messages":[{"user":"inner"}],"user":"a\\"b\\u00e9"}'), 'user')).toBe('a"bé');
    expect(topLevelString(Buffer.from('["user","x"]'), 'user')).toBeUndefined();
    expect(topLevelString(Buffer.from('{"model":5}'), 'model')).toBeUndefined();
  });
});
