// The real-stack picker bench's setup: --slow dilates the engine's time (every step cost and the
// front end ×K, the harness's pauses ×K) so that the gateway, the harness and the simulators need
// 1/K the CPU per engine second; and the CPU each process used is read from /proc.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CpuSampler } from '../../src/bench/picker-cpu.js';
import { MINIATURE, planYaml, replicaProfile, slowedProfile } from '../../src/bench/picker-setup.js';
import { parsePlan } from '../../src/load/plan/parse.js';
import { Engine, engineConfig } from '../../src/sim/engine/engine.js';
import { Sequence, type SeqSink } from '../../src/sim/engine/sequence.js';
import { profileFromObject } from '../../src/sim/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'tollgate-picker-setup-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const sink: SeqSink = { onToken: () => undefined, onFinish: () => undefined };

/** The durations of an engine's steps for the same two requests, until both are done. */
function stepDurations(profile: ReturnType<typeof profileFromObject>): number[] {
  const engine = new Engine(engineConfig(profile));
  const prompt = (n: number, base: number): Uint32Array => Uint32Array.from({ length: n }, (_, i) => base + i);
  let t = 0;
  for (const [id, ids] of [
    ['a', prompt(3000, 10)],
    ['b', prompt(700, 50_000)],
  ] as const) {
    let n = 0;
    engine.submit(new Sequence({ id, promptIds: ids, outputTokens: 5, stopIsLength: true, nextTokenId: () => 7 + n++, arrivalMs: 0, sink }), 0);
  }
  const out: number[] = [];
  for (let plan = engine.schedule(t); plan !== null; plan = engine.schedule(t)) {
    out.push(plan.durationMs);
    t += plan.durationMs;
    engine.complete(plan, t);
  }
  return out;
}

describe('bench picker --slow', () => {
  it('a slowed engine takes K times as long for every step of the same work, prefill and decode', () => {
    const base = stepDurations(profileFromObject(MINIATURE));
    const slowed = stepDurations(profileFromObject({ ...MINIATURE, ...slowedProfile(MINIATURE, 3) }));
    expect(base.length).toBeGreaterThan(3);
    expect(slowed).toHaveLength(base.length);
    slowed.forEach((d, i) => expect(d).toBeCloseTo((base[i] as number) * 3, 9));
  });

  it('writes the replicas a profile the simulator loads, with its times ×K and its batches unchanged', async () => {
    const file = await replicaProfile({ short: true, workload: 'calibrated', sessions: 10, out: tmp, slow: 4 });
    const p = profileFromObject(JSON.parse(readFileSync(file, 'utf8')));
    expect(p.name).toBe('h100x4-gpt-oss-120b-miniature-slow4');
    expect(p.scheduler.maxNumSeqs).toBe(16);
    expect(p.cost.fixedMs).toBeCloseTo(8, 9);
    expect(p.cost.prefillTokenMs).toBeCloseTo(0.0336, 9);
    expect(p.latency.frontendMs).toBeCloseTo(3.2, 9);
    // Unslowed, the full profile is the built-in one by name.
    expect(await replicaProfile({ short: false, workload: 'calibrated', sessions: 10, out: tmp, slow: 1 })).toBe('h100x4-gpt-oss-120b');
  });

  it("stretches the harness's pauses, windows and SLOs by the same factor", () => {
    const plan = parsePlan(planYaml('p', ['{kind: steady, name: m, level: 10, duration: 60s}'], 'http://127.0.0.1:1', ['http://127.0.0.1:2'], 2));
    const one = parsePlan(planYaml('p', ['{kind: steady, name: m, level: 10, duration: 60s}'], 'http://127.0.0.1:1', ['http://127.0.0.1:2'], 1));
    expect(plan.defaultGap_s).toBe(one.defaultGap_s * 2);
    expect(plan.slo.ttft_s).toBe((one.slo.ttft_s ?? 0) * 2);
    expect(plan.harness.drain_s).toBe(one.harness.drain_s * 2);
  });
});

describe('CpuSampler', () => {
  it.skipIf(!existsSync('/proc/self/stat'))('counts the CPU a process burned under its role, and the machine at least that', async () => {
    const sampler = new CpuSampler();
    // A child that spins for 300 ms of its own CPU time, says so, and lives until it is stopped.
    const child = spawn(process.execPath, ['-e', "const u0 = process.cpuUsage(); while (process.cpuUsage(u0).user < 300000) {} process.stdout.write('spun'); setInterval(() => {}, 1000);"]);
    sampler.add(child.pid, 'spinner');
    await new Promise((r) => child.stdout.once('data', r));
    const use = sampler.stop();
    child.kill();
    expect(use).toBeDefined();
    expect(use?.roles['spinner'] ?? 0).toBeGreaterThan(0);
    expect(use?.machine ?? 0).toBeGreaterThan(0);
    expect(use?.cores).toBeGreaterThan(0);
  });
});
