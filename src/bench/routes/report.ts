// Turning scale points into the benchmark's three outputs: a table on stdout, a JSON document, and an
// HTML page with charts. Every number states what it measures; its goals get a verdict.
import { COLORS, htmlPage, htmlTable, svgChart, type Series } from './chart.js';
import { fmtMs, maxReady, type LiveMemory, type ScaleResult, type WriteKind, type WriteResult } from './run.js';

export interface Stats {
  readonly n: number;
  readonly p50: number | undefined;
  readonly p99: number | undefined;
  readonly max: number | undefined;
}

export function stats(values: readonly number[]): Stats {
  if (values.length === 0) return { n: 0, p50: undefined, p99: undefined, max: undefined };
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? 0;
  return { n: s.length, p50: at(0.5), p99: at(0.99), max: s[s.length - 1] };
}

function readyValues(ws: readonly WriteResult[]): number[] {
  return ws.flatMap((w) => w.readiness.map((r) => r.readyMs).filter((v): v is number => v !== undefined));
}

export interface KindSummary {
  readonly kind: WriteKind;
  readonly writes: number;
  readonly routesPerWrite: number;
  readonly bytesPerWrite: number;
  /** Per write: write → first successful request on a route of that write (all its routes go live in one swap). */
  readonly firstReady: Stats;
  /** Per write: write → the gateway logged the generation live. */
  readonly live: Stats;
  /** Per write: the gateway's own time to build and swap the generation. */
  readonly build: Stats;
  /** Per write: write → every route of the write answered (includes the probe queue). */
  readonly allReady: Stats;
  /** Per route: write → its first successful request (includes the probe queue). */
  readonly perRoute: Stats;
}

export function summarizeKind(r: ScaleResult, kind: WriteKind): KindSummary | undefined {
  const ws = r.writes.filter((w) => w.kind === kind);
  if (ws.length === 0) return undefined;
  const def = (xs: ReadonlyArray<number | undefined>): number[] => xs.filter((v): v is number => v !== undefined);
  return {
    kind,
    writes: ws.length,
    routesPerWrite: Math.round(ws.reduce((a, w) => a + w.routes, 0) / ws.length),
    bytesPerWrite: Math.round(ws.reduce((a, w) => a + w.bytes, 0) / ws.length),
    firstReady: stats(def(ws.map((w) => w.firstReadyMs))),
    live: stats(def(ws.map((w) => w.liveMs))),
    build: stats(def(ws.map((w) => w.buildMs))),
    allReady: stats(def(ws.map((w) => maxReady(w.readiness)))),
    perRoute: stats(readyValues(ws)),
  };
}

export interface MemoryFit {
  readonly bytesPerRoute: number;
  readonly interceptBytes: number;
  readonly r2: number;
  readonly points: number;
}

function fit(pts: ReadonlyArray<readonly [number, number]>): MemoryFit | undefined {
  if (pts.length < 2) return undefined;
  const n = pts.length;
  const mx = pts.reduce((a, p) => a + p[0], 0) / n;
  const my = pts.reduce((a, p) => a + p[1], 0) / n;
  const sxy = pts.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0);
  const sxx = pts.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
  if (sxx === 0) return undefined;
  const slope = sxy / sxx;
  const icpt = my - slope * mx;
  const ssTot = pts.reduce((a, p) => a + (p[1] - my) ** 2, 0);
  const ssRes = pts.reduce((a, p) => a + (p[1] - (icpt + slope * p[0])) ** 2, 0);
  return { bytesPerRoute: slope, interceptBytes: icpt, r2: ssTot === 0 ? 1 : 1 - ssRes / ssTot, points: n };
}

/**
 * Live memory (after a full GC) against routes configured, over every measured point of every run:
 * `served` after every route served requests (the gateway keeps metric series per route), `config`
 * for fresh processes that served nothing (the configuration alone).
 */
