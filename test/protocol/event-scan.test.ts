// The scans that read a stream event's usage and model from its bytes must give what `JSON.parse`
// (and the OpenAI reader's `usageFrom`) give, or decline. Events are generated as text with duplicate
// members, escapes, odd whitespace and values of every kind, then corrupted at random (bytes that
// are not UTF-8 too): whatever a scan accepts must parse, and agree with the parse on the usage and
// whether the event is usage-only, or on the model.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { usageFrom } from '../../src/providers/openai/fields.js';
import { bytesHaveMemberStarting } from '../../src/protocol/json-bytes.js';
import { scanModel, scanUsageEvent, type UsageEvent } from '../../src/providers/shared/event-scan.js';
import { hasUsageObject } from '../../src/providers/shared/json-walk.js';

/** What the reader's parse takes from an event, in the scan's terms; undefined when it reads no usage or a choice may finish. */
function byParse(text: Buffer): UsageEvent | undefined {
  let obj: { usage?: unknown; choices?: unknown };
  try {
    obj = JSON.parse(text.toString('utf8')) as typeof obj;
  } catch {
    return undefined;
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return undefined;
  const usage = usageFrom(obj.usage);
  if (usage === undefined) return undefined;
  if (Array.isArray(obj.choices) && obj.choices.length > 0) return undefined;
  return { usage, usageOnly: Array.isArray(obj.choices) };
}

/** The model as the reader's parse takes it: null when the text is not JSON or names no model string. */
function modelByParse(text: Buffer): string | null {
  try {
    const model = (JSON.parse(text.toString('utf8')) as { model?: unknown } | null)?.model;
    return typeof model === 'string' ? model : null;
  } catch {
    return null;
  }
}

/** JSON written by hand, so members can repeat and names can be escaped. */
type J = { obj: Array<[string, J]> } | { arr: J[] } | { raw: string };

interface Style {
  space: string[];
  escapeNames: boolean;
}

function write(v: J, st: Style, n = { i: 0 }): string {
  const ws = (): string => st.space[n.i++ % st.space.length] ?? '';
  if ('raw' in v) return v.raw;
  if ('arr' in v) return `[${ws()}${v.arr.map((x) => write(x, st, n)).join(`${ws()},${ws()}`)}${ws()}]`;
  const name = (k: string): string => (st.escapeNames && k === 'usage' ? '"us\\u0061ge"' : JSON.stringify(k));
  return `{${ws()}${v.obj.map(([k, x]) => `${name(k)}${ws()}:${ws()}${write(x, st, n)}`).join(`${ws()},${ws()}`)}${ws()}}`;
}

const raw = (x: unknown): J => ({ raw: JSON.stringify(x) });

/** A JSON value of any kind, as a generated tree. */
const anyJson: fc.Arbitrary<J> = fc.jsonValue({ maxDepth: 3 }).map(raw);

/** A token count as backends write it, or as they should not. */
const count: fc.Arbitrary<J> = fc.oneof(
  { arbitrary: fc.nat({ max: 1_000_000 }).map(raw), weight: 10 },
  { arbitrary: fc.constantFrom('null', '0', '123456789012345', '1234567890123456', '-3', '1.5', '2e3', '10.0', '007', '"12"', 'true', '{}', '[]').map((r): J => ({ raw: r })), weight: 3 },
);

/** The member `name` with probability `chance` (in percent), else nothing. */
function member(name: string, value: fc.Arbitrary<J>, chance = 70): fc.Arbitrary<Array<[string, J]>> {
  return fc.oneof({ arbitrary: fc.constant<Array<[string, J]>>([]), weight: 100 - chance }, { arbitrary: value.map((v): Array<[string, J]> => [[name, v]]), weight: chance });
}

const details = (wanted: string): fc.Arbitrary<J> =>
  fc.oneof(
    { arbitrary: fc.tuple(member(wanted, count, 85), member('audio_tokens', count), member('other', anyJson)).map(([a, b, c]): J => ({ obj: [...a, ...b, ...c] })), weight: 6 },
    { arbitrary: fc.constantFrom<J>({ raw: 'null' }, { raw: '0' }, { raw: '"x"' }, { raw: '[]' }), weight: 1 },
  );

const usage: fc.Arbitrary<J> = fc
  .tuple(
    member('prompt_tokens', count, 85),
    member('completion_tokens', count, 85),
    member('total_tokens', count, 80),
    member('input_tokens', count),
    member('output_tokens', count),
    member('prompt_tokens_details', details('cached_tokens')),
    member('completion_tokens_details', details('reasoning_tokens')),
    member('prompt_tokens', count, 15),
    member('prompt_tokens_details', details('cached_tokens'), 15),
    member('extra', anyJson, 30),
  )
  .chain((parts) => fc.shuffledSubarray(parts.flat(), { minLength: parts.flat().length }))
  .map((obj): J => ({ obj }));

const choices: fc.Arbitrary<J> = fc.constantFrom<J>(
  { raw: '[]' },
  { raw: '[ ]' },
  { raw: 'null' },
  { raw: '[{"index":0,"delta":{},"finish_reason":"stop"}]' },
  { raw: '"none"' },
  { raw: '{}' },
);

const event: fc.Arbitrary<J> = fc
  .tuple(
    member('id', fc.string().map(raw)),
    member('object', fc.constant(raw('chat.completion.chunk'))),
    member('created', fc.oneof(fc.nat().map(raw), fc.double().map(raw))),
    member('model', fc.oneof({ arbitrary: fc.string({ unit: 'binary' }).map(raw), weight: 8 }, { arbitrary: fc.constantFrom(raw(null), raw(5), raw(['m'])), weight: 1 })),
    member('model', fc.string().map(raw), 10),
    member('choices', choices, 80),
    member('usage', usage, 90),
    member('usage', fc.oneof(usage, fc.constant(raw(null))), 10),
    member('choices', choices, 10),
    member('system_fingerprint', fc.oneof(fc.string().map(raw), fc.constant(raw(null)))),
    member('nested', fc.constant<J>({ obj: [['usage', { raw: '{"prompt_tokens":5}' }]] }), 15),
    member('x', anyJson, 30),
  )
  .chain((parts) => fc.shuffledSubarray(parts.flat(), { minLength: parts.flat().length }))
  .map((obj): J => ({ obj }));

const style: fc.Arbitrary<Style> = fc.record({
  space: fc.array(fc.constantFrom('', '', '', ' ', '\n', '\t', '\r\n  '), { minLength: 1, maxLength: 6 }),
  escapeNames: fc.oneof({ arbitrary: fc.constant(false), weight: 4 }, { arbitrary: fc.constant(true), weight: 1 }),
});

/** A few bytes changed, inserted or dropped (as latin1: one byte a character): broken JSON and UTF-8, and near misses. */
const edits = fc.array(fc.tuple(fc.nat(), fc.constantFrom('', '{', '}', '[', ']', '"', ',', ':', '0', '9', '.', '-', 'e', ' ', '\\', 'n', '\u0001', '\u00e9', '\u00c3', '\u0080'), fc.nat({ max: 2 })), { maxLength: 3 });

function edited(text: Buffer, list: Array<[number, string, number]>): Buffer {
  let s = text.toString('latin1');
  for (const [pos, ins, del] of list) {
    const at = pos % (s.length + 1);
    s = s.slice(0, at) + ins + s.slice(at + del);
  }
  return Buffer.from(s, 'latin1');
}

describe('hasUsageObject', () => {
  it('answers as the search for the whole name does, however many u bytes the text has', () => {
    const piece = fc.constantFrom('"usage"', '"usage":{', '"usage" :\t{', '"usage":null', '\\"usage":{', '\\\\"usage":{', 'u', 'uu', '"u', 'usage', '"', '\\', ':', '{', ' ', 'x', 'é');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (parts) => {
        const text = Buffer.from(parts.join(''));
        expect(hasUsageObject(text)).toBe(bytesHaveMemberStarting(text, Buffer.from('"usage"'), 0x7b));
      }),
      { numRuns: 4000 },
    );
  });
});

