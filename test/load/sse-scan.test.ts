// The stream measurement: which chunks count as tokens (vLLM's role-only first chunk and the
// finish chunk do not), usage from the final chunk, [DONE], any split of the bytes, CRLF framing,
// error events and malformed bytes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SseScan, usageFromBody, type Usage } from '../../src/load/worker/sse-scan.js';

const chunk = (delta: string, finish: string | null = null): string => `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":${delta},"logprobs":null,"finish_reason":${finish === null ? 'null' : `"${finish}"`}}],"usage":null}\n\n`;
const STREAM = [
  chunk('{"role":"assistant","content":""}'),
  chunk('{"content":"Hello"}'),
  chunk('{"reasoning_content":"hmm"}'),
  chunk('{"content":" world"}'),
  chunk('{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}'),
  chunk('{}', 'stop'),
  'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":4,"total_tokens":16,"prompt_tokens_details":{"cached_tokens":8}}}\n\n',
  'data: [DONE]\n\n',
].join('');

function scan(parts: readonly string[]): { tokens: number[]; usage: Usage | undefined; done: boolean; bad: string[] } {
  const out = { tokens: [] as number[], usage: undefined as Usage | undefined, done: false, bad: [] as string[] };
  const s = new SseScan({
    token: (now) => out.tokens.push(now),
    usage: (u) => (out.usage = u),
    done: () => (out.done = true),
    bad: (kind, msg) => out.bad.push(`${kind}: ${msg}`),
  });
  parts.forEach((p, i) => s.push(Buffer.from(p), i));
  return out;
}

describe('SseScan', () => {
  it('counts content, reasoning and tool-call chunks as tokens, not the role or finish chunks', () => {
    const r = scan([STREAM]);
    expect(r.tokens.length).toBe(4);
    expect(r.usage).toEqual({ prompt: 12, completion: 4, cached: 8 });
    expect(r.done).toBe(true);
    expect(r.bad).toEqual([]);
  });

  it('gives the same result for any split of the bytes, and stamps each token with its arrival', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: STREAM.length - 1 }), { maxLength: 12 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const parts: string[] = [];
        let prev = 0;
        for (const c of points) {
          parts.push(STREAM.slice(prev, c));
          prev = c;
        }
        parts.push(STREAM.slice(prev));
        const r = scan(parts);
        expect(r.tokens.length).toBe(4);
        expect(r.usage?.completion).toBe(4);
        expect(r.done).toBe(true);
        expect([...r.tokens].sort((a, b) => a - b)).toEqual(r.tokens);
      }),
      { numRuns: 200 },
    );
  });

  it('handles CRLF framing', () => {
    const r = scan([STREAM.replace(/\n/g, '\r\n')]);
    expect(r.tokens.length).toBe(4);
    expect(r.usage?.completion).toBe(4);
    expect(r.done).toBe(true);
  });

  it('reports error events and bytes that are not JSON events', () => {
    const r = scan([chunk('{"content":"a"}'), 'data: {"error":{"message":"engine died","type":"InternalServerError"}}\n\n', 'data: {"id":"c","choi\n\n']);
    expect(r.tokens.length).toBe(1);
    expect(r.bad[0]).toBe('stream_error: engine died');
    expect(r.bad[1]).toMatch(/^malformed: not a JSON event/);
    expect(r.done).toBe(false);
  });

  it('reads usage from a non-streamed body', () => {
    expect(usageFromBody('{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}')).toEqual({ prompt: 3, completion: 2, cached: Number.NaN });
    expect(usageFromBody('not json')).toBeUndefined();
  });
});
