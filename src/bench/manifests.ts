// Manifest fragments the benches write for the gateway they start. A bench backend is always an
// OpenAI-schema AIServiceBackend over one Envoy Gateway Backend on 127.0.0.1; writing that pair in
// one place keeps every bench's config in the same shape as the examples a user copies.

/** An OpenAI-schema AIServiceBackend `name` and its Backend at 127.0.0.1:`port` (two YAML documents, no trailing `---`). */
export function localBackendYaml(name: string, port: number): string {
  return `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: ${name}, namespace: default}
spec:
  schema: {name: OpenAI}
  backendRef: {name: ${name}, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: ${name}, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: ${port}}}]`;
}

/**
 * A Local rate limit on the bench route `bench`, far above what a run spends: every request is
 * admitted and consults the limit store. `tokens`: charged the response's total tokens (the route
 * must declare the `llm_total_token` cost) instead of one per request.
 */
export function benchLimitYaml(name: string, requestsPerHour: number, tokens = false): string {
  const cost = tokens
    ? `
          cost:
            request: {from: Number, number: 0}
            response:
              from: Metadata
              metadata: {namespace: io.envoy.ai_gateway, key: llm_total_token}`
    : '';
  return `---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: ${name}, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: bench}]
  rateLimit:
    type: Local
    local:
      rules:
        - limit: {requests: ${requestsPerHour}, unit: Hour}${cost}
`;
}
