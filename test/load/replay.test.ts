// Replay of recorded arrival times, open-loop: from a trace file, and from the corpus's own
// per-session timestamps (a Mooncake trace unrolled into a corpus).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PLAN } from '../../src/load/plan/defaults.js';
import type { Plan } from '../../src/load/plan/types.js';
import { runLoad } from '../../src/load/run.js';
import { startSimServer, type SimServerHandle } from '../../src/sim/index.js';
import { runUnroll } from '../../src/workload/unroll/run.js';
import { smallCorpus, tempDir } from './helpers.js';

function replayPlan(profile: string, arrival: Plan['profiles'][string]['arrival'], seconds: number): Plan {
  return {
    ...DEFAULT_PLAN,
    name: 'replay',
    mode: 'rate',
    mix: { [profile]: 1 },
    profiles: { [profile]: { arrival, gap_s: undefined } },
    phases: [{ kind: 'steady', name: 'steady', level: 1, duration_s: seconds }],
    gates: { ...DEFAULT_PLAN.gates, list: [] },
    harness: { ...DEFAULT_PLAN.harness, bin_s: 0.25, max_lag_ms: 200 },
  };
}

describe('replayed arrivals', () => {
  let sim: SimServerHandle;
  beforeAll(async () => {
    sim = await startSimServer({ profile: 'fast', model: 'gpt-oss-120b', seed: 5 });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('starts one session per line of a trace file, at its offset divided by the speed', async () => {
    const corpus = await smallCorpus(60);
    const dir = tempDir('replay');
    const trace = join(dir, 'trace.csv');
    // 12 arrivals over 2.2 s of trace time, replayed at 2x: the last starts 1.1 s into the run.
    writeFileSync(trace, `Timestamp,Model\n${Array.from({ length: 12 }, (_, i) => `${(i * 0.2).toFixed(1)},ChatGPT`).join('\n')}\n`);
    const r = await runLoad({ corpus, target: sim.url, plan: replayPlan('C', { kind: 'replay', source: 'file', file: trace, speed: 2 }, 2.5), threads: false });
    // Profile C sessions are single requests: one request per arrival.
    expect(r.total.requests).toBe(12);
    expect(r.total.errors).toBe(0);
    expect(r.harness.sessions_started).toBe(12);
    const done = r.raw.bins.filter((b) => b.completed > 0);
    // Paced by the trace, not sent at once: the last completion cannot come before its arrival time
    // (a lower bound, which holds however slow the machine is; bins are 0.25 s wide).
    expect(Math.max(...done.map((b) => b.t))).toBeGreaterThanOrEqual(1.1 - 0.25);
  }, 30_000);

  it('replays a Mooncake trace at its recorded timestamps (the corpus keeps them as at_ms)', async () => {
    const dir = tempDir('mooncake');
    const input = join(dir, 'trace.jsonl');
    writeFileSync(input, `${Array.from({ length: 8 }, (_, i) => JSON.stringify({ timestamp: i * 150, input_length: 200 + i, output_length: 5, hash_ids: [i, i + 1] })).join('\n')}\n`);
    const corpus = join(dir, 'corpus');
    await runUnroll({
      format: 'mooncake',
      inputs: [input],
      out: corpus,
      profile: 'trace',
      app: 'mooncake-trace',
      streamName: 'mooncake',
      model: 'gpt-oss-120b',
      layout: 'delta',
      stream: true,
      functionRole: 'user',
      think: { kind: 'const', value: 0 },
      seed: 1,
      strict: true,
      replace: false,
      partBytes: 256 << 20,
      maxTokensField: 'max_tokens',
      exactLength: false,
      screenTokens: 1100,
      blockTokens: 64,
      atifMsPerToken: 20,
    });
    const r = await runLoad({ corpus, target: sim.url, plan: replayPlan('trace', { kind: 'replay', source: 'corpus', speed: 1 }, 2), workers: 2, threads: false });
    expect(r.total.requests).toBe(8);
    expect(r.total.errors).toBe(0);
    expect(r.total.mean_output_tokens).toBe(5);
    // The arrivals spread over ~1.05 s as recorded, not all at once.
    const done = r.raw.bins.filter((b) => b.completed > 0);
    expect(done.length).toBeGreaterThanOrEqual(3);
  }, 30_000);
});
