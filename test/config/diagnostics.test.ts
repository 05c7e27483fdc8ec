// Broken manifests: each problem is reported at the line of the offending node, says what is wrong
// and how to fix it, and one run reports all of them.
import { describe, expect, it } from 'vitest';
import { formatDiagnostics } from '../../src/config/index.js';
import { apiKeyPolicy, backend, docs, errors, find, lineOf, loadText, route, warnings } from './helpers.js';

describe('schema problems', () => {
  it('a typo in a field name gets "did you mean" at the key line', async () => {
    const text = docs(
      route('r', { extraRule: '      timeout:\n        request: 10s\n' }).replace('backendRefs:', 'backendRef:'),
      backend('be'),
    );
    const r = await loadText(text);
    const d = find(r, /unknown field `backendRef`/);
    expect(d.hint).toBe('did you mean `backendRefs`?');
    expect(d.line).toBe(lineOf(text, 'backendRef:'));
    expect(d.column).toBe(7);
    expect(d.path).toBe('spec.rules[0].backendRef');
    expect(d.resource).toBe('AIGatewayRoute default/r');
    const t = find(r, /unknown field `timeout`/);
    expect(t.hint).toBe('did you mean `timeouts`?');
    expect(t.line).toBe(lineOf(text, 'timeout:'));
  });

  it('an unknown field far from any known one lists the known fields', async () => {
    const text = docs(backend('be').replace('  schema:\n', '  zzzzzzzz: 1\n  schema:\n'));
    const d = find(await loadText(text), /unknown field `zzzzzzzz`/);
    expect(d.hint).toMatch(/^known fields here: `schema`, `backendRef`/);
  });

  it('wrong enum values list the allowed ones and suggest the closest', async () => {
    const text = docs(route('r').replace('- name: x-ai-eg-model', '- type: Regex\n              name: x-ai-eg-model'), backend('be'));
    const d = find(await loadText(text), /must be one of `Exact`, `RegularExpression`/);
    expect(d.message).toContain('"Regex"');
    expect(d.line).toBe(lineOf(text, 'type: Regex'));
  });

  it('wrong types say what was expected; numbers for strings get a quoting hint', async () => {
    const text = docs(route('r').replace('value: r', 'value: 42'), backend('be').replace('port: 8000', 'port: "8000"'));
    const r = await loadText(text);
    const v = find(r, /`value` must be a string, got the number 42/);
    expect(v.hint).toBe('put the value in quotes: "42"');
    const p = find(r, /`port` must be a number, got the string "8000"/);
    expect(p.hint).toBe('remove the quotes: 8000');
    expect(p.line).toBe(lineOf(text, 'port: "8000"'));
  });

  it('missing required fields are named, at the enclosing object', async () => {
    const text = docs(route('r'), backend('be').replace('  backendRef:\n    name: be\n    kind: Backend\n    group: gateway.envoyproxy.io\n', ''));
    const d = find(await loadText(text), /missing required field `backendRef`/);
    expect(d.resource).toBe('AIServiceBackend default/be');
  });

  it('bad durations show an example', async () => {
    const text = docs(route('r', { extraRule: '      timeouts:\n        request: 30 seconds\n' }), backend('be'));
    const d = find(await loadText(text), /"30 seconds" is not a duration/);
    expect(d.hint).toMatch(/`30s`, `500ms`, `1h30m`/);
    expect(d.line).toBe(lineOf(text, 'request: 30 seconds'));
    const unit = find(await loadText(docs(route('r', { extraRule: '      streamIdleTimeout: 5\n' }), backend('be'))), /duration 5 has no unit/);
    expect(unit.hint).toMatch(/`5s`/);
  });

  it('a bad regex is reported at its value with the engine message', async () => {
    const text = docs(route('r').replace('- name: x-ai-eg-model\n              value: r', '- type: RegularExpression\n              name: x-ai-eg-model\n              value: "gpt-(4o"'), backend('be'));
    const d = find(await loadText(text), /invalid regular expression "gpt-\(4o"/);
    expect(d.line).toBe(lineOf(text, 'value: "gpt-(4o"'));
  });

  it('a regex that is only valid once wrapped is still rejected (anchoring stays intact)', async () => {
    const text = docs(route('r').replace('- name: x-ai-eg-model\n              value: r', '- type: RegularExpression\n              name: x-ai-eg-model\n              value: "a)|(b"'), backend('be'));
    find(await loadText(text), /invalid regular expression/);
  });

  it('a bodyMutation value that is not JSON is an error with a quoting hint', async () => {
    const text = docs(
      route('r').replace('        - name: be\n', '        - name: be\n          bodyMutation:\n            set:\n              - path: service_tier\n                value: scale\n'),
      backend('be'),
    );
    const d = find(await loadText(text), /not valid JSON/);
    expect(d.line).toBe(lineOf(text, 'value: scale'));
    expect(d.hint).toMatch(/JSON quotes/);
  });

  it('reports every problem in one run, across documents', async () => {
    const text = docs(
      route('r1').replace('backendRefs:', 'backendRef:'),
      route('r2', { extraRule: '      timeouts: {request: forever}\n' }),
      backend('be').replace('name: OpenAI', 'name: OpenAl'),
    );
    const r = await loadText(text);
    expect(errors(r).map((d) => d.message)).toEqual([
      'unknown field `backendRef`',
      '"forever" is not a duration',
      expect.stringMatching(/`name` must be one of .*"OpenAl"/),
    ]);
    expect(r.config).toBeUndefined();
  });

  it('YAML syntax errors point at the line and do not stop other documents', async () => {
    const text = docs(route('r'), 'apiVersion: v1\nkind: Secret\nmetadata: {name: s\nstringData: {}', backend('be'));
    const r = await loadText(text);
    const d = errors(r)[0]!;
    expect(d.message).toMatch(/^YAML syntax error/);
    expect(d.line).toBeGreaterThanOrEqual(lineOf(text, 'metadata: {name: s'));
    expect(errors(r)).toHaveLength(1);
  });

  it('duplicate keys are a YAML error', async () => {
    const text = docs(route('r').replace('  name: r\n', '  name: r\n  name: r2\n'), backend('be'));
    find(await loadText(text), /Map keys must be unique/);
  });

  it('a document without apiVersion/kind is an error in a manifest file', async () => {
    const text = docs(route('r'), backend('be'), 'foo: bar');
    find(await loadText(text), /not a Kubernetes manifest/);
  });
});

