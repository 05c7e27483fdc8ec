// The gateway's own tokenizer: reference token ids and chat counts published for tiktoken's
// encodings, the prompt recipe, slicing at pre-token boundaries, and the two counters (worker thread
// and sliced main thread) agreeing while leaving the event loop free.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CounterBusy, createCounter, type TokenCounter } from '../../src/accounting/counter.js';
import { completionJob, promptJob } from '../../src/accounting/prompt.js';
import { splitForCounting } from '../../src/accounting/split.js';
import { countChatTokens, ENCODINGS, loadTokenizer, type EncodingName } from '../../src/tokenizer/index.js';

// OpenAI's cookbook "How to count tokens with tiktoken": these messages are 129 prompt tokens for
// gpt-3.5-turbo-0613 / gpt-4 (cl100k_base) and 124 for gpt-4o (o200k_base).
const COOKBOOK = [
  { role: 'system', content: 'You are a helpful, pattern-following assistant that translates corporate jargon into plain English.' },
  { role: 'system', name: 'example_user', content: 'New synergies will help drive top-line growth.' },
  { role: 'system', name: 'example_assistant', content: 'Things working well together will increase revenue.' },
  { role: 'system', name: 'example_user', content: "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage." },
  { role: 'system', name: 'example_assistant', content: "Let's talk later when we're less busy about how to do better." },
  { role: 'user', content: "This late pivot means we don't have time to boil the ocean for the client deliverable." },
];

const counters: TokenCounter[] = [];
afterAll(async () => {
  for (const c of counters) await c.close();
});

describe('reference counts', () => {
  it('encodes known strings to tiktoken’s published ids', async () => {
    const cl = await loadTokenizer('cl100k_base');
    const o = await loadTokenizer('o200k_base');
    const h = await loadTokenizer('o200k_harmony');
    expect(cl.encode('tiktoken is great!')).toEqual([83, 1609, 5963, 374, 2294, 0]);
    expect(o.encode('tiktoken is great!')).toEqual([83, 8251, 2488, 382, 2212, 0]);
    expect(h.encode('tiktoken is great!')).toEqual([83, 8251, 2488, 382, 2212, 0]);
    expect(cl.encode('hello world')).toEqual([15339, 1917]);
    expect(o.encode('hello world')).toEqual([24912, 2375]);
    // Special-token text in user content is ordinary text, as a server tokenizes it.
    expect(cl.count('<|endoftext|>')).toBe(7);
  });

  it('counts the cookbook chat as 129 (cl100k_base) and 124 (o200k_base) tokens, and the prompt recipe agrees', async () => {
    const expected: Record<EncodingName, number | undefined> = { cl100k_base: 129, o200k_base: 124, o200k_harmony: undefined };
    for (const enc of ENCODINGS) {
      const tok = await loadTokenizer(enc);
      const n = countChatTokens(tok, COOKBOOK as never);
      if (expected[enc] !== undefined) expect(n, enc).toBe(expected[enc]);
      const job = promptJob('chat', { messages: COOKBOOK }, enc);
      expect(job.constant + job.texts.reduce((a, t) => a + tok.count(t), 0), enc).toBe(n);
    }
    // Harmony frames the reply with one token fewer (<|start|>assistant).
    const h = await loadTokenizer('o200k_harmony');
    expect(countChatTokens(h, COOKBOOK as never)).toBe(123);
  });

  it('takes prompts of every shape without throwing', async () => {
    expect(promptJob('completions', { prompt: [1, 2, 3] }, 'o200k_base')).toEqual({ constant: 3, texts: [] });
    expect(promptJob('completions', { prompt: [[1, 2], [3]] }, 'o200k_base')).toEqual({ constant: 3, texts: [] });
    expect(promptJob('embeddings', { input: ['a', 'b'] }, 'o200k_base')).toEqual({ constant: 0, texts: ['a', 'b'] });
    expect(promptJob('chat', { messages: 'not a list' }, 'o200k_base')).toEqual({ constant: 0, texts: [] });
    expect(promptJob('chat', { messages: [null, 3, { role: 'user', tool_calls: [{}] }] }, 'o200k_base').constant).toBe(3 + 3);
    expect(completionJob('')).toEqual({ constant: 0, texts: [] });
  });
});

describe('slicing for counting', () => {
  const alphabet = ['a', 'b', 'Z', ' ', '  ', '\n', '\r\n', '.', ',', "'s", '1', '23', 'é', 'ß', '数', '字', '😀', '\t', '-', '<|endoftext|>', 'ing', ' the'];
  const text = fc.array(fc.constantFrom(...alphabet), { minLength: 0, maxLength: 300 }).map((a) => a.join(''));

  it('cuts only where the counts add up, in every encoding', async () => {
    const toks = await Promise.all(ENCODINGS.map((e) => loadTokenizer(e)));
    fc.assert(
      fc.property(text, fc.integer({ min: 2, max: 40 }), (t, size) => {
        const slices = splitForCounting(t, size);
        expect(slices.join('')).toBe(t);
        for (const tok of toks) expect(slices.reduce((a, s) => a + tok.count(s), 0)).toBe(tok.count(t));
      }),
      { numRuns: 300 },
    );
  });

  it('makes many slices of ordinary prose', () => {
    const prose = 'The gateway counts tokens.\nIt never delays a byte. '.repeat(500);
    const slices = splitForCounting(prose, 256);
    expect(slices.length).toBeGreaterThan(50);
    expect(Math.max(...slices.map((s) => s.length))).toBeLessThanOrEqual(256);
  });
});

describe('counters', () => {
  const big = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit; 1234 ünïcödé 数字.\n'.repeat(4000);

  it('count the same in a worker thread and on the main thread, leaving the event loop free', async () => {
    const worker = createCounter({ threads: 1 });
    const inline = createCounter({ threads: 0 });
    counters.push(worker, inline);
    expect(worker.mode).toBe('worker');
    expect(inline.mode).toBe('inline');
    const tok = await loadTokenizer('o200k_base');
    const expected = 5 + tok.count(big) + tok.count('short');
    for (const c of [worker, inline]) {
      // While a 300 kB prompt is counted, other callbacks keep running (the loop is not held).
      let turns = 0;
      let counting = true;
      const spin = (): void => {
        turns++;
        if (counting) setImmediate(spin);
      };
      setImmediate(spin);
      const n = await c.count('o200k_base', { constant: 5, texts: [big, 'short'] });
      counting = false;
      expect(n, c.mode).toBe(expected);
      expect(turns, c.mode).toBeGreaterThan(5);
    }
  });

  it('refuse work beyond the backlog limit instead of growing without bound', async () => {
    for (const threads of [0, 1]) {
      const c = createCounter({ threads, maxBacklogChars: 1000 });
      counters.push(c);
      await expect(c.count('cl100k_base', { constant: 0, texts: ['x'.repeat(2000)] })).rejects.toBeInstanceOf(CounterBusy);
      await expect(c.count('cl100k_base', { constant: 1, texts: ['hello world'] })).resolves.toBe(3);
    }
  });
});
