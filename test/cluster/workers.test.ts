// `serve --concurrency 2` as real processes over real sockets: the instance behaves as one gateway.
// Local limits and token budgets are exact across workers, one scrape covers both, a reload reaches
// both, a killed worker is replaced without disturbing the other, SIGTERM drains everything.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendYaml } from '../helpers/gateway.js';
import { btpYaml, costRouteYaml, metricValue, TOKEN_COST } from '../helpers/limits.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';
import { chatFresh, startInstance, waitUntil, type Instance } from './helpers.js';

let up: Upstream;
let slow: Upstream;

beforeAll(async () => {
  // Every answer reports prompt 11 + completion 6 = 17 tokens.
  up = await startUpstream(openAIBehavior({ chunks: 6 }));
  slow = await startUpstream(openAIBehavior({ chunks: 30, chunkDelayMs: 50 }));
});

afterAll(async () => {
  await up.close();
  await slow.close();
});

function manifests(policy?: string, upstream: Upstream = up): Record<string, string> {
  return {
    'b.yaml': backendYaml('b', [{ port: upstream.port }]),
    'r.yaml': costRouteYaml('r', 'm', [{ name: 'b' }]),
    ...(policy === undefined ? {} : { 'p.yaml': policy }),
  };
}

describe('local limits across two workers', { timeout: 90_000 }, () => {
  it('200 concurrent requests against a local limit of 50: exactly 50 pass, spread over both workers', async () => {
    const inst = await startInstance(manifests(btpYaml('limits', 'r', 'Local', [{ requests: 50, unit: 'Hour' }])));
    try {
      const rs = await Promise.all(Array.from({ length: 200 }, () => chatFresh(inst.url)));
      expect(rs.filter((r) => r.status === 200)).toHaveLength(50);
      expect(rs.filter((r) => r.status === 429)).toHaveLength(150);
      const m = await inst.metrics();
      expect(metricValue(m, 'tollgate_worker_requests_total', { worker: '0' })).toBeGreaterThan(0);
      expect(metricValue(m, 'tollgate_worker_requests_total', { worker: '1' })).toBeGreaterThan(0);
      expect(metricValue(m, 'http_local_rate_limit_rate_limited')).toBe(150);
    } finally {
      expect(await inst.stop()).toBe(0);
    }
  });

  it('a token budget charged with real usage stays exact when the requests land on different workers', async () => {
    const inst = await startInstance(manifests(btpYaml('tokens', 'r', 'Local', [{ requests: 30, unit: 'Hour', cost: TOKEN_COST('llm_total_token') }])));
    try {
      // 17 tokens each: the first two fit while budget remains (0 → 17 → 34), then it is spent,
      // whichever worker each request reaches (each opens its own connection: round robin).
      const first = await chatFresh(inst.url);
      const second = await chatFresh(inst.url);
      const third = await chatFresh(inst.url);
      const fourth = await chatFresh(inst.url);
      expect([first.status, second.status, third.status, fourth.status]).toEqual([200, 200, 429, 429]);
      expect(second.headers['x-ratelimit-remaining-tokens']).toBe('13');
      expect(fourth.headers['x-ratelimit-remaining-tokens']).toBe('0');
      const m = await inst.metrics();
      expect(metricValue(m, 'tollgate_worker_requests_total', { worker: '0' })).toBe(2);
      expect(metricValue(m, 'tollgate_worker_requests_total', { worker: '1' })).toBe(2);
    } finally {
      expect(await inst.stop()).toBe(0);
    }
  });
});

describe('one instance to its users', { timeout: 90_000 }, () => {
  let inst: Instance;
  beforeAll(async () => {
    inst = await startInstance(manifests());
  });
  afterAll(async () => {
    expect(await inst.stop()).toBe(0);
  });

  it('one scrape sums both workers, with the worker and CPU gauges', async () => {
    await waitUntil(async () => (await fetch(`${inst.adminUrl}/readyz`)).status === 200, 'ready');
    const rs = await Promise.all(Array.from({ length: 10 }, () => chatFresh(inst.url)));
    expect(rs.every((r) => r.status === 200)).toBe(true);
    const m = await inst.metrics();
    expect(metricValue(m, 'tollgate_requests_total')).toBe(10);
    const w0 = metricValue(m, 'tollgate_worker_requests_total', { worker: '0' });
    const w1 = metricValue(m, 'tollgate_worker_requests_total', { worker: '1' });
    expect(w0).toBeGreaterThan(0);
    expect(w1).toBeGreaterThan(0);
    expect(w0 + w1).toBe(10);
    expect(metricValue(m, 'tollgate_workers')).toBe(2);
    // Histograms merged: one _count line per label set, summing both workers.
    expect(metricValue(m, 'tollgate_gateway_overhead_seconds_count')).toBe(10);
    expect(m).toMatch(/^tollgate_config_generation 1$/m);
    const metricsPath = await (await fetch(`${inst.adminUrl}/metrics`)).text();
    expect(metricValue(metricsPath, 'tollgate_requests_total')).toBe(10);
    const page = await (await fetch(`${inst.adminUrl}/`)).text();
    expect(page).toContain('2 workers');
  });

  it('a reload reaches both workers with the same generation; an invalid change is rejected once', async () => {
    await inst.write('r.yaml', costRouteYaml('r', 'm2', [{ name: 'b' }]));
    await waitUntil(async () => {
      const ws = await inst.workers();
      return ws.length === 2 && ws.every((w) => w.generation === 2) && (await fetch(`${inst.adminUrl}/readyz`)).status === 200;
    }, 'both workers on generation 2');
    const ws = await inst.workers();
    expect(ws[0]?.fingerprint).toBe(ws[1]?.fingerprint);
    const rs = await Promise.all(Array.from({ length: 6 }, () => chatFresh(inst.url, { model: 'm2' }, { 'x-ai-eg-model': 'm2' })));
    expect(rs.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);

    await inst.write('r.yaml', costRouteYaml('r', 'm3', [{ name: 'missing' }]));
    await inst.cli.waitFor(/config change rejected/);
    await new Promise((r) => setTimeout(r, 500));
    expect(inst.cli.output().match(/config change rejected/g)).toHaveLength(1);
    expect((await inst.workers()).map((w) => w.generation)).toEqual([2, 2]);
    expect((await fetch(`${inst.adminUrl}/readyz`)).status).toBe(200);
    expect((await chatFresh(inst.url, { model: 'm2' }, { 'x-ai-eg-model': 'm2' })).status).toBe(200);
    const m = await inst.metrics();
    expect(metricValue(m, 'tollgate_config_reloads_total', { result: 'rejected' })).toBe(1);
    expect(metricValue(m, 'tollgate_config_reloads_total', { result: 'applied' })).toBe(2);
  });
});

