// The endpoint picker's scorers and prefix hashing as pure functions, with property tests: scores
// stay in [0, 1] and order endpoints the way each scorer promises; prefix blocks chain like vLLM's.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PendingPrefill, PrefillRate, type HashedPrompt } from '../../src/upstream/pool/prefill.js';
import { hashBlocks, PrefixIndex, promptStart } from '../../src/upstream/pool/prefix.js';
import { argBest, effectiveKv, effectiveOccupancy, effectiveQueue, freshness, kvScore, prefillScores, prefixScore, queueScores, remainingPrefill, uncachedTokens } from '../../src/upstream/pool/scorers.js';
import { applyLoad, parseLoad, type ScrapedReplica } from '../../src/upstream/pool/scrape.js';

const depths = fc.array(fc.float({ min: 0, max: 1e4, noNaN: true }), { minLength: 1, maxLength: 16 });
/** Pending prefill in tokens: sums of byte counts over 4, so quarter tokens at the finest. */
const pendingTokens = fc.array(fc.integer({ min: 0, max: 400_000 }).map((bytes) => bytes / 4), { minLength: 1, maxLength: 16 });

describe('scorers', () => {
  it('queue: in [0, 1], the shortest queue scores 1, a longer queue never scores more', () => {
    fc.assert(
      fc.property(depths, fc.nat(10), (d, minSpan) => {
        const idx = Int32Array.from(d.map((_, i) => i));
        const out = new Float64Array(d.length);
        queueScores(d, idx, d.length, out, minSpan);
        const min = Math.min(...d);
        const max = Math.max(...d);
        for (let i = 0; i < d.length; i++) {
          expect(out[i]).toBeGreaterThanOrEqual(0);
          expect(out[i]).toBeLessThanOrEqual(1);
          if (d[i] === min) expect(out[i]).toBe(1);
          for (let j = 0; j < d.length; j++) if (d[i]! > d[j]!) expect(out[i]).toBeLessThanOrEqual(out[j]!);
          // Queues at least minSpan apart score as plain min-max does; closer ones, in proportion.
          if (max - min >= minSpan && max > min) expect(out[i]).toBeCloseTo((max - d[i]!) / (max - min), 9);
          else if (minSpan > 0) expect(out[i]).toBeCloseTo(1 - (d[i]! - min) / minSpan, 9);
        }
      }),
    );
  });

  it('prefill: in [0, 1], the least prefill ahead scores 1, the most 0, in proportion between (min-max)', () => {
    fc.assert(
      fc.property(pendingTokens, fc.nat(15), (d, extra) => {
        const idx = Int32Array.from(d.map((_, i) => i));
        const out = new Float64Array(d.length);
        prefillScores(d, idx, d.length, out);
        const min = Math.min(...d);
        const max = Math.max(...d);
        for (let i = 0; i < d.length; i++) {
          expect(out[i]).toBeGreaterThanOrEqual(0);
          expect(out[i]).toBeLessThanOrEqual(1);
          if (d[i] === min) expect(out[i]).toBe(1);
          for (let j = 0; j < d.length; j++) if (d[i]! > d[j]!) expect(out[i]).toBeLessThanOrEqual(out[j]!);
          expect(out[i]).toBeCloseTo(max > min ? 1 - (d[i]! - min) / (max - min) : 1, 9);
          if (d[i] === max && max > min) expect(out[i]).toBe(0);
        }
        // Only the candidates listed are scored, and only among themselves.
        const some = Int32Array.from(idx.filter((i) => i % 2 === 0));
        const part = new Float64Array(d.length).fill(-1);
        prefillScores(d, some, some.length, part);
        for (let i = 0; i < d.length; i++) if (i % 2 === 1) expect(part[i]).toBe(-1);
        // Adding the same work everywhere changes nothing: the scorer compares replicas.
        const shifted = new Float64Array(d.length);
        prefillScores(d.map((x) => x + extra * 100), idx, d.length, shifted);
        for (let i = 0; i < d.length; i++) expect(shifted[i]).toBeCloseTo(out[i]!, 6);
      }),
    );
  });

  it('uncached tokens: what is neither in the matched prefix nor held from before, never negative, never more for more cached', () => {
    fc.assert(
      fc.property(fc.nat(200_000), fc.nat(200_000), fc.nat(200_000), fc.integer({ min: 1, max: 8 }), (prompt, matched, held, bpt) => {
        const t = uncachedTokens(prompt, matched, held, bpt);
        expect(t).toBeGreaterThanOrEqual(0);
        expect(t).toBeLessThanOrEqual(prompt / bpt);
        expect(t).toBeCloseTo(Math.max(0, prompt - Math.max(matched, held)) / bpt, 9);
        expect(uncachedTokens(prompt, matched + 256, held, bpt)).toBeLessThanOrEqual(t);
        expect(uncachedTokens(prompt, matched, held + 256, bpt)).toBeLessThanOrEqual(t);
        expect(uncachedTokens(prompt + 256, matched, held, bpt)).toBeGreaterThanOrEqual(t);
      }),
    );
  });

  it('kv-cache and prefix-cache: in [0, 1] and monotonic', () => {
    fc.assert(
      fc.property(fc.float({ min: -1, max: 2, noNaN: true }), fc.float({ min: 0, max: 1, noNaN: true }), (u, f) => {
        const s = kvScore(effectiveKv(u, f));
        expect(s).toBeGreaterThanOrEqual(0);
        expect(s).toBeLessThanOrEqual(1);
        expect(kvScore(effectiveKv(Math.min(1, Math.max(0, u)) + 0.01, 1))).toBeLessThanOrEqual(kvScore(effectiveKv(u, 1)) + 1e-12);
      }),
    );
    fc.assert(
      fc.property(fc.nat(1000), fc.nat(1000), (a, b) => {
        const total = Math.max(a, b);
        const s = prefixScore(Math.min(a, b), total);
        expect(s).toBeGreaterThanOrEqual(0);
        expect(s).toBeLessThanOrEqual(1);
        if (total > 0) expect(prefixScore(total, total)).toBe(1);
      }),
    );
  });

  it('a fresh scrape counts its waiting queue and what was sent since; stale metrics decay to the in-flight count alone', () => {
    fc.assert(
      fc.property(fc.nat(1000), fc.nat(100), fc.nat(100), fc.float({ min: 0, max: 1e6, noNaN: true }), (waiting, inflight, atScrape, age) => {
        const f = freshness(age, 300, 600);
        expect(f).toBeGreaterThanOrEqual(0);
        expect(f).toBeLessThanOrEqual(1);
        const q = effectiveQueue(waiting, inflight, atScrape, f);
        const fresh = waiting + Math.max(0, inflight - atScrape);
        expect(q).toBeGreaterThanOrEqual(Math.min(fresh, inflight) - 1e-9);
        expect(q).toBeLessThanOrEqual(Math.max(fresh, inflight) + 1e-9);
        // More waiting or more in flight never makes the queue look shorter.
        expect(effectiveQueue(waiting + 1, inflight, atScrape, f)).toBeGreaterThanOrEqual(q);
        expect(effectiveQueue(waiting, inflight + 1, atScrape, f)).toBeGreaterThanOrEqual(q);
        if (age >= 600) expect(q).toBe(inflight);
        if (age <= 300) expect(q).toBe(fresh);
      }),
    );
    expect(freshness(Number.NaN, 300, 600)).toBe(0);
  });

  it('argBest picks a maximal total; ties go to fewer in-flight requests', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.nat(5)), { minLength: 1, maxLength: 12 }), fc.nat(20), (rows, start) => {
        const total = rows.map((r) => r[0]);
        const inflight = rows.map((r) => r[1]);
        const idx = rows.map((_, i) => i);
        const b = argBest(total, inflight, idx, rows.length, start % rows.length);
        const max = Math.max(...total);
        expect(total[b]).toBe(max);
        const minInflight = Math.min(...rows.filter((r) => r[0] === max).map((r) => r[1]));
        expect(inflight[b]).toBe(minInflight);
      }),
    );
  });
});