describe('kinds and versions', () => {
  it('an unknown kind in one of our groups is an error with a suggestion', async () => {
    const text = docs('apiVersion: aigateway.envoyproxy.io/v1beta1\nkind: AIGatewayRoutes\nmetadata: {name: x}');
    const d = find(await loadText(text), /unknown kind `AIGatewayRoutes`/);
    expect(d.hint).toBe('did you mean `AIGatewayRoute`?');
    expect(d.line).toBe(2);
  });

  it('an unknown apiVersion of a known kind lists the supported versions', async () => {
    const r = await loadText(docs('apiVersion: aigateway.envoyproxy.io/v2\nkind: AIServiceBackend\nmetadata: {name: x}'));
    const d = find(r, /AIServiceBackend has no version `aigateway.envoyproxy.io\/v2`/);
    expect(d.hint).toContain('`aigateway.envoyproxy.io/v1beta1`');
    expect(d.line).toBe(1);
    const tls = await loadText(docs('apiVersion: gateway.networking.k8s.io/v1alpha2\nkind: BackendTLSPolicy\nmetadata: {name: x}'));
    expect(find(tls, /BackendTLSPolicy has no version/).hint).toContain('gateway.networking.k8s.io/v1alpha3');
  });

  it('one of our kinds under a foreign apiVersion is an error, not silently ignored', async () => {
    const d = find(await loadText(docs('apiVersion: v1\nkind: AIGatewayRoute\nmetadata: {name: x}')), /AIGatewayRoute does not belong to apiVersion `v1`/);
    expect(d.hint).toBe('use `apiVersion: aigateway.envoyproxy.io/v1beta1`');
  });

  it('Kubernetes-only kinds are ignored and listed; not-yet-supported ones warn', async () => {
    const text = docs(
      route('r'),
      backend('be'),
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {anything: [1, 2]}',
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: ns1}',
      'apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: EnvoyPatchPolicy\nmetadata: {name: pp}\nspec: {}',
      'apiVersion: aigateway.envoyproxy.io/v1beta1\nkind: GatewayConfig\nmetadata: {name: m}\nspec: {}',
      'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}',
    );
    const r = await loadText(text);
    expect(errors(r)).toEqual([]);
    expect(r.config!.ignored.map((i) => i.kind)).toEqual(['Deployment', 'Namespace', 'EnvoyPatchPolicy', 'GatewayConfig', 'Widget']);
    expect(warnings(r).map((w) => w.message)).toEqual([
      expect.stringMatching(/^EnvoyPatchPolicy is ignored: raw Envoy xDS patches/),
      expect.stringMatching(/^GatewayConfig is ignored: not supported by Tollgate yet/),
    ]);
  });

  it('a List is expanded into its items, with positions inside the list', async () => {
    const text = `apiVersion: v1
kind: List
items:
${docs(route('r'), backend('be'))
  .split('\n---\n')
  .map((d) => d.trimEnd().split('\n').map((l, i) => (i === 0 ? `  - ${l}` : `    ${l}`)).join('\n'))
  .join('\n')}
`;
    const ok = await loadText(text);
    expect(errors(ok)).toEqual([]);
    expect(ok.config!.routes).toHaveLength(1);
    const bad = await loadText(text.replace('backendRefs:', 'backendRefz:'));
    expect(find(bad, /unknown field `backendRefz`/).line).toBe(lineOf(text, 'backendRefs:'));
  });
});

