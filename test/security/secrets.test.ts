// Planted secrets never come out: upstream keys (Secret manifest, mounted directory, environment),
// client API keys and bearer tokens are planted, the gateway is driven through successes, every kind
// of refusal, upstream errors that echo the key they got, reloads (valid and invalid) and shutdown;
// then every output channel is searched: logs, /metrics, /stats/prometheus, /config_dump, the
// dashboard, client responses, the access log, the usage ledger, OTLP traces, what upstreams
// received, and the CLI's output when the config is broken (validate, serve startup failure).
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/log.js';
import { Gateway } from '../../src/server/gateway.js';
import { BIN, runCli } from '../helpers/cli.js';
import { backendYaml, eventually, routeYaml } from '../helpers/gateway.js';
import { json, startUpstream, type Upstream } from '../helpers/upstream.js';
import { secretYaml, securityPolicyYaml } from './helpers.js';

const PLANT = {
  upstreamManifest: 'sk-PLANTED-upstream-manifest-7f3a91c2',
  // No recognisable key prefix: only redacting the exact injected value catches an echo of it.
  upstreamDir: 'PLANTED-upstream-dir-0b7e44d1',
  upstreamEnv: 'sk-PLANTED-upstream-env-c93e1f58',
  clientKey: 'tg-PLANTED-client-key-4d2a8b6e',
  clientDirKey: 'tg-PLANTED-client-dir-9a1f3c7b',
  clientBearer: 'PLANTED-client-bearer-e1b9d0c4',
  reloadKey: 'tg-PLANTED-reload-key-55c0a2ee',
  brokenSecret: 'PLANTED-broken-secret-31d7e6aa',
};
const ENV_VAR = 'TOLLGATE_SECRET_ENV_KEY_APIKEY';

let up: Upstream;
let collector: http.Server;
const traces: string[] = [];
let dir: string;
let secretsDir: string;
let gw: Gateway;
let url: string;
let admin: string;
const logs: string[] = [];
const responses: string[] = [];

function manifests(extraClientKey?: string): Record<string, string> {
  const backends = [
    backendYaml('manifest-key', [{ port: up.port }], { apiKey: PLANT.upstreamManifest }),
    backendYaml('dir-key', [{ port: up.port }]),
    backendYaml('env-key', [{ port: up.port }]),
  ].join('---\n');
  const policy = (name: string, backend: string, secret: string): string => `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: ${name}, namespace: default}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: ${backend}}]
  type: APIKey
  apiKey: {secretRef: {name: ${secret}}}
`;
  return {
    'b.yaml': backends,
    'bsp.yaml': [policy('dir-policy', 'dir-key', 'dir-upstream'), policy('env-policy', 'env-key', 'env-key')].join('---\n'),
    'r.yaml': routeYaml('r', [
      { matches: [{ 'x-workload-app': 'team-a', 'x-ai-eg-model': 'a' }], backends: [{ name: 'manifest-key' }] },
      { matches: [{ 'x-workload-app': 'team-a', 'x-ai-eg-model': 'b' }], backends: [{ name: 'dir-key' }] },
      { matches: [{ 'x-workload-app': 'team-a' }], backends: [{ name: 'env-key' }] },
      { matches: [{ 'x-workload-app': 'team-b' }], backends: [{ name: 'manifest-key' }] },
    ]),
    's.yaml': secretYaml('client-keys', { 'team-a': PLANT.clientKey, ...(extraClientKey === undefined ? {} : { 'team-a.next': extraClientKey }) }),
    'p.yaml': securityPolicyYaml(
      'clients',
      `  apiKeyAuth:
    credentialRefs: [{name: client-keys}, {name: dir-clients}]
    extractFrom: [{headers: [x-api-key]}]
`,
      { annotations: { 'tollgate.io/workload-separator': '.' } },
    ),
  };
}

