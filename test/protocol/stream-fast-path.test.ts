// The OpenAI stream reader's pass-through path: a chunk of whole one-line events that name no usage
// object is read in place and forwarded as it came, without the SSE decoder. For any stream and any
// way of cutting it into chunks, the client's bytes, the billed usage, the model, the counted text
// and whether the stream is taken for complete must be what the decoder alone gives. The reference
// is the same stream fed one byte at a time: a byte never holds a whole event, so every byte goes
// through the decoder.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { openAIResponseTranslator } from '../../src/providers/openai/response.js';
import type { ClientRequest } from '../../src/providers/types.js';

const REQ: ClientRequest = { operation: 'chat', subpath: '/chat/completions', query: '', body: {}, raw: Buffer.alloc(0), stream: true };

interface Outcome {
  bytes: string;
  error: string | undefined;
  usage: unknown;
  model: string | undefined;
  text: string | undefined;
}

function run(chunks: Buffer[], suppressUsageChunk: boolean): Outcome {
  const t = openAIResponseTranslator(REQ, 'text/event-stream', { suppressUsageChunk, keepText: false });
  const out: Buffer[] = [];
  let error: string | undefined;
  try {
    for (const c of chunks) {
      const o = t.push(c);
      if (o !== null) out.push(o);
    }
    const tail = t.end();
    if (tail !== null) out.push(tail);
  } catch (e) {
    error = (e as Error).message;
  }
  const r = t.result();
  return { bytes: Buffer.concat(out).toString('latin1'), error, usage: r.usage, model: r.responseModel, text: r.completionText };
}

const bytewise = (stream: Buffer): Buffer[] => Array.from(stream, (b) => Buffer.from([b]));

