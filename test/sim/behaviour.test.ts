// The qualitative behaviour the simulator exists for, checked in virtual time (deterministic, no
// wall-clock assertions): the compute knee, memory pressure and preemption, prefix caching.
import { describe, expect, test } from 'vitest';
import { DEFAULT_WORKLOAD, ramp, runWorkload, type Workload } from '../../src/sim/offline.js';
import { BUILTIN_PROFILES, profileFromObject } from '../../src/sim/profiles.js';

const H100 = BUILTIN_PROFILES['h100x4-gpt-oss-120b']!;

describe('queueing', () => {
  // Realistic think times (20 s) and medium replies: the batch fills only at several hundred users.
  const wl: Workload = { ...DEFAULT_WORKLOAD, durationS: 60, warmupS: 20, thinkS: 20, outputTokens: 200 };
  const users = [20, 200, 300, 400, 450, 500];

  test('TTFT stays flat below the knee and grows superlinearly past it; the knee moves with compute, not memory', () => {
    const base = ramp(H100, wl, users);
    const slower = ramp(
      profileFromObject({ extends: H100.name, cost: { fixedMs: H100.cost.fixedMs * 2, prefillTokenMs: H100.cost.prefillTokenMs * 2, decodeSeqMs: H100.cost.decodeSeqMs * 2, contextTokenMs: H100.cost.contextTokenMs * 2 } }),
      wl,
      users,
    );
    const lessMemory = ramp(profileFromObject({ extends: H100.name, cache: { ...H100.cache, gpuMemoryUtilization: 0.6 } }), wl, users);

    expect(base.kneeUsers).toBeDefined();
    const k = users.indexOf(base.kneeUsers!);
    expect(k).toBeGreaterThanOrEqual(3);
    // Flat below: every point before the knee within 2.5x of the baseline; far above it after.
    for (const r of base.runs.slice(0, k)) expect(r.ttftMean).toBeLessThan(2.5 * base.baselineTtft);
    expect(base.runs[users.length - 1]!.ttftMean).toBeGreaterThan(5 * base.baselineTtft);
    // Superlinear past it: the rise over the last step beats the whole rise up to the knee's previous point.
    const before = base.runs[k - 1]!.ttftMean - base.runs[0]!.ttftMean;
    const after = base.runs[users.length - 1]!.ttftMean - base.runs[users.length - 2]!.ttftMean;
    expect(after).toBeGreaterThan(before);
    // Compute-bound: no preemptions anywhere on the ramp.
    for (const r of base.runs) expect(r.preemptions).toBe(0);

    expect(slower.kneeUsers).toBeDefined();
    expect(slower.kneeUsers!).toBeLessThan(base.kneeUsers!);
    expect(lessMemory.kneeUsers).toBe(base.kneeUsers);
  });
});

describe('memory', () => {
  // Long, growing agent contexts on a cache of 40,000 blocks (640k tokens).
  const profile = profileFromObject({ extends: H100.name, scheduler: { ...H100.scheduler, maxNumSeqs: 1024 }, cache: { ...H100.cache, numBlocks: 40_000 } });
  const wl: Workload = { ...DEFAULT_WORKLOAD, users: 40, durationS: 100, warmupS: 60, userTokens: 3000, maxContextTokens: 60_000, turnsPerSession: 12 };

  test('long contexts with short think times fill the KV cache and preempt; realistic think times at the same rate do not', () => {
    const rushed = runWorkload(profile, { ...wl, thinkS: 0.5 });
    const paced = runWorkload(profile, { ...wl, thinkS: 30 });
    expect(rushed.preemptions).toBeGreaterThan(0);
    expect(rushed.kvUsageMax).toBeGreaterThan(0.9);
    expect(paced.preemptions).toBe(0);
    expect(paced.kvUsageMean).toBeLessThan(0.5);
    // The same request rate reaches the server (thrashing costs the rushed users their throughput).
    expect(paced.rps / rushed.rps).toBeGreaterThan(0.7);
    expect(paced.rps / rushed.rps).toBeLessThan(1.4);
  });
});

describe('prefix caching', () => {
  const wl: Workload = { ...DEFAULT_WORKLOAD, users: 60, durationS: 40, warmupS: 15, thinkS: 5 };

  test('a low-cardinality loop of ten prompts hits the cache and lowers TTFT; unique prompts keep the hit rate low', () => {
    const looped = runWorkload(H100, { ...wl, repeatPrompts: 10 });
    const unique = runWorkload(H100, { ...wl, turnsPerSession: 1, systemPromptVariants: 100_000 });
    expect(looped.prefixHitRate).toBeGreaterThan(0.95);
    expect(unique.prefixHitRate).toBeLessThan(0.1);
    expect(looped.prefillMean).toBeLessThan(unique.prefillMean / 2);
    expect(looped.ttftMean).toBeLessThan(unique.ttftMean);
  });

  test('without prefix caching nothing hits', () => {
    const off = profileFromObject({ extends: H100.name, cache: { ...H100.cache, prefixCaching: false } });
    expect(runWorkload(off, { ...wl, repeatPrompts: 10 }).prefixHitRate).toBe(0);
  });
});

describe('calibration', () => {
  test('the h100x4-gpt-oss-120b profile reproduces the whitepaper soak within 30% and its knee near 224 users', () => {
    const soak = runWorkload(H100, { ...DEFAULT_WORKLOAD, users: 190, durationS: 240, warmupS: 60 });
    const within = (v: number, target: number): void => {
      expect(v).toBeGreaterThan(target * 0.7);
      expect(v).toBeLessThan(target * 1.3);
    };
    within(soak.ttftMean, 0.103);
    within(soak.tpotMean, 0.035);
    within(soak.itlMean, 0.035);
    within(soak.prefillMean, 0.074);
    within(soak.kvUsageMean, 0.105);
    within(soak.rps, 8.7);
    within(soak.e2eMean, 14.29);
    expect(soak.queueMean).toBeLessThan(0.01);
    expect(soak.preemptions).toBe(0);
    const r = ramp(H100, { ...DEFAULT_WORKLOAD, durationS: 150, warmupS: 40 }, [20, 160, 190, 224, 260]);
    expect(r.kneeUsers === 224 || r.kneeUsers === 260).toBe(true);
    for (const run of r.runs) expect(run.preemptions).toBe(0);
  });

  test('deterministic given the seed', () => {
    const a = runWorkload(H100, { ...DEFAULT_WORKLOAD, users: 50, durationS: 30, warmupS: 10 });
    const b = runWorkload(H100, { ...DEFAULT_WORKLOAD, users: 50, durationS: 30, warmupS: 10 });
    const c = runWorkload(H100, { ...DEFAULT_WORKLOAD, users: 50, durationS: 30, warmupS: 10, seed: 2 });
    expect(b).toEqual(a);
    expect(c.ttftMean).not.toBe(a.ttftMean);
  });
});
