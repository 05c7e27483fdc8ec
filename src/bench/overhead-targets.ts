// The gateways `bench overhead` measures: their configurations and how they are started (pinned,
// with the profiling probe preloaded, optionally another commit's build).
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { benchLimitYaml, localBackendYaml } from './manifests.js';
import { freePort, startChild } from './procs.js';

export const PROBE_URL = pathToFileURL(fileURLToPath(new URL('./probe.js', import.meta.url))).href;

/** `plain`: route, backend API key, default accounting. `full`: what a real deployment runs on top. */
export type GatewayVariant = 'plain' | 'full';

export function variantLabel(v: GatewayVariant): string {
  return v === 'plain' ? 'tollgate' : 'tollgate+limits+ledger';
}

export interface RunningGateway {
  readonly label: string;
  readonly port: number;
  readonly probePort: number;
  readonly child: ChildProcess;
}

/** Calls the probe preloaded into a gateway (probe.ts). */
export async function probe<T = unknown>(gw: RunningGateway, method: 'GET' | 'POST', path: string): Promise<T> {
  const r = await fetch(`http://127.0.0.1:${gw.probePort}${path}`, { method });
  if (!r.ok) throw new Error(`probe ${path} on ${gw.label}: HTTP ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

export async function startGateway(opts: {
  readonly label: string;
  readonly bin: string;
  readonly variant: GatewayVariant;
  readonly work: string;
  readonly upstreamPort: number;
  readonly pinned: boolean;
  readonly children: ChildProcess[];
  readonly nodeArgs?: readonly string[];
  /** Raise the open-files limit (root only: thousands of held streams need two descriptors each). */
  readonly manyFiles?: boolean;
  /** Added to the gateway's environment (listener limits, for example). */
  readonly env?: NodeJS.ProcessEnv;
}): Promise<RunningGateway> {
  const dir = join(opts.work, opts.label.replace(/[^a-z0-9]+/gi, '-'));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'gw.yaml'), gatewayConfig(opts.upstreamPort, opts.variant));
  const probePort = await freePort();
  const extra = opts.variant === 'full' ? ['--ledger', join(dir, 'ledger')] : [];
  const raise = opts.manyFiles === true && canRaiseFileLimit();
  const gw = await startChild(
    opts.pinned,
    raise ? 'prlimit' : process.execPath,
    [...(raise ? ['--nofile=65536:65536', process.execPath] : []), ...(opts.nodeArgs ?? []), '--import', PROBE_URL, opts.bin, 'serve', '--config', join(dir, 'gw.yaml'), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--no-watch', '--concurrency', '1', ...extra],
    /"listen":"127\.0\.0\.1:(\d+)"/,
    opts.children,
    { ...process.env, ...opts.env, TOLLGATE_BENCH_PROBE_PORT: String(probePort) },
  );
  return { label: opts.label, port: Number(gw.match[1]), probePort, child: gw.child };
}

/** Whether `prlimit` may raise the open-files limit here (root with CAP_SYS_RESOURCE, not a locked container). */
export function canRaiseFileLimit(): boolean {
  return spawnSync('prlimit', ['--nofile=65536:65536', 'true'], { stdio: 'ignore' }).status === 0;
}

/** The hard open-files limit children inherit when it cannot be raised. */
export function fileLimit(): number {
  const n = Number(spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim());
  return Number.isFinite(n) && n > 0 ? n : 1024;
}

/** A token budget far above what a run spends: every request is admitted and charged its tokens. */
const TOKEN_LIMIT = benchLimitYaml('bench-tokens', 4_000_000_000, true);

export function gatewayConfig(upPort: number, variant: GatewayVariant = 'plain'): string {
  const costs = variant === 'full' ? '  llmRequestCosts:\n    - {metadataKey: llm_total_token, type: TotalToken}\n' : '';
  return `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: bench, namespace: default}
spec:
${costs}  rules:
    - matches:
        - headers:
            - {type: Exact, name: x-ai-eg-model, value: bench-model}
      backendRefs: [{name: bench}]
---
${localBackendYaml('bench', upPort)}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: bench, namespace: default}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: bench}]
  type: APIKey
  apiKey: {secretRef: {name: bench-key}}
---
apiVersion: v1
kind: Secret
metadata: {name: bench-key, namespace: default}
stringData: {apiKey: sk-bench}
${variant === 'full' ? TOKEN_LIMIT : ''}`;
}