beforeAll(async () => {
  // The upstream echoes whatever credential it received in its error bodies, as careless APIs do.
  up = await startUpstream((req, rec, res) => {
    const model = typeof rec.json?.['model'] === 'string' ? rec.json['model'] : '';
    const got = String(req.headers['authorization'] ?? '');
    if (model === 'a' && rec.json?.['echo'] === 401) return json(res, 401, { error: { message: `Incorrect API key provided: ${got}`, type: 'invalid_request_error', code: 'invalid_api_key' } });
    if (rec.json?.['echo'] === 500) return json(res, 500, { error: { message: `internal failure for key ${got}` } });
    if (rec.json?.['echo'] === 400) return json(res, 400, { error: { message: `bad request from ${got}`, type: 'invalid_request_error' } });
    if (rec.json?.['echo'] === 422) return json(res, 422, { error: { message: `key ${got.replace(/^Bearer /, '')} may not use this model`, type: 'invalid_request_error' } });
    json(res, 200, { id: 'x', object: 'chat.completion', created: 1, model, choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } });
  });
  collector = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      traces.push(body);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));

  dir = await mkdtemp(join(tmpdir(), 'tollgate-secrets-test-'));
  secretsDir = join(dir, 'secrets');
  await mkdir(join(secretsDir, 'dir-upstream'), { recursive: true });
  await writeFile(join(secretsDir, 'dir-upstream', 'apiKey'), `${PLANT.upstreamDir}\n`);
  await mkdir(join(secretsDir, 'dir-clients'));
  await writeFile(join(secretsDir, 'dir-clients', 'team-b'), PLANT.clientDirKey);
  await mkdir(join(dir, 'config'));
  for (const [n, t] of Object.entries(manifests())) await writeFile(join(dir, 'config', n), t);
  process.env[ENV_VAR] = PLANT.upstreamEnv;

  gw = await Gateway.start({
    configPaths: [join(dir, 'config')],
    secretsDir,
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    logger: createLogger({ level: 'debug', sink: { write: (l: string) => logs.push(l) } }),
    drainTimeoutMs: 2_000,
    telemetry: {
      ledgerDir: join(dir, 'ledger'),
      ledgerFsyncMs: 0,
      accessLog: { file: join(dir, 'access.log') },
      traces: {
        url: `http://127.0.0.1:${(collector.address() as AddressInfo).port}/v1/traces`,
        headers: {},
        serviceName: 'tollgate-test',
        resource: {},
        captureContent: true,
        scheduleDelayMs: 50,
        maxQueue: 1000,
        maxBatch: 100,
        timeoutMs: 2000,
      },
    },
  });
  url = `http://127.0.0.1:${gw.dataAddress.port}`;
  admin = `http://127.0.0.1:${gw.adminAddress.port}`;
});

afterAll(async () => {
  delete process.env[ENV_VAR];
  await up.close();
  await new Promise<void>((r) => collector.close(() => r()));
  await rm(dir, { recursive: true, force: true });
});

async function call(model: string, headers: Record<string, string>, extra: Record<string, unknown> = {}): Promise<number> {
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra }),
  });
  const text = await r.text();
  responses.push(`${r.status} ${JSON.stringify([...r.headers])} ${text}`);
  return r.status;
}

function assertClean(channel: string, text: string): void {
  for (const [name, value] of Object.entries(PLANT)) {
    // Also look for fragments: a secret cut short is still a leak.
    for (const needle of [value, value.slice(-16)]) {
      if (text.includes(needle)) throw new Error(`${channel} contains the planted ${name} (${needle}): …${text.slice(Math.max(0, text.indexOf(needle) - 300), text.indexOf(needle) + 100)}`);
    }
  }
}

async function readAll(path: string): Promise<string> {
  if (!existsSync(path)) return '';
  const st = await readdir(path, { recursive: true, withFileTypes: true }).catch(() => undefined);
  if (st === undefined) return readFile(path, 'utf8');
  let out = '';
  for (const e of st) if (e.isFile()) out += await readFile(join(e.parentPath, e.name), 'utf8');
  return out;
}

