// The picker's prefill scorer over time, through the PoolPicker class itself with a clock the test
// moves (no sockets: what is under test is the decision, and simulated time keeps it exact). A
// replica learns its prefill rate from the first bytes it answers; a long prefill sent to it then
// weighs on its score at first and less and less as the learned rate drains it, while the request
// is still waiting for its first byte.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { pickerConfig } from '../../src/bench/picker-cost.js';
import { PoolPicker, type ReplicaState } from '../../src/upstream/pool/picker.js';
import { applyLoad } from '../../src/upstream/pool/scrape.js';
import { attachPickerTelemetry } from '../../src/telemetry/picker-metrics.js';
import type { EndpointHandle } from '../../src/upstream/pools.js';

const REQ = { method: 'POST', url: '/v1/chat/completions', headers: {} } as const;
/** The gateway's picker over four endpoints, its clock the test's; no pool is opened (it never scrapes). */
function testPicker(now: () => number): PoolPicker {
  return new PoolPicker(
    pickerConfig('picker', 32),
    (ep) => ({ origin: `http://${ep.host}:${ep.port}`, pool: undefined as unknown as EndpointHandle['pool'], downUntil: 0, consecutiveFailures: 0, inflight: 0 }),
    now,
  );
}

const body = (tag: string, bytes: number): Buffer => Buffer.from(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: `${tag} ${'w'.repeat(bytes)}` }] }));

describe('prefill scorer, time-aware', () => {
  it('learns each replica’s rate from first bytes and drains a long prefill it sent, while its first byte is still due', () => {
    let now = 0;
    const picker = testPicker(() => now);
    const byHandle = (h: EndpointHandle): ReplicaState => picker.replicas.find((r) => r.handle === h) as ReplicaState;
    // Train: one request at a time, each answering its first byte 20 ms + 0.04 ms a token later
    // (prompts of 100 to 3,000 tokens, none sharing a prefix with another).
    for (let i = 0; i < 200; i++) {
      const h = picker.pick(REQ, body(`train-${i}`, 400 + ((i * 4_421) % 11_600)), new Set(), now) as EndpointHandle;
      const tokens = picker.lastPrefillTokens;
      now += 20 + 0.04 * tokens;
      picker.prefillDone(h, tokens);
      now += 5;
    }
    for (const r of picker.replicas) {
      expect(r.prefill.rate.msPerToken()).toBeCloseTo(0.04, 3);
      expect(r.prefill.rate.delayMs()).toBeCloseTo(20, 0);
      expect(r.prefill.tokens).toBe(0);
    }

    // A long cold prompt (some 16,000 tokens: 660 ms of prefill at that rate) goes to one replica.
    const sent = now;
    const long = picker.pick(REQ, body('long', 64_000), new Set(), now) as EndpointHandle;
    const busy = byHandle(long);
    const longTokens = picker.lastPrefillTokens;
    expect(longTokens).toBeGreaterThan(15_000);

    // Right after, a short request scores that replica lowest on prefill and goes elsewhere.
    now = sent + 1;
    const short1 = picker.pick(REQ, body('short-1', 400), new Set(), now) as EndpointHandle;
    expect(short1).not.toBe(long);
    expect(busy.scores.prefill).toBe(0);
    picker.prefillDone(short1, picker.lastPrefillTokens);

    // Halfway through its prefill the replica still owes about half of it.
    now = sent + 20 + 0.04 * (longTokens / 2);
    expect(busy.prefill.ahead(now)).toBeCloseTo(longTokens / 2, -1);
    expect(busy.prefill.tokens).toBe(longTokens);

    // Past its predicted end, though the first byte has not come yet, nothing is left to wait for:
    // a short request scores that replica like any other.
    now = sent + 20 + 0.04 * longTokens + 1;
    expect(busy.prefill.ahead(now)).toBe(0);
    expect(busy.prefill.tokens).toBe(longTokens);
    picker.pick(REQ, body('short-2', 400), new Set(), now);
    expect(busy.scores.prefill).toBe(1);
    picker.prefillDone(picker.lastReplica?.handle as EndpointHandle, picker.lastPrefillTokens);

    // Its first byte arrives: it is a sample like the others, and nothing is pending.
    picker.prefillDone(long, longTokens);
    expect(busy.prefill.tokens).toBe(0);
    expect(busy.prefill.rate.msPerToken()).toBeCloseTo(0.04, 3);
  });
});

describe('full batches', () => {
  it('sends a conversation away from the replica that holds it once that replica’s batch is full, unless every batch is', () => {
    let now = 0;
    const picker = testPicker(() => now);
    // Every replica shows a batch of 4 that stepped while requests waited: its size is 4.
    let generated = 0;
    for (const r of picker.replicas) {
      applyLoad(r, { waiting: 1, running: 4, generated: 0, kvCacheUsage: 0.05 }, now);
      applyLoad(r, { waiting: 1, running: 4, generated: 40, kvCacheUsage: 0.05 }, now);
      expect(r.batchSlots).toBe(4);
    }
    // Then they drain: fresh scrapes with nothing running.
    now += 10;
    generated = 100;
    for (const r of picker.replicas) applyLoad(r, { waiting: 0, running: 0, generated, kvCacheUsage: 0.05 }, now);

    const history = 'a long conversation so far '.repeat(300);
    const turn = (n: number): Buffer => Buffer.from(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: `${history} turn ${n}` }] }));
    const home = picker.pick(REQ, turn(1), new Set(), now) as EndpointHandle;
    // Its next turn goes home while home has room.
    expect(picker.pick(REQ, turn(2), new Set(), now)).toBe(home);

    // Home's batch fills with the gateway's own requests (its in-flight count, never stale).
    home.inflight = 4;
    const away = picker.pick(REQ, turn(3), new Set(), now) as EndpointHandle;
    expect(away).not.toBe(home);
    // Every batch full: nothing is filtered, and affinity decides again: one of the two replicas
    // that hold the conversation.
    for (const r of picker.replicas) r.handle.inflight = 4;
    expect([home, away]).toContain(picker.pick(REQ, turn(4), new Set(), now));
  });

  it('shows on /metrics the batch size it learned per replica, and 0 where it has not learned one', async () => {
    const picker = testPicker(() => 0);
    const registry = new Registry();
    attachPickerTelemetry(registry, () => [picker.stats()]);
    const [first, second] = picker.replicas as [ReplicaState, ReplicaState];
    applyLoad(first, { waiting: 2, running: 6, generated: 0, kvCacheUsage: 0.1 }, 0);
    applyLoad(first, { waiting: 2, running: 6, generated: 60, kvCacheUsage: 0.1 }, 0);
    applyLoad(second, { waiting: 2, running: 6, generated: 0, kvCacheUsage: 0.1 }, 0);
    const text = await registry.metrics();
    expect(text).toContain(`tollgate_endpoint_batch_slots{pool="bench/pool",endpoint="${first.id}"} 6`);
    expect(text).toContain(`tollgate_endpoint_batch_slots{pool="bench/pool",endpoint="${second.id}"} 0`);
  });
});
