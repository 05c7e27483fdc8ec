// `tollgate load` and `tollgate report` as users run them (the built CLI, worker threads): usage
// errors, unreachable targets, a sharded run merged with `report --merge`, runs compared side by side.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Results } from '../../src/load/results/types.js';
import { startSimServer, type SimServerHandle } from '../../src/sim/index.js';
import { runCli } from '../helpers/cli.js';
import { smallCorpus, tempDir } from './helpers.js';

describe('tollgate load (CLI)', () => {
  let corpus: string;
  let sim: SimServerHandle;

  beforeAll(async () => {
    corpus = await smallCorpus(120, { thinkMs: 20 });
    sim = await startSimServer({ profile: 'fast', model: 'gpt-oss-120b', seed: 4 });
  }, 60_000);
  afterAll(async () => {
    await sim?.close();
  });

  it('--help documents the flags; missing flags are usage errors', async () => {
    const help = await runCli(['load', '--help']);
    expect(help.code).toBe(0);
    for (const f of ['--workload', '--target', '--plan', '--out', '--shard', '--telemetry', '--prometheus', '--ramp', '--soak', '--print-plan']) expect(help.stdout).toContain(f);
    const missing = await runCli(['load', '--workload', corpus]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--target is required/);
    const plan = await runCli(['load', '--print-plan']);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/kind: ramp/);
  });

  it('a bad plan is a usage error naming the field; a bad corpus or target says what to do', async () => {
    const dir = tempDir('load-cli');
    const planFile = join(dir, 'plan.yaml');
    writeFileSync(planFile, 'phases: [{kind: ramp, start: 5, max: 1}]\ngates: {t2: {factor: two}}\n');
    const bad = await runCli(['load', '--workload', corpus, '--target', sim.url, '--out', dir, '--plan', planFile]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/phases\[0\]\.max: must be at least start/);
    expect(bad.stderr).toMatch(/gates\.t2\.factor: must be a number/);
    const noCorpus = await runCli(['load', '--workload', join(dir, 'nothing'), '--target', sim.url, '--out', dir, '--users', '1', '--duration', '1']);
    expect(noCorpus.code).toBe(1);
    expect(noCorpus.stderr).toMatch(/no manifest\.json/);
    expect(noCorpus.stderr).toMatch(/hint: make a corpus with `tollgate synth/);
    const noTarget = await runCli(['load', '--workload', corpus, '--target', 'http://127.0.0.1:1', '--out', dir, '--users', '1', '--duration', '1']);
    expect(noTarget.code).toBe(1);
    expect(noTarget.stderr).toMatch(/cannot reach the target http:\/\/127\.0\.0\.1:1/);
    const badMix = await runCli(['load', '--workload', corpus, '--target', sim.url, '--out', dir, '--users', '1', '--duration', '1', '--mix', 'Z=1']);
    expect(badMix.code).toBe(1);
    expect(badMix.stderr).toMatch(/profile Z that the corpus does not have/);
  });

  it('runs two shards on worker threads, merges them, and compares runs side by side', async () => {
    const root = tempDir('load-shards');
    const startAt = String((Date.now() + 4000) / 1000);
    const common = ['load', '--workload', corpus, '--target', sim.url, '--users', '8', '--duration', '4s', '--workers', '2', '--quiet', '--start-at', startAt, '--telemetry', `sim=${sim.url}/metrics`, '--scrape-interval', '500ms', '--header', 'x-test-secret: s3cr3t-value'];
    const [a, b] = await Promise.all([runCli([...common, '--shard', '1/2', '--out', join(root, 'a')], { timeoutMs: 60_000 }), runCli([...common, '--shard', '2/2', '--out', join(root, 'b')], { timeoutMs: 60_000 })]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(a.stdout).toMatch(/steady/);
    const ra = JSON.parse(readFileSync(join(root, 'a', 'results.json'), 'utf8')) as Results;
    const rb = JSON.parse(readFileSync(join(root, 'b', 'results.json'), 'utf8')) as Results;
    expect(ra.run.shard).toEqual({ index: 1, count: 2 });
    expect(ra.run.workers).toBe(2);
    // Each shard drove half of the 8 users.
    expect(Math.max(...ra.raw.bins.map((x) => x.users))).toBe(4);
    expect(Math.max(...rb.raw.bins.map((x) => x.users))).toBe(4);
    expect(ra.total.requests).toBeGreaterThan(0);
    expect(ra.total.errors).toBe(0);
    // The header reached the target but its value is in neither results file.
    expect(readFileSync(join(root, 'a', 'results.json'), 'utf8')).not.toContain('s3cr3t-value');

    const merged = await runCli(['report', '--merge', join(root, 'a'), join(root, 'b'), '--out', join(root, 'm', 'report.html')]);
    expect(merged.code, merged.stderr).toBe(0);
    const rm = JSON.parse(readFileSync(join(root, 'm', 'results.json'), 'utf8')) as Results;
    expect(rm.run.merged_from).toBe(2);
    expect(rm.total.requests).toBe(ra.total.requests + rb.total.requests);
    expect(rm.total.ttft.count).toBe(ra.total.ttft.count + rb.total.ttft.count);
    expect(Math.max(...rm.raw.bins.map((x) => x.users))).toBe(8);
    expect(readFileSync(join(root, 'm', 'report.html'), 'utf8')).toContain('merged from 2 shards');

    const cmp = await runCli(['report', join(root, 'a'), join(root, 'b'), '--out', join(root, 'cmp.html')]);
    expect(cmp.code).toBe(0);
    const html = readFileSync(join(root, 'cmp.html'), 'utf8');
    expect(html).toContain('2 runs compared');
    expect(html).toContain('Side by side');

    const regen = await runCli(['report', join(root, 'a')]);
    expect(regen.code).toBe(0);
    expect(existsSync(join(root, 'a', 'report.html'))).toBe(true);
    const notResults = await runCli(['report', root]);
    expect(notResults.code).toBe(1);
    expect(notResults.stderr).toMatch(/results\.json does not exist/);
  }, 90_000);
});
