// Starts a real gateway (in-process, real sockets on port 0) on manifests written to a temp dir.
import { mkdtemp, rm, writeFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, type Logger } from '../../src/core/log.js';
import { Gateway, type GatewayOptions } from '../../src/server/gateway.js';

export interface TestGateway {
  readonly url: string;
  readonly adminUrl: string;
  readonly gateway: Gateway;
  readonly dir: string;
  readonly logs: string[];
  /** Atomically replace a manifest file (write to a temp name, then rename), as editors and kubectl do. */
  write(name: string, content: string): Promise<void>;
  close(): Promise<void>;
}

export async function startGateway(
  manifests: Record<string, string>,
  opts: { secretsDir?: string; drainTimeoutMs?: number; watch?: boolean; redis?: GatewayOptions['redis']; idleCollection?: GatewayOptions['idleCollection'] } = {},
): Promise<TestGateway> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-gw-'));
  for (const [name, content] of Object.entries(manifests)) await writeFile(join(dir, name), content);
  const logs: string[] = [];
  const logger: Logger = createLogger({ level: 'debug', sink: { write: (l: string) => logs.push(l) } });
  const gateway = await Gateway.start({
    configPaths: [dir],
    secretsDir: opts.secretsDir,
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    logger,
    drainTimeoutMs: opts.drainTimeoutMs ?? 2_000,
    watch: opts.watch ?? true,
    redis: opts.redis,
    ...(opts.idleCollection === undefined ? {} : { idleCollection: opts.idleCollection }),
  });
  return {
    url: `http://127.0.0.1:${gateway.dataAddress.port}`,
    adminUrl: `http://127.0.0.1:${gateway.adminAddress.port}`,
    gateway,
    dir,
    logs,
    write: async (name, content) => {
      const tmp = join(dir, `.${name}.tmp`);
      await writeFile(tmp, content);
      await rename(tmp, join(dir, name));
    },
    close: async () => {
      await gateway.shutdown();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Waits until `fn` returns true, polling; fails with `what` after `ms`. */
export async function eventually(fn: () => boolean | Promise<boolean>, what: string, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for: ${what}`);
}

/** Waits until the admin endpoint's /readyz answers 200 (config loaded, token encodings loaded, Redis connected when a limit needs it). */
export async function waitReady(adminUrl: string, ms = 15_000): Promise<void> {
  await eventually(async () => (await fetch(`${adminUrl}/readyz`).catch(() => undefined))?.status === 200, `${adminUrl}/readyz to answer 200`, ms);
}

// ---- manifest builders (YAML text, as a user would write it) -------------------------------------

export function backendYaml(
  name: string,
  endpoints: Array<{ host?: string; port: number }>,
  opts: { apiKey?: string; policy?: 'APIKey' | 'AzureAPIKey' | 'AnthropicAPIKey'; prefix?: string; extraSpec?: string } = {},
): string {
  const eps = endpoints
    .map((e) => `    - ip:\n        address: ${e.host ?? '127.0.0.1'}\n        port: ${e.port}`)
    .join('\n');
  let out = `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata:
  name: ${name}
  namespace: default
spec:
  schema:
    name: OpenAI${opts.prefix === undefined ? '' : `\n    prefix: ${opts.prefix}`}
  backendRef:
    name: ${name}
    kind: Backend
    group: gateway.envoyproxy.io
${opts.extraSpec ?? ''}---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata:
  name: ${name}
  namespace: default
spec:
  endpoints:
${eps}
`;
  if (opts.apiKey !== undefined) {
    const policy = opts.policy ?? 'APIKey';
    const field = policy === 'APIKey' ? 'apiKey' : policy === 'AzureAPIKey' ? 'azureAPIKey' : 'anthropicAPIKey';
    out += `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata:
  name: ${name}-key
  namespace: default
spec:
  targetRefs:
    - group: aigateway.envoyproxy.io
      kind: AIServiceBackend
      name: ${name}
  type: ${policy}
  ${field}:
    secretRef:
      name: ${name}-secret
---
apiVersion: v1
kind: Secret
metadata:
  name: ${name}-secret
  namespace: default
stringData:
  apiKey: ${opts.apiKey}
`;
  }
  return out;
}

export interface RuleSpec {
  name?: string;
  /** Each inner object is one match (headers ANDed); matches are ORed. Values prefixed "~" are regexes. */
  matches?: Array<Record<string, string>>;
  backends: Array<{ name: string; weight?: number; priority?: number; modelNameOverride?: string; extra?: string }>;
  extra?: string;
}

export function routeYaml(name: string, rules: RuleSpec[]): string {
  const ruleText = rules
    .map((r) => {
      const matches =
        r.matches === undefined
          ? ''
          : `      matches:\n${r.matches
              .map(
                (m) =>
                  `        - headers:\n${Object.entries(m)
                    .map(([h, v]) =>
                      v.startsWith('~')
                        ? `            - type: RegularExpression\n              name: ${h}\n              value: "${v.slice(1)}"`
                        : `            - type: Exact\n              name: ${h}\n              value: "${v}"`,
                    )
                    .join('\n')}`,
              )
              .join('\n')}\n`;
      const backends = r.backends
        .map(
          (b) =>
            `        - name: ${b.name}${b.weight === undefined ? '' : `\n          weight: ${b.weight}`}${b.priority === undefined ? '' : `\n          priority: ${b.priority}`}${
              b.modelNameOverride === undefined ? '' : `\n          modelNameOverride: ${b.modelNameOverride}`
            }${b.extra ?? ''}`,
        )
        .join('\n');
      return `    - ${r.name === undefined ? '' : `name: ${r.name}\n      `}backendRefs:\n${backends}\n${matches}${r.extra ?? ''}`;
    })
    .join('');
  return `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata:
  name: ${name}
  namespace: default
spec:
  rules:
${ruleText}`;
}
