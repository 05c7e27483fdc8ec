// Plans: the printed default parses back to the default, every problem is named with its path,
// command-line overrides replace what they say, and load levels split exactly.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { apportion, part, splitLevel } from '../../src/load/levels.js';
import { DEFAULT_PLAN, DEFAULT_PLAN_YAML } from '../../src/load/plan/defaults.js';
import { applyOverrides } from '../../src/load/plan/overrides.js';
import { parsePlan, PlanError } from '../../src/load/plan/parse.js';
import { readReplayTimes, resolveHeaders } from '../../src/load/run.js';

function problems(text: string): readonly string[] {
  try {
    parsePlan(text, 'plan.yaml');
  } catch (err) {
    if (err instanceof PlanError) return err.problems;
    throw err;
  }
  return [];
}

describe('plan files', () => {
  it('the printed default plan parses back to the default', () => {
    const p = parsePlan(DEFAULT_PLAN_YAML, 'default.yaml');
    expect(p.phases).toEqual(DEFAULT_PLAN.phases);
    expect(p.gates).toEqual(DEFAULT_PLAN.gates);
    expect(p.mode).toBe('users');
    expect(p.profiles.A?.arrival).toEqual({ kind: 'mmpp', on_s: 5, off_s: 45, off_ratio: 0 });
    expect(p.profiles.B?.arrival).toEqual({ kind: 'gamma', cv: 1.5 });
    expect(p.slo.ttft_s).toBe(2);
  });

  it('reads durations in any unit, arrivals, gates, telemetry and headers', () => {
    const p = parsePlan(`
name: t
mode: rate
mix: {A: 1, D: 3}
profiles:
  A: {arrival: {kind: mmpp, on: 2s, off: 1m, off_ratio: 0.1}}
  X: {arrival: {kind: weibull, cv: 2}, session_gap: 500ms}
phases:
  - {kind: ramp, start: 0.5, step: 0.5, max: 4, step_duration: 90s, settle: 15s}
  - {kind: soak, fraction: 0.8, duration: 1h}
gates:
  window: 20s
  t2: {factor: 2.5, source: engine}
  t3: {max_rate: 0.02}
  kv_cache: {max: 0.85}
  error_rate: off
telemetry:
  interval: 5s
  targets:
    - {name: vllm, url: http://127.0.0.1:8000/metrics}
    - {name: prom, prometheus: http://prom:9090, match: '{job="vllm"}'}
request: {timeout: 5m, headers: {authorization: "Bearer \${KEY}"}}
`);
    expect(p.mix).toEqual({ A: 1, D: 3 });
    expect(p.profiles.A?.arrival).toEqual({ kind: 'mmpp', on_s: 2, off_s: 60, off_ratio: 0.1 });
    expect(p.profiles.X?.arrival.kind).toBe('weibull');
    expect(p.profiles.X?.gap_s).toBe(0.5);
    expect(p.phases[0]).toMatchObject({ kind: 'ramp', start: 0.5, step: 0.5, max: 4, step_s: 90, settle_s: 15 });
    expect(p.phases[1]).toMatchObject({ kind: 'soak', fraction: 0.8, duration_s: 3600 });
    expect(p.gates.window_s).toBe(20);
    expect(p.gates.list.map((g) => [g.kind, g.threshold, g.source])).toEqual([
      ['t2_ttft', 2.5, 'engine'],
      ['t3_preemption', 0.02, 'engine'],
      ['kv_cache', 0.85, 'engine'],
    ]);
    expect(p.telemetry.targets.map((t) => t.kind)).toEqual(['metrics', 'prometheus']);
    expect(p.request.timeout_s).toBe(300);
    expect(resolveHeaders(p.request.headers, { KEY: 'k1' })).toEqual({ authorization: 'Bearer k1' });
    expect(() => resolveHeaders(p.request.headers, {})).toThrow(/environment variable KEY is not set/);
  });

  it('names every problem with its path', () => {
    const ps = problems(`
mode: sideways
phases:
  - {kind: ramp, start: 50, max: 10, step_duration: 1x}
  - {kind: teleport}
gates: {t2: {factor: 0.5}, t9: {}}
telemetry: {targets: [{name: a, url: ftp://x}]}
profiles: {A: {arrival: {kind: mmpp, on: -1}}}
surprise: 1
`);
    const text = ps.join('\n');
    expect(text).toMatch(/^mode: must be one of users, rate/m);
    expect(text).toMatch(/phases\[0\]\.max: must be at least start/);
    expect(text).toMatch(/phases\[0\]\.step_duration: must be a duration/);
    expect(text).toMatch(/phases\[1\]\.kind: must be one of steady, ramp, soak/);
    expect(text).toMatch(/gates\.t2\.factor: must be greater than 1/);
    expect(text).toMatch(/gates\.t9: unknown field/);
    expect(text).toMatch(/telemetry\.targets\[0\]\.url: must be an http\(s\) URL/);
    expect(text).toMatch(/profiles\.A\.arrival\.on: must be greater than 0/);
    expect(text).toMatch(/^surprise: unknown field/m);
  });

  it('rejects replay in users mode or in a ramp, and a soak with nothing to take a fraction of', () => {
    expect(problems('mode: users\nprofiles: {T: {arrival: {kind: replay}}}\nphases: [{kind: steady, level: 1, duration: 1}]').join()).toMatch(/replay arrivals need `mode: rate`/);
    expect(problems('mode: rate\nprofiles: {T: {arrival: {kind: replay}}}').join()).toMatch(/cannot be ramped/);
    expect(problems('phases: [{kind: soak, duration: 10}]').join()).toMatch(/needs a ramp before it/);
    expect(problems('mode: rate\nprofiles: {T: {arrival: {kind: replay, source: file}}}\nphases: [{kind: steady, level: 1, duration: 1}]').join()).toMatch(/needs `file: PATH`/);
  });

  it('says what is wrong with text that is not a plan', () => {
    expect(problems('[1, 2]').join()).toMatch(/must be a mapping/);
    expect(problems('a: [').join()).toMatch(/not valid YAML/);
  });
});

