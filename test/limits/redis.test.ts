// Global limits on a real Redis: exact across replicas (two gateway processes), token budgets shared
// rather than multiplied, failure modes when Redis dies, and recovery when it comes back.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { spawnCli, type RunningCli } from '../helpers/cli.js';
import { backendYaml, eventually, waitReady } from '../helpers/gateway.js';
import { btpYaml, chat, costRouteYaml, metricValue, TOKEN_COST } from '../helpers/limits.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';

let redis: TestRedis;
let up: Upstream;
let dir: string;

beforeAll(async () => {
  redis = await startRedis();
  up = await startUpstream(openAIBehavior({ chunks: 6 }));
  dir = await mkdtemp(join(tmpdir(), 'tollgate-redis-'));
});

afterAll(async () => {
  await redis.stop();
  await up.close();
  await rm(dir, { recursive: true, force: true });
});

interface Replica {
  readonly url: string;
  readonly admin: string;
  readonly cli: RunningCli;
}

/** A gateway process on the test Redis, once it says it is listening (not necessarily ready). */
async function spawnReplica(config: string, prefix: string, extra: string[] = [], timeoutMs = 150): Promise<Replica> {
  const cli = spawnCli([
    'serve',
    '--config',
    config,
    '--listen',
    '127.0.0.1:0',
    '--admin',
    '127.0.0.1:0',
    '--redis',
    redis.url,
    '--redis-prefix',
    prefix,
    '--redis-timeout',
    String(timeoutMs),
    ...extra,
  ]);
  const m = await cli.waitFor(/"listen":"127\.0\.0\.1:(\d+)","admin":"127\.0\.0\.1:(\d+)"/);
  return { url: `http://127.0.0.1:${m[1]}`, admin: `http://127.0.0.1:${m[2]}`, cli };
}

/** A replica that reports ready: its Redis connection is up, so no admission races it. */
async function replica(...args: Parameters<typeof spawnReplica>): Promise<Replica> {
  const r = await spawnReplica(...args);
  await waitReady(r.admin);
  return r;
}

/** Waits until the token buckets under `prefix` hold at least `total` (settlements have landed). */
async function tokensInRedis(prefix: string, total: number): Promise<void> {
  const client = new Redis(redis.url);
  try {
    await eventually(async () => {
      let sum = 0;
      for (const k of await client.keys(`${prefix}rl:*`)) sum += Number((await client.get(k)) ?? 0);
      return sum >= total;
    }, `${total} tokens settled in Redis under ${prefix}`, 15_000);
  } finally {
    client.disconnect();
  }
}

async function stop(...rs: Replica[]): Promise<void> {
  for (const r of rs) r.cli.child.kill('SIGTERM');
  await Promise.all(rs.map((r) => r.cli.exited()));
}

async function configDir(name: string, policy: string): Promise<string> {
  const d = join(dir, name);
  await (await import('node:fs/promises')).mkdir(d);
  await writeFile(join(d, 'b.yaml'), backendYaml('b', [{ port: up.port }]));
  await writeFile(join(d, 'r.yaml'), costRouteYaml('r', 'm', [{ name: 'b' }]));
  await writeFile(join(d, 'p.yaml'), policy);
  return d;
}

