// The budget-remaining gauges per key and per team on the admin /metrics of one instance of two
// workers: every worker reports what it saw at its last admission, and the primary's merged scrape
// must give what is really left (the smallest report), never the workers' views added up. On Redis
// a worker's view is the shared counter; in process it is its lease of the primary's counter.
import { spawnSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/gateway.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';
import { api, chatWith, createKey, REQUEST_COST, serve, waitSpent, workspace, type Served } from './helpers.js';

let up: Upstream;
let dir: string;
let redis: TestRedis;
let onRedis: Served;
let local: Served;

beforeAll(async () => {
  [up, redis] = await Promise.all([startUpstream(openAIBehavior({ chunks: 5 })), startRedis()]);
  dir = await workspace([up.port]);
  onRedis = await serve(dir, ['--state-dir', join(dir, 'state-redis'), '--concurrency', '2', '--redis', redis.url, '--redis-timeout', '5000']);
  local = await serve(dir, ['--state-dir', join(dir, 'state-local'), '--concurrency', '2']);
}, 90_000);

afterAll(async () => {
  await Promise.all([onRedis?.stop(), local?.stop()]);
  await Promise.all([up?.close(), redis?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

async function scrape(s: Served): Promise<string> {
  return (await fetch(`${s.admin}/metrics`)).text();
}

function sample(metrics: string, name: string, labels: string): number | undefined {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

function perWorker(metrics: string): number[] {
  return [0, 1].map((w) => sample(metrics, 'tollgate_worker_requests_total', `worker="${w}"`) ?? 0);
}

/** Bursts of concurrent requests with `key` until both workers have admitted some; returns how many. */
async function spreadOverWorkers(s: Served, key: string): Promise<number> {
  const start = perWorker(await scrape(s));
  let sent = 0;
  for (let round = 0; round < 5; round++) {
    const rs = await Promise.all(Array.from({ length: 10 }, () => chatWith(s.url, key)));
    expect(rs.every((r) => r.status === 200)).toBe(true);
    sent += 10;
    if (perWorker(await scrape(s)).every((n, w) => n > (start[w] ?? 0))) return sent;
  }
  throw new Error(`the requests did not spread over both workers (${start.join(',')} -> ${perWorker(await scrape(s)).join(',')})`);
}

async function gaugedKey(s: Served, team: string): Promise<{ id: string; key: string }> {
  expect((await api(s.admin, 'PUT', `/admin/teams/${team}`, { budgets: [{ amount: 10, period: '1d' }] })).status).toBe(200);
  const k = await createKey(s.admin, { name: 'gauged', workload: 'ci', team, budgets: [{ amount: 100 * REQUEST_COST, period: '30d' }] });
  await eventually(async () => {
    const rs = await Promise.all(Array.from({ length: 8 }, () => chatWith(s.url, k.key, { model: 'nope' })));
    return rs.every((r) => r.status !== 401);
  }, 'both workers to know the key');
  return k;
}

function gauges(metrics: string, id: string, team: string): { key: number; team: number } {
  return {
    key: sample(metrics, 'tollgate_key_budget_remaining', `key="${id}"`) ?? NaN,
    team: sample(metrics, 'tollgate_budget_remaining', `team="${team}"`) ?? NaN,
  };
}

describe('budget gauges on an instance of two workers', () => {
  it('on Redis: every worker sees the exact counter, and the merged scrape is what is left, not the sum', async () => {
    const { id, key } = await gaugedKey(onRedis, 'redis-team');
    const sent = await spreadOverWorkers(onRedis, key);
    await waitSpent(onRedis.admin, id, sent * REQUEST_COST);
    // Reservations equal the real cost here, so the last admission (on whichever worker) saw exactly
    // what is spent; every other worker's last view is higher. Summed, both would be about doubled.
    const metrics = await scrape(onRedis);
    const g = gauges(metrics, id, 'redis-team');
    expect(g.key).toBeCloseTo((100 - sent) * REQUEST_COST, 9);
    expect(g.team).toBeCloseTo(10 - sent * REQUEST_COST, 9);
    expect(metrics).toMatch(new RegExp(`tollgate_key_budget_remaining\\{key="${id}",period="30d"\\} `));
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
    expect(`${lint.stdout}${lint.stderr}`).toBe('');
    const shown = (await api(onRedis.admin, 'GET', `/admin/keys/${id}`)).json['budgets'] as Array<{ remaining: number }>;
    expect(shown[0]?.remaining).toBeCloseTo((100 - sent) * REQUEST_COST, 9);
  }, 60_000);

  it('in process: budget leased to a worker and not used yet reads as spent, never more left than there is', async () => {
    const { id, key } = await gaugedKey(local, 'local-team');
    const sent = await spreadOverWorkers(local, key);
    await waitSpent(local.admin, id, sent * REQUEST_COST);
    const g = gauges(await scrape(local), id, 'local-team');
    expect(g.key).toBeLessThanOrEqual((100 - sent) * REQUEST_COST + 1e-9);
    expect(g.key).toBeGreaterThan(0);
    expect(g.team).toBeLessThanOrEqual(10 - sent * REQUEST_COST + 1e-9);
    expect(g.team).toBeGreaterThan(0);
  }, 60_000);
});
