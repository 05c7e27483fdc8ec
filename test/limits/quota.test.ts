// QuotaPolicy: token quotas per model on a backend, enforced (Envoy AI Gateway only parses them),
// with failover to a lower-priority backend when a quota is exhausted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendYaml, startGateway, type TestGateway } from '../helpers/gateway.js';
import { chat, metricValue, ROUTE_COSTS } from '../helpers/limits.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';

let primary: Upstream;
let secondary: Upstream;

beforeAll(async () => {
  primary = await startUpstream(openAIBehavior({ chunks: 6 })); // 17 tokens per request
  secondary = await startUpstream(openAIBehavior({ chunks: 6 }));
});

afterAll(async () => {
  await primary.close();
  await secondary.close();
});

function quota(spec: string): string {
  return `apiVersion: aigateway.envoyproxy.io/v1alpha1
kind: QuotaPolicy
metadata:
  name: primary-quota
  namespace: default
spec:
  targetRefs:
    - group: aigateway.envoyproxy.io
      kind: AIServiceBackend
      name: primary
${spec}`;
}

const ROUTES = `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata:
  name: r
  namespace: default
spec:
${ROUTE_COSTS}  rules:
    - matches:
        - headers:
            - {type: Exact, name: x-ai-eg-model, value: with-fallback}
      backendRefs:
        - {name: primary, priority: 0, modelNameOverride: m-primary}
        - {name: secondary, priority: 1}
    - matches:
        - headers:
            - {type: Exact, name: x-ai-eg-model, value: primary-only}
      backendRefs:
        - {name: primary, modelNameOverride: m-primary}
`;

async function gateway(quotaSpec: string): Promise<TestGateway> {
  return startGateway({
    'b.yaml': [backendYaml('primary', [{ port: primary.port }]), backendYaml('secondary', [{ port: secondary.port }])].join('---\n'),
    'r.yaml': ROUTES,
    'q.yaml': quota(quotaSpec),
  });
}

describe('QuotaPolicy', () => {
  it('fails over to the lower-priority backend when the quota is exhausted, and answers 429 when there is none', async () => {
    const gw = await gateway(`  perModelQuotas:
    - modelName: m-primary
      quota:
        defaultBucket: {limit: 30, duration: 1h}
`);
    try {
      const p0 = primary.requests.length;
      const s0 = secondary.requests.length;
      for (let i = 0; i < 2; i++) expect((await chat(gw.url, 'with-fallback')).status).toBe(200);
      expect(primary.requests.length - p0).toBe(2); // 17 + 17 tokens: budget spent
      const third = await chat(gw.url, 'with-fallback');
      expect(third.status).toBe(200);
      expect(secondary.requests.length - s0).toBe(1);
      const only = await chat(gw.url, 'primary-only');
      expect(only.status).toBe(429);
      const body = JSON.parse(only.text) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('quota_exceeded');
      expect(body.error.message).toContain('m-primary');
      expect(Number(only.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(only.headers.get('x-ratelimit-remaining-tokens')).toBe('0');
      const m = await fetch(`${gw.adminUrl}/metrics`).then((r) => r.text());
      expect(metricValue(m, 'tollgate_quota_requests_total', { result: 'exceeded' })).toBe(2);
    } finally {
      await gw.close();
    }
  });

  it('admits while any matching bucket has budget (Shared mode) and never enforces shadow rules', async () => {
    const gw = await gateway(`  perModelQuotas:
    - modelName: m-primary
      quota:
        costExpression: "input_tokens + output_tokens"
        defaultBucket: {limit: 20, duration: 1h}
        bucketRules:
          - clientSelectors:
              - headers:
                  - {name: x-tenant, type: Exact, value: vip}
            quota: {limit: 1000, duration: 1h}
          - clientSelectors:
              - headers:
                  - {name: x-tenant, type: Exact, value: trial}
            quota: {limit: 1, duration: 1h}
            shadowMode: true
`);
    try {
      expect((await chat(gw.url, 'primary-only', { 'x-tenant': 'trial' })).status).toBe(200); // default 0 → 17
      expect((await chat(gw.url, 'primary-only', { 'x-tenant': 'trial' })).status).toBe(200); // default 17 < 20
      // The default bucket is now spent (34): trial has only a shadow rule, so it is out.
      expect((await chat(gw.url, 'primary-only', { 'x-tenant': 'trial' })).status).toBe(429);
      // vip matches a bucket rule with budget, so it goes ahead (and still burns the default bucket).
      expect((await chat(gw.url, 'primary-only', { 'x-tenant': 'vip' })).status).toBe(200);
      const m = await fetch(`${gw.adminUrl}/metrics`).then((r) => r.text());
      expect(metricValue(m, 'tollgate_quota_requests_total', { result: 'shadow' })).toBeGreaterThanOrEqual(1);
    } finally {
      await gw.close();
    }
  });

  it('applies a serviceQuota to every model on the backend', async () => {
    const gw = await gateway(`  serviceQuota:
    quota: {limit: 10, duration: 1m}
`);
    try {
      expect((await chat(gw.url, 'primary-only')).status).toBe(200);
      expect((await chat(gw.url, 'primary-only')).status).toBe(429);
    } finally {
      await gw.close();
    }
  });
});
