// The prefill scorer's span floor per pool (`tollgate.io/prefill-span`): compiled from the
// InferencePool's annotation through the real config loader, defaulted when absent, and a bad
// value is an error at the annotation's line that says what is allowed.
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { PICKER_DEFAULTS } from '../../src/config/compile/inference-pool.js';
import { errors, TempDir } from '../config/helpers.js';

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

describe('tollgate.io/prefill-span', () => {
  let dir: TempDir | undefined;
  afterEach(() => dir?.remove());
  const load = async (annotations: Record<string, string>) => {
    dir?.remove();
    dir = new TempDir();
    const path = dir.write('pool.yaml', pool({ 'tollgate.io/endpoints': '10.0.0.5:8000,10.0.0.6:8000', ...annotations }));
    return loadConfig({ paths: [path], purpose: 'serve', env: {} });
  };
  const spanOf = (r: Awaited<ReturnType<typeof loadConfig>>): number | undefined => r.config?.routes[0]?.rules[0]?.backendRefs[0]?.backend.pool?.prefillMinSpan;

  it('defaults to 2,048 tokens and takes a whole number of tokens, 0 included', async () => {
    const none = await load({});
    expect(errors(none)).toEqual([]);
    expect(spanOf(none)).toBe(PICKER_DEFAULTS.prefillMinSpan);
    expect(PICKER_DEFAULTS.prefillMinSpan).toBe(2_048);
    for (const [text, tokens] of [
      ['4096', 4_096],
      ['0', 0],
      ['65536', 65_536],
    ] as const) {
      const r = await load({ 'tollgate.io/prefill-span': text });
      expect(errors(r)).toEqual([]);
      expect(spanOf(r)).toBe(tokens);
    }
  });

  it('rejects what is not a whole number of tokens up to 65,536, naming the annotation and an example', async () => {
    for (const bad of ['-1', '2k', '1.5', '65537', '']) {
      const r = await load({ 'tollgate.io/prefill-span': bad });
      expect(r.config).toBeUndefined();
      const e = errors(r);
      expect(e.map((d) => d.message)).toEqual([`"${bad}" must be a whole number of tokens from 0 to 65536`]);
      expect(e[0]?.path).toBe('metadata.annotations.tollgate.io/prefill-span');
      expect(e[0]?.hint).toMatch(/e\.g\. "4096"/);
    }
  });
});
