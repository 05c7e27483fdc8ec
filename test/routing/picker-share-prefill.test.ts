// The workers' shared pending prefill (share.ts with prefillTokens > 0): the pure parts (a peer's
// figure drained at the replica's rate and expired, several peers merged, the backlog moved by a
// peer's change), when a worker tells its figure (only when it moved by the threshold from what the
// peers' drain predicts), and two real PoolPickers, the batches handed over by hand instead of
// through the primary: a long prefill one worker sent weighs on the other's pick until its first byte.
import { describe, expect, it } from 'vitest';
import { pickerConfig } from '../../src/bench/picker-cost.js';
import { PickerRelay } from '../../src/cluster/picker-relay.js';
import { PoolPicker, type ReplicaState } from '../../src/upstream/pool/picker.js';
import { PEER_PREFILL_TTL_MS, PeerPrefill, peerRemaining } from '../../src/upstream/pool/prefill-peers.js';
import { PendingPrefill } from '../../src/upstream/pool/prefill.js';
import { PickerShare, sharePrefillTokens, type PickerBatch } from '../../src/upstream/pool/share.js';
import type { EndpointHandle } from '../../src/upstream/pools.js';
import { sharingWorker, type SharingWorker } from '../helpers/picker-share.js';

const REQ = { method: 'POST', url: '/v1/chat/completions', headers: {} } as const;

describe('a peer’s pending prefill', () => {
  it('drains at the rate, never below zero, and stops counting at its age limit', () => {
    expect(peerRemaining(1_000, 0, 0.1, PEER_PREFILL_TTL_MS)).toBe(1_000);
    expect(peerRemaining(1_000, 50, 0.1, PEER_PREFILL_TTL_MS)).toBeCloseTo(500, 6);
    expect(peerRemaining(1_000, 200, 0.1, PEER_PREFILL_TTL_MS)).toBe(0);
    // No rate learned: nothing drains, until the figure is too old to count.
    expect(peerRemaining(1_000, 5_000, Number.NaN, PEER_PREFILL_TTL_MS)).toBe(1_000);
    expect(peerRemaining(1_000, PEER_PREFILL_TTL_MS, Number.NaN, PEER_PREFILL_TTL_MS)).toBe(0);
    // Heard a little "before" now (clocks): no more than the figure.
    expect(peerRemaining(1_000, -5, 0.1, PEER_PREFILL_TTL_MS)).toBe(1_000);
  });

  it('keeps one figure per peer: a newer one replaces that peer’s, the peers add up, expired ones go', () => {
    const p = new PeerPrefill();
    expect(p.set('a', 2_000, 0, 0, 0.1)).toBe(0);
    expect(p.set('b', 1_000, 0, 0, 0.1)).toBe(0);
    expect(p.left(0, 0.1)).toBe(3_000);
    // 50 ms later each drained 500 tokens.
    expect(p.left(50, 0.1)).toBeCloseTo(2_000, 6);
    // Peer a tells 4,000: what was left of its previous figure (1,500) comes back.
    expect(p.set('a', 4_000, 50, 50, 0.1)).toBeCloseTo(1_500, 6);
    expect(p.left(50, 0.1)).toBeCloseTo(4_500, 6);
    expect(p.count).toBe(2);
    // A figure taken 20 ms before it was heard has drained 200 tokens by then.
    expect(p.set('b', 1_000, 30, 50, 0.1)).toBeCloseTo(500, 6);
    expect(p.left(50, 0.1)).toBeCloseTo(4_800, 6);
    // Without a rate nothing drains; past the age limit b's figure is dropped at the next set.
    const t = 50 + PEER_PREFILL_TTL_MS;
    expect(p.set('a', 100, t - 1, t - 1, Number.NaN)).toBe(4_000);
    expect(p.left(t, Number.NaN)).toBe(100);
    expect(p.count).toBe(1);
  });

  it('moves the replica’s backlog by the difference of a peer’s figures, and is not told back', () => {
    const pending = new PendingPrefill();
    pending.sent(1_000, 0);
    expect(pending.ahead(0)).toBe(1_000);
    pending.peer('w1', 3_000, 0);
    expect(pending.ahead(0)).toBe(4_000);
    expect(pending.own(0)).toBe(1_000);
    // A request sent now has both ahead of it.
    pending.sent(500, 1);
    expect(pending.ahead(1)).toBe(4_500);
    // The peer's first byte: its figure falls to 0, and so does its part of the backlog.
    pending.peer('w1', 0, 2);
    expect(pending.ahead(2)).toBe(1_500);
    pending.done(1_000, 3);
    pending.done(500, 3);
    expect(pending.ahead(3)).toBe(0);
  });
});