describe('prefix blocks', () => {
  const body = (msgs: string[], extra = 1): Buffer => Buffer.from(JSON.stringify({ max_tokens: extra, messages: msgs.map((content) => ({ role: 'user', content })) }));

  it('a request that extends another shares all of its full blocks; fields before the messages do not matter', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ minLength: 1, maxLength: 200 }), { minLength: 1, maxLength: 6 }), fc.string({ minLength: 1, maxLength: 300 }), fc.nat(100000), (turns, next, maxTokens) => {
        const a = body(turns, 7);
        const b = body([...turns, next], maxTokens);
        const ha = new Uint32Array(512);
        const hb = new Uint32Array(512);
        const na = hashBlocks(a, promptStart(a), 16, ha);
        const nb = hashBlocks(b, promptStart(b), 16, hb);
        // The shared bytes are a's prompt up to its closing brackets ("]}").
        const shared = Math.floor((a.length - 2 - promptStart(a)) / 16);
        expect(nb).toBeGreaterThanOrEqual(shared);
        for (let i = 0; i < shared; i++) expect(hb[i]).toBe(ha[i]);
        expect(na).toBe(Math.floor((a.length - promptStart(a)) / 16));
      }),
    );
  });

  it('the cap: at most N blocks are hashed, so requests that agree on their first N blocks match fully whatever follows', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.string({ minLength: 200, maxLength: 600 }), fc.string({ maxLength: 300 }), fc.string({ maxLength: 300 }), (cap, head, tailA, tailB) => {
        const a = body([head + tailA]);
        const b = body([head + tailB], 99);
        const ha = new Uint32Array(cap);
        const hb = new Uint32Array(cap);
        const na = hashBlocks(a, promptStart(a), 16, ha);
        const nb = hashBlocks(b, promptStart(b), 16, hb);
        expect(na).toBeLessThanOrEqual(cap);
        expect(na).toBe(Math.min(cap, Math.floor((a.length - promptStart(a)) / 16)));
        // The two prompts agree at least on '"messages":[{"role":"user","content":"' + head.
        const agreed = Math.floor((Buffer.byteLength(JSON.stringify(head)) - 1 + 37) / 16);
        const idx = new PrefixIndex(1024);
        idx.record(ha, na);
        if (agreed >= cap) expect(idx.match(hb, nb)).toBe(cap);
        else expect(idx.match(hb, nb)).toBeGreaterThanOrEqual(Math.min(agreed, na, nb));
      }),
    );
  });

  it('the index matches leading blocks only and forgets blocks not used within its capacity', () => {
    const idx = new PrefixIndex(8);
    idx.record(Uint32Array.from([1, 2, 3]), 3);
    expect(idx.match(Uint32Array.from([1, 2, 3, 4]), 4)).toBe(3);
    expect(idx.match(Uint32Array.from([9, 2, 3]), 3)).toBe(0);
    // Blocks used again stay; others fall out once enough newer ones arrived.
    for (let k = 10; k < 30; k += 2) {
      idx.record(Uint32Array.from([k, k + 1]), 2);
      idx.record(Uint32Array.from([1]), 1);
    }
    expect(idx.match(Uint32Array.from([1]), 1)).toBe(1);
    expect(idx.match(Uint32Array.from([2, 3]), 2)).toBe(0);
    expect(idx.size).toBeLessThanOrEqual(8);
  });

  it('the index never holds more than its capacity', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 64 }), fc.array(fc.integer({ min: 1, max: 500 }), { maxLength: 400 }), (cap, hs) => {
        const idx = new PrefixIndex(cap);
        idx.record(Uint32Array.from(hs), hs.length);
        expect(idx.size).toBeLessThanOrEqual(cap);
        if (hs.length > 0) expect(idx.match(Uint32Array.from([hs[hs.length - 1]!]), 1)).toBe(1);
      }),
    );
  });
});

