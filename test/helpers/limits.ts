// Manifest builders and request helpers for the rate-limit and quota tests.

export interface RuleYaml {
  selectors?: string;
  requests?: number;
  unit?: string;
  maxConcurrent?: number;
  cost?: string;
  extra?: string;
}

/** A BackendTrafficPolicy on route `route` with the given rules (YAML fragments, as a user writes them). */
export function btpYaml(name: string, route: string, scope: 'Local' | 'Global', rules: RuleYaml[], annotations = ''): string {
  const body = rules
    .map((r) => {
      const limit = [
        r.requests === undefined ? '' : `            requests: ${r.requests}\n`,
        r.unit === undefined ? '' : `            unit: ${r.unit}\n`,
        r.maxConcurrent === undefined ? '' : `            maxConcurrent: ${r.maxConcurrent}\n`,
      ].join('');
      return `        - ${r.selectors === undefined ? '' : `clientSelectors:\n${r.selectors}          `}limit:\n${limit}${r.cost ?? ''}${r.extra ?? ''}`;
    })
    .join('');
  const section = scope === 'Local' ? 'local' : 'global';
  return `apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata:
  name: ${name}
  namespace: default
${annotations}spec:
  targetRefs:
    - group: gateway.networking.k8s.io
      kind: HTTPRoute
      name: ${route}
  rateLimit:
    type: ${scope}
    ${section}:
      rules:
${body}`;
}

export function headerSel(name: string, type: 'Exact' | 'Distinct' | 'RegularExpression', value?: string, invert = false): string {
  return `            - headers:\n                - name: ${name}\n                  type: ${type}\n${value === undefined ? '' : `                  value: "${value}"\n`}${invert ? '                  invert: true\n' : ''}`;
}

export const TOKEN_COST = (key: string): string =>
  `          cost:\n            request:\n              from: Number\n              number: 0\n            response:\n              from: Metadata\n              metadata:\n                namespace: io.envoy.ai_gateway\n                key: ${key}\n`;

export const ROUTE_COSTS = `  llmRequestCosts:
    - metadataKey: llm_input_token
      type: InputToken
    - metadataKey: llm_output_token
      type: OutputToken
    - metadataKey: llm_total_token
      type: TotalToken
    - metadataKey: llm_cel
      type: CEL
      cel: "input_tokens == uint(11) ? 100 : 1"
`;

/** A route named `name` matching x-ai-eg-model `model` to backend `backend`, with llmRequestCosts. */
export function costRouteYaml(name: string, model: string, backends: Array<{ name: string; priority?: number }>, timeouts = ''): string {
  return `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata:
  name: ${name}
  namespace: default
spec:
${ROUTE_COSTS}  rules:
    - matches:
        - headers:
            - type: Exact
              name: x-ai-eg-model
              value: ${model}
      backendRefs:
${backends.map((b) => `        - name: ${b.name}${b.priority === undefined ? '' : `\n          priority: ${b.priority}`}`).join('\n')}
${timeouts}`;
}

export async function chat(
  url: string,
  model: string,
  headers: Record<string, string> = {},
  extra: Record<string, unknown> = {},
): Promise<{ status: number; headers: Headers; text: string }> {
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra }),
  });
  return { status: r.status, headers: r.headers, text: await r.text() };
}

export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
