// The engine in virtual time: continuous batching, chunked prefill, paged KV with prefix caching,
// recompute preemption and the waiting-queue limit, step by step.
import { describe, expect, test } from 'vitest';
import { Engine, type EngineConfig } from '../../src/sim/engine/engine.js';
import { blockHash, KvCache } from '../../src/sim/engine/kv-cache.js';
import { VirtualLoop } from '../../src/sim/engine/loop.js';
import { Sequence, type SeqSink } from '../../src/sim/engine/sequence.js';

function config(over: Partial<EngineConfig> = {}): EngineConfig {
  return {
    numBlocks: 1024,
    blockSize: 16,
    prefixCaching: true,
    watermark: 0,
    maxNumSeqs: 64,
    maxNumBatchedTokens: 512,
    longPrefillTokenThreshold: 0,
    maxWaiting: 100,
    maxModelLen: 100_000,
    cost: { fixedMs: 10, prefillTokenMs: 0.1, decodeSeqMs: 1, contextTokenMs: 0 },
    ...over,
  };
}

interface Trace {
  tokens: number[];
  finished: number;
  reason: string;
}

function seq(id: string, prompt: number[], out: number, arrival: number, trace: Trace): Sequence {
  let next = 50_000;
  const sink: SeqSink = {
    onToken: (_s, t) => trace.tokens.push(t),
    onFinish: (_s, r, t) => {
      trace.finished = t;
      trace.reason = r;
    },
  };
  return new Sequence({ id, promptIds: prompt, outputTokens: out, stopIsLength: false, nextTokenId: () => next++, arrivalMs: arrival, sink });
}

const newTrace = (): Trace => ({ tokens: [], finished: -1, reason: '' });
const range = (n: number, from = 1): number[] => Array.from({ length: n }, (_, i) => from + i);

describe('KvCache', () => {
  test('frees to the LRU tail in reverse order and evicts cached prefixes from the head', () => {
    const kv = new KvCache(4, 16, true);
    const a = [kv.allocate(), kv.allocate()];
    kv.cacheBlock(a[0]!, 111);
    kv.cacheBlock(a[1]!, 222);
    expect(kv.numFree).toBe(2);
    kv.release(a); // tail order: a[1] then a[0]
    expect(kv.numFree).toBe(4);
    expect(kv.lookup(111)).toBe(a[0]);
    // The two never-used blocks go first, then a[1] (the request's tail), keeping the shared head longest.
    kv.allocate();
    kv.allocate();
    expect(kv.lookup(222)).toBe(a[1]);
    kv.allocate();
    expect(kv.lookup(222)).toBeUndefined();
    expect(kv.lookup(111)).toBe(a[0]);
    expect(kv.evictions).toBe(1);
  });

  test('a hit on a free cached block takes it off the free queue', () => {
    const kv = new KvCache(2, 16, true);
    const b = kv.allocate();
    kv.cacheBlock(b, 7);
    kv.release([b]);
    expect(kv.numFree).toBe(2);
    kv.touch(b);
    expect(kv.numFree).toBe(1);
    expect(kv.usage()).toBe(0.5);
  });

  test('block hashes chain: equal blocks under different parents differ', () => {
    const t = range(16);
    expect(blockHash(0, t, 0, 16)).toBe(blockHash(0, t, 0, 16));
    expect(blockHash(1, t, 0, 16)).not.toBe(blockHash(0, t, 0, 16));
    expect(Number.isSafeInteger(blockHash(123456789012, t, 0, 16))).toBe(true);
  });

  test('a block computed twice at once is cached twice: evicting one leaves the other findable', () => {
    const kv = new KvCache(3, 16, true);
    const a = kv.allocate();
    const b = kv.allocate();
    kv.cacheBlock(a, 42);
    kv.cacheBlock(b, 42);
    expect(kv.lookup(42)).toBe(a);
    kv.release([a]);
    kv.allocate(); // the never-used block
    expect(kv.lookup(42)).toBe(a);
    kv.allocate(); // a: evicted, b takes over
    expect(kv.lookup(42)).toBe(b);
    kv.release([b]);
    kv.allocate();
    expect(kv.lookup(42)).toBeUndefined();
    expect(kv.evictions).toBe(2);
  });
});

