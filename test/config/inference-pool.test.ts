// InferencePool backends: Envoy AI Gateway's inference-pool examples validate unchanged (what only
// applies inside Kubernetes reported, not enforced), and the Tollgate annotations compile or fail
// with a message naming the annotation.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { errors, TempDir } from './helpers.js';

const POOL_EXAMPLES = fileURLToPath(new URL('../fixtures/compat/envoy-ai-gateway/examples/inference-pool/', import.meta.url));

function warnings(r: Awaited<ReturnType<typeof loadConfig>>): string[] {
  return r.diagnostics.filter((d) => d.severity === 'warning').map((d) => d.message);
}

describe('Envoy AI Gateway inference-pool examples', () => {
  it('aigwroute.yaml + base.yaml validate unchanged; the external picker is reported as ignored', async () => {
    const r = await loadConfig({ paths: [join(POOL_EXAMPLES, 'aigwroute.yaml'), join(POOL_EXAMPLES, 'base.yaml')], purpose: 'validate', env: {} });
    expect(errors(r)).toEqual([]);
    expect(r.config?.routes.length).toBe(1);
    const w = warnings(r);
    expect(w).toContain("the external endpoint picker Service mistral-epp is ignored: Tollgate picks this pool's endpoints itself");
    expect(w.some((m) => m.startsWith('InferencePool default/vllm-llama3-8b-instruct is not in this config'))).toBe(true);
    expect(w.some((m) => m.startsWith('this InferencePool has no endpoints outside Kubernetes'))).toBe(true);
    const rules = r.config!.routes[0]!.rules;
    expect(rules[1]!.backendRefs.map((b) => b.backend.pool?.key)).toEqual(['default/mistral']);
    expect(rules[1]!.backendRefs[0]!.backend.endpoints).toEqual([]);
    expect(rules[2]!.backendRefs[0]!.backend.name).toBe('envoy-ai-gateway-basic-testupstream');
    // The pool is read, not ignored; the Kubernetes-only kinds around it are.
    const ignored = r.config!.ignored.map((i) => i.kind);
    expect(ignored).not.toContain('InferencePool');
    expect(ignored).toContain('InferenceObjective');
  });

  it('with-annotations.yaml validates; the ext_proc annotations are reported as having no effect', async () => {
    const r = await loadConfig({ paths: [join(POOL_EXAMPLES, 'with-annotations.yaml')], purpose: 'validate', env: {} });
    expect(errors(r)).toEqual([]);
    const w = warnings(r);
    expect(w.filter((m) => m.includes("configures Envoy's external processor")).length).toBe(2);
    expect(w).toContain("the external endpoint picker Service mistral-epp-with-annotations is ignored: Tollgate picks this pool's endpoints itself");
  });

  it('httproute.yaml validates (HTTPRoutes are listed as ignored)', async () => {
    const r = await loadConfig({ paths: [join(POOL_EXAMPLES, 'httproute.yaml')], purpose: 'validate', env: {} });
    expect(errors(r)).toEqual([]);
    expect(r.config!.ignored.map((i) => i.kind)).toContain('HTTPRoute');
  });
});

