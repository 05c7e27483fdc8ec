// `tollgate bench routes` (`npm run bench:routes`): control-plane scale. For each N, a fresh gateway
// process gets N AIGatewayRoutes through its hot reload (in batches, then some one at a time, then all
// N in one file); every route's readiness is the time from the write of its manifest to its first
// successful request; then routing cost per request at N against one route on the same process, and
// the process's RSS and CPU throughout. Envoy AI Gateway's published point: 2,000 routes, ~5 s to
// readiness (its config watcher polls every 5 s).
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError, formatHelp, parseCommandArgs, parsePositiveInt, UsageError } from '../cli/args.js';
import { hasTaskset, startChild, StartError, type Child } from './routes/process.js';
import { formatTable, formatVerdicts, htmlReport, summarizeKind, verdicts, memoryFit } from './routes/report.js';
import { measureScale, type ScaleResult } from './routes/run.js';

const spec = {
  name: 'bench routes',
  summary: 'control-plane scale: N routes through hot reload, readiness per route, routing cost, memory per route',
  usage: `
Usage: tollgate bench routes [--routes 2000,5000,20000] [--batch N] [--singles N] [--backends N]
                            [--match model|identity] [--manifests yaml|json] [--no-all-at-once]
                            [--duration SEC] [--warmup SEC] [--concurrency N] [--probe-concurrency N]
                            [--timeout SEC] [--out FILE] [--html FILE]

  --routes LIST          scale points; each gets a fresh gateway process (default 2000,5000,20000)
  --batch N              routes per manifest file when provisioning in batches (default 1000)
  --singles N            then this many routes one file at a time, at scale N (default 20)
  --backends N           AIServiceBackends the routes spread over (default 10)
  --match model|identity routes match a distinct x-ai-eg-model (default) or x-workload-app value
  --manifests yaml|json  manifest format (default yaml, what people write)
  --no-all-at-once       skip the all-N-in-one-file phase
  --duration SEC         seconds per routing-cost point: three runs, the lowest CPU/request kept (default 3)
  --warmup SEC           load on the fresh gateway before its one-route baseline (default 3)
  --concurrency N        closed-loop connections for routing cost (default 16)
  --probe-concurrency N  parallel readiness probes (default 32)
  --timeout SEC          a route not ready this long after its write is a failure (default 120)
  --out FILE             JSON results (default .bench-out/routes.json)
  --html FILE            charts (default .bench-out/routes.html)

The gateway is pinned to one core and the benchmark (probes, load, upstream) to the other when
taskset is available. Exit code 1 if any route never became ready or was answered by the wrong rule, or a measurement
could not be taken (the gateway's /metrics failing, say).`,
  options: {
    routes: { type: 'string' },
    batch: { type: 'string' },
    singles: { type: 'string' },
    backends: { type: 'string' },
    match: { type: 'string' },
    manifests: { type: 'string' },
    'no-all-at-once': { type: 'boolean' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    concurrency: { type: 'string' },
    'probe-concurrency': { type: 'string' },
    timeout: { type: 'string' },
    out: { type: 'string' },
    html: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
} as const;

const BIN = fileURLToPath(new URL('../../bin/tollgate.js', import.meta.url));
const UPSTREAM_JS = fileURLToPath(new URL('./routes/upstream.js', import.meta.url));

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(spec, argv);
  if (values.help === true) {
    process.stdout.write(formatHelp(spec));
    return 0;
  }
  const points = (values.routes ?? '2000,5000,20000').split(',').map((s) => parsePositiveInt(s.trim(), '--routes', { max: 1_000_000 }));
  const match = values.match ?? 'model';
  if (match !== 'model' && match !== 'identity') throw new UsageError(`--match: "${match}" is not model or identity`);
  const format = values.manifests ?? 'yaml';
  if (format !== 'yaml' && format !== 'json') throw new UsageError(`--manifests: "${format}" is not yaml or json`);
  const batch = parsePositiveInt(values.batch ?? '1000', '--batch', { max: 1_000_000 });
  const singles = parsePositiveInt(values.singles ?? '20', '--singles', { min: 0, max: 10_000 });
  const backends = parsePositiveInt(values.backends ?? '10', '--backends', { max: 10_000 });
  const loadMs = parsePositiveInt(values.duration ?? '3', '--duration', { max: 600 }) * 1000;
  const warmupMs = parsePositiveInt(values.warmup ?? '3', '--warmup', { max: 600 }) * 1000;
  const loadConcurrency = parsePositiveInt(values.concurrency ?? '16', '--concurrency', { max: 1024 });
  const probeConcurrency = parsePositiveInt(values['probe-concurrency'] ?? '32', '--probe-concurrency', { max: 1024 });
  const timeoutMs = parsePositiveInt(values.timeout ?? '120', '--timeout', { max: 3600 }) * 1000;
  const outFile = values.out ?? '.bench-out/routes.json';
  const htmlFile = values.html ?? '.bench-out/routes.html';

  const cpus = availableParallelism(); // before pinning narrows it to one
  const pinned = hasTaskset() && cpus >= 2;
  if (pinned) {
    spawnSync('taskset', ['-pc', '0', String(process.pid)], { stdio: 'ignore' });
  } else process.stderr.write('note: taskset not found (or one core); processes are not pinned\n');

  const work = await mkdtemp(join(tmpdir(), 'tollgate-bench-routes-'));
  let upstream: Child | undefined;
  const results: ScaleResult[] = [];
  try {
    upstream = await startChild(process.execPath, [UPSTREAM_JS, '0'], /ready (\d+)/, pinned ? { pinCore: 0 } : {});
    const upstreamPort = Number(upstream.match[1]);
    for (const n of points) {
      process.stderr.write(`n=${n}: starting a gateway, provisioning ${n} routes in batches of ${Math.min(batch, n)}, then ${singles} one at a time\n`);
      results.push(
        await measureScale({
          bin: BIN,
          workDir: work,
          upstreamPort,
          routes: n,
          batch,
          singles,
          backends,
          match,
          format,
          allAtOnce: values['no-all-at-once'] !== true,
          loadMs,
          warmupMs,
          loadConcurrency,
          probeConcurrency,
          timeoutMs,
          pinCore: pinned ? 1 : undefined,
          log: (l) => process.stderr.write(`${l}\n`),
        }),
      );
    }
  } catch (err) {
    if (err instanceof StartError) throw new CliError(err.message, 'the gateway or the upstream could not start; see its output above');
    throw err;
  } finally {
    upstream?.child.kill('SIGTERM');
    await rm(work, { recursive: true, force: true });
  }

  const vs = verdicts(results);
  process.stdout.write(`\n${formatTable(results)}\n${formatVerdicts(vs)}`);
  const failures = results.flatMap((r) => r.failures);
  const errors = results.flatMap((r) => r.errors);
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpus,
    pinned: pinned ? 'gateway on core 1, benchmark on core 0' : 'no',
    match: match === 'model' ? 'x-ai-eg-model' : 'x-workload-app',
    manifests: format,
    backends,
  };
  await mkdir(dirname(outFile), { recursive: true });
  await writeFile(outFile, JSON.stringify({ meta, options: { points, batch, singles, backends, match, format, loadMs, warmupMs, loadConcurrency, probeConcurrency, timeoutMs }, verdicts: vs, memoryFit: { heapServed: memoryFit(results, 'heap', 'served') ?? null, heapConfigOnly: memoryFit(results, 'heap', 'config') ?? null, rssConfigOnly: memoryFit(results, 'rss', 'config') ?? null }, results: results.map(toJson) }, null, 1));
  await mkdir(dirname(htmlFile), { recursive: true });
  await writeFile(htmlFile, htmlReport(results, meta, vs));
  process.stdout.write(`\nJSON written to ${outFile}, charts to ${htmlFile}\n`);
  if (failures.length > 0) process.stderr.write(`\n${failures.length} route(s) failed:\n${failures.slice(0, 20).map((f) => `  ${f}`).join('\n')}\n`);
  if (errors.length > 0) process.stderr.write(`\n${errors.length} measurement(s) could not be taken:\n${errors.slice(0, 20).map((f) => `  ${f}`).join('\n')}\n`);
  if (failures.length > 0 || errors.length > 0) return 1;
  return 0;
}

/** The JSON form: per-route readiness as compact arrays, the summaries spelled out. */
function toJson(r: ScaleResult): unknown {
  const round = (v: number | undefined): number | null => (v === undefined ? null : Math.round(v * 10) / 10);
  return {
    routes: r.routes,
    startupMs: round(r.startupMs),
    summary: { batch: summarizeKind(r, 'batch') ?? null, single: summarizeKind(r, 'single') ?? null, allAtOnce: summarizeKind(r, 'all-at-once') ?? null },
    writes: r.writes.map((w) => ({
      kind: w.kind,
      file: w.file,
      bytes: w.bytes,
      routes: w.routes,
      totalRoutes: w.totalRoutes,
      liveMs: round(w.liveMs),
      buildMs: round(w.buildMs),
      firstReadyMs: round(w.firstReadyMs),
      readyMs: w.readiness.map((x) => round(x.readyMs)),
      notReady: w.readiness.filter((x) => x.outcome !== 'ready').map((x) => ({ route: x.index, outcome: x.outcome, attempts: x.attempts })),
    })),
    routing: r.routing,
    memory: r.memory,
    coldStart: r.coldStart ?? null,
    cpu: r.cpu,
    samples: r.samples,
    failures: r.failures,
    errors: r.errors,
  };
}