describe('Engine step loop', () => {
  test('running sequences get their tokens together, at step boundaries', () => {
    const e = new Engine(config());
    const loop = new VirtualLoop(e);
    const a = newTrace();
    const b = newTrace();
    e.submit(seq('a', range(32), 5, 0, a), 0);
    e.submit(seq('b', range(32, 1000), 5, 0, b), 0);
    loop.kick();
    loop.run(10_000);
    expect(a.tokens).toEqual(b.tokens);
    // Step 1 prefills both (64 tokens): 10 + 6.4 ms; then decode steps of 10 + 2 x 1 ms.
    expect(a.tokens[0]).toBeCloseTo(16.4, 6);
    expect(a.tokens[1]! - a.tokens[0]!).toBeCloseTo(12, 6);
    expect(a.reason).toBe('stop');
  });

  test('a long prefill joining the batch stretches everyone’s inter-token latency', () => {
    const e = new Engine(config({ maxNumBatchedTokens: 4096 }));
    const loop = new VirtualLoop(e);
    const a = newTrace();
    e.submit(seq('a', range(16), 50, 0, a), 0);
    loop.kick();
    loop.at(100, () => {
      e.submit(seq('long', range(3000, 5000), 2, 100, newTrace()), 100);
      loop.kick();
    });
    loop.run(10_000);
    const itl = a.tokens.slice(1).map((t, i) => t - a.tokens[i]!);
    const spike = Math.max(...itl);
    expect(Math.min(...itl)).toBeCloseTo(11, 6); // decode alone: 10 + 1
    expect(spike).toBeGreaterThan(300); // the step that prefilled 3000 tokens: 10 + 300 + 1
  });

  test('chunked prefill: a prompt over the token budget takes several steps before its first token', () => {
    const e = new Engine(config({ maxNumBatchedTokens: 256 }));
    const loop = new VirtualLoop(e);
    const t = newTrace();
    const s = seq('s', range(1000), 3, 0, t);
    e.submit(s, 0);
    loop.kick();
    loop.run(100_000);
    expect(e.stats.steps).toBe(4 + 2); // ceil(1000/256) prefill steps, then 2 decode steps
    expect(t.tokens).toHaveLength(3);
    expect(s.outputIds).toHaveLength(3);
  });

  test('prefix caching: a repeated prompt reuses its blocks and reports cached tokens', () => {
    const e = new Engine(config());
    const loop = new VirtualLoop(e);
    const prompt = range(100);
    const first = seq('1', prompt, 2, 0, newTrace());
    e.submit(first, 0);
    loop.kick();
    loop.run(1000);
    const second = seq('2', prompt, 2, 1000, newTrace());
    e.submit(second, 1000);
    loop.kick();
    loop.run(5000);
    expect(first.cachedPromptTokens).toBe(0);
    expect(second.cachedPromptTokens).toBe(96); // 6 full blocks; the 7th is partial
    expect(e.stats.prefixQueries).toBe(200);
    expect(e.stats.prefixHits).toBe(96);
    // The full-hit case still computes the last token (vLLM recomputes one so it can sample).
    const exact = seq('3', range(64), 1, 5000, newTrace());
    e.submit(exact, 5000);
    loop.kick();
    loop.run(6000);
    const again = seq('4', range(64), 1, 6000, newTrace());
    e.submit(again, 6000);
    loop.kick();
    loop.run(7000);
    expect(again.cachedPromptTokens).toBe(48);
  });

  test('recompute preemption when blocks run out; every request still completes with its full output', () => {
    // 40 blocks of 16 = 640 tokens; four requests growing to 100 + 200 tokens each cannot all fit.
    const e = new Engine(config({ numBlocks: 40, maxNumBatchedTokens: 2048 }));
    const loop = new VirtualLoop(e);
    const traces = [newTrace(), newTrace(), newTrace(), newTrace()];
    const seqs = traces.map((t, i) => seq(`p${i}`, range(100, i * 1000), 200, 0, t));
    for (const s of seqs) e.submit(s, 0);
    loop.kick();
    loop.run(1_000_000);
    expect(e.stats.preemptions).toBeGreaterThan(0);
    for (const [i, s] of seqs.entries()) {
      expect(s.outputIds).toHaveLength(200);
      expect(traces[i]!.tokens).toHaveLength(200);
      expect(traces[i]!.reason).toBe('stop');
    }
    expect(seqs.some((s) => s.numPreemptions > 0)).toBe(true);
    expect(e.kv.numFree).toBe(40);
    expect(e.stats.generationTokens).toBe(800);
  });

  test('the watermark keeps new admissions from taking the last free blocks', () => {
    const e = new Engine(config({ numBlocks: 100, watermark: 0.1 }));
    const loop = new VirtualLoop(e);
    const big = seq('big', range(16 * 85), 1000, 0, newTrace());
    const other = seq('other', range(16 * 8, 90_000), 10, 0, newTrace());
    e.submit(big, 0);
    e.submit(other, 0);
    loop.kick();
    loop.run(1); // first step planned
    // big took 86 blocks; other needs 9 more, which would leave 5 < 10 (the watermark): it waits.
    expect(e.running.map((s) => s.id)).toEqual(['big']);
    expect(e.numWaiting).toBe(1);
  });

  test('a running request shares its prompt blocks: a second one with the same prefix hits them while the first decodes', () => {
    const e = new Engine(config());
    const loop = new VirtualLoop(e);
    const prompt = range(100);
    const first = seq('1', prompt, 500, 0, newTrace());
    e.submit(first, 0);
    loop.kick();
    loop.run(200); // prefilled, decoding
    expect(first.status).toBe('running');
    let shared: number[] = [];
    const second = new Sequence({
      id: '2',
      promptIds: [...prompt, ...range(40, 7000)],
      outputTokens: 2,
      stopIsLength: false,
      nextTokenId: () => 60_000,
      arrivalMs: 200,
      // The shared blocks are held by both, not copied.
      sink: { onToken: (s) => (shared = s.blocks.slice(0, 6)), onFinish: () => undefined },
    });
    e.submit(second, 200);
    loop.kick();
    loop.run(400);
    expect(second.cachedPromptTokens).toBe(96);
    expect(shared).toEqual(first.blocks.slice(0, 6));
    loop.run(1_000_000);
    expect(e.kv.numFree).toBe(e.kv.numBlocks);
  });

  test('under KV pressure only unreferenced blocks are evicted: a running request keeps its prefix findable', () => {
    // 30 blocks; a long-running request holds 7, a stream of distinct short ones churns the rest.
    const e = new Engine(config({ numBlocks: 30, maxNumBatchedTokens: 2048 }));
    const loop = new VirtualLoop(e);
    const prompt = range(100);
    const long = seq('long', prompt, 5000, 0, newTrace());
    e.submit(long, 0);
    loop.kick();
    let t = 0;
    for (let i = 0; i < 40; i++) {
      t += 50;
      loop.run(t);
      e.submit(seq(`s${i}`, range(64, 10_000 + i * 100), 1, t, newTrace()), t);
      loop.kick();
    }
    loop.run(t + 200);
    expect(e.kv.evictions).toBeGreaterThan(0);
    expect(long.status).toBe('running');
    const again = seq('again', prompt, 1, t + 200, newTrace());
    e.submit(again, t + 200);
    loop.kick();
    loop.run(t + 400);
    expect(again.cachedPromptTokens).toBe(96);
  });

  test('a preempted request recomputes from its own cached prefix, if it was not evicted meanwhile', () => {
    const prefill = (prefixCaching: boolean): { preemptions: number; prefillTokens: number } => {
      const e = new Engine(config({ numBlocks: 40, maxNumBatchedTokens: 2048, prefixCaching }));
      let prefillTokens = 0;
      const loop = new VirtualLoop(e, { afterStep: (plan) => (prefillTokens += plan.prefillTokens) });
      for (let i = 0; i < 4; i++) e.submit(seq(`p${i}`, range(100, i * 1000), 200, 0, newTrace()), 0);
      loop.kick();
      loop.run(1_000_000);
      return { preemptions: e.stats.preemptions, prefillTokens };
    };
    const cached = prefill(true);
    const uncached = prefill(false);
    expect(cached.preemptions).toBeGreaterThan(0);
    expect(uncached.preemptions).toBeGreaterThan(0);
    expect(cached.prefillTokens).toBeLessThan(uncached.prefillTokens);
  });

  test('the waiting-queue limit refuses new requests', () => {
    const e = new Engine(config({ maxWaiting: 2 }));
    expect(e.submit(seq('1', range(10), 1, 0, newTrace()), 0)).toBe(true);
    expect(e.submit(seq('2', range(10), 1, 0, newTrace()), 0)).toBe(true);
    expect(e.submit(seq('3', range(10), 1, 0, newTrace()), 0)).toBe(false);
    expect(e.stats.rejected).toBe(1);
  });

  test('max_num_seqs caps the batch; the rest wait in FCFS order', () => {
    const e = new Engine(config({ maxNumSeqs: 2 }));
    const loop = new VirtualLoop(e);
    const traces = new Map<string, Trace>();
    for (const id of ['a', 'b', 'c', 'd']) {
      const t = newTrace();
      traces.set(id, t);
      e.submit(seq(id, range(20, id.charCodeAt(0) * 100), 3, 0, t), 0);
    }
    loop.kick();
    loop.run(2);
    expect(e.running).toHaveLength(2);
    loop.run(100_000);
    const order = [...traces.entries()].sort((x, y) => x[1].finished - y[1].finished).map(([id]) => id);
    expect(traces.get('a')!.finished).toBeLessThan(traces.get('c')!.finished);
    expect(order).toEqual(['a', 'b', 'c', 'd']);
  });

  test('abort frees a running request’s blocks', () => {
    const e = new Engine(config());
    const loop = new VirtualLoop(e);
    const t = newTrace();
    const s = seq('x', range(100), 1000, 0, t);
    e.submit(s, 0);
    loop.kick();
    loop.run(50);
    expect(e.kv.numFree).toBeLessThan(1024);
    e.abort(s, 50);
    expect(t.reason).toBe('abort');
    expect(e.kv.numFree).toBe(1024);
    expect(e.stats.success.abort).toBe(1);
  });
});