describe('telling the peers', () => {
  it('tells a replica’s figure only when it moved by the threshold from what the peers were last told', () => {
    let moved = 0;
    const pending = new PendingPrefill({ prefillTokens: 1_000, prefillMoved: () => moved++ });
    pending.sent(400, 0);
    pending.sent(400, 1);
    expect(moved).toBe(0);
    expect(pending.takeUntold(1)).toBe(-1);
    // 1,200 tokens from 0: told once, however many more requests come before the batch.
    pending.sent(400, 2);
    pending.sent(400, 3);
    expect(moved).toBe(1);
    expect(pending.takeUntold(4)).toBe(1_600);
    expect(pending.takeUntold(4)).toBe(-1);
    // One first byte (400) is within the threshold; three are not.
    pending.done(400, 5);
    expect(moved).toBe(1);
    pending.done(400, 6);
    pending.done(400, 7);
    expect(moved).toBe(2);
    expect(pending.takeUntold(8)).toBe(400);
  });
});

const worker = (from: string, clock: () => number): SharingWorker => sharingWorker({ clock, intervalMs: 25, share: { from, prefillTokens: 1_024 } });

const body = (tag: string, bytes: number): Buffer => Buffer.from(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: `${tag} ${'w'.repeat(bytes)}` }] }));

describe('pending prefill shared between two workers’ pickers', () => {
  it('a long prompt one worker sent weighs on the other’s picks until its first byte', () => {
    let now = 0;
    const a = worker('a', () => now);
    const b = worker('b', () => now);
    const replicaOf = (w: SharingWorker, h: EndpointHandle): ReplicaState => w.picker.replicas.find((r) => r.handle === h) as ReplicaState;

    const long = a.picker.pick(REQ, body('long', 40_000), new Set(), now) as EndpointHandle;
    const tokens = a.picker.lastPrefillTokens;
    expect(tokens).toBeGreaterThan(9_000);
    a.flush();
    expect(a.sent).toHaveLength(1);
    const batch = a.sent[0]!;
    expect(batch.from).toBe('a');
    const id = replicaOf(a, long).id;
    expect(batch.pools[0]?.prefill).toEqual([[id, Math.round(tokens)]]);
    b.share.receive(a.sent);
    // B counts A's prefill on that replica (no rate learned yet: nothing drains).
    const there = b.picker.replica(id) as ReplicaState;
    expect(there.prefill.ahead(now)).toBe(Math.round(tokens));
    expect(there.prefill.own(now)).toBe(0);

    // B's next cold prompts, each answered at once, go elsewhere.
    for (let i = 0; i < 6; i++) {
      now++;
      const h = b.picker.pick(REQ, body(`short-${i}`, 2_000), new Set(), now) as EndpointHandle;
      expect(replicaOf(b, h).id).not.toBe(id);
      b.picker.prefillDone(h, b.picker.lastPrefillTokens);
    }
    // B's small prefills stay under the threshold: nothing of them to tell (its blocks are).
    b.flush();
    expect(b.sent.flatMap((x) => x.pools.flatMap((p) => p.prefill ?? []))).toEqual([]);

    // A's first byte: A tells 0, and B's view of the replica is clear again.
    now++;
    a.picker.prefillDone(long, tokens);
    a.flush();
    expect(a.sent[1]?.pools[0]?.prefill).toEqual([[id, 0]]);
    b.share.receive([a.sent[1]!]);
    expect(there.prefill.ahead(now)).toBe(0);
    // A figure a worker receives back from itself is ignored.
    a.share.receive([batch]);
    expect((a.picker.replica(id) as ReplicaState).prefill.peers.count).toBe(0);
  });

  it('the primary relays prefill figures but does not keep them for a worker that starts', () => {
    const got: Array<[number, readonly PickerBatch[]]> = [];
    const relay = new PickerRelay({ workers: () => [1, 2], send: (w, b) => got.push([w, b]), intervalMs: 25 });
    relay.take(1, { from: 'a', pools: [{ pool: 'p', blockBytes: 256, blocks: [], sessions: [], prefill: [['10.0.0.1:8000', 5_000]] }] });
    relay.take(1, { from: 'a', pools: [{ pool: 'p', blockBytes: 256, blocks: [['10.0.0.1:8000', [1, 2, 3]]], sessions: [], prefill: [['10.0.0.1:8000', 6_000]] }] });
    relay.joined(3);
    relay.close();
    expect(got).toEqual([[3, [{ pools: [{ pool: 'p', blockBytes: 256, blocks: [['10.0.0.1:8000', [1, 2, 3]]], sessions: [] }] }]]]);
  });
});

