// The CI version of `npm run scenario:seed`: simulator → gateway → harness as separate processes,
// on a miniature of the calibrated engine. The report must have the whitepaper's shape: a T2 knee
// with zero preemptions, a flat KV cache in the soak, millisecond gateway overhead.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Results } from '../../src/load/results/types.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from './helpers.js';

function runScript(args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'scripts', 'scenario-seed.mjs'), ...args], { cwd: ROOT });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const t = setTimeout(() => {
      child.kill('SIGINT');
      reject(new Error(`scenario:seed --short did not finish in ${timeoutMs} ms\n${output}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, output });
    });
  });
}

describe('npm run scenario:seed -- --short', () => {
  it('reproduces the shape: T2 knee without preemptions, flat KV cache in the soak, millisecond overhead', async () => {
    const out = tempDir('scenario');
    const { code, output } = await runScript(['--short', '--out', out, '--quiet'], 150_000);
    expect(code, output).toBe(0);
    const r = JSON.parse(readFileSync(join(out, 'results', 'results.json'), 'utf8')) as Results;
    expect(r.status.state).toBe('completed');
    // A compute knee, found by the ramp after a baseline, with no preemptions.
    expect(r.boundaries.t2, output).not.toBeNull();
    expect(r.boundaries.t2?.step ?? 0).toBeGreaterThan(r.boundaries.baseline?.step ?? 99);
    expect(r.boundaries.t2?.preemptions).toBe(0);
    expect(r.boundaries.t3).toBeNull();
    expect(r.boundaries.t2?.value ?? 0).toBeGreaterThan(3);
    // Compute-bound: at the knee the batch is full and requests wait in the engine's queue.
    const knee = r.steps[r.boundaries.t2?.step ?? -1];
    expect(knee?.telemetry.waiting_max ?? 0).toBeGreaterThan(0);
    // The soak: 85% of T2, no errors, KV cache low and flat, and the gateway's overhead a part of what the client waited for.
    const soak = r.phases.find((p) => p.kind === 'soak');
    expect(r.soak?.level).toBe(Math.round(0.85 * (r.boundaries.t2?.level ?? 0)));
    expect(soak?.summary.errors).toBe(0);
    expect(soak?.telemetry.preemptions).toBe(0);
    expect(soak?.telemetry.kv_max ?? 1).toBeLessThan(0.2);
    const over = r.overhead.find((o) => o.phase === soak?.name);
    expect(over?.source).toBe('gateway_metrics');
    expect(over?.overhead_s ?? 1).toBeLessThan(over?.downstream_s ?? 0);
    expect(soak?.telemetry.engine.queue).not.toBeNull();
    expect(soak?.telemetry.engine.prefill).not.toBeNull();
    expect(soak?.telemetry.nvlink_gbs_mean ?? 0).toBeGreaterThan(0);
    // Requests went through identity routing to tier 2 (profiles B, C, D) under zero-trust keys.
    expect(Object.keys(r.phases[0]?.by_profile ?? {}).sort()).toEqual(['B', 'C', 'D']);
    expect(existsSync(join(out, 'results', 'report.html'))).toBe(true);
    expect(output).toMatch(/\$ tollgate sim --listen 127\.0\.0\.1:\d+ --profile .*tier2-profile\.json/);
  }, 180_000);
});
