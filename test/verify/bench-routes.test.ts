// `tollgate bench routes` at a small N, as CI runs it: real gateway processes, routes applied through
// hot reload, every route probed until it routes to its own backend override. Numbers are not
// asserted (shared machine); correctness and the shape of the outputs are.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

interface Report {
  meta: Record<string, unknown>;
  verdicts: Array<{ goal: string; measured: string; met: boolean | null }>;
  results: Array<{
    routes: number;
    writes: Array<{ kind: string; routes: number; totalRoutes: number; liveMs: number | null; firstReadyMs: number | null; readyMs: Array<number | null>; notReady: unknown[] }>;
    routing: Array<{ label: string; configuredRoutes: number; rps: number; cpuUsPerRequest: number; errors: number }>;
    memory: { baseline: { routes: number; heapUsedBytes: number }; provisioned: { routes: number; heapUsedBytes: number }; allAtOnce: { routes: number } | null };
    coldStart: { startupMs: number; memory: { routes: number; heapUsedBytes: number } } | null;
    failures: string[];
    errors: string[];
  }>;
}

let out: string;

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'tollgate-bench-routes-test-'));
});

afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

describe('tollgate bench routes (small N)', () => {
  it('provisions routes in batches, one at a time and all at once; every route serves from its own rule', async () => {
    const json = join(out, 'routes.json');
    const html = join(out, 'routes.html');
    const r = await runCli(
      ['bench', 'routes', '--routes', '32', '--batch', '16', '--singles', '2', '--duration', '1', '--warmup', '1', '--concurrency', '4', '--match', 'identity', '--out', json, '--html', html],
      { timeoutMs: 180_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Readiness: from writing a manifest');
    expect(r.stdout).toContain('Goals\n');
    const report = JSON.parse(await readFile(json, 'utf8')) as Report;
    expect(report.results.map((x) => x.routes)).toEqual([32]);
    for (const res of report.results) {
      expect(res.failures).toEqual([]);
      expect(res.errors).toEqual([]);
      const kinds = res.writes.map((w) => w.kind);
      expect(kinds.filter((k) => k === 'batch')).toHaveLength(Math.ceil(res.routes / 16));
      expect(kinds.filter((k) => k === 'single')).toHaveLength(2);
      expect(kinds.filter((k) => k === 'all-at-once')).toHaveLength(1);
      // Every route of every write became ready (a number, not null), and the gateway logged each generation.
      for (const w of res.writes) {
        expect(w.readyMs).toHaveLength(w.routes);
        expect(w.readyMs.every((v) => typeof v === 'number' && v > 0)).toBe(true);
        expect(w.notReady).toEqual([]);
        expect(w.liveMs).not.toBeNull();
      }
      expect(res.writes.filter((w) => w.kind !== 'all-at-once').at(-1)?.totalRoutes).toBe(res.routes + 2);
      // Routing cost: two one-route baselines around three points at N, no errors.
      expect(res.routing.map((c) => c.configuredRoutes)).toEqual([1, res.routes + 2, res.routes + 2, res.routes + 2, 1]);
      expect(res.routing.every((c) => c.errors === 0 && c.rps > 0 && c.cpuUsPerRequest > 0)).toBe(true);
      // Memory after a full GC at 1 route and at N.
      expect(res.memory.baseline.routes).toBe(1);
      expect(res.memory.provisioned.routes).toBe(res.routes + 2);
      expect(res.memory.provisioned.heapUsedBytes).toBeGreaterThan(0);
      expect(res.memory.allAtOnce?.routes).toBe(res.routes);
      // A fresh process on the same files: config-only memory and the cold start.
      expect(res.coldStart?.memory.routes).toBe(res.routes + 1);
      expect(res.coldStart?.memory.heapUsedBytes).toBeGreaterThan(0);
      expect(res.coldStart?.startupMs).toBeGreaterThan(0);
    }
    expect(report.verdicts.find((v) => v.goal.startsWith('no config size ceiling'))?.met).toBe(true);
    const page = await readFile(html, 'utf8');
    expect(page.match(/<svg /g)?.length).toBeGreaterThanOrEqual(5);
    expect(page).toContain('Envoy AI Gateway ~5 s');
  });

  it('rejects bad flags with exit 2', async () => {
    const r = await runCli(['bench', 'routes', '--match', 'header']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--match: "header" is not model or identity');
  });
});