describe('command-line overrides', () => {
  it('--users with --duration replaces the phases with one steady phase', () => {
    const p = applyOverrides(DEFAULT_PLAN, { users: '25', duration: '90s' });
    expect(p.mode).toBe('users');
    expect(p.phases).toEqual([{ kind: 'steady', name: 'steady', level: 25, duration_s: 90 }]);
  });

  it('--ramp, --step-duration, --soak, --soak-fraction, --mix, --telemetry', () => {
    const p = applyOverrides(DEFAULT_PLAN, { ramp: '5:5:50', stepDuration: '30s', soak: '2m', soakFraction: '0.7', mix: 'A=1,D=2', telemetry: ['gw=http://127.0.0.1:9901/metrics', 'http://h:8000/metrics'], prometheus: ['http://prom:9090#{job="vllm"}'] });
    expect(p.phases[0]).toMatchObject({ kind: 'ramp', start: 5, step: 5, max: 50, step_s: 30, settle_s: 7.5 });
    expect(p.phases[1]).toMatchObject({ kind: 'soak', fraction: 0.7, duration_s: 120 });
    expect(p.mix).toEqual({ A: 1, D: 2 });
    expect(p.telemetry.targets).toEqual([
      { name: 'gw', kind: 'metrics', url: 'http://127.0.0.1:9901/metrics', match: undefined },
      { name: 'target2', kind: 'metrics', url: 'http://h:8000/metrics', match: undefined },
      { name: 'prometheus3', kind: 'prometheus', url: 'http://prom:9090', match: '{job="vllm"}' },
    ]);
    expect(applyOverrides(DEFAULT_PLAN, { soak: '0' }).phases.map((x) => x.kind)).toEqual(['ramp']);
  });

  it('the error rate that fails a run: 5% by default, from the plan or --max-error-rate', () => {
    expect(parsePlan(DEFAULT_PLAN_YAML, 'default.yaml').slo.error_rate).toBe(0.05);
    expect(parsePlan('slo: {ttft: 1s}\n', 'p.yaml').slo.error_rate).toBe(0.05);
    expect(parsePlan('slo: {error_rate: 0.2}\n', 'p.yaml').slo.error_rate).toBe(0.2);
    expect(() => parsePlan('slo: {error_rate: 2}\n', 'p.yaml')).toThrow(/error_rate/);
    expect(applyOverrides(DEFAULT_PLAN, { maxErrorRate: '0.25' }).slo.error_rate).toBe(0.25);
    expect(applyOverrides(DEFAULT_PLAN, { maxErrorRate: '10%' }).slo.error_rate).toBeCloseTo(0.1, 12);
    expect(applyOverrides(DEFAULT_PLAN, { maxErrorRate: '0' }).slo.error_rate).toBe(0);
    expect(() => applyOverrides(DEFAULT_PLAN, { maxErrorRate: 'lots' })).toThrow(/--max-error-rate: "lots" must be a fraction/);
  });

  it('bad flags are errors that name the flag (and never echo a header value)', () => {
    expect(() => applyOverrides(DEFAULT_PLAN, { ramp: '5:5' })).toThrow(/--ramp: "5:5" must be START:STEP:MAX/);
    expect(() => applyOverrides(DEFAULT_PLAN, { users: '-3' })).toThrow(/--users/);
    expect(() => applyOverrides(DEFAULT_PLAN, { users: '3', rate: '1' })).toThrow(/give one of them/);
    try {
      applyOverrides(DEFAULT_PLAN, { headers: ['bad header sk-secret-123'] });
      expect.unreachable();
    } catch (err) {
      expect(String(err)).toMatch(/--header/);
      expect(String(err)).not.toMatch(/sk-secret-123/);
    }
  });
});

