// What the compiled RuntimeConfig says: defaults, precedence, Envoy's meaning of retry fields,
// credentials, TLS, freezing and the fingerprint.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configDump, DEFAULT_RETRY, loadConfig } from '../../src/config/index.js';
import { apiKeyPolicy, backend, docs, errors, FIXTURES, find, lineOf, loadText, route, TempDir, warnings } from './helpers.js';

const btp = (name: string, target: string, body: string, kind = 'HTTPRoute', section = ''): string =>
  `apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: ${name}}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: ${kind}, name: ${target}${section === '' ? '' : `, sectionName: ${section}`}}]
${body}`;

describe('routes', () => {
  it('applies the defaults', async () => {
    const r = await loadText(docs(route('r'), backend('be')));
    const rule = r.config!.routes[0]!.rules[0]!;
    expect(rule.backendRefs[0]).toMatchObject({ weight: 1, priority: 0, modelNameOverride: undefined });
    expect(rule.timeouts).toEqual({ requestMs: 60_000, backendRequestMs: undefined, streamIdleMs: undefined });
    expect(rule.retry).toBe(DEFAULT_RETRY);
    expect(rule).toMatchObject({ modelsOwnedBy: 'tollgate', modelsCreatedAt: 0, name: undefined, index: 0, routeKey: 'default/r' });
    expect(DEFAULT_RETRY).toMatchObject({ numRetries: 2, attemptsPerPriority: 1, onConnectFailure: true, onReset: true, backoffBaseMs: 25, backoffMaxMs: 250, perTryTimeoutMs: undefined });
    expect([...DEFAULT_RETRY.retriableStatuses]).toEqual([502, 503, 504]);
  });

  it('lower-cases header names and anchors regexes (the whole value must match)', async () => {
    const text = docs(
      route('r').replace(
        '- name: x-ai-eg-model\n              value: r',
        '- name: X-AI-EG-Model\n              type: RegularExpression\n              value: gpt-4o.*\n            - name: X-Tenant\n              value: Acme\n        - headers:\n            - name: x-ai-eg-model\n              type: RegularExpression\n              value: "(?i)llama|mistral"',
      ),
      backend('be'),
    );
    const r = await loadText(text);
    const [m1, m2] = r.config!.routes[0]!.rules[0]!.matches;
    expect(m1!.headers.map((h) => [h.name, h.type, h.value])).toEqual([
      ['x-ai-eg-model', 'RegularExpression', 'gpt-4o.*'],
      ['x-tenant', 'Exact', 'Acme'],
    ]);
    const re = m1!.headers[0]!.regex!;
    expect(re.test('gpt-4o-mini')).toBe(true);
    expect(re.test('my-gpt-4o')).toBe(false);
    const re2 = m2!.headers[0]!.regex!;
    expect(re2.test('LLAMA')).toBe(true);
    expect(re2.test('llama-3')).toBe(false); // alternation stays inside the anchors
  });

  it('names rules, keeps their order, and sorts routes by namespace/name', async () => {
    const two = route('b-route', { extraRule: '    - name: second\n      backendRefs: [{name: be, weight: 3, priority: 1, modelNameOverride: real-model}]\n' });
    const r = await loadText(docs(two, route('a-route'), route('a-route', { ns: 'zeta' }).replace('name: be', 'name: be\n          namespace: default'), backend('be')));
    expect(r.config!.routes.map((x) => x.key)).toEqual(['default/a-route', 'default/b-route', 'zeta/a-route']);
    const rules = r.config!.routes[1]!.rules;
    expect(rules.map((x) => x.id)).toEqual(['default/b-route/rule-0', 'default/b-route/second']);
    expect(rules[1]!.backendRefs[0]).toMatchObject({ weight: 3, priority: 1, modelNameOverride: 'real-model' });
    // cross-namespace reference resolves to the same compiled backend object
    expect(r.config!.routes[2]!.rules[0]!.backendRefs[0]!.backend).toBe(r.config!.backends.get('default/be'));
  });

  it('rejects a rule without backends, duplicate rule names, and backendRequest longer than request', async () => {
    const text = docs(
      route('r', {
        extraRule:
          '    - name: x\n      backendRefs: [{name: be}]\n    - name: x\n      backendRefs: [{name: be}]\n      timeouts: {request: 10s, backendRequest: 20s}\n    - matches: []\n',
      }),
      backend('be'),
    );
    const r = await loadText(text);
    find(r, /two rules are named "x"/);
    find(r, /backendRequest \(20000 ms\) is longer than the request timeout \(10000 ms\)/);
    find(r, /this rule has no backendRefs/);
  });

  it('takes modelsCreatedAt, modelsOwnedBy and metadata.creationTimestamp', async () => {
    const text = docs(
      route('r', { extraRule: '    - backendRefs: [{name: be}]\n      modelsOwnedBy: acme\n      modelsCreatedAt: "2024-05-21T10:00:00Z"\n' }).replace('  name: r\n', '  name: r\n  creationTimestamp: "2020-01-01T00:00:00Z"\n'),
      backend('be'),
    );
    const rules = (await loadText(text)).config!.routes[0]!.rules;
    expect(rules[0]!.modelsCreatedAt).toBe(Date.UTC(2020, 0, 1) / 1000);
    expect(rules[1]).toMatchObject({ modelsOwnedBy: 'acme', modelsCreatedAt: Date.UTC(2024, 4, 21, 10) / 1000 });
  });

  it('accepts v1alpha1 legacy fields with a deprecation warning', async () => {
    const text = docs(
      route('r')
        .replace('v1beta1', 'v1alpha1')
        .replace('spec:\n', 'spec:\n  schema: {name: OpenAI}\n  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]\n'),
      backend('be'),
    );
    const r = await loadText(text);
    expect(errors(r)).toEqual([]);
    expect(warnings(r).map((w) => w.message)).toEqual(['`spec.schema` is deprecated and has no effect', '`spec.targetRefs` is deprecated']);
    const beta = await loadText(text.replace('v1alpha1', 'v1beta1'));
    expect(find(beta, /unknown field `schema`/).hint).toMatch(/removed from AIGatewayRoute/);
  });

  it('carries llmRequestCosts and checks CEL', async () => {
    const costs = '  llmRequestCosts:\n    - {metadataKey: in, type: InputToken}\n    - {metadataKey: c, type: CEL, cel: "input_tokens * uint(2)"}\n';
    const ok = await loadText(docs(route('r').replace('spec:\n', `spec:\n${costs}`), backend('be')));
    const costsOut = ok.config!.routes[0]!.llmRequestCosts;
    expect(costsOut.map(({ metadataKey, type, cel }) => ({ metadataKey, type, cel }))).toEqual([
      { metadataKey: 'in', type: 'InputToken', cel: undefined },
      { metadataKey: 'c', type: 'CEL', cel: 'input_tokens * uint(2)' },
    ]);
    const usage = { model: 'm', backend: 'b', routeName: 'r', inputTokens: 7, cachedInputTokens: 0, cacheCreationInputTokens: 0, outputTokens: 3, reasoningTokens: 0, totalTokens: 10 };
    expect(costsOut.map((c) => c.evaluate(usage))).toEqual([7, 14]);
    const bad = await loadText(docs(route('r').replace('spec:\n', 'spec:\n  llmRequestCosts: [{metadataKey: c, type: CEL}]\n'), backend('be')));
    find(bad, /a CEL cost needs a `cel` expression/);
    const badCel = await loadText(docs(route('r').replace('spec:\n', 'spec:\n  llmRequestCosts: [{metadataKey: c, type: CEL, cel: "input_tokens +* 2"}]\n'), backend('be')));
    expect(find(badCel, /invalid CEL expression at column 15 of the expression: Unexpected token/).hint).toMatch(/input_tokens/);
    const badVar = await loadText(docs(route('r').replace('spec:\n', 'spec:\n  llmRequestCosts: [{metadataKey: c, type: CEL, cel: "prompt_tokens"}]\n'), backend('be')));
    find(badVar, /Unknown variable: prompt_tokens/);
  });
});