function pool(annotations: Record<string, string>): string {
  const ann = Object.entries(annotations)
    .map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`)
    .join('\n');
  return `apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata:
  name: vllm
  namespace: default
  annotations:
${ann}
spec:
  targetPorts:
    - number: 8000
  selector:
    matchLabels:
      app: vllm
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata:
  name: r
  namespace: default
spec:
  rules:
    - matches:
        - headers:
            - name: x-ai-eg-model
              value: m
      backendRefs:
        - group: inference.networking.k8s.io
          kind: InferencePool
          name: vllm
`;
}

describe('InferencePool annotations', () => {
  let dir: TempDir | undefined;
  afterEach(() => dir?.remove());
  const load = async (annotations: Record<string, string>) => {
    dir = new TempDir();
    const path = dir.write('pool.yaml', pool(annotations));
    return loadConfig({ paths: [path], purpose: 'serve', env: {} });
  };

  it('compiles endpoints (bare host takes the target port), strategy, weights and session header', async () => {
    const r = await load({
      'tollgate.io/endpoints': '10.0.0.5:8001, vllm-2.internal ,[::1]:8003',
      'tollgate.io/endpoint-picker': 'least-request',
      'tollgate.io/picker-weights': 'queue=2,prefix-cache=3,prefill=1.5',
      'tollgate.io/scrape-interval': '500ms',
      'tollgate.io/session-header': 'X-Session-Id',
      'tollgate.io/picker-debug': 'true',
      'tollgate.io/prefix-max-blocks': '64',
      'tollgate.io/dns-servers': '10.96.0.10, 10.96.0.11:5353,[fd00::a]:53',
    });
    expect(errors(r)).toEqual([]);
    const p = r.config!.routes[0]!.rules[0]!.backendRefs[0]!.backend.pool!;
    expect(p.endpoints).toEqual([
      { kind: 'ip', host: '10.0.0.5', port: 8001 },
      { kind: 'fqdn', host: 'vllm-2.internal', port: 8000 },
      { kind: 'ip', host: '::1', port: 8003 },
    ]);
    expect(p.strategy).toBe('least-request');
    expect(p.weights).toEqual({ queue: 2, 'kv-cache': 2, 'prefix-cache': 3, prefill: 1.5 });
    expect(p.scrapeIntervalMs).toBe(500);
    expect(p.sessionHeader).toBe('x-session-id');
    expect(p.debugHeader).toBe(true);
    expect(p.prefixMaxBlocks).toBe(64);
    expect(p.dnsServers).toEqual(['10.96.0.10:53', '10.96.0.11:5353', '[fd00::a]:53']);
  });

  it('rejects bad annotations with the annotation named', async () => {
    const r = await load({
      'tollgate.io/endpoints': 'host:99999,ok:80,bad host:1',
      'tollgate.io/endpoint-picker': 'random',
      'tollgate.io/picker-weights': 'queue=fast',
      'tollgate.io/scrape-interval': '1ms',
      'tollgate.io/prefix-max-blocks': '0',
      'tollgate.io/dns-servers': 'dns.internal',
    });
    expect(r.config).toBeUndefined();
    const e = errors(r);
    expect(e.map((d) => d.message)).toEqual(
      expect.arrayContaining([
        'endpoint "host:99999" has port 99999, outside 1–65535',
        'unknown endpoint picker "random"',
        '"queue=fast" is not scorer=weight',
        'scrape interval "1ms" must be a duration from 10ms to 60s',
        '"0" must be a whole number of blocks from 1 to 4096',
        'DNS server "dns.internal" is not an IP address with an optional port',
      ]),
    );
    expect(e.find((d) => d.message.startsWith('endpoint "bad host:1"'))).toBeDefined();
    expect(e.every((d) => d.path?.startsWith('metadata.annotations') ?? true)).toBe(true);
  });

  it('compiles a CEL session key; a bad expression is an error naming the annotation', async () => {
    const good = await load({ 'tollgate.io/endpoints': '10.0.0.5:8000', 'tollgate.io/session-key-cel': 'headers["x-tenant"] + "/" + user' });
    expect(errors(good)).toEqual([]);
    const cel = good.config!.routes[0]!.rules[0]!.backendRefs[0]!.backend.pool!.sessionKeyCel!;
    expect(cel.source).toBe('headers["x-tenant"] + "/" + user');
    const req = { method: 'POST', path: '/v1/chat/completions' };
    expect(cel.evaluate({ ...req, headers: { 'x-tenant': 'acme' }, model: 'm', user: 'u1' })).toBe('acme/u1');
    // A header the expression needs but the request lacks: no key, not a failed request.
    expect(cel.evaluate({ ...req, headers: {}, model: 'm', user: 'u1' })).toBeUndefined();

    for (const [expr, message] of [
      ['headers["x-user"] +', /^annotation tollgate\.io\/session-key-cel is not a valid CEL expression at column \d+: /],
      ['session_id', /^annotation tollgate\.io\/session-key-cel is not a valid CEL expression at column 1: Unknown variable: session_id/],
      ['size(user) > 3', /gives a bool, but a key must be a string/],
      ['path == "/v1/chat/completions"', /gives a bool, but a key must be a string/],
      ['method + 1', /^annotation tollgate\.io\/session-key-cel is not a valid CEL expression at column \d+: .*string.*int/],
      ['request.path', /Unknown variable: request/],
    ] as const) {
      const r = await load({ 'tollgate.io/endpoints': '10.0.0.5:8000', 'tollgate.io/session-key-cel': expr });
      expect(r.config).toBeUndefined();
      const e = errors(r);
      expect(e).toHaveLength(1);
      expect(e[0]!.message).toMatch(message);
      expect(e[0]!.path).toContain('tollgate.io/session-key-cel');
    }
    // The request line: method and target (query string included), type-checked as strings.
    const line = await load({ 'tollgate.io/endpoints': '10.0.0.5:8000', 'tollgate.io/session-key-cel': 'method == "POST" && path.startsWith("/v1/chat/") ? path + "|" + user : ""' });
    expect(errors(line)).toEqual([]);
    const byLine = line.config!.routes[0]!.rules[0]!.backendRefs[0]!.backend.pool!.sessionKeyCel!;
    expect(byLine.evaluate({ method: 'POST', path: '/v1/chat/completions?tenant=a', headers: {}, model: 'm', user: 'u1' })).toBe('/v1/chat/completions?tenant=a|u1');
    expect(byLine.evaluate({ method: 'POST', path: '/v1/completions', headers: {}, model: 'm', user: 'u1' })).toBeUndefined();
    expect(byLine.evaluate({ method: 'GET', path: '/v1/chat/completions', headers: {}, model: 'm', user: 'u1' })).toBeUndefined();
    const hint = await load({ 'tollgate.io/endpoints': '10.0.0.5:8000', 'tollgate.io/session-key-cel': 'url' });
    expect(errors(hint)[0]!.hint).toContain('headers, method, path, model, user');

    const both = await load({ 'tollgate.io/endpoints': '10.0.0.5:8000', 'tollgate.io/session-header': 'x-s', 'tollgate.io/session-key-cel': 'user' });
    expect(errors(both).map((d) => d.message)).toEqual(['annotations tollgate.io/session-header and tollgate.io/session-key-cel both set the session key']);
  });
});
