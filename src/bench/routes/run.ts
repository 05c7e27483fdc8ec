// One scale point of the routes benchmark: a fresh gateway process, N routes applied through its hot
// reload (in batches, then a few one at a time, then all N at once in one file), readiness of every
// route measured from the write of its manifest to its first successful request, routing cost at N
// against the same gateway with one route, and the process's RSS and CPU throughout.
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { nowMs, sleep } from '../../core/clock.js';
import { runLoad } from '../loadgen.js';
import { BASE_KEY, baseConfig, routeKey, routesFile, type ManifestFormat, type MatchOn, type RouteKey } from './manifests.js';
import { cpuSeconds, parseReloadLine, rssBytes, Sampler, startChild, type Child, type ProcSample, type ReloadEvent } from './process.js';
import { Prober, type RouteReadiness } from './probe.js';

export interface ScaleOptions {
  readonly bin: string;
  readonly workDir: string;
  readonly upstreamPort: number;
  readonly routes: number;
  readonly batch: number;
  readonly singles: number;
  readonly backends: number;
  readonly match: MatchOn;
  readonly format: ManifestFormat;
  readonly allAtOnce: boolean;
  readonly loadMs: number;
  readonly warmupMs: number;
  readonly loadConcurrency: number;
  readonly probeConcurrency: number;
  readonly timeoutMs: number;
  readonly pinCore: number | undefined;
  readonly log: (line: string) => void;
}

export type WriteKind = 'batch' | 'single' | 'all-at-once';

export interface WriteResult {
  readonly kind: WriteKind;
  readonly file: string;
  readonly bytes: number;
  /** Routes in this write, and configured after it. */
  readonly routes: number;
  readonly totalRoutes: number;
  /** Write → the gateway logged the new generation live (its log line's clock). */
  readonly liveMs: number | undefined;
  /** Of which: building and swapping the generation, as the gateway measured it. */
  readonly buildMs: number | undefined;
  /** Write → first successful request on the first route probed (one request in flight, every 2 ms). */
  readonly firstReadyMs: number | undefined;
  readonly readiness: readonly RouteReadiness[];
}

export interface RoutingCost {
  readonly label: string;
  readonly configuredRoutes: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cpuUsPerRequest: number;
  readonly errors: number;
}

export interface LiveMemory {
  readonly routes: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number | undefined;
}

export interface ScaleResult {
  readonly routes: number;
  readonly startupMs: number;
  readonly writes: readonly WriteResult[];
  readonly routing: readonly RoutingCost[];
  /** Live memory after a full GC: one route, N routes provisioned by reloads, N routes in one file. */
  readonly memory: {
    readonly baseline: LiveMemory;
    readonly provisioned: LiveMemory;
    readonly allAtOnce: LiveMemory | undefined;
    /** Highest RSS sampled while provisioning (reload garbage included). */
    readonly peakRssProvisioning: number;
  };
  readonly cpu: { readonly provisioningAvgPct: number; readonly provisioningPeakPct: number; readonly afterAvgPct: number };
  /** A fresh process started on the N routes (config only, no traffic); absent with --no-all-at-once. */
  readonly coldStart: { readonly startupMs: number; readonly memory: LiveMemory } | undefined;
  readonly samples: readonly ProcSample[];
  /** Routes that never became ready or were answered by the wrong rule. */
  readonly failures: readonly string[];
  /** Measurements that could not be taken. */
  readonly errors: readonly string[];
}

async function writeAtomically(dir: string, name: string, text: string): Promise<void> {
  const tmp = join(dir, `.${name}.${randomBytes(3).toString('hex')}.tmp`);
  await writeFile(tmp, text);
  await rename(tmp, join(dir, name));
}

