// End to end: the harness replays a synthetic corpus through a real gateway (the seed scenario's
// identity routing and zero-trust keys) to simulated backends, ramps until the TTFT knee (T2),
// soaks, and writes a report with every section; a backend that thrashes its KV cache trips T3.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeRunOutput } from '../../src/load/output.js';
import { DEFAULT_PLAN } from '../../src/load/plan/defaults.js';
import type { Plan } from '../../src/load/plan/types.js';
import { buildResults } from '../../src/load/results/build.js';
import { readResults } from '../../src/load/results/merge.js';
import type { Results } from '../../src/load/results/types.js';
import { runLoad } from '../../src/load/run.js';
import { profileFromObject } from '../../src/sim/index.js';
import { smallCorpus, startSeedStack, tempDir, type Stack } from './helpers.js';

function rampPlan(stack: Stack, over: Partial<Plan> = {}): Plan {
  return {
    ...DEFAULT_PLAN,
    name: 'e2e',
    seed: 3,
    defaultGap_s: 0.2,
    profiles: { A: { arrival: { kind: 'mmpp', on_s: 0.5, off_s: 1, off_ratio: 0 }, gap_s: undefined } },
    phases: [
      { kind: 'ramp', name: 'ramp', start: 2, step: 3, factor: 1, max: 30, step_s: 2.5, settle_s: 0.5, max_extensions: 0, drift_tolerance: 0.5 },
      { kind: 'soak', name: 'soak', fraction: 0.85, level: undefined, duration_s: 3 },
    ],
    gates: {
      window_s: 1.5,
      sustain: 2,
      min_samples: 5,
      list: [
        { kind: 't2_ttft', threshold: 3, action: 'stop_ramp', source: 'client', profiles: ['B', 'C', 'D'] },
        { kind: 't3_preemption', threshold: 0.05, action: 'abort', source: 'engine', profiles: [] },
      ],
    },
    telemetry: {
      interval_s: 0.5,
      targets: [
        { name: 'gateway', kind: 'metrics', url: `${stack.gateway.adminUrl}/metrics`, match: undefined },
        { name: 'tier2', kind: 'metrics', url: `${stack.tier2.url}/metrics`, match: undefined },
        { name: 'dcgm', kind: 'metrics', url: `${stack.tier2.url}/_sim/dcgm`, match: undefined },
      ],
    },
    harness: { ...DEFAULT_PLAN.harness, bin_s: 0.5, max_lag_ms: 200 },
    reference: 'whitepaper',
    ...over,
  };
}