describe('BackendTrafficPolicy', () => {
  it('maps retry fields with Envoy meaning, and the most specific policy wins', async () => {
    const text = docs(
      route('r', { extraRule: '    - name: special\n      backendRefs: [{name: be}]\n' }),
      route('other'),
      backend('be'),
      btp('gw', 'gateway', '  retry: {numRetries: 4}\n  timeout: {http: {requestTimeout: 90s, streamIdleTimeout: 7s}}', 'Gateway'),
      btp('route', 'r', '  retry:\n    numRetries: 3\n    retryOn: {triggers: [5xx]}\n    perRetry: {timeout: 2s, backOff: {baseInterval: 50ms}}'),
      btp('rule', 'r', '  retry:\n    numAttemptsPerPriority: 2\n    retryOn: {triggers: [retriable-status-codes, connect-failure], httpStatusCodes: [429]}', 'HTTPRoute', 'special'),
    );
    const r = await loadText(text);
    expect(errors(r)).toEqual([]);
    const [other, main] = [r.config!.routes[0]!, r.config!.routes[1]!];
    // gateway-level: no retryOn → Envoy Gateway defaults (connect-failure, refused-stream, …, 503)
    const g = other.rules[0]!;
    expect(g.retry).toMatchObject({ numRetries: 4, attemptsPerPriority: 5, onConnectFailure: true, onReset: false, backoffBaseMs: 25, backoffMaxMs: 250 });
    expect([...g.retry.retriableStatuses]).toEqual([503]);
    expect(g.timeouts).toEqual({ requestMs: 90_000, backendRequestMs: undefined, streamIdleMs: 7_000 });
    // route-level replaces the gateway policy as a whole
    const rr = main.rules[0]!;
    expect(rr.retry).toMatchObject({ numRetries: 3, onReset: true, onConnectFailure: true, perTryTimeoutMs: 2000, backoffBaseMs: 50, backoffMaxMs: 500 });
    expect(rr.retry.retriableStatuses.size).toBe(100);
    expect(rr.retry.retriableStatuses.has(500) && rr.retry.retriableStatuses.has(599)).toBe(true);
    expect(rr.timeouts.requestMs).toBe(60_000);
    // rule-level (sectionName)
    const rs = main.rules[1]!;
    expect(rs.retry).toMatchObject({ numRetries: 2, attemptsPerPriority: 2, onReset: false, onConnectFailure: true });
    expect([...rs.retry.retriableStatuses]).toEqual([429]);
  });

  it('the rule timeouts win over the policy; connectTimeout goes to the backends the route uses', async () => {
    const text = docs(
      route('r', { extraRule: '      timeouts: {request: 5s}\n' }),
      backend('be'),
      backend('unused'),
      btp('p', 'r', '  timeout: {tcp: {connectTimeout: 2s}, http: {requestTimeout: 1m}}'),
    );
    const r = await loadText(text);
    expect(r.config!.routes[0]!.rules[0]!.timeouts.requestMs).toBe(5_000);
    expect(r.config!.backends.get('default/be')!.connectTimeoutMs).toBe(2_000);
    expect(r.config!.backends.get('default/unused')!.connectTimeoutMs).toBe(10_000);
  });

  it('warns about accepted-but-not-enforced fields, errors on unknown ones', async () => {
    const ok = await loadText(docs(route('r'), backend('be'), btp('p', 'r', '  circuitBreaker: {maxConnections: 10}')));
    expect(errors(ok)).toEqual([]);
    expect(warnings(ok).map((w) => w.message)).toEqual(['`circuitBreaker` is accepted but not enforced by Tollgate']);
    const bad = await loadText(docs(route('r'), backend('be'), btp('p', 'r', '  retries: {numRetries: 1}')));
    expect(find(bad, /unknown field `retries`/).hint).toBe('did you mean `retry`?');
  });

  it('compiles rate limits, and explains broken ones', async () => {
    const rl = `  rateLimit:
    local:
      rules:
        - clientSelectors: [{headers: [{name: X-Workload-App, type: Exact, value: ide}]}]
          limit: {requests: 2, unit: Minute}
        - clientSelectors: [{headers: [{name: x-tenant, type: Distinct}]}, {sourceCIDR: {value: 10.0.0.0/8, type: Distinct}}]
          limit: {requests: 1000, unit: Hour}
          cost:
            request: {from: Number, number: 0}
            response: {from: Metadata, metadata: {namespace: io.envoy.ai_gateway, key: llm_total_token}}`;
    const ok = await loadText(docs(route('r'), backend('be'), btp('p', 'r', rl)));
    expect(errors(ok)).toEqual([]);
    const rules = ok.config!.routes[0]!.rules[0]!.rateLimits;
    expect(rules.map((x) => ({ label: x.label, scope: x.scope, limit: x.limit, cost: x.requestCost, resp: x.responseCost }))).toEqual([
      { label: 'default/p/rule-0', scope: 'Local', limit: { requests: 2, unit: 'Minute', windowMs: 60_000 }, cost: { from: 'Number', number: 1 }, resp: undefined },
      {
        label: 'default/p/rule-1',
        scope: 'Local',
        limit: { requests: 1000, unit: 'Hour', windowMs: 3_600_000 },
        cost: { from: 'Number', number: 0 },
        resp: { from: 'Metadata', key: 'llm_total_token' },
      },
    ]);
    expect(rules[0]!.selectors[0]!.headers[0]!.name).toBe('x-workload-app');
    // The route does not define llm_total_token: the rate limit would count 0 there.
    find(ok, /charges metadata "llm_total_token", which this route does not define/, 'warning');
    const bad = await loadText(
      docs(
        route('r'),
        backend('be'),
        btp('p', 'r', '  rateLimit:\n    local:\n      rules:\n        - clientSelectors: [{sourceCIDR: {value: 10.0.0.0/33}}, {headers: [{name: a, type: Distinct, value: x}]}]\n          limit: {requests: 2}'),
      ),
    );
    find(bad, /invalid CIDR "10\.0\.0\.0\/33": prefix length must be 0–32/);
    find(bad, /a Distinct header selector takes no value/);
    find(bad, /a limit needs both `requests` and `unit`/);
  });

  it('rejects a back-off max below its base, and two policies on one route', async () => {
    const text = docs(route('r'), backend('be'), btp('a', 'r', '  retry: {perRetry: {backOff: {baseInterval: 1s, maxInterval: 100ms}}}'), btp('b', 'r', '  retry: {}'));
    const r = await loadText(text);
    find(r, /maxInterval \(100 ms\) is shorter than baseInterval \(1000 ms\)/);
    find(r, /already targeted by BackendTrafficPolicy default\/a/);
  });
});

