// Small builders for config tests: temp directories of manifests, and the usual trio of
// AIGatewayRoute → AIServiceBackend → Backend.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, type ConfigResult, type Diagnostic, type LoadOptions } from '../../src/config/index.js';

export const EXAMPLES = fileURLToPath(new URL('../fixtures/compat/envoy-ai-gateway/examples/', import.meta.url));
export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

export class TempDir {
  readonly path: string;
  constructor(prefix = 'tollgate-config-') {
    this.path = mkdtempSync(join(tmpdir(), prefix));
  }
  write(rel: string, text: string): string {
    const p = join(this.path, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
    return p;
  }
  join(...parts: string[]): string {
    return join(this.path, ...parts);
  }
  remove(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

export function route(name: string, opts: { model?: string; backend?: string; extraRule?: string; ns?: string } = {}): string {
  return `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata:
  name: ${name}
  namespace: ${opts.ns ?? 'default'}
spec:
  rules:
    - matches:
        - headers:
            - name: x-ai-eg-model
              value: ${opts.model ?? name}
      backendRefs:
        - name: ${opts.backend ?? 'be'}
${opts.extraRule ?? ''}`;
}

export function backend(name: string, opts: { port?: number; host?: string; ns?: string } = {}): string {
  return `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata:
  name: ${name}
  namespace: ${opts.ns ?? 'default'}
spec:
  schema:
    name: OpenAI
  backendRef:
    name: ${name}
    kind: Backend
    group: gateway.envoyproxy.io
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata:
  name: ${name}
  namespace: ${opts.ns ?? 'default'}
spec:
  endpoints:
    - ip:
        address: ${opts.host ?? '127.0.0.1'}
        port: ${opts.port ?? 8000}
`;
}

export function apiKeyPolicy(name: string, target: string, secret: string, type = 'APIKey'): string {
  const field = type === 'APIKey' ? 'apiKey' : type === 'AzureAPIKey' ? 'azureAPIKey' : 'anthropicAPIKey';
  return `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata:
  name: ${name}
spec:
  targetRefs:
    - group: aigateway.envoyproxy.io
      kind: AIServiceBackend
      name: ${target}
  type: ${type}
  ${field}:
    secretRef:
      name: ${secret}
`;
}

export function docs(...parts: string[]): string {
  return parts.map((p) => p.trimEnd()).join('\n---\n') + '\n';
}

/** Loads one YAML text as the whole config. */
export async function loadText(text: string, opts: Partial<LoadOptions> = {}): Promise<ConfigResult & { file: string }> {
  const dir = new TempDir();
  try {
    const file = dir.write('config.yaml', text);
    const r = await loadConfig({ paths: [file], purpose: 'validate', env: {}, ...opts });
    return { ...r, file };
  } finally {
    dir.remove();
  }
}

export function errors(r: ConfigResult): Diagnostic[] {
  return r.diagnostics.filter((d) => d.severity === 'error');
}

export function warnings(r: ConfigResult): Diagnostic[] {
  return r.diagnostics.filter((d) => d.severity === 'warning');
}

/** The one diagnostic whose message matches, failing loudly with all diagnostics otherwise. */
export function find(r: ConfigResult, re: RegExp, severity: 'error' | 'warning' = 'error'): Diagnostic {
  const hits = r.diagnostics.filter((d) => d.severity === severity && re.test(d.message));
  if (hits.length !== 1) {
    throw new Error(`expected exactly one ${severity} matching ${re}, got ${hits.length}:\n${r.diagnostics.map((d) => `${d.severity} ${d.line}: ${d.message}`).join('\n')}`);
  }
  return hits[0]!;
}

/** 1-based line of the first line in `text` containing `needle` (after `after` if given). */
export function lineOf(text: string, needle: string, after?: string): number {
  const lines = text.split('\n');
  let start = 0;
  if (after !== undefined) start = lines.findIndex((l) => l.includes(after));
  const i = lines.findIndex((l, idx) => idx >= start && l.includes(needle));
  if (i < 0) throw new Error(`"${needle}" not in text`);
  return i + 1;
}