describe('scanUsageEvent', () => {
  it('reads what the parse reads, or declines', () => {
    let read = 0;
    let parsed = 0;
    fc.assert(
      fc.property(event, style, edits, (ev, st, list) => {
        for (const text of [Buffer.from(write(ev, st)), edited(Buffer.from(write(ev, st)), list)]) {
          const scanned = scanUsageEvent(text);
          if (byParse(text) !== undefined) parsed++;
          if (scanned === undefined) continue;
          read++;
          expect(scanned).toEqual(byParse(text));
        }
      }),
      { numRuns: 4000 },
    );
    // Not vacuous: the generator declines often on purpose (odd counts), yet about a fifth of what
    // the parse reads, the scan reads too.
    expect(read).toBeGreaterThan(parsed / 10);
  });

  it('reads the model the parse reads, or declines', () => {
    let read = 0;
    fc.assert(
      fc.property(event, style, edits, (ev, st, list) => {
        for (const text of [Buffer.from(write(ev, st)), edited(Buffer.from(write(ev, st)), list)]) {
          const scanned = scanModel(text);
          if (scanned === undefined) continue;
          if (scanned !== null) read++;
          expect(scanned).toBe(modelByParse(text));
        }
      }),
      { numRuns: 4000 },
    );
    expect(read).toBeGreaterThan(1000);
  });

  it('reads every usage event of the common shapes itself, whatever the counts and the whitespace', () => {
    const plainCount = fc.oneof(fc.nat({ max: 10_000_000 }), fc.constant(null));
    const plainDetails = (k: string): fc.Arbitrary<unknown> => fc.oneof(fc.constant(null), fc.record({ [k]: plainCount, audio_tokens: fc.nat() }, { requiredKeys: [] }));
    const plainUsage = fc.record(
      {
        prompt_tokens: plainCount,
        completion_tokens: plainCount,
        total_tokens: plainCount,
        prompt_tokens_details: plainDetails('cached_tokens'),
        completion_tokens_details: plainDetails('reasoning_tokens'),
      },
      { requiredKeys: [] },
    );
    const plainEvent = fc.record(
      {
        id: fc.string(),
        object: fc.constant('chat.completion.chunk'),
        created: fc.nat(),
        model: fc.string({ unit: 'grapheme' }),
        choices: fc.constantFrom([], null),
        usage: plainUsage,
        service_tier: fc.constantFrom('default', null),
        obfuscation: fc.string(),
      },
      { requiredKeys: ['usage'] },
    );
    fc.assert(
      fc.property(plainEvent, fc.constantFrom(undefined, 1, '\t'), (ev, indent) => {
        const text = Buffer.from(JSON.stringify(ev, null, indent));
        const scanned = scanUsageEvent(text);
        expect(scanned).toBeDefined();
        expect(scanned).toEqual(byParse(text));
        // A model with a character JSON escapes is declined (no backend names one so).
        const model = scanModel(text);
        if (JSON.stringify(ev.model ?? '').includes('\\')) expect(model).toBeUndefined();
        else expect(model).toBe(modelByParse(text));
      }),
      { numRuns: 2000 },
    );
  });

  it('reads the usage chunks of OpenAI and vLLM', () => {
    const openai = '{"id":"chatcmpl-B9","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4.1-2025-04-14","service_tier":"default","system_fingerprint":"fp_ee1d74bde0","choices":[],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":3,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":4,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"obfuscation":"vP2a"}';
    expect(scanUsageEvent(Buffer.from(openai))).toEqual({ usage: { input: 19, cachedInput: 3, cacheCreationInput: 0, output: 10, reasoning: 4, total: 29 }, usageOnly: true });
    const vllm = '{"id":"chatcmpl-7f","object":"chat.completion.chunk","created":1733,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[],"usage":{"prompt_tokens":12,"total_tokens":32,"completion_tokens":20,"prompt_tokens_details":null}}';
    expect(scanUsageEvent(Buffer.from(vllm))).toEqual({ usage: { input: 12, cachedInput: 0, cacheCreationInput: 0, output: 20, reasoning: 0, total: 32 }, usageOnly: true });
  });

  it('declines what it cannot read for certain', () => {
    const no = (s: string): void => expect(scanUsageEvent(Buffer.from(s))).toBeUndefined();
    no('{"usage":{"prompt_tokens":1.0}}');
    no('{"usage":{"prompt_tokens":1234567890123456}}');
    no('{"us\\u0061ge":{"prompt_tokens":1}}');
    no('{"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":2}}');
    no('{"choices":[{"finish_reason":"stop"}],"usage":{"prompt_tokens":1}}');
    no('{"x":{"usage":{"prompt_tokens":1}}}');
    no('{"usage":{"prompt_tokens":1}} x');
    no('{"id":"a\tb","usage":{"prompt_tokens":1}}');
    expect(scanUsageEvent(Buffer.from('{"id":"a\\"b\\u00e9","usage":{"prompt_tokens":1}}'))?.usage.input).toBe(1);
  });
});