describe('ClientTrafficPolicy', () => {
  const ctp = (limit: string): string =>
    `apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: ClientTrafficPolicy\nmetadata: {name: c}\nspec:\n  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]\n  connection: {bufferLimit: ${limit}}\n  tcpKeepalive: {}`;
  it('bufferLimit is a Kubernetes quantity → listener.bodyLimitBytes', async () => {
    const r = await loadText(docs(route('r'), backend('be'), ctp('32Ki')));
    expect(r.config!.listener.bodyLimitBytes).toBe(32 * 1024);
    find(r, /`tcpKeepalive` is accepted but not enforced/, 'warning');
    expect((await loadText(docs(route('r'), backend('be'), ctp('1G')))).config!.listener.bodyLimitBytes).toBe(1e9);
    const bad = await loadText(docs(route('r'), backend('be'), ctp('50 MB')));
    expect(find(bad, /"50 MB" is not a byte quantity/).hint).toMatch(/50Mi/);
  });
});

describe('backends', () => {
  it('normalizes the prefix and carries mutations, lower-cased and parsed', async () => {
    const be = backend('be').replace(
      '    name: OpenAI\n',
      '    name: OpenAI\n    prefix: v1beta/openai/\n  headerMutation: {set: [{name: X-Team, value: a}], remove: [X-Debug]}\n  bodyMutation: {set: [{path: service_tier, value: \'"flex"\'}, {path: temperature, value: "0.2"}], remove: [user]}\n',
    );
    const b = (await loadText(docs(route('r'), be))).config!.backends.get('default/be')!;
    expect(b.schema).toEqual({ name: 'OpenAI', version: undefined, prefix: '/v1beta/openai' });
    expect(b.headerMutation).toEqual({ set: [['x-team', 'a']], remove: ['x-debug'] });
    expect(b.bodyMutation).toEqual({ set: [['service_tier', 'flex'], ['temperature', 0.2]], remove: ['user'] });
  });

  it('balances several endpoints; rejects unix sockets, bad IPs and fqdn/ip mixes', async () => {
    const many = backend('be').replace('    - ip:\n        address: 127.0.0.1\n        port: 8000\n', '    - ip: {address: 10.0.0.1, port: 8000}\n    - ip: {address: "::1", port: 8001}\n');
    expect((await loadText(docs(route('r'), many))).config!.backends.get('default/be')!.endpoints).toEqual([
      { kind: 'ip', host: '10.0.0.1', port: 8000 },
      { kind: 'ip', host: '::1', port: 8001 },
    ]);
    const bad = backend('be').replace(
      '    - ip:\n        address: 127.0.0.1\n        port: 8000\n',
      '    - unix: {path: /run/x.sock}\n    - ip: {address: 10.0.0.300, port: 1}\n    - ip: {address: 10.0.0.3, port: 1}\n    - fqdn: {hostname: a.example, port: 80}\n',
    );
    const r = await loadText(docs(route('r'), bad));
    find(r, /unix socket endpoints are not supported/);
    find(r, /"10.0.0.300" is not an IP address/);
    find(r, /fqdn endpoints cannot be mixed with ip endpoints/);
  });

  it('injects the right header per policy type, with the key trimmed', async () => {
    const secret = 'apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {apiKey: ' + Buffer.from('  sk-123\n').toString('base64') + '}';
    for (const [type, header, value] of [
      ['APIKey', 'authorization', 'Bearer sk-123'],
      ['AzureAPIKey', 'api-key', 'sk-123'],
      ['AnthropicAPIKey', 'x-api-key', 'sk-123'],
    ] as const) {
      const r = await loadText(docs(route('r'), backend('be'), apiKeyPolicy('p', 'be', 's', type), secret));
      const c = r.config!.backends.get('default/be')!.credential!;
      expect([c.kind, c.policy, c.header, c.value.reveal(), c.policyName]).toEqual(['header', type, header, value, 'BackendSecurityPolicy default/p']);
      expect(c.value.source).toBe('Secret default/s key apiKey');
    }
  });

  it('rejects a policy type the backend schema cannot use, and a type/field mismatch', async () => {
    const aws = 'apiVersion: aigateway.envoyproxy.io/v1beta1\nkind: BackendSecurityPolicy\nmetadata: {name: p}\nspec:\n  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: be}]\n  type: AWSCredentials\n  awsCredentials: {region: us-east-1}';
    find(await loadText(docs(route('r'), backend('be'), aws)), /a AWSCredentials policy cannot authenticate to AIServiceBackend default\/be, whose schema is OpenAI/);
    const mismatch = apiKeyPolicy('p', 'be', 's').replace('type: APIKey', 'type: AzureAPIKey');
    find(await loadText(docs(route('r'), backend('be'), mismatch)), /type AzureAPIKey needs exactly the `azureAPIKey` field/);
  });

  it('TLS: BackendTLSPolicy with a CA ConfigMap, system CAs, and the port-443 reminder', async () => {
    const pem = readFileSync(join(FIXTURES, 'test-ca.pem'), 'utf8');
    const cm = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ca}\ndata:\n  ca.crt: |\n${pem.trimEnd().split('\n').map((l) => `    ${l}`).join('\n')}`;
    const policy = (validation: string): string =>
      `apiVersion: gateway.networking.k8s.io/v1\nkind: BackendTLSPolicy\nmetadata: {name: t}\nspec:\n  targetRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: be}]\n  validation: ${validation}`;
    const withCa = await loadText(docs(route('r'), backend('be'), cm, policy('{hostname: upstream.internal, caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}]}')));
    expect(errors(withCa)).toEqual([]);
    const tls = withCa.config!.backends.get('default/be')!.tls!;
    expect(tls.servername).toBe('upstream.internal');
    expect(tls.ca).toContain('-----BEGIN CERTIFICATE-----');
    expect(tls.insecureSkipVerify).toBe(false);

    const bogus = cm.replace(/MII[A-Za-z0-9+/]{10}/, 'MIIxxxxxxxxxx');
    find(await loadText(docs(route('r'), backend('be'), bogus, policy('{hostname: h, caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}]}'))), /invalid certificate/);
    find(await loadText(docs(route('r'), backend('be'), policy('{hostname: h}'))), /no CA to verify the backend with/);
    find(await loadText(docs(route('r'), backend('be'), policy('{hostname: h, wellKnownCACertificates: System, caCertificateRefs: [{group: "", kind: ConfigMap, name: nope}]}'))), /either caCertificateRefs or wellKnownCACertificates/);

    const plain443 = await loadText(docs(route('r'), backend('be', { port: 443 })));
    expect(find(plain443, /port 443 is used without TLS/, 'warning').hint).toMatch(/BackendTLSPolicy/);
    const insecure = backend('be').replace('  endpoints:', '  tls: {insecureSkipVerify: true}\n  endpoints:');
    expect((await loadText(docs(route('r'), insecure))).config!.backends.get('default/be')!.tls).toEqual({ servername: undefined, ca: undefined, insecureSkipVerify: true });
  });
});

describe('the snapshot', () => {
  it('is deep-frozen', async () => {
    const c = (await loadText(docs(route('r'), backend('be')))).config!;
    const rule = c.routes[0]!.rules[0]!;
    for (const o of [c, c.routes, c.routes[0], rule, rule.matches, rule.matches[0]!.headers[0], rule.backendRefs[0], rule.timeouts, c.backends.get('default/be'), c.backends.get('default/be')!.endpoints[0]]) {
      expect(Object.isFrozen(o)).toBe(true);
    }
    expect(() => {
      (rule.timeouts as { requestMs: number }).requestMs = 1;
    }).toThrow(TypeError);
  });

  it('dumps without secrets; the fingerprint follows content, not file timestamps', async () => {
    const dir = new TempDir();
    try {
      const secret = 'apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {apiKey: sk-very-secret}';
      const file = dir.write('c.yaml', docs(route('r'), backend('be'), apiKeyPolicy('p', 'be', 's'), secret));
      const a = (await loadConfig({ paths: [dir.path], purpose: 'serve', env: {} })).config!;
      const dump = JSON.stringify(configDump(a));
      expect(dump).not.toContain('sk-very-secret');
      expect(dump).toContain('<redacted: Secret default/s key apiKey>');
      expect(JSON.stringify(a.backends.get('default/be'))).not.toContain('sk-very-secret');
      expect(a.fingerprint).toMatch(/^[0-9a-f]{64}$/);

      dir.write('c.yaml', readFileSync(file, 'utf8')); // same bytes, new mtime
      const b = (await loadConfig({ paths: [dir.path], purpose: 'serve', env: {} })).config!;
      expect(b.fingerprint).toBe(a.fingerprint);
      dir.write('c.yaml', readFileSync(file, 'utf8').replace('port: 8000', 'port: 8001'));
      const c = (await loadConfig({ paths: [dir.path], purpose: 'serve', env: {} })).config!;
      expect(c.fingerprint).not.toBe(a.fingerprint);
      expect(c.files).toEqual([file]);
    } finally {
      dir.remove();
    }
  });

  it('reuses unchanged compiled routes across reloads, and rebuilds routes whose backend changed', async () => {
    const dir = new TempDir();
    try {
      dir.write('a.yaml', docs(route('a', { backend: 'b1' }), backend('b1')));
      dir.write('b.yaml', docs(route('b', { backend: 'b2' }), backend('b2')));
      const one = (await loadConfig({ paths: [dir.path], purpose: 'serve', env: {} })).config!;
      dir.write('b.yaml', docs(route('b', { backend: 'b2' }), backend('b2', { port: 9999 })));
      const two = (await loadConfig({ paths: [dir.path], purpose: 'serve', env: {} })).config!;
      expect(two.routes[0]).toBe(one.routes[0]);
      expect(two.routes[1]).not.toBe(one.routes[1]);
      expect(two.routes[1]!.rules[0]!.backendRefs[0]!.backend.endpoints[0]!.port).toBe(9999);
    } finally {
      dir.remove();
    }
  });

  it('a reused route still notices that its backend went from broken to missing', async () => {
    const dir = new TempDir();
    try {
      dir.write('a.yaml', route('r'));
      dir.write('b.yaml', backend('be'));
      const load = (): ReturnType<typeof loadConfig> => loadConfig({ paths: [dir.path], purpose: 'serve', env: {} });
      expect(errors(await load())).toEqual([]);
      dir.write('b.yaml', backend('be').replace('name: OpenAI', 'name: 42'));
      expect(errors(await load()).map((d) => d.path)).toEqual(['spec.schema.name']);
      dir.write('b.yaml', backend('other'));
      const gone = await load();
      expect(gone.config).toBeUndefined();
      find(gone, /AIServiceBackend "default\/be" not found/);
    } finally {
      dir.remove();
    }
  });

  it('source refs point at the manifests', async () => {
    const text = docs(route('r', { extraRule: '    - backendRefs: [{name: be}]\n' }), backend('be'));
    const c = (await loadText(text)).config!;
    expect(c.routes[0]!.source.line).toBe(1);
    expect(c.routes[0]!.rules.map((r) => r.source.line)).toEqual([lineOf(text, '- matches:'), lineOf(text, '- backendRefs: [{name: be}]')]);
    expect(c.backends.get('default/be')!.source.line).toBe(lineOf(text, 'kind: AIServiceBackend') - 1);
  });
});
