// Budgets when Redis goes away mid-run: `--budget-failure-mode closed` (the default) refuses with a
// 503 naming the store; `open` admits, logs it, writes the spend to the journal at once, and the
// live counters have it once Redis is back (rebuilt from the journal), so the budget still bites.
// A key with only a request rate follows the rate limits' own failure mode. Real Redis, real processes.
import { rm } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { eventually } from '../helpers/gateway.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';
import { chatWith, createKey, REQUEST_COST, serve, waitSpent, workspace, type Served } from './helpers.js';

let up: Upstream;
let dir: string;
let redis: TestRedis;
let closed: Served;
let open: Served;

function args(name: string, extra: string[] = []): string[] {
  // Each gateway has its own journal, so each has its own counters in Redis (its own prefix).
  return ['--state-dir', join(dir, name), '--concurrency', '1', '--redis', redis.url, '--redis-prefix', `${name}:`, '--redis-timeout', '1000', ...extra];
}

beforeAll(async () => {
  [up, redis] = await Promise.all([startUpstream(openAIBehavior({ chunks: 5 })), startRedis()]);
  dir = await workspace([up.port]);
  [closed, open] = await Promise.all([serve(dir, args('closed')), serve(dir, args('open', ['--budget-failure-mode', 'open']))]);
}, 90_000);

afterAll(async () => {
  await Promise.all([closed?.stop(), open?.stop()]);
  await Promise.all([up?.close(), redis?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

async function known(s: Served, key: string): Promise<void> {
  await eventually(async () => (await chatWith(s.url, key, { model: 'nope' })).status !== 401, 'the key to be known');
}

async function seeded(prefix: string): Promise<void> {
  const client = new Redis(redis.url);
  try {
    await eventually(async () => (await client.exists(`${prefix}:b:seeded`)) === 1, `${prefix} to (re)build its budget counters in Redis`, 15_000);
  } finally {
    client.disconnect();
  }
}

describe('budgets when Redis is unreachable', () => {
  it('refuses a failure mode that is neither open nor closed', async () => {
    const r = await runCli(['serve', '--config', join(dir, 'gateway.yaml'), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--budget-failure-mode', 'sometimes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--budget-failure-mode: "sometimes" is not open or closed');
  });

  it('refuses in closed mode and admits in open mode, and the open spend is charged once Redis is back', async () => {
    const c = await createKey(closed.admin, { name: 'strict', workload: 'ci', budgets: [{ amount: 100 * REQUEST_COST, period: '30d' }] });
    const rateOnly = await createKey(closed.admin, { name: 'rate-only', workload: 'ci', rpm: 1000 });
    // Budget for 6 requests: 2 before the outage, 3 during it, then 1 more and no further.
    const o = await createKey(open.admin, { name: 'lenient', workload: 'ci', budgets: [{ amount: 6 * REQUEST_COST, period: '30d' }] });
    await Promise.all([known(closed, c.key), known(closed, rateOnly.key), known(open, o.key), seeded('closed'), seeded('open')]);
    for (let i = 0; i < 2; i++) {
      expect((await chatWith(closed.url, c.key)).status).toBe(200);
      expect((await chatWith(open.url, o.key)).status).toBe(200);
    }
    await waitSpent(open.admin, o.id, 2 * REQUEST_COST);

    await redis.stop();
    const refused = await chatWith(closed.url, c.key);
    expect(refused.status).toBe(503);
    expect(refused.json.error?.code).toBe('rate_limit_unavailable');
    expect(refused.json.error?.message).toContain('Redis');
    expect(refused.json.error?.message).toContain('--budget-failure-mode closed');
    // Its request rate follows --rate-limit-failure-mode, open by default.
    expect((await chatWith(closed.url, rateOnly.key)).status).toBe(200);

    for (let i = 0; i < 3; i++) expect((await chatWith(open.url, o.key)).status).toBe(200);
    expect(open.cli.output()).toContain('admitted without checking their budgets (--budget-failure-mode open)');
    // The journal is not in Redis: it has the spend at once.
    await waitSpent(open.admin, o.id, 5 * REQUEST_COST);

    // Redis comes back empty; each gateway rebuilds its counters from its journal.
    await redis.start();
    await Promise.all([seeded('closed'), seeded('open')]);
    expect((await chatWith(closed.url, c.key)).status).toBe(200);
    expect((await chatWith(open.url, o.key)).status).toBe(200);
    const over = await chatWith(open.url, o.key);
    expect(over.status).toBe(429);
    expect(over.json.error?.code).toBe('budget_exceeded');
    await waitSpent(open.admin, o.id, 6 * REQUEST_COST);
  }, 90_000);

  it('charges what was admitted in open mode when Redis comes back with its data (a network cut)', async () => {
    const cut = await startCuttableProxy(redis.port);
    const gw = await serve(dir, ['--state-dir', join(dir, 'cut'), '--concurrency', '1', '--redis', `redis://127.0.0.1:${cut.port}/0`, '--redis-prefix', 'cut:', '--redis-timeout', '1000', '--budget-failure-mode', 'open']);
    try {
      const o = await createKey(gw.admin, { name: 'cut-off', workload: 'ci', budgets: [{ amount: 4 * REQUEST_COST, period: '30d' }] });
      await Promise.all([known(gw, o.key), seeded('cut')]);
      expect((await chatWith(gw.url, o.key)).status).toBe(200);
      cut.down();
      for (let i = 0; i < 2; i++) expect((await chatWith(gw.url, o.key)).status).toBe(200);
      await waitSpent(gw.admin, o.id, 3 * REQUEST_COST);
      cut.up();
      // Redis kept its data (no rebuild): the two charges missed while cut off are applied when it
      // answers again, so the budget has room for one more request, not three.
      await gw.cli.waitFor(/charges missed while the limit store was unreachable are applied/, 15_000);
      expect((await chatWith(gw.url, o.key)).status).toBe(200);
      const over = await chatWith(gw.url, o.key);
      expect(over.status).toBe(429);
      expect(over.json.error?.code).toBe('budget_exceeded');
    } finally {
      await gw.stop();
      await cut.close();
    }
  }, 60_000);
});

/** A TCP relay to Redis that can cut every connection and refuse new ones, then let them through again. */
async function startCuttableProxy(target: number): Promise<{ port: number; down(): void; up(): void; close(): Promise<void> }> {
  let cutOff = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (cutOff) return client.destroy();
    const upstream = net.connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    down: () => {
      cutOff = true;
      for (const s of sockets) s.destroy();
    },
    up: () => {
      cutOff = false;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
