// The InferencePool the endpoint-picker tests run behind: pool "vllm" over simulated replicas on
// 127.0.0.1, and route "llm" sending model "sim-model" to it. Its replicas are scraped every 50 ms so
// the picker sees load quickly, and it answers with the picker's debug header so a test can read
// where each request went. The external picker reference is there as Envoy's manifests write it.

/** The pool over `ports`, with `annotations` added to (or replacing) the defaults, and its route. */
export function poolYaml(ports: readonly number[], annotations: Record<string, string> = {}): string {
  const ann = { 'tollgate.io/endpoints': ports.map((p) => `127.0.0.1:${p}`).join(','), 'tollgate.io/scrape-interval': '50ms', 'tollgate.io/picker-debug': 'true', ...annotations };
  return `apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata:
  name: vllm
  namespace: default
  annotations:
${Object.entries(ann)
  .map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`)
  .join('\n')}
spec:
  targetPorts:
    - number: 8000
  selector:
    matchLabels:
      app: vllm
  endpointPickerRef:
    name: vllm-epp
    port:
      number: 9002
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata:
  name: llm
  namespace: default
spec:
  rules:
    - matches:
        - headers:
            - name: x-ai-eg-model
              value: sim-model
      backendRefs:
        - group: inference.networking.k8s.io
          kind: InferencePool
          name: vllm
`;
}
