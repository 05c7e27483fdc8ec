// The benchmark's configuration as a user would write it: a few backends, then N AIGatewayRoutes,
// each matching one distinct value (a model name or a workload identity) and overriding the model
// so the upstream's echo proves which rule served a request.

export type MatchOn = 'model' | 'identity';
export type ManifestFormat = 'yaml' | 'json';

export interface RouteKey {
  readonly index: number;
  /** The header the route matches and the value a probe sends. */
  readonly header: 'x-ai-eg-model' | 'x-workload-app';
  readonly value: string;
  /** What the upstream is asked for (modelNameOverride), and so echoes. */
  readonly served: string;
}

export function routeKey(i: number, match: MatchOn): RouteKey {
  switch (match) {
    case 'model':
      return { index: i, header: 'x-ai-eg-model', value: `bench-m${i}`, served: `served-${i}` };
    case 'identity':
      return { index: i, header: 'x-workload-app', value: `bench-app-${i}`, served: `served-${i}` };
  }
}

export const BASE_KEY: RouteKey = { index: -1, header: 'x-ai-eg-model', value: 'bench-base', served: 'served-base' };

function backendDocs(k: number, upPort: number): object[] {
  return [
    {
      apiVersion: 'aigateway.envoyproxy.io/v1beta1',
      kind: 'AIServiceBackend',
      metadata: { name: `bench-backend-${k}`, namespace: 'default' },
      spec: { schema: { name: 'OpenAI' }, backendRef: { name: `bench-backend-${k}`, kind: 'Backend', group: 'gateway.envoyproxy.io' } },
    },
    {
      apiVersion: 'gateway.envoyproxy.io/v1alpha1',
      kind: 'Backend',
      metadata: { name: `bench-backend-${k}`, namespace: 'default' },
      spec: { endpoints: [{ ip: { address: '127.0.0.1', port: upPort } }] },
    },
  ];
}

function routeDoc(name: string, key: RouteKey, backend: number): object {
  return {
    apiVersion: 'aigateway.envoyproxy.io/v1beta1',
    kind: 'AIGatewayRoute',
    metadata: { name, namespace: 'default' },
    spec: {
      rules: [
        {
          matches: [{ headers: [{ type: 'Exact', name: key.header, value: key.value }] }],
          backendRefs: [{ name: `bench-backend-${backend}`, modelNameOverride: key.served }],
        },
      ],
    },
  };
}

// JSON is valid YAML flow syntax, so one document per `---` with JSON bodies is a YAML file that
// still goes through the YAML parser, as hand-written manifests do.
function render(docs: readonly object[], format: ManifestFormat): string {
  switch (format) {
    case 'yaml':
      return docs.map((d) => toYaml(d)).join('---\n');
    case 'json':
      return JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs });
  }
}

/** Block-style YAML for the plain objects above (strings, numbers, arrays, objects). */
function toYaml(v: unknown, indent = ''): string {
  if (Array.isArray(v)) {
    return v.map((item) => {
      const inner = toYaml(item, `${indent}  `);
      return `${indent}- ${inner.slice(indent.length + 2)}`;
    }).join('');
  }
  if (typeof v === 'object' && v !== null) {
    return Object.entries(v)
      .map(([k, x]) => {
        if (typeof x === 'object' && x !== null) return `${indent}${k}:\n${toYaml(x, `${indent}  `)}`;
        return `${indent}${k}: ${scalar(x)}\n`;
      })
      .join('');
  }
  return `${indent}${scalar(v)}\n`;
}

function scalar(x: unknown): string {
  return typeof x === 'string' ? (/^[a-zA-Z][\w./-]*$/.test(x) ? x : JSON.stringify(x)) : String(x);
}

export function baseConfig(backends: number, upPort: number, format: ManifestFormat): string {
  const docs: object[] = [];
  for (let k = 0; k < backends; k++) docs.push(...backendDocs(k, upPort));
  docs.push(routeDoc('bench-base', BASE_KEY, 0));
  return render(docs, format);
}

export function routesFile(keys: readonly RouteKey[], backends: number, format: ManifestFormat): string {
  return render(
    keys.map((k) => routeDoc(`bench-r${k.index}`, k, k.index % backends)),
    format,
  );
}