describe('planted secrets never appear in any output channel', () => {
  it('drives every path and then finds no secret anywhere', async () => {
    const key = { 'x-api-key': PLANT.clientKey };
    // Successes on every upstream credential source, and with a client bearer that must be stripped.
    expect(await call('a', { ...key, authorization: `Bearer ${PLANT.clientBearer}` })).toBe(200);
    expect(await call('b', key)).toBe(200);
    expect(await call('c', key, { stream: false })).toBe(200);
    expect(await call('a', { 'x-api-key': PLANT.clientDirKey })).toBe(200);
    // Upstream errors that echo the injected key.
    expect(await call('a', key, { echo: 401 })).toBeGreaterThanOrEqual(400);
    expect(await call('b', key, { echo: 500 })).toBeGreaterThanOrEqual(500);
    expect(await call('c', key, { echo: 400 })).toBeGreaterThanOrEqual(400);
    expect(await call('b', key, { echo: 422 })).toBeGreaterThanOrEqual(400);
    // Refusals: missing, wrong (including an upstream key offered as a client key), spoofed, unauthorized route.
    expect(await call('a', {})).toBe(401);
    expect(await call('a', { 'x-api-key': PLANT.upstreamManifest })).toBe(401);
    expect(await call('a', { 'x-api-key': `${PLANT.clientKey}x` })).toBe(401);
    expect(await call('a', { ...key, 'x-workload-app': 'team-b' })).toBe(403);
    expect((await fetch(`${url}/v1/models`, { headers: key })).status).toBe(200);
    expect(await call('a', { 'x-api-key': PLANT.clientBearer, authorization: `Bearer ${PLANT.clientKey}` })).toBe(401);

    // A key rotation (valid reload) and a broken reload whose Secret holds a planted value.
    const cfg = join(dir, 'config');
    for (const [n, t] of Object.entries(manifests(PLANT.reloadKey))) await writeFile(join(cfg, n), t);
    await eventually(async () => (await call('a', { 'x-api-key': PLANT.reloadKey })) === 200, 'the new key');
    await writeFile(join(cfg, 'broken.yaml'), `apiVersion: v1\nkind: Secret\nmetadata: {name: broken}\nstringData:\n  good: "${PLANT.brokenSecret}"\n  bad: 12345\ndata:\n  notb64: "${PLANT.brokenSecret}!!"\n`);
    await eventually(() => logs.some((l) => l.includes('config change rejected')), 'the broken reload to be rejected');

    // Upstreams never received a client credential.
    for (const r of up.requests) {
      const h = JSON.stringify(r.headers);
      expect(h).not.toContain(PLANT.clientKey);
      expect(h).not.toContain(PLANT.clientBearer);
      expect(h).not.toContain(PLANT.clientDirKey);
    }

    const channels: Record<string, string> = {
      metrics: await (await fetch(`${admin}/metrics`)).text(),
      'stats/prometheus': await (await fetch(`${admin}/stats/prometheus`)).text(),
      config_dump: await (await fetch(`${admin}/config_dump`)).text(),
      dashboard: await (await fetch(`${admin}/`)).text(),
    };
    await gw.shutdown();
    channels['logs'] = logs.join('\n');
    channels['client responses'] = responses.join('\n');
    channels['access log'] = await readAll(join(dir, 'access.log'));
    channels['ledger'] = await readAll(join(dir, 'ledger'));
    channels['traces'] = traces.join('\n');
    expect(channels['access log']).toContain('team-a');
    expect(channels['ledger']).toContain('team-a');
    expect(channels['config_dump']).toContain('<redacted');
    expect(channels['traces']).toContain('team-a'); // the exporter really ran (with message content on)
    expect(channels['logs']).toContain('client authentication failed');
    for (const [name, text] of Object.entries(channels)) assertClean(name, text);
  });
});

describe('CLI output with a broken config holds no secret', () => {
  it('validate and a failed serve start print problems, never values', async () => {
    if (!existsSync(BIN) || !existsSync(new URL('../../dist/cli/main.js', import.meta.url))) throw new Error('build first: npm run build (npm test does)');
    const cfg = await mkdtemp(join(tmpdir(), 'tollgate-secrets-cli-'));
    try {
      await writeFile(
        join(cfg, 'all.yaml'),
        [
          backendYaml('be', [{ port: 1 }], { apiKey: PLANT.upstreamManifest }),
          routeYaml('r', [{ backends: [{ name: 'be' }] }]),
          secretYaml('client-keys', { a: PLANT.clientKey, b: PLANT.clientKey }),
          securityPolicyYaml('p', '  apiKeyAuth:\n    credentialRefs: [{name: client-keys}]\n    extractFrom: [{headers: [x-api-key]}]\n'),
          `apiVersion: v1\nkind: Secret\nmetadata: {name: broken}\nstringData:\n  good: "${PLANT.brokenSecret}"\n  bad: 12345\n`,
        ].join('---\n'),
      );
      const v = await runCli(['validate', '--config', cfg]);
      expect(v.code).toBe(1);
      expect(v.stdout + v.stderr).toContain('share the same API key');
      assertClean('validate output', v.stdout + v.stderr);
      const s = await runCli(['serve', '--config', cfg, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { env: { [ENV_VAR]: PLANT.upstreamEnv } });
      expect(s.code).toBe(1);
      assertClean('serve startup failure output', s.stdout + s.stderr);
    } finally {
      await rm(cfg, { recursive: true, force: true });
    }
  });
});
