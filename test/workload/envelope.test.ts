import { describe, expect, it } from 'vitest';
import { assembleBody, encodeMeta, EnvelopeError, parseLine, type EnvelopeMeta } from '../../src/workload/envelope.js';
import { parseShard, shardRange } from '../../src/workload/reader.js';

const meta: EnvelopeMeta = {
  v: 1, sid: 'a-0', si: 0, turn: 0, turns: 2, profile: 'A', app: 'toolbench-agent', think_ms: 0,
  prompt_tokens: 10, output_tokens: 5, stream: true, path: '/v1/chat/completions', len: 0, prefix: 0, src: 'x.json#0 "quoted"\ttab',
};

function line(m: EnvelopeMeta, body: string): Buffer {
  return Buffer.from(`${encodeMeta(m)}\t${body}`);
}

describe('envelope v1', () => {
  it('round-trips metadata and finds the body without parsing it', () => {
    const body = '{"model":"m","messages":[{"role":"user","content":"tab\\there, é"}]}';
    const m = { ...meta, len: Buffer.byteLength(body) };
    const parsed = parseLine(line(m, body));
    expect(parsed.meta).toEqual({ ...m });
    expect(parsed.segment.toString()).toBe(body);
  });

  it('rebuilds delta bodies from the previous turn', () => {
    const first = '{"m":[1,2],"max_tokens":5}';
    const prefix = '{"m":[1,2'.length;
    const seg = ',3],"max_tokens":7}';
    const m = { ...meta, turn: 1, len: prefix + Buffer.byteLength(seg), prefix };
    const body = assembleBody(parseLine(line(m, seg)), Buffer.from(first));
    expect(body.toString()).toBe('{"m":[1,2,3],"max_tokens":7}');
    expect(() => assembleBody(parseLine(line(m, seg)), undefined)).toThrow(EnvelopeError);
  });

  it('rejects malformed lines with a reason', () => {
    expect(() => parseLine(Buffer.from('{"v":1}'))).toThrow(/no TAB/);
    expect(() => parseLine(Buffer.from('{"v":2}\t{}'))).toThrow(/version 2 is not supported/);
    expect(() => parseLine(line({ ...meta, len: 99 }, '{}'))).toThrow(/body has 2 bytes/);
  });

  it('shards split sessions into contiguous, disjoint, covering ranges', () => {
    expect(parseShard('2/4')).toEqual({ index: 1, count: 4 });
    expect(typeof parseShard('5/4')).toBe('string');
    for (const n of [0, 1, 7, 100]) {
      let next = 0;
      for (let i = 0; i < 3; i++) {
        const [a, b] = shardRange(n, { index: i, count: 3 });
        expect(a).toBe(next);
        next = b;
      }
      expect(next).toBe(n);
    }
  });
});
