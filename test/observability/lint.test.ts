// `promtool check metrics` on /metrics once every metric family has samples: a local rate limit and
// a global one (on a real Redis) firing, a quota exceeded, errors, a stream. /stats/prometheus serves
// the same text with Envoy's names for the rate-limit counters.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/log.js';
import { Gateway } from '../../src/server/gateway.js';
import { startSimServer, type SimServerHandle } from '../../src/sim/index.js';
import { backendYaml } from '../helpers/gateway.js';
import { btpYaml, chat, headerSel, metricValue, ROUTE_COSTS } from '../helpers/limits.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

function route(name: string, model: string, backend: string): string {
  return `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata:
  name: ${name}
  namespace: default
spec:
${ROUTE_COSTS}  rules:
    - matches:
        - headers:
            - {type: Exact, name: x-ai-eg-model, value: ${model}}
      backendRefs:
        - {name: ${backend}, modelNameOverride: sim-model}
`;
}

const QUOTA = `apiVersion: aigateway.envoyproxy.io/v1alpha1
kind: QuotaPolicy
metadata:
  name: tiny
  namespace: default
spec:
  targetRefs:
    - group: aigateway.envoyproxy.io
      kind: AIServiceBackend
      name: quota-sim
  perModelQuotas:
    - modelName: sim-model
      quota:
        defaultBucket: {limit: 5, duration: 1h}
`;

let redis: TestRedis;
let sim: SimServerHandle;
let gw: Gateway;
let dir: string;
let url: string;
let admin: string;

beforeAll(async () => {
  redis = await startRedis();
  sim = await startSimServer({ profile: 'fast' });
  dir = await mkdtemp(join(tmpdir(), 'tollgate-lint-'));
  const files: Record<string, string> = {
    'b.yaml': [backendYaml('sim', [{ port: sim.port }]), backendYaml('quota-sim', [{ port: sim.port }])].join('---\n'),
    'r.yaml': [route('local', 'm-local', 'sim'), route('global', 'm-global', 'sim'), route('quota', 'm-quota', 'quota-sim')].join('---\n'),
    'local.yaml': btpYaml('local-limit', 'local', 'Local', [{ selectors: headerSel('x-user', 'Distinct'), requests: 1, unit: 'Hour' }]),
    'global.yaml': btpYaml('global-limit', 'global', 'Global', [{ selectors: headerSel('x-user', 'Distinct'), requests: 1, unit: 'Hour' }]),
    'quota.yaml': QUOTA,
  };
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  gw = await Gateway.start({
    configPaths: [dir],
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    logger: createLogger({ level: 'error', sink: { write: () => undefined } }),
    drainTimeoutMs: 2_000,
    watch: false,
    telemetry: { traces: false },
    redis: { url: redis.url, prefix: 'lint:', password: undefined, caFile: undefined, timeoutMs: 1_000 },
  });
  url = `http://127.0.0.1:${gw.dataAddress.port}`;
  admin = `http://127.0.0.1:${gw.adminAddress.port}`;
});

afterAll(async () => {
  await gw.shutdown();
  await sim.close();
  await redis.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('metrics lint', () => {
  it('passes promtool check metrics with every family exercised; /stats/prometheus keeps Envoy names', async () => {
    const u = { 'x-user': 'alice' };
    expect((await chat(url, 'm-local', u)).status).toBe(200);
    expect((await chat(url, 'm-local', u)).status).toBe(429);
    expect((await chat(url, 'm-global', u)).status).toBe(200);
    expect((await chat(url, 'm-global', u)).status).toBe(429);
    expect((await chat(url, 'm-quota', u)).status).toBe(200);
    expect((await chat(url, 'm-quota', u)).status).toBe(429);
    const stream = await chat(url, 'm-local', { 'x-user': 'bob' }, { stream: true, stream_options: { include_usage: true } });
    expect(stream.status).toBe(200);
    expect((await chat(url, 'no-such-model', u)).status).toBe(404);
    expect((await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' })).status).toBe(400);
    await gw.observability.settled();

    const text = await (await fetch(`${admin}/metrics`)).text();
    for (const family of [
      'http_local_rate_limit_rate_limited_total',
      'http_local_rate_limit_ok_total',
      'http_local_rate_limit_enabled_total',
      'http_global_rate_limit_rate_limited_total',
      'http_global_rate_limit_enabled_total',
    ]) {
      expect(metricValue(text, family), family).toBeGreaterThan(0);
    }
    expect(metricValue(text, 'tollgate_quota_requests_total', { result: 'exceeded' })).toBe(1);
    expect(metricValue(text, 'gen_ai_server_time_to_first_token_seconds_count')).toBeGreaterThan(0);
    expect(text).toMatch(/^tollgate_requests_total\{[^}]*error_code="[a-z_]+"/m);
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(r.error).toBeUndefined();
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);

    const envoy = await (await fetch(`${admin}/stats/prometheus`)).text();
    expect(metricValue(envoy, 'http_local_rate_limit_rate_limited')).toBe(metricValue(text, 'http_local_rate_limit_rate_limited_total'));
    expect(envoy).toMatch(/^# TYPE http_global_rate_limit_enabled counter$/m);
    expect(envoy).not.toMatch(/rate_limit_(enabled|ok|rate_limited)_total/);
    // Envoy's names are what the linter rejects: counters without `_total`.
    const lintEnvoy = spawnSync('promtool', ['check', 'metrics'], { input: envoy, encoding: 'utf8' });
    expect(`${lintEnvoy.stdout}${lintEnvoy.stderr}`).toMatch(/http_local_rate_limit_rate_limited counter metrics should have "_total" suffix/);
    // Apart from those names, the same families.
    const families = (t: string): string[] => [...t.matchAll(/^# TYPE (\S+) /gm)].map((m) => (m[1] as string).replace(/^(http_(local|global)_rate_limit_\w+)_total$/, '$1')).sort();
    expect(families(envoy)).toEqual(families(text));
  });
});
