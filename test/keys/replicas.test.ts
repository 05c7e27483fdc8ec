// Virtual keys across processes: two replicas sharing PostgreSQL (keys, spend) and Redis (live
// counters), and one instance of two workers. Budgets are exact across all of them, a revoke on one
// replica takes effect on the other, and a Redis that lost its data is rebuilt from PostgreSQL.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/gateway.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';
import { startPostgres, type PgServer } from '../observability/services.js';
import { api, chatWith, createKey, REQUEST_COST, serve, waitSpent, workspace, type Served } from './helpers.js';

let up: Upstream;
let dir: string;
let redis: TestRedis;
let pg: PgServer;
let a: Served;
let b: Served;

beforeAll(async () => {
  up = await startUpstream(openAIBehavior({ chunks: 5 }));
  dir = await workspace([up.port]);
  [redis, pg] = await Promise.all([startRedis(), startPostgres()]);
  // A generous Redis timeout: on a loaded test machine the default (200 ms) can expire, and the
  // budget failure mode (closed) would then answer 503.
  const shared = ['--state-db', pg.url, '--redis', redis.url, '--redis-timeout', '5000', '--concurrency', '1'];
  [a, b] = await Promise.all([serve(dir, shared), serve(dir, shared)]);
}, 90_000);

afterAll(async () => {
  await Promise.all([a.stop(), b.stop()]);
  await Promise.all([redis.stop(), pg.close(), up.close()]);
  await rm(dir, { recursive: true, force: true });
});

async function known(s: Served, key: string): Promise<void> {
  await eventually(async () => (await chatWith(s.url, key, { model: 'nope' })).status !== 401, 'the key to be known on the replica');
}

describe('virtual keys on two replicas (PostgreSQL + Redis)', () => {
  it('applies a key created and revoked on one replica on the other within a second or so', async () => {
    const { id, key } = await createKey(a.admin, { name: 'shared', workload: 'ci' });
    await known(b, key);
    expect((await chatWith(b.url, key)).status).toBe(200);
    expect((await api(b.admin, 'POST', `/admin/keys/${id}/revoke`, {})).status).toBe(200);
    await eventually(async () => (await chatWith(a.url, key)).status === 401, 'the revoke to reach the other replica', 3_000);
  });

  it('admits exactly the budget across both replicas under 200 concurrent requests', async () => {
    const { id, key } = await createKey(a.admin, { name: 'split', workload: 'ci', budgets: [{ amount: 50 * REQUEST_COST, period: '30d' }] });
    await Promise.all([known(a, key), known(b, key)]);
    const all = await Promise.all(Array.from({ length: 200 }, (_, i) => chatWith(i % 2 === 0 ? a.url : b.url, key)));
    expect(all.filter((r) => r.status === 200).length).toBe(50);
    expect(all.filter((r) => r.status === 429 && r.json.error?.code === 'budget_exceeded').length).toBe(150);
    await waitSpent(a.admin, id, 2.5);
    expect(a.cli.output() + b.cli.output()).not.toContain('cannot be checked');
  });

  it('rebuilds the budget counters from PostgreSQL when Redis loses its data, never from zero', async () => {
    const { id, key } = await createKey(a.admin, { name: 'flushed', workload: 'ci', budgets: [{ amount: 4 * REQUEST_COST, period: '7d' }] });
    await known(a, key);
    for (let i = 0; i < 3; i++) expect((await chatWith(a.url, key)).status).toBe(200);
    await waitSpent(a.admin, id, 3 * REQUEST_COST);
    const client = new Redis(redis.url);
    try {
      await client.flushall();
      await eventually(async () => (await client.exists('tollgate:b:seeded')) === 1, 'a replica to rebuild the counters', 10_000);
    } finally {
      client.disconnect();
    }
    expect((await chatWith(b.url, key)).status).toBe(200);
    const over = await chatWith(a.url, key);
    expect(over.status).toBe(429);
    expect(over.json.error?.code).toBe('budget_exceeded');
  });
});

describe('virtual keys on one instance of two workers', () => {
  it('admits exactly the budget whichever worker takes each request', async () => {
    const state = join(dir, 'workers-state');
    const w = await serve(dir, ['--state-dir', state, '--concurrency', '2']);
    try {
      const { id, key } = await createKey(w.admin, { name: 'workers', workload: 'ci', budgets: [{ amount: 50 * REQUEST_COST, period: '1d' }] });
      // Both workers must know the key: a request either gets refused by the budget or served.
      await eventually(async () => {
        const rs = await Promise.all(Array.from({ length: 8 }, () => chatWith(w.url, key, { model: 'nope' })));
        return rs.every((r) => r.status !== 401);
      }, 'both workers to know the key');
      const all = await Promise.all(Array.from({ length: 200 }, () => chatWith(w.url, key)));
      expect(all.filter((r) => r.status === 200).length).toBe(50);
      expect(all.filter((r) => r.status === 429).length).toBe(150);
      await waitSpent(w.admin, id, 2.5);
    } finally {
      await w.stop();
    }
  }, 60_000);
});
