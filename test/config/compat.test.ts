// Envoy AI Gateway's own example manifests: every one whose kinds this issue covers validates
// unchanged; the ones that need other providers report "not supported yet" at file:line, no crash.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { errors, EXAMPLES, lineOf } from './helpers.js';

const VALID: ReadonlyArray<{ paths: string[]; routes: number; backends: number }> = [
  { paths: ['basic/basic.yaml'], routes: 1, backends: 1 },
  { paths: ['basic/openai.yaml'], routes: 1, backends: 1 },
  { paths: ['basic/tars.yaml'], routes: 1, backends: 1 },
  // anthropic-openai-local.yaml points at the Backend defined in openai.yaml
  { paths: ['basic/openai.yaml', 'basic/anthropic-openai-local.yaml'], routes: 2, backends: 2 },
  { paths: ['aigw/ollama.yaml'], routes: 1, backends: 1 },
  { paths: ['access-log/basic.yaml'], routes: 1, backends: 1 },
  { paths: ['stream_idle_timeout'], routes: 1, backends: 3 },
  { paths: ['token_ratelimit'], routes: 1, backends: 1 },
  { paths: ['gateway-config/comprehensive.yaml'], routes: 1, backends: 1 },
  { paths: ['mcp/openai-github.yaml'], routes: 1, backends: 1 },
  { paths: ['monitoring'], routes: 0, backends: 0 },
  // Provider schemas and credentials; their compiled form is checked in test/providers/compat.test.ts.
  { paths: ['basic/anthropic.yaml'], routes: 1, backends: 1 },
  { paths: ['basic/aws.yaml'], routes: 2, backends: 2 },
  { paths: ['basic/azure_openai.yaml'], routes: 1, backends: 1 },
  { paths: ['basic/gcp_vertex.yaml'], routes: 2, backends: 2 },
  { paths: ['provider_fallback/base.yaml'], routes: 1, backends: 2 },
  // Cohere: rerank (Cohere's /v2/rerank).
  { paths: ['basic/cohere.yaml'], routes: 1, backends: 1 },
];

describe('Envoy AI Gateway examples in scope', () => {
  for (const c of VALID) {
    it(`${c.paths.join(' + ')} validates unchanged`, async () => {
      const r = await loadConfig({ paths: c.paths.map((p) => join(EXAMPLES, p)), purpose: 'validate', env: {} });
      expect(errors(r)).toEqual([]);
      expect(r.config?.routes.length).toBe(c.routes);
      expect(r.config?.backends.size).toBe(c.backends);
    });
  }

  it('compiles basic/openai.yaml into the expected runtime config', async () => {
    const r = await loadConfig({ paths: [join(EXAMPLES, 'basic/openai.yaml')], purpose: 'serve', env: {} });
    const rule = r.config!.routes[0]!.rules[0]!;
    expect(rule.id).toBe('default/envoy-ai-gateway-basic-openai/rule-0');
    expect(rule.matches).toEqual([{ headers: [{ name: 'x-ai-eg-model', type: 'Exact', value: 'gpt-4o-mini', regex: undefined }] }]);
    expect(rule.timeouts.requestMs).toBe(60_000);
    const b = rule.backendRefs[0]!.backend;
    expect(b.endpoints).toEqual([{ kind: 'fqdn', host: 'api.openai.com', port: 443 }]);
    expect(b.tls).toEqual({ servername: 'api.openai.com', ca: undefined, insecureSkipVerify: false });
    expect(b.schema.prefix).toBe('/v1');
    expect(b.credential?.header).toBe('authorization');
    expect(b.credential?.value.reveal()).toBe('Bearer OPENAI_API_KEY');
    expect(r.config!.ignored).toEqual([]);
  });

  it('maps the stream_idle_timeout retry policy and timeouts', async () => {
    const r = await loadConfig({ paths: [join(EXAMPLES, 'stream_idle_timeout')], purpose: 'serve', env: {} });
    const rules = r.config!.routes[0]!.rules;
    expect(rules.map((x) => [x.timeouts.requestMs, x.timeouts.streamIdleMs])).toEqual([
      [30_000, 5_000],
      [30_000, 5_000],
    ]);
    expect(rules[0]!.backendRefs.map((b) => [b.backend.name, b.priority])).toEqual([
      ['stream-idle-timeout-silent', 0],
      ['stream-idle-timeout-healthy', 1],
    ]);
    const retry = rules[0]!.retry;
    expect(retry).toMatchObject({ numRetries: 2, attemptsPerPriority: 1, onReset: true, onConnectFailure: true, backoffBaseMs: 100, backoffMaxMs: 1000 });
    expect([...retry.retriableStatuses].sort()).toEqual([502, 503, 504]);
  });

  it('substitutes ${OPENAI_API_KEY} in aigw/ollama.yaml from the environment when serving', async () => {
    const paths = [join(EXAMPLES, 'aigw/ollama.yaml')];
    const ok = await loadConfig({ paths, purpose: 'serve', env: { OPENAI_API_KEY: 'sk-from-env' } });
    const b = ok.config!.backends.get('default/openai')!;
    expect(b.credential!.value.reveal()).toBe('Bearer sk-from-env');
    expect(b.requestTimeoutMs).toBe(180_000);
    expect(ok.config!.routes[0]!.llmRequestCosts.map((c) => c.type)).toEqual(['InputToken', 'OutputToken', 'ReasoningToken']);

    const missing = await loadConfig({ paths, purpose: 'serve', env: {} });
    expect(missing.config).toBeUndefined();
    const d = errors(missing);
    expect(d).toHaveLength(1);
    expect(d[0]!.message).toMatch(/OPENAI_API_KEY, which is not set/);
    expect(d[0]!.line).toBe(lineOf(readFileSync(paths[0]!, 'utf8'), 'apiKey: ${OPENAI_API_KEY}'));
  });

  it('lists Kubernetes-only kinds as ignored', async () => {
    const r = await loadConfig({ paths: [join(EXAMPLES, 'basic/basic.yaml')], purpose: 'validate', env: {} });
    expect(r.config!.ignored.map((i) => `${i.kind}/${i.name}`).sort()).toEqual([
      'Deployment/envoy-ai-gateway-basic-testupstream',
      'EnvoyProxy/envoy-ai-gateway-basic',
      'Gateway/envoy-ai-gateway-basic',
      'GatewayClass/envoy-ai-gateway-basic',
      'Service/envoy-ai-gateway-basic-testupstream',
    ]);
    expect(r.config!.listener.bodyLimitBytes).toBe(50 * 1024 * 1024);
  });
});
