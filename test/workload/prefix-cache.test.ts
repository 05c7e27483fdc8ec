import { describe, expect, it } from 'vitest';
import { CHUNK_BYTES, PrefixCacheEstimator } from '../../src/workload/prefix-cache.js';

/** A session whose serialised messages are `chunks` chunks of bytes from `seed`; returns cached prompt tokens (1 token per byte). */
function replay(est: PrefixCacheEstimator, owner: number, seed: number, chunks: number): number {
  const bytes = Buffer.from(new ArrayBuffer(chunks * CHUNK_BYTES));
  for (let i = 0; i < bytes.length; i++) bytes[i] = (seed * 131 + i * 7 + (i >> 7) * seed) & 0xff;
  const t = est.session(owner);
  t.advance(new Int32Array(bytes.buffer), bytes.length);
  return t.request(bytes.length, bytes.length);
}

describe('PrefixCacheEstimator', () => {
  it('counts a repeated session as cached, across sessions', () => {
    const est = new PrefixCacheEstimator();
    expect(replay(est, 0, 1, 10)).toBe(0);
    expect(replay(est, 1, 1, 10)).toBe(10 * CHUNK_BYTES);
    expect(replay(est, 2, 2, 10)).toBe(0);
    const r = est.result();
    expect(r.prompt_tokens).toBe(30 * CHUNK_BYTES);
    expect(r.cross_session_hit_rate).toBeCloseTo(1 / 3, 3);
  });

  it('a session that grows reuses its own earlier turns', () => {
    const est = new PrefixCacheEstimator();
    const bytes = Buffer.from(new ArrayBuffer(8 * CHUNK_BYTES)).fill(7);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 13) & 0xff;
    const t = est.session(0);
    const words = new Int32Array(bytes.buffer);
    t.advance(words, 3 * CHUNK_BYTES + 5);
    expect(t.request(3 * CHUNK_BYTES + 5, 100)).toBe(0);
    t.advance(words, 8 * CHUNK_BYTES);
    // 3 of the 8 chunks were cached by the first turn.
    expect(t.request(8 * CHUNK_BYTES, 8 * CHUNK_BYTES)).toBe(3 * CHUNK_BYTES);
    expect(est.result().cross_session_hit_tokens).toBe(0);
  });

  it('forgets keys two generations back, and keeps the previous generation', () => {
    // 64 slots per generation: a generation holds 44 keys.
    const est = new PrefixCacheEstimator(64);
    replay(est, 0, 1, 10); // current: 10 keys
    replay(est, 1, 2, 40); // fills the current one past 44: it rotates once
    expect(replay(est, 2, 1, 10)).toBe(10 * CHUNK_BYTES); // session 0's keys are in the previous generation
    replay(est, 3, 3, 44);
    replay(est, 4, 4, 44); // two more rotations
    expect(replay(est, 5, 2, 40)).toBe(0); // session 1's keys are gone
  });
});