function cut(stream: Buffer, points: number[]): Buffer[] {
  const at = [...new Set(points.map((p) => p % (stream.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let prev = 0;
  for (const p of [...at, stream.length]) {
    if (p > prev) chunks.push(stream.subarray(prev, p));
    prev = p;
  }
  return chunks;
}

const content = fc.oneof(
  { arbitrary: fc.string({ maxLength: 12 }), weight: 8 },
  { arbitrary: fc.constantFrom('"usage":{"prompt_tokens":9}', 'say \\"usage": {', 'é 数字 😀', 'line\nbreak', '[DONE]'), weight: 3 },
);

interface Shape {
  contents: string[];
  /** Pieces of ~2.5 KB: the tape (16 KiB) fills within the stream and the reader reads eagerly. */
  long: boolean;
  nullUsage: boolean;
  finish: boolean;
  /** The usage chunk, if any, in one of the shapes backends send (some the usage scan declines). */
  usage: 'none' | 'plain' | 'details' | 'nullDetails' | 'float' | 'onFinish';
  done: boolean;
  crlf: boolean;
  comments: boolean;
  multiLine: boolean;
  noSpace: boolean;
}

const shape: fc.Arbitrary<Shape> = fc.record({
  contents: fc.array(content, { maxLength: 8 }),
  long: fc.boolean(),
  nullUsage: fc.boolean(),
  finish: fc.boolean(),
  usage: fc.constantFrom('none', 'plain', 'details', 'nullDetails', 'float', 'onFinish'),
  done: fc.boolean(),
  crlf: fc.boolean(),
  comments: fc.boolean(),
  multiLine: fc.boolean(),
  noSpace: fc.boolean(),
});

/** Each event's data, and how the stream lays out its events. */
function render(s: Shape, rnd: () => number): Buffer {
  const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm-2024' };
  const datas: string[] = [];
  const extra = s.nullUsage ? { usage: null } : {};
  datas.push(JSON.stringify({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }], ...extra }));
  for (const [i, piece] of s.contents.entries()) {
    const c = s.long ? piece + String(i % 10).repeat(2500) : piece;
    datas.push(JSON.stringify({ ...base, choices: [{ index: 0, delta: { content: c }, finish_reason: null }], ...extra }));
  }
  if (s.finish) datas.push(JSON.stringify({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], ...extra }));
  const counts = { prompt_tokens: 7, completion_tokens: s.contents.length, total_tokens: 7 + s.contents.length };
  const usage = {
    none: undefined,
    plain: counts,
    details: { ...counts, prompt_tokens_details: { cached_tokens: 3, audio_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 2, audio_tokens: 0 } },
    nullDetails: { ...counts, prompt_tokens_details: null },
    float: { ...counts, total_tokens: 7.5 },
    onFinish: counts,
  }[s.usage];
  if (usage !== undefined) {
    const choices = s.usage === 'onFinish' ? [{ index: 0, delta: {}, finish_reason: 'length' }] : [];
    datas.push(JSON.stringify({ ...base, choices, usage }));
  }
  if (s.done) datas.push('[DONE]');
  const eol = s.crlf ? '\r\n' : '\n';
  const field = s.noSpace ? 'data:' : 'data: ';
  let text = '';
  for (const d of datas) {
    if (s.comments && rnd() < 0.3) text += `: keep-alive${eol}${eol}`;
    // JSON may be cut at a comma into several data lines: the reader joins them with "\n".
    const lines = s.multiLine && rnd() < 0.3 ? d.split(',') : [d];
    text += lines.map((l, i) => `${field}${l}${i < lines.length - 1 ? ',' : ''}${eol}`).join('') + eol;
  }
  return Buffer.from(text);
}

describe('the OpenAI stream reader reads whole-event chunks in place', () => {
  it('gives the client the same bytes and bills the same as the decoder alone, for any chunking', () => {
    fc.assert(
      fc.property(shape, fc.array(fc.nat(), { maxLength: 12 }), fc.boolean(), fc.integer(), (s, points, suppress, seed) => {
        let x = seed;
        const rnd = (): number => ((x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
        const stream = render(s, rnd);
        const reference = run(bytewise(stream), suppress);
        // Random cuts, and one event a chunk (what backends write): both against the reference.
        expect(run(cut(stream, points), suppress)).toEqual(reference);
        const perEvent = stream.toString('latin1').split(/(?<=\n\n|\r\n\r\n)/).map((p) => Buffer.from(p, 'latin1'));
        expect(run(perEvent, suppress)).toEqual(reference);
        expect(run([stream], suppress)).toEqual(reference);
      }),
      { numRuns: 400 },
    );
  });

  it('forwards a chunk of plain events as the very buffer it came in, and still drops the usage chunk', () => {
    const t = openAIResponseTranslator(REQ, 'text/event-stream', { suppressUsageChunk: true, keepText: false });
    const ev = (content: string): string => `data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"${content}"},"finish_reason":null}],"usage":null}\n\n`;
    const one = Buffer.from(ev('Hel'));
    const two = Buffer.from(ev('lo') + ev(' there'));
    expect(t.push(one)).toBe(one);
    expect(t.push(two)).toBe(two);
    const finish = Buffer.from('data: {"id":"c","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n');
    expect(t.push(finish)).toBe(finish);
    const usage = 'data: {"id":"c","model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":3,"total_tokens":6}}\n\n';
    expect(t.push(Buffer.from(usage))).toBeNull();
    const done = Buffer.from('data: [DONE]\n\n');
    expect(t.push(done)).toBe(done);
    expect(t.end()).toBeNull();
    const r = t.result();
    expect(r.usage).toMatchObject({ input: 3, output: 3, total: 6 });
    expect(r.responseModel).toBe('m');
  });

  it('reads a usage event in place and hides it from a chunk it shares with other events', () => {
    const t = openAIResponseTranslator(REQ, 'text/event-stream', { suppressUsageChunk: true, keepText: false });
    const first = 'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n';
    const usage = 'data: {"id":"c","model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4,"prompt_tokens_details":{"cached_tokens":2},"completion_tokens_details":null}}\n\n';
    const done = 'data: [DONE]\n\n';
    expect(t.push(Buffer.from(first + usage + done))?.toString()).toBe(first + done);
    expect(t.end()).toBeNull();
    expect(t.result()).toMatchObject({ usage: { input: 3, cachedInput: 2, output: 1, total: 4 }, responseModel: 'm' });
  });

  it('counts the text of a stream that ended without usage from the events read in place', () => {
    const t = openAIResponseTranslator(REQ, 'text/event-stream', { suppressUsageChunk: true, keepText: false });
    const chunks = ['Hel', 'lo', ' wörld'].map((c) => Buffer.from(`data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"${c}"},"finish_reason":null}]}\n\n`));
    for (const c of chunks) expect(t.push(c)).toBe(c);
    expect(t.push(Buffer.from('data: {"id":"c","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'))).not.toBeNull();
    expect(t.end()).toBeNull();
    const r = t.result();
    expect(r.usage).toBeUndefined();
    expect(r.completionText).toBe('Hello wörld');
  });
});
