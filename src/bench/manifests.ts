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