describe('batch timing', () => {
  it('a worker’s batch goes at once after a quiet interval, and waits for the interval’s end within one', () => {
    let now = 0;
    const waits: number[] = [];
    let pending: (() => void) | undefined;
    const sent: PickerBatch[] = [];
    const share = new PickerShare({ send: (b) => sent.push(b), later: (fn, ms) => ((pending = fn), waits.push(ms)), clock: () => now }, 25, { from: 'a', prefillTokens: 1_024 });
    const picker = new PoolPicker(pickerConfig('picker', 32), (ep) => ({ origin: `http://${ep.host}:${ep.port}`, pool: undefined as unknown as EndpointHandle['pool'], downUntil: 0, consecutiveFailures: 0, inflight: 0 }), () => now, share);
    const run = (): void => {
      const fn = pending;
      pending = undefined;
      fn?.();
    };
    picker.pick(REQ, body('one', 8_000), new Set(), now);
    run();
    now = 10;
    picker.pick(REQ, body('two', 8_000), new Set(), now);
    run();
    now = 100;
    picker.pick(REQ, body('three', 8_000), new Set(), now);
    run();
    expect(waits).toEqual([0, 15, 0]);
    expect(sent).toHaveLength(3);
    // Prefill figures carry the sender and the time they were taken.
    expect(sent.map((b) => [b.from, b.at])).toEqual([
      ['a', 0],
      ['a', 10],
      ['a', 100],
    ]);
  });

  it('the primary relays at once after a quiet interval, and batches within one', () => {
    let now = 0;
    const waits: number[] = [];
    const timers: Array<() => void> = [];
    const got: Array<[number, number]> = [];
    const relay = new PickerRelay({ workers: () => [1, 2], send: (w, b) => got.push([w, b.length]), intervalMs: 25, later: (fn, ms) => (timers.push(fn), waits.push(ms)), clock: () => now });
    const batch: PickerBatch = { pools: [{ pool: 'p', blockBytes: 256, blocks: [['10.0.0.1:8000', [1]]], sessions: [] }] };
    relay.take(1, batch);
    timers.shift()?.();
    now = 5;
    relay.take(2, batch);
    relay.take(1, batch);
    now = 25;
    timers.shift()?.();
    expect(waits).toEqual([0, 20]);
    // Worker 2 gets worker 1's batch of the first relay, then one each of the second.
    expect(got).toEqual([
      [2, 1],
      [1, 1],
      [2, 1],
    ]);
  });
});

describe('TOLLGATE_PICKER_SHARE_PREFILL', () => {
  it('takes a whole number of tokens, is off when unset, and names itself when it refuses a value', () => {
    expect(sharePrefillTokens(undefined)).toBe(0);
    expect(sharePrefillTokens('')).toBe(0);
    expect(sharePrefillTokens(' 1024 ')).toBe(1024);
    for (const bad of ['1k', '-5', '2.5', 'on']) expect(() => sharePrefillTokens(bad)).toThrow(/TOLLGATE_PICKER_SHARE_PREFILL must be a whole number of tokens/);
  });
});