function requestFor(key: RouteKey): Buffer {
  const model = key.header === 'x-ai-eg-model' ? key.value : 'bench';
  const body = `{"model":${JSON.stringify(model)},"messages":[{"role":"user","content":"hi"}],"max_tokens":1}`;
  const identity = key.header === 'x-workload-app' ? `x-workload-app: ${key.value}\r\n` : '';
  return Buffer.from(`POST /v1/chat/completions HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n${identity}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

const GC_PRELOAD = pathToFileURL(fileURLToPath(new URL('./gc-on-signal.js', import.meta.url))).href;

/** The gateway's heap in use, from its admin metrics (a fresh connection: no stale keep-alive). */
function heapUsed(adminPort: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: adminPort, path: '/metrics', agent: false, timeout: 30_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        const m = /^tollgate_process_nodejs_heap_size_used_bytes (\S+)$/m.exec(text);
        if (m === null) reject(new Error(`no tollgate_process_nodejs_heap_size_used_bytes in the gateway's /metrics (status ${String(res.statusCode)})`));
        else resolve(Number(m[1]));
      });
    });
    req.on('timeout', () => req.destroy(new Error('GET /metrics timed out after 30 s')));
    req.on('error', reject);
  });
}

export async function measureScale(o: ScaleOptions): Promise<ScaleResult> {
  const dir = join(o.workDir, `n${o.routes}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const ext = o.format === 'json' ? 'json' : 'yaml';
  await writeFile(join(dir, `00-base.${ext}`), baseConfig(o.backends, o.upstreamPort, o.format));

  const reloads: ReloadEvent[] = [];
  let gcDone = 0;
  const startGateway = async (): Promise<{ child: Child['child']; pid: number; port: number; adminPort: number; startupMs: number }> => {
    const t0 = nowMs();
    const c = await startChild(
      process.execPath,
      ['--expose-gc', '--import', GC_PRELOAD, o.bin, 'serve', '--config', dir, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--log-level', 'info'],
      /"msg":"tollgate serving".*?"listen":"[^"]*:(\d+)","admin":"[^"]*:(\d+)"/,
      {
        ...(o.pinCore === undefined ? {} : { pinCore: o.pinCore }),
        onLine: (l) => {
          if (l.startsWith('{"msg":"bench: gc done"')) gcDone++;
          const r = parseReloadLine(l);
          if (r !== undefined) reloads.push(r);
        },
      },
    );
    return { child: c.child, pid: c.child.pid ?? 0, port: Number(c.match[1]), adminPort: Number(c.match[2]), startupMs: nowMs() - t0 };
  };
  const stopGateway = async (child: Child['child']): Promise<void> => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };

  let gw = await startGateway();
  const { startupMs, pid, port } = gw;
  let prober = new Prober(port, Math.max(o.probeConcurrency, 8));
  const sampler = new Sampler(pid);
  const failures: string[] = [];
  /** Measurement problems (not the routes' fault): reported as loudly, kept apart. */
  const errors: string[] = [];
  const writes: WriteResult[] = [];
  const routing: RoutingCost[] = [];

  const waitLive = async (writtenEpoch: number, totalRoutes: number): Promise<ReloadEvent | undefined> => {
    const end = Date.now() + o.timeoutMs;
    while (Date.now() < end) {
      // The gateway counts the base route too.
      const ev = reloads.find((r) => r.at >= writtenEpoch - 5 && r.routes === totalRoutes + 1);
      if (ev !== undefined) return ev;
      await sleep(5);
    }
    return undefined;
  };

  const apply = async (kind: WriteKind, file: string, keys: readonly RouteKey[], totalRoutes: number): Promise<WriteResult> => {
    const text = routesFile(keys, o.backends, o.format);
    sampler.phase = kind;
    const writtenEpoch = Date.now();
    const written = nowMs();
    await writeAtomically(dir, file, text);
    sampler.routes = totalRoutes;
    const [first, ...rest] = keys;
    if (first === undefined) throw new Error('empty write');
    const head = await prober.untilReady(first, written, 2, o.timeoutMs);
    const others = await prober.sweep(rest, written, o.probeConcurrency, o.timeoutMs);
    const readiness = [head, ...others];
    const live = await waitLive(writtenEpoch, totalRoutes);
    for (const r of readiness) {
      if (r.outcome !== 'ready') failures.push(`route ${r.index} (${kind} write ${file}): ${r.outcome} after ${r.attempts} attempts`);
    }
    if (live === undefined) errors.push(`${file}: no "config reloaded" log line with ${totalRoutes + 1} routes`);
    return {
      kind,
      file,
      bytes: Buffer.byteLength(text),
      routes: keys.length,
      totalRoutes,
      liveMs: live === undefined ? undefined : live.at - writtenEpoch,
      buildMs: live?.buildMs,
      firstReadyMs: head.readyMs,
      readiness,
    };
  };

  // Three short runs, the lowest CPU per request kept: on a shared machine, interference only ever
  // adds cost, so the minimum is the best estimate of the gateway's own.
  const measureRouting = async (label: string, key: RouteKey, configured: number): Promise<RoutingCost> => {
    sampler.phase = 'routing';
    const request = requestFor(key);
    await runLoad({ port, request, concurrency: o.loadConcurrency, warmupMs: 0, durationMs: 500 });
    let best: RoutingCost | undefined;
    let errors = 0;
    for (let i = 0; i < 3; i++) {
      const c0 = cpuSeconds(pid) ?? 0;
      const r = await runLoad({ port, request, concurrency: o.loadConcurrency, warmupMs: 0, durationMs: Math.max(300, Math.round(o.loadMs / 3)) });
      const c1 = cpuSeconds(pid) ?? 0;
      errors += r.errors;
      const cost = { label, configuredRoutes: configured, rps: r.requests / r.seconds, p50Ms: r.latency.p50 / 1000, p99Ms: r.latency.p99 / 1000, cpuUsPerRequest: ((c1 - c0) * 1e6) / Math.max(1, r.requests), errors: 0 };
      if (best === undefined || cost.cpuUsPerRequest < best.cpuUsPerRequest) best = cost;
    }
    return { ...(best as RoutingCost), errors };
  };

  /** Memory of live objects: a full GC in the gateway first (SIGUSR2, see gc-on-signal.ts). */
  const liveMemory = async (routes: number): Promise<LiveMemory> => {
    const before = gcDone;
    gw.child.kill('SIGUSR2');
    const end = Date.now() + 30_000;
    while (gcDone === before && Date.now() < end) await sleep(10);
    if (gcDone === before) errors.push(`the gateway did not confirm a GC within 30 s at ${routes} routes; memory figures include garbage`);
    await sleep(200);
    let heap: number | undefined;
    try {
      heap = await heapUsed(gw.adminPort);
    } catch (err) {
      errors.push(`reading the gateway's heap at ${routes} routes: ${(err as Error).message}`);
    }
    return { routes, rssBytes: rssBytes(gw.pid) ?? 0, heapUsedBytes: heap };
  };

  try {
    const baseReady = await prober.untilReady(BASE_KEY, nowMs(), 5, o.timeoutMs);
    if (baseReady.outcome !== 'ready') throw new Error(`the base route never answered: ${baseReady.outcome}`);
    // A fresh process runs cold (JIT, pools): warm it up, unrecorded, before the first baseline.
    sampler.phase = 'warm-up';
    await runLoad({ port, request: requestFor(BASE_KEY), concurrency: o.loadConcurrency, warmupMs: 0, durationMs: o.warmupMs });
    routing.push(await measureRouting('1 route, before', BASE_KEY, 1));
    sampler.phase = 'idle';
    const memBaseline = await liveMemory(1);

    // Batches.
    const provisionStart = sampler.samples.length;
    const routeFiles: string[] = [];
    let total = 0;
    for (let start = 0, k = 0; start < o.routes; start += o.batch, k++) {
      const keys = Array.from({ length: Math.min(o.batch, o.routes - start) }, (_, j) => routeKey(start + j, o.match));
      const file = `batch-${String(k).padStart(4, '0')}.${ext}`;
      total += keys.length;
      const w = await apply('batch', file, keys, total);
      routeFiles.push(file);
      writes.push(w);
      o.log(`  n=${o.routes}: batch ${k + 1} (${total} routes): live ${fmtMs(w.liveMs)}, first ready ${fmtMs(w.firstReadyMs)}, all ${keys.length} ready by ${fmtMs(maxReady(w.readiness))}`);
    }
    // One route at a time at scale N, as routes are usually created.
    for (let j = 0; j < o.singles; j++) {
      const key = routeKey(o.routes + j, o.match);
      const file = `single-${String(j).padStart(4, '0')}.${ext}`;
      total += 1;
      writes.push(await apply('single', file, [key], total));
      routeFiles.push(file);
    }
    const singles = writes.filter((w) => w.kind === 'single');
    if (singles.length > 0) o.log(`  n=${o.routes}: ${singles.length} single routes: ready in ${singles.map((s) => fmtMs(s.firstReadyMs)).join(', ')}`);
    const provisionEnd = sampler.samples.length;
    sampler.phase = 'idle';
    await sleep(2_000);
    const afterSamples = sampler.samples.slice(provisionEnd);
    const memProvisioned = await liveMemory(total);

    // Routing cost at N: the baseline route again, and the first and the last route provisioned.
    routing.push(await measureRouting(`baseline route, ${total}`, BASE_KEY, total));
    routing.push(await measureRouting(`first of ${total}`, routeKey(0, o.match), total));
    routing.push(await measureRouting(`last of ${total}`, routeKey(o.routes + o.singles - 1, o.match), total));

    // Back to one route: the same process, warm, gives the second baseline.
    sampler.phase = 'clearing';
    const cleared = Date.now();
    for (const f of routeFiles) await rm(join(dir, f), { force: true });
    sampler.routes = 0;
    if ((await waitLive(cleared, 0)) === undefined) errors.push('removing every route file never produced a config with only the base route');
    routing.push(await measureRouting('1 route, after', BASE_KEY, 1));

    // All at once: every route in one file.
    let memAllAtOnce: LiveMemory | undefined;
    if (o.allAtOnce) {
      const keys = Array.from({ length: o.routes }, (_, i) => routeKey(i, o.match));
      const w = await apply('all-at-once', `all.${ext}`, keys, o.routes);
      writes.push(w);
      o.log(`  n=${o.routes}: all at once (${(w.bytes / 1048576).toFixed(1)} MiB file): live ${fmtMs(w.liveMs)}, first ready ${fmtMs(w.firstReadyMs)}, all ready by ${fmtMs(maxReady(w.readiness))}`);
      sampler.phase = 'idle';
      memAllAtOnce = await liveMemory(o.routes);
    }

    // Config only: a fresh process cold-started on the same files, no request served yet. What a
    // route costs before any traffic (metric series come with traffic), and the cold start at N.
    let coldStart: ScaleResult['coldStart'];
    if (o.allAtOnce) {
      sampler.stop();
      prober.close();
      await stopGateway(gw.child);
      gw = await startGateway();
      prober = new Prober(gw.port, 8);
      const up = await prober.untilReady(BASE_KEY, nowMs(), 5, o.timeoutMs);
      if (up.outcome !== 'ready') errors.push(`the cold-started gateway never served its base route (${up.outcome})`);
      coldStart = { startupMs: gw.startupMs, memory: await liveMemory(o.routes + 1) };
      o.log(`  n=${o.routes}: cold start with ${o.routes} routes: serving after ${fmtMs(gw.startupMs)}`);
    }

    const during = sampler.samples.slice(provisionStart, provisionEnd).map((s) => s.cpuPct);
    const after = afterSamples.map((s) => s.cpuPct);
    return {
      routes: o.routes,
      startupMs,
      writes,
      routing,
      memory: {
        baseline: memBaseline,
        provisioned: memProvisioned,
        allAtOnce: memAllAtOnce,
        peakRssProvisioning: Math.max(0, ...sampler.samples.slice(provisionStart, provisionEnd).map((x) => x.rssBytes)),
      },
      cpu: {
        provisioningAvgPct: avg(during),
        provisioningPeakPct: Math.max(0, ...during),
        afterAvgPct: avg(after),
      },
      coldStart,
      samples: sampler.samples,
      failures,
      errors,
    };
  } finally {
    sampler.stop();
    prober.close();
    await stopGateway(gw.child);
    await rm(dir, { recursive: true, force: true });
  }
}

function avg(xs: readonly number[]): number {
  return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
}

export function maxReady(rs: readonly RouteReadiness[]): number | undefined {
  let m: number | undefined;
  for (const r of rs) if (r.readyMs !== undefined && (m === undefined || r.readyMs > m)) m = r.readyMs;
  return m;
}

export function fmtMs(v: number | undefined): string {
  if (v === undefined) return '—';
  return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(0)} ms`;
}