describe('engine invariants under random load', () => {
  test('every request completes with its full output, blocks all come back, counters add up', async () => {
    const fc = await import('fast-check');
    fc.assert(
      fc.property(
        fc.record({
          numBlocks: fc.integer({ min: 24, max: 200 }),
          watermark: fc.constantFrom(0, 0.01, 0.1),
          budget: fc.integer({ min: 16, max: 600 }),
          maxNumSeqs: fc.integer({ min: 1, max: 12 }),
          reqs: fc.array(
            fc.record({
              prefix: fc.integer({ min: 0, max: 3 }),
              promptLen: fc.integer({ min: 1, max: 150 }),
              out: fc.integer({ min: 1, max: 60 }),
              at: fc.integer({ min: 0, max: 400 }),
              abortAt: fc.option(fc.integer({ min: 0, max: 2000 }), { nil: undefined }),
            }),
            { minLength: 1, maxLength: 25 },
          ),
        }),
        ({ numBlocks, watermark, budget, maxNumSeqs, reqs }) => {
          const e = new Engine(config({ numBlocks, watermark, maxNumBatchedTokens: budget, maxNumSeqs, maxModelLen: 100_000 }));
          const loop = new VirtualLoop(e);
          const all: Array<{ s: Sequence; t: Trace; aborted: boolean }> = [];
          reqs.forEach((r, i) => {
            // Shared prefixes (four families) so prefix caching and block sharing are exercised.
            const prompt = [...range(Math.min(r.promptLen, 48), r.prefix * 10_000), ...range(Math.max(0, r.promptLen - 48), 100_000 + i * 1000)];
            const t = newTrace();
            const s = seq(`r${i}`, prompt, r.out, r.at, t);
            const entry = { s, t, aborted: false };
            all.push(entry);
            loop.at(r.at, () => {
              // Requests that can never fit in the cache would be rejected by the server; skip them.
              if (Math.ceil((prompt.length + r.out) / 16) > numBlocks) return;
              e.submit(s, loop.now);
              loop.kick();
            });
            if (r.abortAt !== undefined) {
              loop.at(r.at + r.abortAt, () => {
                if (s.status === 'finished' || s.status === 'new') return;
                entry.aborted = true;
                e.abort(s, loop.now);
              });
            }
          });
          loop.run(10_000_000);
          let generated = 0;
          for (const { s, t, aborted } of all) {
            generated += s.outputIds.length;
            expect(t.tokens.length).toBe(s.outputIds.length);
            for (let k = 1; k < t.tokens.length; k++) expect(t.tokens[k]!).toBeGreaterThan(t.tokens[k - 1]!);
            if (aborted) expect(t.reason).toBe('abort');
            else if (s.status === 'finished') {
              expect(s.outputIds.length).toBe(s.outputTokens);
              expect(t.reason).toBe('stop');
            }
          }
          expect(e.hasWork()).toBe(false);
          expect(e.kv.numFree).toBe(numBlocks);
          expect(e.stats.generationTokens).toBe(generated);
          expect(e.stats.prefixHits).toBeLessThanOrEqual(e.stats.prefixQueries);
        },
      ),
      { numRuns: 150, seed: 12345 },
    );
  });
});