describe('a gated ramp and soak through the gateway', () => {
  let stack: Stack;
  let corpus: string;
  let results: Results;
  let out: string;

  beforeAll(async () => {
    corpus = await smallCorpus(300);
    // A tier-2 engine whose batch holds 2 sequences: past a few users, arrivals queue (the knee).
    stack = await startSeedStack(profileFromObject({ extends: 'fast', scheduler: { maxNumSeqs: 2 }, cost: { fixedMs: 4 } }));
    results = await runLoad({ corpus, target: stack.gateway.url, plan: { ...rampPlan(stack), mix: { A: 1, B: 1, C: 1, D: 2 } }, threads: false });
    out = tempDir('load-out');
    writeRunOutput(results, out, true);
  }, 90_000);
  afterAll(async () => {
    await stack?.close();
  });

  it('ramps from a baseline to T2 at the knee, with no preemptions, then soaks at 85% of it', () => {
    expect(results.status.state).toBe('completed');
    const b = results.boundaries;
    // Properties that hold however fast the machine is: the knee is where the gate found it, not at
    // a latency this test guesses.
    expect(b.baseline).not.toBeNull();
    expect(b.t2).not.toBeNull();
    expect(b.t2?.step ?? 0).toBeGreaterThan(b.baseline?.step ?? 9);
    expect(b.t3).toBeNull();
    expect(b.t2?.preemptions).toBe(0);
    const ramp = results.steps.filter((s) => s.kind === 'ramp');
    expect(ramp.length).toBeGreaterThanOrEqual(2);
    // The ramp stopped at the step where T2 tripped: its TTFT was over the threshold × baseline
    // there, and no earlier step tripped it.
    const t2Of = (s: (typeof ramp)[number]) => s.gates.find((g) => g.kind === 't2_ttft');
    const last = t2Of(ramp[ramp.length - 1]!);
    expect(last?.tripped).toBe(true);
    expect(last?.value ?? 0).toBeGreaterThan(last?.threshold ?? Infinity);
    expect(ramp.slice(0, -1).some((s) => t2Of(s)?.tripped === true)).toBe(false);
    const soak = results.steps.find((s) => s.kind === 'soak');
    expect(soak?.level).toBe(Math.max(1, Math.round(0.85 * (b.t2?.level ?? 0))));
    expect(results.soak?.phase).toBe('soak');
  });

  it('measures every request: no errors, TTFT/TPOT/ITL/E2E, usage tokens, per profile', () => {
    expect(results.total.errors).toBe(0);
    // How many requests fit in the run depends on the machine; that each one is measured does not.
    expect(results.total.requests).toBeGreaterThan(0);
    expect(results.total.ttft.count).toBe(results.total.ok);
    expect(results.total.tpot.mean).toBeGreaterThan(0);
    expect(results.total.itl.count).toBeGreaterThan(results.total.requests);
    // The engine produced what the bodies asked for (max_tokens, capped at the fast profile's 64).
    expect(results.total.mean_output_tokens).toBeGreaterThan(5);
    expect(results.total.mean_output_tokens).toBeLessThanOrEqual(64);
    for (const p of ['A', 'B', 'C', 'D']) expect(results.phases[0]?.by_profile[p]?.requests ?? 0, p).toBeGreaterThan(0);
    expect(results.profiles.find((p) => p.name === 'A')?.arrival.kind).toBe('mmpp');
    expect(results.profiles.find((p) => p.name === 'B')?.arrival).toEqual({ kind: 'gamma', cv: 1.5 });
    expect(results.trust.lag_p99_ms).not.toBeNull();
  });

  it('takes the gateway overhead from its metrics and the engine figures from the simulator', () => {
    const soak = results.overhead.find((o) => o.phase === 'soak');
    expect(soak?.source).toBe('gateway_metrics');
    expect(soak?.overhead_s ?? 1).toBeGreaterThan(0);
    // Overhead is part of what the client waited for (no bound in seconds: the machine is shared).
    expect(soak?.overhead_s ?? 1).toBeLessThan(soak?.downstream_s ?? 0);
    expect((soak?.downstream_s ?? 0) - (soak?.upstream_s ?? 0)).toBeCloseTo(soak?.overhead_s ?? 0, 9);
    expect(soak?.header_overhead_ms).not.toBeNull();
    const t = results.phases[1]?.telemetry;
    expect(t?.engine.queue).not.toBeNull();
    expect(t?.engine.prefill).not.toBeNull();
    expect(t?.kv_mean).toBeGreaterThan(0);
    expect(t?.fb_used_mib_mean).toBeGreaterThan(0);
    expect(results.reference?.length).toBeGreaterThan(10);
  });

  it('writes results.json that rebuilds the same views, and a self-contained report with every section', () => {
    const back = readResults(out);
    const rebuilt = buildResults(back.raw);
    expect(rebuilt.total.requests).toBe(results.total.requests);
    expect(rebuilt.total.ttft.p99).toBe(results.total.ttft.p99);
    expect(rebuilt.boundaries.t2?.level).toBe(results.boundaries.t2?.level);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    for (const title of [
      'Comparison with the whitepaper',
      'Table 1: Phase summary',
      'Table 2: Latency breakdown',
      'Figure 4: Saturation curve',
      'Steps and gates',
      'Load and latency over time',
      'Figure 5: Hardware utilization',
      'Table 3: Gateway impact',
      'Figure 6: Upstream vs downstream',
      'Soak stability',
      'Per-profile breakdown',
      'Errors',
      'Harness and telemetry',
      'Definitions',
    ]) {
      expect(html, title).toContain(title);
    }
    expect((html.match(/<svg/g) ?? []).length).toBeGreaterThanOrEqual(7);
    expect(html).not.toMatch(/<script|<link|src="http|href="http|@import/);
    expect(html).toContain('T2: ');
    expect(html).not.toContain('demo-tier2-key');
  });
});

describe('the memory boundary', () => {
  let stack: Stack;
  afterAll(async () => {
    await stack?.close();
  });

  it('a backend whose KV cache thrashes trips T3 and aborts the run before any soak', async () => {
    const corpus = await smallCorpus(200, { turns: 4 });
    // 64 blocks of 16 tokens for a batch of 8 sessions with prompts of a few hundred tokens: preemptions.
    stack = await startSeedStack(profileFromObject({ extends: 'fast', maxModelLen: 1000, cache: { numBlocks: 64, watermark: 0 }, scheduler: { maxNumSeqs: 8 }, cost: { fixedMs: 3 } }));
    const base = rampPlan(stack);
    // T3 alone: thrashing slows requests too, and T2 must not end the ramp first.
    const gates = { ...base.gates, list: base.gates.list.filter((g) => g.kind === 't3_preemption') };
    const results = await runLoad({ corpus, target: stack.gateway.url, plan: { ...base, gates, mix: { B: 1, C: 1, D: 2 }, reference: undefined }, threads: false });
    expect(results.status.state).toBe('aborted');
    expect(results.boundaries.t3).not.toBeNull();
    expect(results.status.reason).toMatch(/T3/);
    expect(results.phases.map((p) => p.kind)).toEqual(['ramp']);
    expect(results.steps.some((s) => (s.telemetry.preemptions ?? 0) > 0)).toBe(true);
  }, 90_000);
});