describe('pending prefill', () => {
  const hashed = (text: string, cap: number): HashedPrompt => {
    const body = Buffer.from(JSON.stringify({ messages: [{ role: 'user', content: text }] }));
    const start = promptStart(body);
    const hashes = new Uint32Array(cap);
    return { body, start, promptBytes: body.length - start, hashes, blocks: hashBlocks(body, start, 16, hashes), blockBytes: 16 };
  };

  it('estimates stay between nothing and the whole prompt, more held never costs more, and what is sent is pending until done', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 600 }), { minLength: 1, maxLength: 6 }), fc.string({ maxLength: 600 }), (sentTexts, text) => {
        const cap = 4;
        const ledger = new PendingPrefill();
        let pending = 0;
        for (const t of sentTexts) pending += ledger.send(hashed(t, cap), 0, 0);
        expect(ledger.tokens).toBeCloseTo(pending, 6);
        const x = hashed(text, cap);
        const cold = ledger.estimate(x, 0);
        const warm = ledger.estimate(x, x.blocks);
        expect(cold).toBeCloseTo(x.promptBytes / 4, 9);
        expect(warm).toBeGreaterThanOrEqual(0);
        expect(warm).toBeLessThanOrEqual(cold);
        ledger.done(pending + 1, 0);
        expect(ledger.tokens).toBe(0);
      }),
    );
  });

  it('a resend of a prompt, or one that repeats its bytes and adds more, costs what was added; one that shares only the hashed start costs the rest', () => {
    const ledger = new PendingPrefill();
    const base = 'system '.repeat(40) + 'history '.repeat(60);
    const mk = (text: string): HashedPrompt => {
      const body = Buffer.from(`{"messages":"${text}`);
      const start = promptStart(body);
      const hashes = new Uint32Array(4);
      return { body, start, promptBytes: body.length - start, hashes, blocks: hashBlocks(body, start, 16, hashes), blockBytes: 16 };
    };
    const first = mk(base);
    ledger.send(first, 0, 0);
    const again = mk(base + 'new turn '.repeat(20));
    // The last 256 bytes of what was sent count as not held (a real body closes its messages there).
    expect(ledger.estimate(again, 4)).toBeCloseTo(('new turn '.length * 20 + 256) / 4, 9);
    expect(ledger.estimate(mk(base), 4)).toBeCloseTo(256 / 4, 9);
    // Another conversation with the same hashed start but different content where the first ended.
    const other = mk('system '.repeat(40) + 'other   '.repeat(60) + 'x'.repeat(50));
    expect(ledger.estimate(other, 4)).toBeCloseTo((other.promptBytes - 64) / 4, 9);
  });

  it('tells apart hundreds of conversations that share a start longer than the hashed prefix', () => {
    fc.assert(
      fc.property(fc.integer({ min: 40, max: 300 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 2_000 }), (conversations, turns, added) => {
        const ledger = new PendingPrefill();
        const mk = (text: string): HashedPrompt => {
          const body = Buffer.from(`{"messages":"${text}`);
          const start = promptStart(body);
          const hashes = new Uint32Array(4);
          return { body, start, promptBytes: body.length - start, hashes, blocks: hashBlocks(body, start, 16, hashes), blockBytes: 16 };
        };
        const shared = 'system '.repeat(60);
        const history = Array.from({ length: conversations }, (_, c) => shared + `user ${c} asks; `.repeat(30));
        for (let t = 0; t < turns; t++) {
          for (let c = 0; c < conversations; c++) {
            history[c] += ` turn ${t} of ${c};`.repeat(Math.ceil(added / 12));
            ledger.send(mk(history[c] as string), 4, 0);
          }
        }
        // Each conversation's next turn costs what it adds (and the trailer), not its history.
        for (let c = 0; c < conversations; c++) {
          const next = mk(`${history[c] as string}${' next'.repeat(10)}`);
          expect(ledger.estimate(next, 4)).toBeCloseTo((50 + 256) / 4, 9);
        }
      }),
      { numRuns: 20 },
    );
  });
});

