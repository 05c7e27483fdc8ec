// `serve --concurrency 2` as one instance in what the workers share outside the local limits: a
// Redis-backed global limit counts both workers' requests in one bucket (a real redis-server), the
// dashboard lists every worker's ledger, not one worker's, and the Grafana dashboard's workers row
// names only metrics the instance exports.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendYaml } from '../helpers/gateway.js';
import { btpYaml, costRouteYaml, metricValue } from '../helpers/limits.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';
import { ROOT } from '../helpers/cli.js';
import { chatFresh, startInstance, waitUntil } from './helpers.js';

let up: Upstream;
let redis: TestRedis;
let work: string;

beforeAll(async () => {
  up = await startUpstream(openAIBehavior({ chunks: 6 }));
  redis = await startRedis();
  work = await mkdtemp(join(tmpdir(), 'tollgate-instance-'));
});

afterAll(async () => {
  await up.close();
  await redis.stop();
  await rm(work, { recursive: true, force: true });
});

function manifests(policy?: string): Record<string, string> {
  return {
    'b.yaml': backendYaml('b', [{ port: up.port }]),
    'r.yaml': costRouteYaml('r', 'm', [{ name: 'b' }]),
    ...(policy === undefined ? {} : { 'p.yaml': policy }),
  };
}

describe('one instance across two workers', { timeout: 90_000 }, () => {
  it('a Redis global limit of 50 admits exactly 50 of 200 concurrent requests spread over both workers', async () => {
    const inst = await startInstance(manifests(btpYaml('global', 'r', 'Global', [{ requests: 50, unit: 'Hour' }])), ['--concurrency', '2', '--redis', redis.url, '--redis-prefix', 'cluster:']);
    try {
      // Ready means every worker's Redis connection is up: no admission races it.
      await waitUntil(async () => (await fetch(`${inst.adminUrl}/readyz`)).status === 200, 'ready');
      const rs = await Promise.all(Array.from({ length: 200 }, () => chatFresh(inst.url)));
      expect(rs.filter((r) => r.status === 200)).toHaveLength(50);
      expect(rs.filter((r) => r.status === 429)).toHaveLength(150);
      const m = await inst.metrics();
      expect(metricValue(m, 'tollgate_worker_requests_total', { worker: '0' })).toBeGreaterThan(0);
      expect(metricValue(m, 'tollgate_worker_requests_total', { worker: '1' })).toBeGreaterThan(0);
      // Nothing of this limit is local: no worker asked the primary or held a lease.
      expect(metricValue(m, 'tollgate_local_limit_leases_total', { event: 'decided' })).toBe(0);
    } finally {
      expect(await inst.stop()).toBe(0);
    }
  });

  it("the Grafana dashboard's workers row (workers, throttling, restarts, leases) reads metrics the instance exports", async () => {
    const dash = JSON.parse(await readFile(join(ROOT, 'deploy/grafana/tollgate-dashboard.json'), 'utf8')) as { panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }> }> };
    const from = dash.panels.findIndex((p) => p.type === 'row' && p.title.startsWith('Workers and CPU quota'));
    const to = dash.panels.findIndex((p, i) => i > from && p.type === 'row');
    const row = dash.panels.slice(from + 1, to === -1 ? undefined : to);
    const names = new Set(row.flatMap((p) => (p.targets ?? []).flatMap((t) => [...t.expr.matchAll(/\btollgate_[a-z0-9_]+/g)].map((m) => m[0]))));
    for (const n of ['tollgate_workers', 'tollgate_cpu_throttled_periods_total', 'tollgate_cpu_throttled_seconds_total', 'tollgate_worker_restarts_total', 'tollgate_local_limit_leases_total', 'tollgate_local_limit_leases_held', 'tollgate_local_limit_messages_total']) {
      expect(names.has(n), `the dashboard's workers row shows ${n}`).toBe(true);
    }
    const inst = await startInstance(manifests(btpYaml('local', 'r', 'Local', [{ requests: 1_000, unit: 'Hour' }])));
    try {
      const rs = await Promise.all(Array.from({ length: 40 }, () => chatFresh(inst.url)));
      expect(rs.every((r) => r.status === 200)).toBe(true);
      const text = await inst.metrics();
      const families = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
      for (const n of names) expect(families.has(n) || families.has(n.replace(/_(bucket|sum|count)$/, '')), `${n} in the instance's scrape`).toBe(true);
      expect(metricValue(text, 'tollgate_local_limit_messages_total', { direction: 'to_primary' })).toBeGreaterThan(0);
    } finally {
      expect(await inst.stop()).toBe(0);
    }
  });

  it("the dashboard lists both workers' ledgers, with the instance's total", async () => {
    const ledger = join(work, 'ledger');
    // No drift audit: an audited request adds a second ledger line when its count lands.
    const inst = await startInstance(manifests(), ['--concurrency', '2', '--ledger', ledger, '--audit-sample-rate', '0']);
    try {
      const rs = await Promise.all(Array.from({ length: 12 }, () => chatFresh(inst.url)));
      expect(rs.every((r) => r.status === 200)).toBe(true);
      const m = await inst.metrics();
      const served = [metricValue(m, 'tollgate_worker_requests_total', { worker: '0' }), metricValue(m, 'tollgate_worker_requests_total', { worker: '1' })];
      expect(served[0]).toBeGreaterThan(0);
      expect(served[1]).toBeGreaterThan(0);
      await waitUntil(async () => metricValue(await inst.metrics(), 'tollgate_ledger_lines_total') === 12, 'every ledger line written');
      const page = await (await fetch(inst.adminUrl)).text();
      expect(page).toContain('<span id="stat-ledger-lines">12</span> lines written in all');
      for (const w of [0, 1]) expect(page).toMatch(new RegExp(`worker ${w}: [^<]*${ledger.replace(/[/.]/g, '\\$&')}[^<]* · ${served[w] ?? -1} lines`));
    } finally {
      expect(await inst.stop()).toBe(0);
    }
  });
});