export function memoryFit(results: readonly ScaleResult[], what: 'heap' | 'rss', state: 'served' | 'config' = 'served'): MemoryFit | undefined {
  const pts: Array<readonly [number, number]> = [];
  for (const r of results) {
    const points = state === 'served' ? [r.memory.baseline, r.memory.provisioned, r.memory.allAtOnce] : [r.memory.baseline, r.coldStart?.memory];
    for (const m of points) {
      if (m === undefined) continue;
      const v = what === 'heap' ? m.heapUsedBytes : m.rssBytes;
      if (v !== undefined) pts.push([m.routes, v]);
    }
  }
  return fit(pts);
}

export function provisionedRoutes(r: ScaleResult): number {
  return r.writes.filter((w) => w.kind !== 'all-at-once').reduce((a, w) => a + w.routes, 0);
}

const kib = (b: number): string => `${(b / 1024).toFixed(1)} KiB`;
const mib = (b: number): string => `${(b / 1048576).toFixed(0)} MiB`;
const pad = (s: string | number, w: number): string => String(s).padStart(w);

function perRoute(from: LiveMemory, to: LiveMemory | undefined, what: 'heap' | 'rss'): string {
  if (to === undefined || to.routes === from.routes) return '—';
  const a = what === 'heap' ? from.heapUsedBytes : from.rssBytes;
  const b = what === 'heap' ? to.heapUsedBytes : to.rssBytes;
  return a === undefined || b === undefined ? '—' : kib((b - a) / (to.routes - from.routes));
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

/**
 * CPU per request at N (median of the routes measured at N) against the one-route baselines taken
 * before and after them on the same process (their mean: they bracket the N points in time). The
 * spread between the two baselines is the noise floor of the machine at that moment.
 */
export function routingRatio(r: ScaleResult): { ratio: number; baseline: number; atN: number; band: readonly [number, number] } | undefined {
  const base = r.routing.filter((c) => c.configuredRoutes === 1).map((c) => c.cpuUsPerRequest);
  const atN = r.routing.filter((c) => c.configuredRoutes > 1).map((c) => c.cpuUsPerRequest);
  if (base.length === 0 || atN.length === 0) return undefined;
  const b = base.reduce((a, x) => a + x, 0) / base.length;
  const n = median(atN);
  return { ratio: n / b, baseline: b, atN: n, band: [Math.min(...base), Math.max(...base)] };
}

export function formatTable(results: readonly ScaleResult[]): string {
  const out: string[] = [];
  out.push("Readiness: from writing a manifest to the first successful request through the gateway (per write; every");
  out.push('route of a write goes live in one atomic swap). "all routes" and "per route p99" include the probe queue.');
  out.push('  routes  write                 writes  first ok p50  first ok p99  first ok max  live p50  build p50  all routes (max)  per route p99');
  for (const r of results) {
    for (const kind of ['batch', 'single', 'all-at-once'] as const) {
      const k = summarizeKind(r, kind);
      if (k === undefined) continue;
      const label = kind === 'batch' ? `batches of ${k.routesPerWrite}` : kind === 'single' ? 'one route per write' : `all ${k.routesPerWrite} in one file`;
      out.push(
        `${pad(r.routes, 8)}  ${label.padEnd(20)}  ${pad(k.writes, 6)}  ${pad(fmtMs(k.firstReady.p50), 12)}  ${pad(fmtMs(k.firstReady.p99), 12)}  ${pad(fmtMs(k.firstReady.max), 12)}  ${pad(fmtMs(k.live.p50), 8)}  ${pad(fmtMs(k.build.p50), 9)}  ${pad(fmtMs(k.allReady.max), 16)}  ${pad(fmtMs(k.perRoute.p99), 13)}`,
      );
    }
  }
  out.push('');
  out.push('Routing cost per request (closed loop on one route; gateway CPU from /proc)');
  out.push('  routes  route                      req/s    p50 ms    p99 ms   CPU µs/req');
  for (const r of results) {
    for (const c of r.routing) {
      out.push(`${pad(r.routes, 8)}  ${c.label.padEnd(22)}  ${pad(c.rps.toFixed(0), 9)}  ${pad(c.p50Ms.toFixed(3), 8)}  ${pad(c.p99Ms.toFixed(3), 8)}  ${pad(c.cpuUsPerRequest.toFixed(0), 11)}${c.errors > 0 ? `  errors=${c.errors}` : ''}`);
    }
    const q = routingRatio(r);
    if (q !== undefined) {
      out.push(`${pad('', 8)}  at N (median) vs 1 route (mean of before/after): ${q.atN.toFixed(0)} / ${q.baseline.toFixed(0)} µs = ${(q.ratio * 100).toFixed(0)}%; the two one-route runs alone differ by ${((q.band[1] / q.band[0] - 1) * 100).toFixed(0)}% (noise floor)`);
    }
  }
  out.push('');
  out.push('Memory of the gateway process after a full GC (live objects), and CPU. "served": every route has served');
  out.push('requests (the gateway keeps metric series per route); "config only": a fresh process on the same files.');
  out.push('  routes  heap, 1 route  heap, served  per route served  per route config only  cold start  peak RSS provisioning  CPU provisioning avg/peak  CPU idle after');
  for (const r of results) {
    const m = r.memory;
    const cold = r.coldStart;
    out.push(
      `${pad(r.routes, 8)}  ${pad(m.baseline.heapUsedBytes === undefined ? '—' : mib(m.baseline.heapUsedBytes), 13)}  ${pad(m.provisioned.heapUsedBytes === undefined ? '—' : mib(m.provisioned.heapUsedBytes), 12)}  ${pad(perRoute(m.baseline, m.provisioned, 'heap'), 16)}  ${pad(perRoute(m.baseline, cold?.memory, 'heap'), 21)}  ${pad(cold === undefined ? '—' : fmtMs(cold.startupMs), 10)}  ${pad(mib(m.peakRssProvisioning), 21)}  ${pad(`${r.cpu.provisioningAvgPct.toFixed(0)}% / ${r.cpu.provisioningPeakPct.toFixed(0)}%`, 25)}  ${pad(`${r.cpu.afterAvgPct.toFixed(1)}%`, 14)}`,
    );
  }
  const served = memoryFit(results, 'heap', 'served');
  const config = memoryFit(results, 'heap', 'config');
  const rss = memoryFit(results, 'rss', 'config');
  if (served !== undefined) out.push(`  linear fit, heap, served: ${kib(served.bytesPerRoute)} per route (R² ${served.r2.toFixed(3)}, ${served.points} points)`);
  if (config !== undefined) out.push(`  linear fit, heap, config only: ${kib(config.bytesPerRoute)} per route (R² ${config.r2.toFixed(3)}, ${config.points} points); RSS, config only: ${rss === undefined ? '—' : `${kib(rss.bytesPerRoute)} per route (R² ${rss.r2.toFixed(3)})`}`);
  return out.join('\n') + '\n';
}

export interface Verdict {
  readonly goal: string;
  readonly measured: string;
  readonly met: boolean | undefined;
}

export function verdicts(results: readonly ScaleResult[]): Verdict[] {
  const out: Verdict[] = [];
  const largest = results.reduce<ScaleResult | undefined>((a, r) => (a === undefined || r.routes > a.routes ? r : a), undefined);
  const failures = results.flatMap((r) => r.failures);
  if (largest !== undefined) {
    out.push({
      goal: '20,000 routes, every one routing to its backend',
      measured: `${provisionedRoutes(largest)} routes at the largest scale point; ${failures.length} route(s) not ready or misrouted`,
      met: largest.routes >= 20_000 ? failures.length === 0 : undefined,
    });
  }
  for (const r of results) {
    const s = summarizeKind(r, 'single');
    const b = summarizeKind(r, 'batch');
    const parts = [
      s === undefined ? undefined : `one route per write: p99 ${fmtMs(s.firstReady.p99)} (p50 ${fmtMs(s.firstReady.p50)})`,
      b === undefined ? undefined : `batches of ${b.routesPerWrite}: p99 ${fmtMs(b.firstReady.p99)} (p50 ${fmtMs(b.firstReady.p50)})`,
    ].filter((x) => x !== undefined);
    const p99s = [s?.firstReady.p99, b?.firstReady.p99].filter((x): x is number => x !== undefined);
    out.push({ goal: `readiness p99 < 1 s at ${r.routes} routes (Envoy AI Gateway: ~5 s at 2,000)`, measured: parts.join('; '), met: p99s.length === 0 ? undefined : p99s.every((x) => x < 1000) });
  }
  const ratios = results.map((r) => ({ n: r.routes, q: routingRatio(r) }));
  if (ratios.some((x) => x.q !== undefined)) {
    out.push({
      goal: 'per-request routing cost flat in N (gateway CPU/request at N vs one route, same process; within 15%)',
      measured: ratios.map((x) => `${x.n}: ${x.q === undefined ? '—' : `${(x.q.ratio * 100).toFixed(0)}% (noise floor ${((x.q.band[1] / x.q.band[0] - 1) * 100).toFixed(0)}%)`}`).join(', '),
      met: ratios.every((x) => x.q === undefined || x.q.ratio < 1.15),
    });
  }
  const served = memoryFit(results, 'heap', 'served');
  const config = memoryFit(results, 'heap', 'config');
  const fits = [config === undefined ? undefined : `config only ${kib(config.bytesPerRoute)} (R² ${config.r2.toFixed(3)}, ${config.points} points)`, served === undefined ? undefined : `after serving ${kib(served.bytesPerRoute)} (R² ${served.r2.toFixed(3)}, ${served.points} points)`].filter((x) => x !== undefined);
  const judged = [config, served].filter((f): f is MemoryFit => f !== undefined && f.points >= 3);
  out.push({
    goal: 'memory linear in N, stated per route',
    measured: fits.length === 0 ? 'needs two or more measured points' : `heap per route after a full GC: ${fits.join('; ')}`,
    met: judged.length === 0 ? undefined : judged.every((f) => f.r2 >= 0.95),
  });
  if (largest !== undefined) {
    const all = largest.writes.find((w) => w.kind === 'all-at-once');
    out.push({
      goal: 'no config size ceiling short of memory',
      measured: all === undefined ? 'all-at-once not run' : `${all.routes} routes in one ${(all.bytes / 1048576).toFixed(1)} MiB file applied by hot reload in ${fmtMs(all.liveMs)}; ${all.readiness.filter((x) => x.outcome === 'ready').length} ready`,
      met: all === undefined ? undefined : all.readiness.every((x) => x.outcome === 'ready'),
    });
  }
  return out;
}

export function formatVerdicts(vs: readonly Verdict[]): string {
  return (
    'Goals\n' +
    vs.map((v) => `  ${v.met === undefined ? '[n/a]' : v.met ? '[met]' : '[MISSED]'} ${v.goal}\n          ${v.measured}`).join('\n') +
    '\n'
  );
}

export function htmlReport(results: readonly ScaleResult[], meta: Record<string, string | number>, vs: readonly Verdict[]): string {
  const color = (i: number): string => COLORS[i % COLORS.length] ?? '#000';
  const readiness: Series[] = [];
  results.forEach((r, i) => {
    let x = 0;
    const pts: Array<[number, number]> = [];
    for (const w of r.writes.filter((w) => w.kind !== 'all-at-once')) {
      for (const rr of w.readiness) {
        if (rr.readyMs !== undefined) pts.push([x, rr.readyMs]);
        x++;
      }
    }
    readiness.push({ name: `${r.routes} routes`, points: pts, style: 'dots', color: color(i) });
  });
  const allAtOnce: Series[] = results.map((r, i) => {
    const w = r.writes.find((x) => x.kind === 'all-at-once');
    return { name: `${r.routes} in one file`, points: (w?.readiness ?? []).flatMap((rr, j) => (rr.readyMs === undefined ? [] : [[j, rr.readyMs] as [number, number]])), style: 'dots', color: color(i) };
  });
  const rss: Series[] = results.map((r, i) => ({
    name: `${r.routes} routes`,
    points: r.samples.filter((s) => s.phase === 'batch' || s.phase === 'single').map((s) => [s.routes, s.rssBytes / 1048576] as [number, number]),
    style: 'line',
    color: color(i),
  }));
  const cpu: Series[] = results.map((r, i) => ({ name: `${r.routes} routes`, points: r.samples.map((s) => [s.t / 1000, s.cpuPct] as [number, number]), style: 'line', color: color(i) }));
  const routing: Series[] = [
    {
      name: 'CPU µs/request',
      points: results.flatMap((r) => r.routing.map((c) => [c.configuredRoutes, c.cpuUsPerRequest] as [number, number])).sort((a, b) => a[0] - b[0]),
      style: 'dots',
      color: color(0),
    },
  ];
  const rows = results.flatMap((r) =>
    (['batch', 'single', 'all-at-once'] as const).flatMap((kind) => {
      const k = summarizeKind(r, kind);
      return k === undefined ? [] : [[r.routes, kind, k.writes, k.routesPerWrite, fmtMs(k.firstReady.p50), fmtMs(k.firstReady.p99), fmtMs(k.firstReady.max), fmtMs(k.live.p50), fmtMs(k.build.p50), fmtMs(k.allReady.max)]];
    }),
  );
  const intro = `<p>${Object.entries(meta)
    .map(([k, v]) => `<b>${k}</b>: ${String(v)}`)
    .join(' · ')}</p>`;
  return htmlPage('tollgate bench routes: control-plane scale', intro, [
    { heading: 'Goals', html: htmlTable(['goal', 'measured', 'verdict'], vs.map((v) => [v.goal, v.measured, v.met === undefined ? 'n/a' : v.met ? 'met' : 'MISSED'])) },
    {
      heading: 'Readiness per route',
      html:
        svgChart({ title: 'Write → first successful request, per route (batches, then one at a time)', xLabel: 'route, in provisioning order', yLabel: 'ms', series: readiness, refs: [{ y: 1000, label: 'goal: 1 s', color: '#16a34a' }, { y: 5000, label: 'Envoy AI Gateway ~5 s', color: '#dc2626' }] }) +
        svgChart({ title: 'All routes in one file: write → first successful request', xLabel: 'route (probe order)', yLabel: 'ms', series: allAtOnce, refs: [{ y: 5000, label: 'Envoy AI Gateway ~5 s', color: '#dc2626' }] }) +
        htmlTable(['routes', 'write', 'writes', 'routes/write', 'first ok p50', 'first ok p99', 'first ok max', 'live p50', 'build p50', 'all routes ok (max)'], rows),
    },
    { heading: 'Memory', html: svgChart({ title: 'Gateway RSS while routes are added', xLabel: 'routes configured', yLabel: 'MiB', series: rss }) },
    { heading: 'CPU', html: svgChart({ title: 'Gateway CPU over each run (baseline, provisioning, routing load, all-at-once)', xLabel: 's', yLabel: '% of one core', series: cpu }) },
    { heading: 'Routing cost', html: svgChart({ title: 'Gateway CPU per request vs routes configured', xLabel: 'routes configured', yLabel: 'µs/request', series: routing }) },
    { heading: 'Table', html: `<pre>${formatTable(results).replace(/&/g, '&amp;').replace(/</g, '&lt;')}</pre>` },
  ]);
}

