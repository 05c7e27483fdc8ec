// The workers' shared picker state between two real PoolPickers in one process, the batches handed
// over by hand instead of through the primary (test/cluster/picker-share.test.ts covers the real
// processes): what a peer learned steers the picks, a reload's stale entries and another block size
// are ignored, batches stay within their cap, and a picker without a share keeps no list of new
// blocks.
import { describe, expect, it } from 'vitest';
import { pickerConfig } from '../../src/bench/picker-cost.js';
import type { InferencePoolConfig } from '../../src/config/types.js';
import { hashBlocks, PrefixIndex } from '../../src/upstream/pool/prefix.js';
import { MAX_BATCH_BLOCKS, type PickerBatch } from '../../src/upstream/pool/share.js';
import type { EndpointHandle } from '../../src/upstream/pools.js';
import { sharingWorker, type SharingWorker } from '../helpers/picker-share.js';

const REQ = { method: 'POST', url: '/v1/chat/completions', headers: {} } as const;

/** A worker's picker and share, batches kept in a list (test/helpers/picker-share.ts). */
const worker = (cfg?: InferencePoolConfig): SharingWorker => sharingWorker({ cfg });

function body(conversation: number, turns: number): Buffer {
  const messages = [{ role: 'system', content: `conversation ${conversation} ${'a careful assistant '.repeat(60)}` }];
  for (let t = 0; t < turns; t++) messages.push({ role: 'user', content: `turn ${t} ${'more context '.repeat(30)}` });
  return Buffer.from(JSON.stringify({ model: 'm', messages }));
}

const idOf = (w: SharingWorker, h: EndpointHandle | undefined): string => w.picker.replicas.find((r) => r.handle === h)?.id ?? 'none';

describe('shared picker state between workers', () => {
  it("a conversation placed by one worker's picker is found by the other's after a batch", () => {
    const a = worker();
    const b = worker();
    const homes: string[] = [];
    for (let c = 0; c < 8; c++) homes.push(idOf(a, a.picker.pick(REQ, body(c, 1), new Set(), 0)));
    a.flush();
    expect(a.sent).toHaveLength(1);
    b.share.receive(a.sent);
    for (let c = 0; c < 8; c++) {
      expect(idOf(b, b.picker.pick(REQ, body(c, 2), new Set(), 0))).toBe(homes[c]);
      expect(b.picker.lastMatched).toBeGreaterThan(0);
    }
    // What B learned from A is not told back to A.
    b.flush();
    const told = b.sent.flatMap((x) => x.pools.flatMap((p) => p.blocks.map(([, hs]) => hs.length)));
    const fromB = told.reduce((x, y) => x + y, 0);
    const fromA = a.sent.flatMap((x) => x.pools.flatMap((p) => p.blocks.map(([, hs]) => hs.length))).reduce((x, y) => x + y, 0);
    expect(fromB).toBeLessThan(fromA);
  });

  it('sessions placed by a peer keep their replica', () => {
    const cfg = { ...pickerConfig('picker', 32), sessionHeader: 'x-session' };
    const a = worker(cfg);
    const b = worker(cfg);
    const req = (s: string) => ({ ...REQ, headers: { 'x-session': s } });
    const homes = ['s1', 's2', 's3', 's4'].map((s) => idOf(a, a.picker.pick(req(s), Buffer.from('{"messages":[]}'), new Set(), 0)));
    a.flush();
    b.share.receive(a.sent);
    ['s1', 's2', 's3', 's4'].forEach((s, i) => {
      expect(idOf(b, b.picker.pick(req(s), Buffer.from('{"messages":[]}'), new Set(), 0))).toBe(homes[i]);
      expect(b.picker.lastReason).toBe('session');
    });
  });

  it('ignores endpoints the receiver no longer has, and blocks hashed with another block size', () => {
    const a = worker();
    const cfg = pickerConfig('picker', 32);
    const b = worker({ ...cfg, endpoints: cfg.endpoints.slice(1) });
    for (let c = 0; c < 16; c++) a.picker.pick(REQ, body(c, 1), new Set(), 0);
    a.flush();
    const batch = a.sent[0]!;
    const gone = a.picker.replicas[0]!.id;
    const forGone = batch.pools[0]!.blocks.filter(([id]) => id === gone).reduce((n, [, hs]) => n + hs.length, 0);
    const all = batch.pools[0]!.blocks.reduce((n, [, hs]) => n + hs.length, 0);
    b.share.receive([batch]);
    expect(b.share.view()[0]?.learnedBlocks).toBe(all - forGone);

    const c = worker({ ...cfg, prefixBlockBytes: 128 });
    c.share.receive([batch]);
    expect(c.share.view()[0]?.learnedBlocks).toBe(0);
  });

  it('a batch carries at most its cap of blocks; the rest follows in the next', () => {
    const a = worker(pickerConfig('picker', 4096));
    // One long prompt of distinct blocks per request, more than a batch holds in all.
    const big = (i: number): Buffer => Buffer.from(JSON.stringify({ messages: [{ role: 'user', content: `${i} `.padEnd(256 * 3000, String.fromCharCode(97 + (i % 26))) }] }));
    for (let i = 0; i < 8; i++) a.picker.pick(REQ, big(i), new Set(), 0);
    a.flush();
    const count = (b: PickerBatch): number => b.pools.reduce((n, p) => n + p.blocks.reduce((m, [, hs]) => m + hs.length, 0), 0);
    expect(count(a.sent[0]!)).toBe(MAX_BATCH_BLOCKS);
    // Still blocks to tell: the share armed itself again.
    a.flush();
    expect(a.sent.length).toBe(2);
    expect(count(a.sent[1]!)).toBeGreaterThan(0);
  });

  it('a picker without a share (one process) keeps no list of new blocks', () => {
    const idx = new PrefixIndex(1000);
    const hashes = new Uint32Array(8);
    const n = hashBlocks(Buffer.from('x'.repeat(256 * 8)), 0, 256, hashes);
    idx.record(hashes, n);
    expect(idx.freshCount).toBe(0);
    expect(idx.takeFresh(100)).toEqual([]);
    let told = 0;
    const shared = new PrefixIndex(1000, { recorded: () => told++ });
    shared.record(hashes, n);
    expect(told).toBe(1);
    expect(shared.takeFresh(100)).toHaveLength(n);
  });
});
