// The schema-driven value generator against a real JSON Schema validator: every generated schema's
// value validates, for any seed.
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/sim/rng.js';
import { schemaValue } from '../../src/sim/schema-value.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
const WORDS = ['alpha', 'beta', 'gamma', 'delta', 'Omega', 'kappa'];
const word = (rng: Rng): string => WORDS[rng.int(WORDS.length)] as string;

type Schema = Record<string, unknown>;

const scalar: fc.Arbitrary<Schema> = fc.oneof(
  fc.record({ type: fc.constant('string'), minLength: fc.option(fc.integer({ min: 0, max: 30 }), { nil: undefined }), maxLength: fc.option(fc.integer({ min: 30, max: 60 }), { nil: undefined }) }, { requiredKeys: ['type'] }),
  fc.record({ type: fc.constant('string'), format: fc.constantFrom('date-time', 'date', 'time', 'email', 'uri', 'uuid', 'ipv4', 'ipv6', 'hostname', 'duration') }),
  fc.record(
    { type: fc.constant('integer'), minimum: fc.integer({ min: -50, max: 50 }), maximum: fc.integer({ min: 50, max: 500 }), multipleOf: fc.constantFrom(1, 2, 5) },
    { requiredKeys: ['type'] },
  ),
  fc.record({ type: fc.constant('number'), exclusiveMinimum: fc.integer({ min: -10, max: 0 }), maximum: fc.integer({ min: 1, max: 10 }) }, { requiredKeys: ['type'] }),
  fc.constant({ type: 'boolean' }),
  fc.constant({ type: 'null' }),
  fc.constant({ type: ['string', 'null'] }),
  fc.uniqueArray(fc.oneof(fc.string({ minLength: 1, maxLength: 8 }), fc.integer()), { minLength: 1, maxLength: 5 }).map((e) => ({ enum: e })),
  fc.jsonValue().map((c) => ({ const: c })),
  fc.constantFrom('STRING', 'INTEGER', 'BOOLEAN', 'NUMBER').map((t) => ({ type: t.toLowerCase(), nullable: true })),
);

const { schema } = fc.letrec<{ schema: Schema }>((tie) => ({
  schema: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc
      .dictionary(fc.stringMatching(/^[a-z][a-z_]{0,7}$/), tie('schema'), { maxKeys: 5 })
      .chain((props) =>
        fc.record({
          type: fc.constant('object'),
          properties: fc.constant(props),
          required: fc.subarray(Object.keys(props)),
          additionalProperties: fc.constant(false),
        }),
      ),
    fc.record(
      { type: fc.constant('array'), items: tie('schema'), minItems: fc.integer({ min: 0, max: 3 }), maxItems: fc.integer({ min: 3, max: 6 }) },
      { requiredKeys: ['type', 'items'] },
    ),
    fc.array(tie('schema'), { minLength: 1, maxLength: 3 }).map((anyOf) => ({ anyOf })),
  ),
}));

function check(s: unknown, seed: number): void {
  const v = schemaValue(s, new Rng(seed), word);
  const validate = ajv.compile(s as object);
  if (!validate(v)) throw new Error(`${JSON.stringify(v)} fails ${JSON.stringify(s)}: ${ajv.errorsText(validate.errors)}`);
}

describe('schemaValue', () => {
  it('generates a valid value for any generated schema and seed', () => {
    fc.assert(fc.property(schema, fc.integer(), (s, seed) => check(s, seed)), { numRuns: 400 });
  });

  it('is deterministic for a seed', () => {
    fc.assert(
      fc.property(schema, fc.integer(), (s, seed) => {
          expect(schemaValue(s, new Rng(seed), word)).toEqual(schemaValue(s, new Rng(seed), word));
        }),
      { numRuns: 100 },
    );
  });

  it('follows $ref into $defs and definitions, recursion included, and merges allOf', () => {
    const tree = {
      type: 'object',
      properties: { root: { $ref: '#/$defs/node' } },
      required: ['root'],
      additionalProperties: false,
      $defs: {
        node: {
          type: 'object',
          properties: { name: { type: 'string' }, children: { type: 'array', items: { $ref: '#/$defs/node' } } },
          required: ['name', 'children'],
          additionalProperties: false,
        },
      },
    };
    const draft7 = { definitions: { id: { type: 'string', format: 'uuid' } }, type: 'object', properties: { id: { $ref: '#/definitions/id' } }, required: ['id'] };
    const all = { allOf: [{ type: 'object', properties: { a: { type: 'integer' } }, required: ['a'] }, { properties: { b: { enum: ['x', 'y'] } }, required: ['b'] }] };
    for (let seed = 0; seed < 50; seed++) for (const s of [tree, draft7, all]) check(s, seed);
  });

  it('reads Gemini-style schemas: upper-case types and nullable', () => {
    const s = { type: 'OBJECT', properties: { city: { type: 'STRING' }, days: { type: 'INTEGER', nullable: true }, tags: { type: 'ARRAY', items: { type: 'STRING' } } }, required: ['city', 'days', 'tags'] };
    for (let seed = 0; seed < 50; seed++) {
      const v = schemaValue(s, new Rng(seed), word) as Record<string, unknown>;
      expect(typeof v['city']).toBe('string');
      expect(v['days'] === null || Number.isInteger(v['days'])).toBe(true);
      expect(Array.isArray(v['tags'])).toBe(true);
    }
  });
});