describe('load levels', () => {
  it('apportions whole users by largest remainder, always summing to the total', () => {
    expect(apportion(20, [0.24, 0.04, 0.24, 0.48])).toEqual([5, 1, 5, 9]);
    for (let n = 0; n < 200; n += 7) expect(apportion(n, [5000, 865, 5000, 10000]).reduce((a, b) => a + b, 0)).toBe(n);
  });

  it('shards and workers take contiguous parts that add up', () => {
    for (const n of [0, 1, 7, 224]) {
      let sum = 0;
      for (let i = 0; i < 4; i++) sum += part(n, i, 4);
      expect(sum).toBe(n);
    }
    const mix = [
      { name: 'A', share: 0.25, workerZeroOnly: false },
      { name: 'D', share: 0.75, workerZeroOnly: false },
    ];
    let a = 0;
    let d = 0;
    for (let s = 0; s < 3; s++) {
      for (const w of splitLevel('users', 101, mix, { index: s, count: 3 }, 2)) {
        a += w.A ?? 0;
        d += w.D ?? 0;
      }
    }
    expect(a + d).toBe(101);
    expect(a).toBe(25);
    const rate = splitLevel('rate', 10, mix, { index: 0, count: 2 }, 2);
    expect(rate[0]?.D).toBeCloseTo(10 * 0.75 / 4);
  });

  it('corpus replay goes to worker 0 only', () => {
    const out = splitLevel('rate', 1, [{ name: 'T', share: 1, workerZeroOnly: true }], undefined, 3);
    expect(out.map((w) => w.T)).toEqual([1, 0, 0]);
  });
});

describe('replay trace files', () => {
  it('reads seconds (BurstGPT) or date-times (Azure traces) from the first column, skipping a header', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-replay-'));
    writeFileSync(join(dir, 'burst.csv'), 'Timestamp,Model,Request tokens,Response tokens\n5,ChatGPT,10,20\n7.5,GPT-4,3,4\n# comment\n6,ChatGPT,1,1\n');
    expect(readReplayTimes(join(dir, 'burst.csv'))).toEqual([0, 1, 2.5]);
    writeFileSync(join(dir, 'azure.csv'), 'TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:50.1805900,396,109\n');
    expect(readReplayTimes(join(dir, 'azure.csv'))).toEqual([0, 3.5]);
    writeFileSync(join(dir, 'bad.csv'), '1\n2\nlater\n');
    expect(() => readReplayTimes(join(dir, 'bad.csv'))).toThrow(/bad\.csv:3: "later" is neither seconds nor a date-time/);
  });
});
