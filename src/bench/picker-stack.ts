// The processes behind one run of the picker bench: four simulated vLLM replicas and a gateway whose
// InferencePool lists them with the strategy under test, started fresh for every run so no run
// inherits another's caches, and stopped together. It is separate from picker.ts because it is
// the bench's plumbing (ports, manifests, readiness waits, shutdown); picker.ts decides which runs
// to make and what they show.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BIN, freePort } from './procs.js';

export const REPLICAS = 4;
export const STRATEGIES = ['round-robin', 'least-request', 'picker'] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** Runs a tollgate command to its end; `onSpawn` gets its process id (to watch its CPU use). */
export function runCli(args: string[], what: string, onSpawn?: (pid: number) => void): Promise<void> {
  return new Promise((res, rej) => {
    const c = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    if (c.pid !== undefined) onSpawn?.(c.pid);
    let err = '';
    c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    c.on('close', (code) => (code === 0 ? res() : rej(new Error(`${what} exited with ${code}: ${err.trim().slice(-2000)}`))));
  });
}

function poolManifest(ports: readonly number[], strategy: Strategy, scrapeMs: number): string {
  return `apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata:
  name: gpt-oss
  namespace: default
  annotations:
    tollgate.io/endpoints: "${ports.map((p) => `127.0.0.1:${p}`).join(',')}"
    tollgate.io/endpoint-picker: ${strategy}
    tollgate.io/scrape-interval: ${scrapeMs}ms
spec:
  targetPorts:
    - number: ${ports[0] ?? 8000}
  selector:
    matchLabels:
      app: gpt-oss
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata:
  name: gpt-oss
  namespace: default
spec:
  rules:
    - backendRefs:
        - group: inference.networking.k8s.io
          kind: InferencePool
          name: gpt-oss
      timeouts:
        request: 600s
`;
}

/** The picker's scrape interval (engine time: ×--slow, so the picker sees as many scrapes per step). */
export const SCRAPE_MS = 500;

export interface Stack {
  readonly gateway: string;
  readonly admin: string;
  readonly replicas: string[];
  /** Process ids of the replicas and of the gateway. */
  readonly pids: { readonly replicas: ReadonlyArray<number | undefined>; readonly gateway: number | undefined };
}

/** Fresh replicas and a fresh gateway for one run; returns the gateway URL and replica URLs. */
export async function startStack(out: string, strategy: Strategy, profile: string, children: ChildProcess[], slow = 1): Promise<Stack> {
  // Each replica on a port of its own (consecutive ports from one free port may be taken).
  const ports: number[] = [];
  while (ports.length < REPLICAS) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  const replicas = ports.map((p) => `http://127.0.0.1:${p}`);
  // One process per replica, as vLLM runs: replicas in one simulator process would share its event
  // loop, so a replica kept busy would delay the others' steps, which real replicas never do.
  const sims = ports.map((p) => spawnQuiet(['sim', '--listen', `127.0.0.1:${p}`, '--profile', profile, '--model', 'gpt-oss-120b']));
  children.push(...sims);
  const config = join(out, 'config', strategy);
  await mkdir(config, { recursive: true });
  await writeFile(join(config, 'pool.yaml'), poolManifest(ports, strategy, SCRAPE_MS * slow));
  const gp = await freePort();
  const ap = await freePort();
  // One process: each worker of a multi-process gateway picks with its own state (in-flight
  // counts, prefix index), which would measure a split picker, not the picker.
  const gw = spawnQuiet(['serve', '--config', config, '--listen', `127.0.0.1:${gp}`, '--admin', `127.0.0.1:${ap}`, '--log-level', 'warn', '--no-watch', '--concurrency', '1']);
  children.push(gw);
  for (const r of replicas) await waitHttp(`${r}/health`);
  await waitHttp(`http://127.0.0.1:${ap}/readyz`);
  return { gateway: `http://127.0.0.1:${gp}`, admin: `http://127.0.0.1:${ap}`, replicas, pids: { replicas: sims.map((c) => c.pid), gateway: gw.pid } };
}

/** A tollgate child whose output is not kept (a long run would pile it up); stderr goes to ours. */
function spawnQuiet(args: string[]): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
}

async function waitHttp(url: string): Promise<void> {
  const end = Date.now() + 30_000;
  while (Date.now() < end) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer`);
}

export async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.splice(0).map(
      (c) =>
        new Promise<void>((r) => {
          if (c.exitCode !== null) return r();
          c.once('exit', () => r());
          c.kill('SIGTERM');
          setTimeout(() => c.kill('SIGKILL'), 5_000).unref();
        }),
    ),
  );
}
