// The picker bench's simulated-time comparison: the gateway's picker class over four simulator
// engines with closed-loop multi-turn users. Runs are deterministic for a seed, round robin spreads
// requests evenly, and the picker's prefix-cache affinity shows in the engines' own hit counts.
// The per-trial verdict is judged on the median of each trial's own ratios.
import { describe, expect, it } from 'vitest';
import { judgeTrials, median, type RunResult } from '../../src/bench/picker-report.js';
import { CORPUS_LIKE, runVirtual } from '../../src/bench/picker-virtual.js';
import { profileFromObject } from '../../src/sim/index.js';

const profile = profileFromObject({ extends: 'fast', scheduler: { maxNumSeqs: 8 }, cost: { fixedMs: 2, prefillTokenMs: 0.01, decodeSeqMs: 0.02, contextTokenMs: 0 } });
const workload = { ...CORPUS_LIKE, outputTokens: 40, thinkS: 0.5 };

describe('bench picker --virtual', () => {
  it('is deterministic for a seed, and round robin spreads requests evenly', () => {
    const a = runVirtual(profile, workload, 'round-robin', 24, 7, 5, 20);
    const b = runVirtual(profile, workload, 'round-robin', 24, 7, 5, 20);
    expect(b).toEqual(a);
    expect(a.requests.reduce((x, y) => x + y, 0)).toBeGreaterThan(100);
    expect(Math.max(...a.requests) - Math.min(...a.requests)).toBeLessThanOrEqual(1);
  });

  it('the picker finds more of each prompt in the replica caches than round robin', () => {
    const rr = runVirtual(profile, workload, 'round-robin', 24, 3, 5, 20);
    const pk = runVirtual(profile, workload, 'picker', 24, 3, 5, 20);
    expect(pk.prefixHitRate).toBeGreaterThan(rr.prefixHitRate);
    // Split over two workers, each picker knows only half the prefixes.
    const split = runVirtual(profile, workload, 'picker', 24, 3, 5, 20, 2);
    expect(split.prefixHitRate).toBeLessThan(pk.prefixHitRate);
  });
});

describe('judgeTrials', () => {
  const run = (trial: number, strategy: RunResult['strategy'], p99: number, tput: number, hits: number): RunResult => ({
    trial,
    saturation: 100,
    strategy,
    levelPct: 80,
    users: 80,
    ttftP50: p99 / 4,
    ttftP99: p99,
    outputTokensPerS: tput,
    errorRate: 0,
    prefixHitRate: hits,
    replicas: [],
    noise: { loadAvg1m: 0, harnessLagP99Ms: 0, simLateStepP99Ms: 0, simOverruns: 0 },
  });

  it('takes the median of per-trial ratios, so one outlier trial neither makes nor breaks the goal', () => {
    const results = [
      run(1, 'round-robin', 1.0, 100, 0.4),
      run(1, 'picker', 0.4, 100, 0.5),
      run(2, 'round-robin', 9.0, 100, 0.4),
      run(2, 'picker', 0.5, 100, 0.5),
      run(3, 'round-robin', 0.5, 100, 0.4),
      run(3, 'picker', 0.5, 100, 0.5),
    ];
    const v = judgeTrials(results);
    // Ratios 2.5, 18, 1: median 2.5.
    expect(v.ok).toBe(true);
    expect(v.lines.join('\n')).toContain('median 2.50×');
    expect(judgeTrials(results.slice(0, 2).concat(results.slice(4))).ok).toBe(false); // 2.5 and 1: median 1.75
    expect(median([3, 1, 2])).toBe(2);
    expect(median([])).toBeNull();
  });
});