describe('global rate limits on Redis', () => {
  it('admits exactly 50 of 200 concurrent requests across two gateway processes', async () => {
    const d = await configDir('exact', btpYaml('fifty', 'r', 'Global', [{ requests: 50, unit: 'Hour' }]));
    // Exactness, not timeouts, is under test: a loaded machine may take Redis past 150 ms to answer
    // 200 requests at once, and the failure mode would then admit them unchecked.
    const a = await replica(d, 'exact:', [], 10_000);
    const b = await replica(d, 'exact:', [], 10_000);
    try {
      const before = up.requests.length;
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => chat(i % 2 === 0 ? a.url : b.url, 'm')));
      expect(results.filter((r) => r.status === 200)).toHaveLength(50);
      expect(results.filter((r) => r.status === 429)).toHaveLength(150);
      expect(up.requests.length - before).toBe(50);
      const counted =
        metricValue(await fetch(`${a.admin}/metrics`).then((r) => r.text()), 'http_global_rate_limit_rate_limited_total') +
        metricValue(await fetch(`${b.admin}/metrics`).then((r) => r.text()), 'http_global_rate_limit_rate_limited_total');
      expect(counted).toBe(150);
      for (const r of [a, b]) expect(metricValue(await fetch(`${r.admin}/metrics`).then((x) => x.text()), 'tollgate_rate_limit_failed_open_total')).toBe(0);
    } finally {
      await stop(a, b);
    }
  });

  it('shares one token budget between replicas instead of multiplying it', async () => {
    const d = await configDir('tokens', btpYaml('tok', 'r', 'Global', [{ requests: 40, unit: 'Hour', cost: TOKEN_COST('llm_total_token') }]));
    // Generous Redis timeouts: a settlement that timed out on a busy machine would be lost, and
    // this test is about sharing, not about timeouts.
    const a = await replica(d, 'tokens:', [], 10_000);
    const b = await replica(d, 'tokens:', [], 10_000);
    try {
      expect((await chat(a.url, 'm')).status).toBe(200); // 17
      expect((await chat(b.url, 'm', {}, { stream: true })).status).toBe(200); // 34
      expect((await chat(a.url, 'm')).status).toBe(200); // 34 < 40: admitted → 51
      // Settlement is asynchronous after the response: wait until all 51 tokens are in Redis.
      await tokensInRedis('tokens:', 51);
      const last = await chat(b.url, 'm');
      expect(last.status).toBe(429);
      expect(last.headers.get('x-ratelimit-remaining-tokens')).toBe('0');
    } finally {
      await stop(a, b);
    }
  });

  it('fails open (or closed, when configured) while Redis is down, and recovers when it returns', async () => {
    const d = await configDir('failure', btpYaml('one', 'r', 'Global', [{ requests: 1, unit: 'Hour' }]));
    const open = await replica(d, 'failure:');
    const closed = await replica(d, 'failure:', ['--rate-limit-failure-mode', 'closed']);
    let late: Replica | undefined;
    try {
      expect((await chat(open.url, 'm')).status).toBe(200);
      expect((await chat(closed.url, 'm')).status).toBe(429);
      await redis.stop();
      const o = await Promise.all([chat(open.url, 'm'), chat(open.url, 'm')]);
      expect(o.map((r) => r.status)).toEqual([200, 200]);
      const c = await chat(closed.url, 'm');
      expect(c.status).toBe(503);
      expect(JSON.parse(c.text).error.code).toBe('rate_limit_unavailable');
      const m = await fetch(`${open.admin}/metrics`).then((r) => r.text());
      expect(metricValue(m, 'tollgate_rate_limit_store_errors_total', { outcome: 'allowed' })).toBeGreaterThanOrEqual(2);
      expect(open.cli.output()).toContain('redis unavailable');
      // Loud, per rule: a warning naming it and a counter of what it let through unchecked.
      expect(metricValue(m, 'tollgate_rate_limit_failed_open_total', { rule: 'default/one/rule-0' })).toBeGreaterThanOrEqual(2);
      expect(open.cli.output()).toMatch(/admitted without checking a global rule.*"rule":"default\/one\/rule-0"/);
      // A replica that starts while Redis is down does not report ready: its load balancer keeps
      // traffic away rather than let it admit unchecked.
      late = await spawnReplica(d, 'failure:');
      const notReady = await fetch(`${late.admin}/readyz`);
      expect(notReady.status).toBe(503);
      expect(((await notReady.json()) as { reason: string }).reason).toMatch(/Redis/);
      await redis.start();
      await waitReady(late.admin);
      // ioredis reconnects by itself (backoff up to 2 s); then limits are enforced again.
      const end = Date.now() + 15_000;
      let recovered = false;
      while (Date.now() < end && !recovered) {
        const first = await chat(closed.url, 'm');
        if (first.status === 200) {
          expect((await chat(open.url, 'm')).status).toBe(429);
          recovered = true;
        } else await new Promise((r) => setTimeout(r, 200));
      }
      expect(recovered).toBe(true);
    } finally {
      await stop(open, closed, ...(late === undefined ? [] : [late]));
    }
  }, 60_000);
});

describe("Envoy AI Gateway's token_ratelimit example", () => {
  it('validates unchanged and limits input tokens per x-tenant-id as its comments describe', async () => {
    const { readFile } = await import('node:fs/promises');
    const { startGateway } = await import('../helpers/gateway.js');
    const original = await readFile(new URL('../fixtures/compat/envoy-ai-gateway/examples/token_ratelimit/token_ratelimit.yaml', import.meta.url), 'utf8');
    // Only the upstream address changes: the example points at a Kubernetes service.
    const text = original.replace(
      /hostname: envoy-ai-gateway-token-ratelimit-tesetupstream\.default\.svc\.cluster\.local\n(\s+)port: 80/,
      (_m, indent: string) => `hostname: localhost\n${indent}port: ${up.port}`,
    );
    expect(text).not.toBe(original);
    const gw = await startGateway({ 'example.yaml': text }, { redis: { url: redis.url, prefix: 'example:', password: undefined, caFile: undefined, timeoutMs: 10_000 } });
    try {
      const send = (tenant: string): ReturnType<typeof chat> => chat(gw.url, 'rate-limit-funky-model', { 'x-tenant-id': tenant });
      await waitReady(gw.adminUrl);
      // 10 input tokens per hour per tenant: the first request (11 input tokens) fits the empty budget…
      expect((await send('tenant-a')).status).toBe(200);
      // Every rule's request cost is 0: the buckets fill only when the response settles, at once
      // (one script), with 11 input tokens and at least as many total ones.
      await tokensInRedis('example:', 22);
      // …and spends it, so tenant-a's next request is rejected while tenant-b has its own budget.
      expect((await send('tenant-a')).status).toBe(429);
      expect((await send('tenant-b')).status).toBe(200);
    } finally {
      await gw.close();
    }
  });
});