describe('cross references', () => {
  it('a dangling backendRef names the missing backend and the closest existing ones', async () => {
    const text = docs(route('r', { backend: 'openai-backnd' }), backend('openai-backend'), backend('other'));
    const d = find(await loadText(text), /AIServiceBackend "default\/openai-backnd" not found/);
    expect(d.hint).toBe('closest AIServiceBackend names in namespace default: openai-backend, other');
    expect(d.line).toBe(lineOf(text, '- name: openai-backnd'));
    expect(d.path).toBe('spec.rules[0].backendRefs[0].name');
  });

  it('a dangling Backend reference from an AIServiceBackend', async () => {
    const text = docs(route('r'), backend('be').replace('kind: Backend\nmetadata:\n  name: be\n', 'kind: Backend\nmetadata:\n  name: be2\n'));
    const d = find(await loadText(text), /Backend "default\/be" not found/);
    expect(d.hint).toMatch(/be2/);
  });

  it('references in another namespace look there', async () => {
    const text = docs(route('r').replace('        - name: be\n', '        - name: be\n          namespace: team-a\n'), backend('be'));
    const d = find(await loadText(text), /AIServiceBackend "team-a\/be" not found/);
    expect(d.hint).toBe('no AIServiceBackend is defined in namespace team-a');
  });

  it('duplicate kind+namespace+name is an error naming both places', async () => {
    const text = docs(route('r'), backend('be'), route('r', { model: 'other' }));
    const r = await loadText(text);
    const d = find(r, /duplicate AIGatewayRoute default\/r/);
    // The copy is the last document; it is reported at its first line.
    expect(d.line).toBe(text.split('\n').lastIndexOf('apiVersion: aigateway.envoyproxy.io/v1beta1') + 1);
    expect(d.message).toMatch(new RegExp(`also defined at .*config\\.yaml:1:1`));
  });

  it('a secretRef to nothing names the secret, the key and the three places looked', async () => {
    const text = docs(route('r'), backend('be'), apiKeyPolicy('p', 'be', 'no-such-secret'));
    const r = await loadText(text);
    const d = find(r, /secret default\/no-such-secret key `apiKey` not found/);
    expect(d.hint).toContain('Secret manifest named default/no-such-secret');
    expect(d.hint).toContain('--secrets-dir');
    expect(d.hint).toContain('TOLLGATE_SECRET_NO_SUCH_SECRET_APIKEY');
    expect(d.line).toBe(lineOf(text, 'name: no-such-secret'));
  });

  it('a Secret without the key lists the keys it has', async () => {
    const text = docs(route('r'), backend('be'), apiKeyPolicy('p', 'be', 's'), 'apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {apikey: x, token: y}');
    const d = find(await loadText(text), /secret default\/s key `apiKey` not found/);
    expect(d.hint).toContain('keys: apikey, token');
  });

  it('two security policies on one backend is an error', async () => {
    const secret = 'apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {apiKey: k}';
    const d = find(await loadText(docs(route('r'), backend('be'), apiKeyPolicy('p1', 'be', 's'), apiKeyPolicy('p2', 'be', 's'), secret)), /already has BackendSecurityPolicy default\/p1/);
    expect(d.resource).toBe('BackendSecurityPolicy default/p2');
  });

  it('a BackendTrafficPolicy targeting a missing HTTPRoute suggests route names', async () => {
    const btp = 'apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: BackendTrafficPolicy\nmetadata: {name: t}\nspec:\n  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: my-rout}]\n  retry: {numRetries: 1}';
    const d = find(await loadText(docs(route('my-route'), backend('be'), btp)), /AIGatewayRoute "default\/my-rout" not found/);
    expect(d.hint).toMatch(/my-route/);
  });
});

describe('${VAR} in secrets', () => {
  const text = docs(route('r'), backend('be'), apiKeyPolicy('p', 'be', 's'), 'apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  apiKey: ${MY_KEY}');

  it('unset is an error when serving, at the Secret value', async () => {
    const r = await loadText(text, { purpose: 'serve', env: {} });
    const d = find(r, /environment variable MY_KEY, which is not set/);
    expect(d.line).toBe(lineOf(text, 'apiKey: ${MY_KEY}'));
    expect(d.resource).toBe('Secret default/s');
    expect(r.config).toBeUndefined();
  });

  it('unset is only a warning when validating (CI has no secrets)', async () => {
    const r = await loadText(text, { purpose: 'validate', env: {} });
    expect(errors(r)).toEqual([]);
    find(r, /MY_KEY, which is not set here/, 'warning');
    expect(r.config).toBeDefined();
  });

  it('set: substituted; $${X} stays literal', async () => {
    const r = await loadText(text.replace('${MY_KEY}', () => 'pre-${MY_KEY}-$${MY_KEY}'), { purpose: 'serve', env: { MY_KEY: 'k1' } });
    expect(r.config!.backends.get('default/be')!.credential!.value.reveal()).toBe('Bearer pre-k1-${MY_KEY}');
  });
});

describe('formatting', () => {
  it('prints file:line:col: severity: message, with the resource and an indented hint', async () => {
    const text = docs(route('r').replace('backendRefs:', 'backendRef:'), backend('be'));
    const r = await loadText(text);
    const out = formatDiagnostics(r.diagnostics);
    expect(out).toBe(
      `${r.file}:${lineOf(text, 'backendRef:')}:7: error: unknown field \`backendRef\` [AIGatewayRoute default/r spec.rules[0].backendRef]\n  hint: did you mean \`backendRefs\`?\n`,
    );
  });
});
