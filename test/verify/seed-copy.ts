// A private copy of the bundled seed scenario for one test: the simulated backends moved to free
// ports (so tests run beside a developer's demo and each other), and the rate limit of test case 1
// present or removed as the test needs.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/cli.js';

const SEED_DIR = join(ROOT, 'examples/seed-scenario');

// Test case 1 as the whitepaper configured it. Used only while the bundled scenario lacks its own
// (the lead adds one to examples/seed-scenario with the rate-limit work); then that one is used.
export const SEED_RATE_LIMIT = `apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata:
  name: verify-test-swe-rebench-ide-limit
  namespace: default
spec:
  targetRefs:
    - group: gateway.networking.k8s.io
      kind: HTTPRoute
      name: seed-identity-routing
  rateLimit:
    type: Local
    local:
      rules:
        - clientSelectors:
            - headers:
                - name: x-workload-app
                  type: Exact
                  value: swe-rebench-ide
          limit:
            requests: 2
            unit: Minute
`;

export interface SeedCopy {
  readonly dir: string;
  readonly tier1: string;
  readonly tier2: string;
  remove(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function isRateLimitPolicy(doc: string): boolean {
  return /^kind:\s*BackendTrafficPolicy\s*$/m.test(doc) && /^\s*rateLimit:/m.test(doc);
}

/** Copy the seed scenario; `rateLimit: false` removes every rate-limit policy (a broken config). */
export async function seedCopy(opts: { rateLimit: boolean; extra?: Record<string, string> }): Promise<SeedCopy> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-verify-seed-'));
  const [p1, p2] = [await freePort(), await freePort()];
  let hasLimit = false;
  for (const name of await readdir(SEED_DIR)) {
    if (!/\.(ya?ml|json)$/.test(name)) continue;
    let text = await readFile(join(SEED_DIR, name), 'utf8');
    text = text.replace(/port: 8101\b/g, `port: ${p1}`).replace(/port: 8102\b/g, `port: ${p2}`);
    const docs = text.split(/^---\s*$/m);
    if (docs.some(isRateLimitPolicy)) {
      hasLimit = true;
      if (!opts.rateLimit) text = docs.filter((d) => !isRateLimitPolicy(d)).join('---\n');
    }
    await writeFile(join(dir, name), text);
  }
  if (opts.rateLimit && !hasLimit) await writeFile(join(dir, 'verify-test-rate-limit.yaml'), SEED_RATE_LIMIT);
  for (const [name, text] of Object.entries(opts.extra ?? {})) await writeFile(join(dir, name), text);
  return {
    dir,
    tier1: `http://127.0.0.1:${p1}`,
    tier2: `http://127.0.0.1:${p2}`,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