describe('prefill ahead, drained with time', () => {
  const rates = fc.oneof(fc.constant(Number.NaN), fc.constant(0), fc.double({ min: 1e-4, max: 10, noNaN: true }));

  it('is never negative, never more than the pending estimate or the backlog, and never grows with time', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        fc.double({ min: 0, max: 1e5, noNaN: true }),
        fc.double({ min: 0, max: 1e5, noNaN: true }),
        rates,
        fc.double({ min: 0, max: 1e3, noNaN: true }),
        (backlog, pending, t1, dt, msPerToken, delay) => {
          const a = remainingPrefill(backlog, t1, msPerToken, delay, pending);
          const b = remainingPrefill(backlog, t1 + dt, msPerToken, delay, pending);
          expect(a).toBeGreaterThanOrEqual(0);
          expect(a).toBeLessThanOrEqual(Math.min(backlog, pending));
          expect(b).toBeLessThanOrEqual(a);
          // Nothing drains before the start-up delay, or without a learned rate.
          if (t1 <= delay || !(msPerToken > 0)) expect(a).toBe(Math.min(backlog, pending));
          // After it, one token every msPerToken.
          else if (msPerToken > 0) expect(a).toBeCloseTo(Math.max(0, Math.min(backlog - (t1 - delay) / msPerToken, pending)), 6);
        },
      ),
    );
  });

  it('the rate fit finds the time a token adds, whatever the fixed delay and noise', () => {
    fc.assert(
      fc.property(fc.double({ min: 0.01, max: 1, noNaN: true }), fc.double({ min: 0, max: 100, noNaN: true }), fc.integer({ min: 1, max: 1 << 30 }), (msPerToken, delay, seed) => {
        const fit = new PrefillRate();
        let x = seed;
        const rand = (): number => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32);
        expect(fit.msPerToken()).toBeNaN();
        for (let i = 0; i < 2_000; i++) {
          const tokens = 50 + rand() * 5_000;
          // Up to ±10% of the prefill time and of the start-up as noise.
          fit.add(tokens, delay * (0.9 + 0.2 * rand()) + tokens * msPerToken * (0.9 + 0.2 * rand()));
        }
        expect(fit.msPerToken()).toBeGreaterThan(msPerToken * 0.8);
        expect(fit.msPerToken()).toBeLessThan(msPerToken * 1.2);
        expect(fit.delayMs()).toBeGreaterThanOrEqual(0);
        expect(Math.abs(fit.delayMs() - delay)).toBeLessThan(delay * 0.2 + msPerToken * 600);
      }),
      { numRuns: 50 },
    );
  });

  it('without samples that tell sizes apart there is no rate, and nothing drains', () => {
    const fit = new PrefillRate();
    for (let i = 0; i < 100; i++) fit.add(1_000, 50);
    expect(fit.msPerToken()).toBeNaN();
    const falling = new PrefillRate();
    // Bigger prompts answering sooner is no rate either.
    for (let i = 0; i < 100; i++) falling.add(100 + i * 10, 500 - i);
    expect(falling.msPerToken()).toBeNaN();
    expect(falling.delayMs()).toBe(0);
  });

  it('a replica learns its rate from first bytes: a long prefill sent long ago no longer counts in full, and membership still bounds it', () => {
    const ledger = new PendingPrefill();
    let now = 0;
    // First bytes at 20 ms + 0.04 ms a token ahead, one request at a time.
    for (let i = 0; i < 64; i++) {
      const tokens = 100 + ((i * 397) % 3_000);
      ledger.sent(tokens, now);
      now += 20 + 0.04 * tokens;
      ledger.done(tokens, now);
      now += 5;
    }
    expect(ledger.tokens).toBe(0);
    expect(ledger.rate.msPerToken()).toBeCloseTo(0.04, 6);
    expect(ledger.rate.delayMs()).toBeCloseTo(20, 3);
    ledger.sent(4_000, now);
    expect(ledger.ahead(now)).toBeCloseTo(4_000, 6);
    // Nothing drains during the start-up; then 25 tokens a ms.
    expect(ledger.ahead(now + 20)).toBeCloseTo(4_000, 6);
    expect(ledger.ahead(now + 20 + 100)).toBeCloseTo(1_500, 6);
    expect(ledger.ahead(now + 1_000)).toBe(0);
    // A second request sent later queues behind what is left of the first.
    ledger.sent(1_000, now + 120);
    expect(ledger.ahead(now + 120)).toBeCloseTo(2_500, 6);
    // The first answers: what is left is bounded by the second's estimate.
    ledger.done(4_000, now + 121);
    expect(ledger.tokens).toBe(1_000);
    expect(ledger.ahead(now + 121)).toBeCloseTo(1_000, 6);
    ledger.done(1_000, now + 130);
    expect(ledger.ahead(now + 130)).toBe(0);
    expect(ledger.tokens).toBe(0);
  });
});

