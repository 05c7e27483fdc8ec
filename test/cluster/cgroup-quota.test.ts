// `--concurrency auto` inside a real cgroup with a 1-core CPU quota (cgroup v1 cpu controller, or
// v2 cpu.max): one worker, the quota on the admin listener, throttling read from cpu.stat; an
// explicit 2 starts with the CFS throttling warning. Needs a writable cgroup hierarchy (root).
import { mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectCpuCgroup } from '../../src/cluster/cgroup.js';
import { BIN } from '../helpers/cli.js';
import { backendYaml } from '../helpers/gateway.js';
import { costRouteYaml, metricValue } from '../helpers/limits.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';
import { startInstance } from './helpers.js';

/** A child cgroup with a 1-core quota, or why one cannot be made here. */
function makeCgroup(): { dir: string; version: 'v1' | 'v2' } | string {
  const own = detectCpuCgroup();
  if (own === undefined) return 'no cpu cgroup is visible to this process';
  const dir = join(own.dir, `tollgate-test-${process.pid}`);
  try {
    mkdirSync(dir);
    if (own.version === 'v1') {
      writeFileSync(join(dir, 'cpu.cfs_period_us'), '100000');
      writeFileSync(join(dir, 'cpu.cfs_quota_us'), '100000');
    } else writeFileSync(join(dir, 'cpu.max'), '100000 100000');
    return { dir, version: own.version };
  } catch (err) {
    return `the cgroup hierarchy is not writable here (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
  }
}

const cg = makeCgroup();
const skip = typeof cg === 'string' ? cg : undefined;
let up: Upstream;

beforeAll(async () => {
  up = await startUpstream(openAIBehavior({ chunks: 4 }));
});

afterAll(async () => {
  await up.close();
  if (typeof cg !== 'string') {
    try {
      rmdirSync(cg.dir);
    } catch {
      // a process may still be leaving it; the directory is empty and harmless
    }
  }
});

describe.skipIf(skip !== undefined)(`--concurrency inside a cgroup with a 1-core quota${skip === undefined ? '' : ` (skipped: ${skip})`}`, { timeout: 60_000 }, () => {
  const dir = typeof cg === 'string' ? '' : cg.dir;
  // The shell joins the cgroup, then becomes the gateway: the quota applies from its first instruction.
  const inCgroup = { command: '/bin/sh', prefix: ['-c', `echo $$ > ${dir}/cgroup.procs && exec "${process.execPath}" "${BIN}" "$@"`, 'sh'] };

  it('auto runs one worker, logs the quota it found, and exports it with the throttling counters', async () => {
    const inst = await startInstance(
      { 'b.yaml': backendYaml('b', [{ port: up.port }]), 'r.yaml': costRouteYaml('r', 'm', [{ name: 'b' }]) },
      ['--concurrency', 'auto'],
      {},
      inCgroup,
    );
    try {
      const line = (await inst.cli.waitFor(/"msg":"concurrency".*/))[0];
      expect(line).toContain('"workers":1');
      expect(line).toContain('"cpuQuotaCores":1');
      expect(line).toMatch(/cpu\.cfs_quota_us = 100000|cpu\.max = 100000 100000/);
      expect(inst.cli.output()).not.toContain('CFS');
      const m = await inst.metrics();
      expect(metricValue(m, 'tollgate_workers')).toBe(1);
      expect(metricValue(m, 'tollgate_cpu_quota_cores')).toBe(1);
      expect(m).toMatch(/^tollgate_cpu_throttled_periods_total \d+/m);
      expect(m).toMatch(/^tollgate_cpu_throttled_seconds_total [\d.e-]+/m);
    } finally {
      expect(await inst.stop()).toBe(0);
    }
  });

  it('an explicit --concurrency 2 starts, warning about the CFS throttling trap and naming the quota', async () => {
    const inst = await startInstance(
      { 'b.yaml': backendYaml('b', [{ port: up.port }]), 'r.yaml': costRouteYaml('r', 'm', [{ name: 'b' }]) },
      ['--concurrency', '2'],
      {},
      inCgroup,
    );
    try {
      const warn = (await inst.cli.waitFor(/"level":"warn","msg":"--concurrency 2 exceeds the CPU quota of 1 cores.*/))[0];
      expect(warn).toContain('CFS');
      expect(metricValue(await inst.metrics(), 'tollgate_workers')).toBe(2);
    } finally {
      expect(await inst.stop()).toBe(0);
    }
  });
});
