// A non-streamed chat answer is held whole and parsed once: its usage and model are always read, its
// text only when something will use it (the drift audit's sample, traces that capture content) or
// when the backend reported no usage, so the gateway's count is what gets billed.
import { describe, expect, it } from 'vitest';
import { openAIResponseTranslator } from '../../src/providers/openai/response.js';
import type { ClientRequest } from '../../src/providers/types.js';

const REQ: ClientRequest = { operation: 'chat', subpath: '/chat/completions', query: '', body: {}, raw: Buffer.alloc(0), stream: false };

function answer(withUsage: boolean): Buffer {
  return Buffer.from(
    JSON.stringify({
      id: 'chatcmpl-1',
      object: 'chat.completion',
      model: 'gpt-4o-mini-2024-07-18',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello there.' }, finish_reason: 'stop' }],
      ...(withUsage ? { usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 } } : {}),
    }),
  );
}

function read(body: Buffer, keepText: boolean) {
  const t = openAIResponseTranslator(REQ, 'application/json', { suppressUsageChunk: false, keepText });
  expect(t.push(body.subarray(0, 10))).toBeNull();
  expect(t.push(body.subarray(10))).toBeNull();
  const out = t.end();
  return { out: out?.toString(), ...t.result() };
}

describe('held JSON answers', () => {
  it('pass the bytes whole and read usage and model; the text only when asked to keep it', () => {
    const body = answer(true);
    const lean = read(body, false);
    expect(lean.out).toBe(body.toString());
    expect(lean.usage).toMatchObject({ input: 9, output: 3 });
    expect(lean.responseModel).toBe('gpt-4o-mini-2024-07-18');
    expect(lean.completionText).toBeUndefined();
    expect(read(body, true).completionText).toBe('Hello there.');
  });

  it('keep the text when the backend reported no usage, so the gateway can count it', () => {
    const r = read(answer(false), false);
    expect(r.usage).toBeUndefined();
    expect(r.completionText).toBe('Hello there.');
  });

  it('refuse a body that is not a JSON object', () => {
    const t = openAIResponseTranslator(REQ, 'application/json', { suppressUsageChunk: false, keepText: false });
    t.push(Buffer.from('{"choices": ['));
    expect(() => t.end()).toThrow(/not valid JSON/);
  });
});