describe('scraped load', () => {
  it('reads vLLM gauges, summing waiting over label sets', () => {
    const text = [
      '# HELP vllm:num_requests_waiting Number of requests waiting.',
      '# TYPE vllm:num_requests_waiting gauge',
      'vllm:num_requests_waiting{model_name="a"} 3',
      'vllm:num_requests_waiting{model_name="b",engine="1"} 2.0',
      'vllm:kv_cache_usage_perc{model_name="a"} 0.25',
      'vllm:num_requests_running{model_name="a"} 9',
      'vllm:num_requests_running{model_name="b",engine="1"} 4',
      'vllm:generation_tokens_total{model_name="a"} 1200',
    ].join('\n');
    expect(parseLoad(text)).toEqual({ waiting: 5, kvCacheUsage: 0.25, running: 13, generated: 1200 });
    expect(parseLoad('vllm:num_requests_waiting 0\n')).toEqual({ waiting: 0, kvCacheUsage: 0, running: undefined, generated: undefined });
    expect(parseLoad('up 1\n')).toBeUndefined();
  });
});

describe('a full batch, learned from scrapes', () => {
  const replica = (): ScrapedReplica => ({
    handle: { pool: undefined as unknown as ScrapedReplica['handle']['pool'], inflight: 0 },
    scraping: false,
    waiting: 0,
    running: 0,
    batchSlots: 0,
    generated: -1,
    mostRunning: 0,
    ceilingHits: 0,
    kvCacheUsage: 0,
    scrapedAt: Number.NaN,
    inflightAtScrape: 0,
    scrapeFailures: 0,
  });
  const scrape = (r: ScrapedReplica, running: number, waiting: number, generated: number | undefined): void =>
    applyLoad(r, { waiting, running, generated, kvCacheUsage: 0.1 }, 0);

  it('takes a batch that stepped without admitting anyone, at the most it ever ran, as full', () => {
    const r = replica();
    scrape(r, 10, 0, 0);
    scrape(r, 16, 3, 100);
    expect(r.batchSlots).toBe(0); // one scrape with requests waiting says nothing
    scrape(r, 16, 2, 180);
    expect(r.batchSlots).toBe(16); // stepped (80 tokens for 16 sequences), still 16, still waiting
  });

  it('takes a running count that keeps stopping at its most with requests waiting beside it as full, though never two scrapes in a row', () => {
    // At 80% of the knee a full batch's queue clears within a scrape interval: the first rule never
    // sees it twice in a row.
    const r = replica();
    let generated = 0;
    const at = (running: number, waiting: number): void => scrape(r, running, waiting, (generated += 200));
    at(10, 0);
    at(16, 1);
    at(14, 0);
    at(16, 2);
    at(15, 0);
    expect(r.batchSlots).toBe(0); // twice at 16 with a queue: could still be arrivals during steps
    at(16, 1);
    expect(r.batchSlots).toBe(16);
  });

  it('counts the ceiling again from a new most, and not at scrapes without a step in between', () => {
    const r = replica();
    scrape(r, 12, 1, 0);
    scrape(r, 12, 0, 100);
    scrape(r, 12, 1, 200); // two at 12 (the first had no step before it to count)
    scrape(r, 16, 1, 300); // a new most: 12 was no ceiling
    scrape(r, 15, 0, 400);
    scrape(r, 16, 1, 405); // 5 tokens for 16 sequences: no step, no evidence
    scrape(r, 15, 0, 500);
    scrape(r, 16, 1, 600);
    expect(r.batchSlots).toBe(0);
    scrape(r, 15, 0, 700);
    scrape(r, 16, 2, 800);
    expect(r.batchSlots).toBe(16);
  });

  it('learns nothing from requests waiting on a step in progress, or on prefill budget below the most it ran', () => {
    const r = replica();
    scrape(r, 40, 0, 0);
    scrape(r, 30, 2, 500);
    scrape(r, 30, 2, 510); // no step in between (a long prefill): 10 tokens for 30 sequences
    expect(r.batchSlots).toBe(0);
    scrape(r, 30, 2, 600); // a step, but 30 is below the 40 it has run: prefill budget, not slots
    expect(r.batchSlots).toBe(0);
    scrape(r, 30, 0, 700);
    scrape(r, 30, 0, 800); // nothing waiting
    expect(r.batchSlots).toBe(0);
  });

  it('forgets a size that a larger batch proves wrong, and learns nothing without the counters', () => {
    const r = replica();
    scrape(r, 8, 1, 0);
    scrape(r, 8, 1, 50);
    expect(r.batchSlots).toBe(8);
    scrape(r, 12, 0, 120);
    expect(r.batchSlots).toBe(0);
    const bare = replica();
    scrape(bare, 8, 1, undefined);
    scrape(bare, 8, 1, undefined);
    expect(bare.batchSlots).toBe(0);
  });

  it('counts what a replica holds as the scrape moved by the gateway since, never below the gateway’s own in-flight count', () => {
    fc.assert(
      fc.property(fc.nat(200), fc.nat(50), fc.nat(300), fc.nat(300), fc.double({ min: 0, max: 1, noNaN: true }), (running, waiting, inflight, atScrape, fresh) => {
        const o = effectiveOccupancy(running, waiting, inflight, atScrape, fresh);
        expect(o).toBeGreaterThanOrEqual(inflight);
        if (fresh === 0) expect(o).toBe(inflight);
        if (fresh === 1) expect(o).toBe(Math.max(inflight, running + waiting + inflight - atScrape));
      }),
    );
  });
});