describe('faults', { timeout: 90_000 }, () => {
  it('kill -9 of one worker under load: only its requests fail, it comes back, the totals never go backwards', async () => {
    const inst = await startInstance(manifests(undefined, slow));
    try {
      await waitUntil(async () => (await fetch(`${inst.adminUrl}/readyz`)).status === 200, 'ready');
      const before = await inst.workers();
      const victim = before[0]?.pid as number;
      // Counted before the kill, so the scrape after it has something to keep.
      await Promise.all(Array.from({ length: 4 }, () => chatFresh(inst.url)));
      const beforeKill = await inst.metrics();
      const counted = metricValue(beforeKill, 'tollgate_requests_total');
      const survivorBefore = metricValue(beforeKill, 'tollgate_worker_requests_total', { worker: '1' });
      const inflight = Array.from({ length: 8 }, () => chatFresh(inst.url, { stream: true }).catch(() => ({ status: 0, headers: {}, text: '' })));
      await new Promise((r) => setTimeout(r, 400));
      process.kill(victim, 'SIGKILL');
      const rs = await Promise.all(inflight);
      const ok = rs.filter((r) => r.status === 200 && r.text.includes('[DONE]'));
      // Every stream the survivor held finished; the victim's did not.
      const survivorServed = metricValue(await inst.metrics(), 'tollgate_worker_requests_total', { worker: '1' }) - survivorBefore;
      expect(ok.length).toBe(survivorServed);
      expect(ok.length).toBeGreaterThan(0);
      expect(ok.length).toBeLessThan(8);
      await inst.cli.waitFor(/worker exited unexpectedly/);
      await waitUntil(async () => {
        const ws = await inst.workers();
        return ws.every((w) => w.state === 'serving' && w.pid !== victim) && (await fetch(`${inst.adminUrl}/readyz`)).status === 200;
      }, 'the worker restarted');
      expect((await Promise.all(Array.from({ length: 4 }, () => chatFresh(inst.url)))).map((r) => r.status)).toEqual([200, 200, 200, 200]);
      const m = await inst.metrics();
      expect(metricValue(m, 'tollgate_requests_total')).toBeGreaterThanOrEqual(counted + ok.length + 4);
      expect(metricValue(m, 'tollgate_worker_restarts_total')).toBe(1);
    } finally {
      expect(await inst.stop()).toBe(0);
    }
  });

  it('a worker that keeps dying is reported as a crash loop, and the instance is not ready while it restarts', async () => {
    const inst = await startInstance(manifests());
    try {
      let lastPid: number | null = null;
      for (let i = 0; i < 5; i++) {
        await waitUntil(async () => {
          const w = (await inst.workers())[0];
          return w?.state === 'serving' && w.pid !== lastPid;
        }, `worker 0 serving again (${i})`);
        lastPid = (await inst.workers())[0]?.pid ?? null;
        process.kill(lastPid as number, 'SIGKILL');
        await waitUntil(async () => (await inst.workers())[0]?.pid !== lastPid, 'the exit noticed');
        // The fifth exit in a minute waits 1.6 s before the restart: readiness reports it meanwhile.
        if (i === 4) {
          const r = await fetch(`${inst.adminUrl}/readyz`);
          expect(r.status).toBe(503);
          expect(((await r.json()) as { reason: string }).reason).toMatch(/worker 0 restarting/);
        }
      }
      const line = (await inst.cli.waitFor(/"msg":"worker crash loop[^\n]*/))[0];
      expect(line).toContain('"exitsInLastMinute":5');
      // Worker 1 served throughout.
      expect((await chatFresh(inst.url)).status).toBe(200);
    } finally {
      expect(await inst.stop()).toBe(0);
    }
  });

  it('SIGTERM lets the streams on every worker finish, then exits 0', async () => {
    const inst = await startInstance(manifests(undefined, slow));
    try {
      await waitUntil(async () => (await fetch(`${inst.adminUrl}/readyz`)).status === 200, 'ready');
      const streams = Array.from({ length: 4 }, () => chatFresh(inst.url, { stream: true }));
      await new Promise((r) => setTimeout(r, 300));
      inst.cli.child.kill('SIGTERM');
      const rs = await Promise.all(streams);
      expect(rs.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      for (const r of rs) expect(r.text).toContain('data: [DONE]');
      expect(await inst.cli.exited()).toBe(0);
    } finally {
      await inst.stop();
    }
  });
});
