// The admin listener: health, readiness, redacted config dump, metrics, the status page.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendYaml, routeYaml, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

let up: Upstream;
let gw: TestGateway;

beforeAll(async () => {
  up = await startUpstream();
  gw = await startGateway({
    'b.yaml': backendYaml('b', [{ port: up.port }], { apiKey: 'sk-admin-test-secret' }),
    'r.yaml': routeYaml('r', [{ matches: [{ 'x-ai-eg-model': 'm', 'x-workload-app': 'app-a' }], backends: [{ name: 'b' }] }]),
    'k8s.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: something\nspec: {}\n',
  });
});

afterAll(async () => {
  await gw.close();
  await up.close();
});

describe('admin listener', () => {
  it('reports health and readiness', async () => {
    expect((await fetch(`${gw.adminUrl}/healthz`)).status).toBe(200);
    // Ready once the token encodings are loaded (about a second after start).
    let ready = await fetch(`${gw.adminUrl}/readyz`);
    for (let i = 0; i < 200 && ready.status === 503; i++) {
      expect(await ready.json()).toMatchObject({ status: 'not ready', reason: 'loading the BPE token encodings' });
      await new Promise((r) => setTimeout(r, 50));
      ready = await fetch(`${gw.adminUrl}/readyz`);
    }
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready' });
  });

  it('dumps the effective config with secrets redacted and ignored kinds listed', async () => {
    const text = await (await fetch(`${gw.adminUrl}/config_dump`)).text();
    expect(text).not.toContain('sk-admin-test-secret');
    const dump = JSON.parse(text) as { generation: number; fingerprint: string; ignored: Array<{ kind: string; name: string }> };
    expect(dump.generation).toBeGreaterThan(0);
    expect(dump.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(dump.ignored).toContainEqual(expect.objectContaining({ kind: 'Deployment', name: 'something' }));
  });

  it('serves Prometheus text on /metrics and /stats/prometheus', async () => {
    await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-workload-app': 'app-a' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x' }] }),
    }).then((r) => r.text());
    await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-workload-app': 'made-up-app-name' },
      body: JSON.stringify({ model: 'm', messages: [] }),
    }).then((r) => r.text());
    for (const path of ['/metrics', '/stats/prometheus']) {
      const r = await fetch(`${gw.adminUrl}${path}`);
      expect(r.headers.get('content-type')).toContain('text/plain');
      const text = await r.text();
      expect(text).toMatch(/tollgate_requests_total\{status="200",route="default\/r",backend="default\/b",workload="app-a",error_code=""\} 1/);
      // Label values come from the config: an unknown workload is "unknown", never echoed.
      expect(text).not.toContain('made-up-app-name');
      expect(text).toMatch(/workload="unknown",error_code="route_not_found"/);
    }
  });

  it('renders a status page listing the routes', async () => {
    const r = await fetch(`${gw.adminUrl}/`);
    expect(r.headers.get('content-type')).toContain('text/html');
    const html = await r.text();
    expect(html).toContain('default/r/rule-0');
    expect(html).toContain('x-workload-app = app-a');
  });

  it('answers 404 for unknown admin paths and 405 for writes', async () => {
    expect((await fetch(`${gw.adminUrl}/nope`)).status).toBe(404);
    expect((await fetch(`${gw.adminUrl}/config_dump`, { method: 'POST' })).status).toBe(405);
  });
});
