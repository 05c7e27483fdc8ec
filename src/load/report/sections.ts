// The sections of one run's report: the whitepaper's tables 1–3 and figures 4–6, the ramp's steps
// and gates, the soak's stability, per-profile breakdowns, errors, harness health, definitions.
import { gateName } from '../controller.js';
import { DEFAULT_PLAN } from '../plan/defaults.js';
import type { Slo } from '../plan/types.js';
import { errorKinds } from '../results/build.js';
import type { Results, StepView } from '../results/types.js';
import { ERROR_CLASS_HELP, type ErrorClass } from '../protocol.js';
import { decodeHist } from '../stats/hist.js';
import { Telemetry } from '../telemetry/scraper.js';
import { chart, esc, PALETTE } from './charts.js';
import { badge, duration, int, level, msec, num, pct, sec, table } from './format.js';

export function statusBadge(r: Results): string {
  switch (r.status.state) {
    case 'completed':
      return badge('completed', 'ok');
    case 'aborted':
      return badge('aborted', 'bad');
    case 'interrupted':
      return badge('interrupted', 'warn');
    case 'failed':
      return badge('failed', 'bad');
    default: {
      const never: never = r.status.state;
      return badge(String(never), 'info');
    }
  }
}

export function header(r: Results): string {
  const run = r.run;
  const total = r.phases.reduce((a, p) => a + p.duration_s, 0);
  const t = r.total;
  const limit = (r.run.plan.slo as Partial<Slo>).error_rate ?? DEFAULT_PLAN.slo.error_rate;
  const errorBadge = t.errors === 0 ? badge('no errors', 'ok') : badge(`errors ${pct(t.error_rate, 1)}`, t.error_rate > limit ? 'bad' : 'warn');
  // The error kinds first: a run made mostly of 429s measured the limits, not the backends.
  const errorLine =
    t.errors === 0
      ? ''
      : `<p class="${t.error_rate > limit ? 'bad' : 'muted'}">Errors: ${int(t.errors)} of ${int(t.ok + t.errors)} requests (${pct(t.error_rate, 1)}; the run fails above ${pct(limit, 1)}): ${esc(errorKinds(t.errors_by_class))}. Details under <a href="#errors">Errors</a>.</p>`;
  return `<h1>${esc(run.name)} ${statusBadge(r)} ${errorBadge} ${r.trust.trustworthy ? badge('schedule lag OK', 'ok') : badge('untrustworthy: schedule lag', 'bad')}</h1>
<div class="meta">target <code>${esc(run.target)}</code> · corpus <code>${esc(run.corpus)}</code> · ${esc(run.started_at)} · ${duration(total)} · ${run.mode} mode · ${run.workers} worker${run.workers === 1 ? '' : 's'}${run.shard === null ? '' : ` · shard ${run.shard.index}/${run.shard.count}`}${run.merged_from > 1 ? ` · merged from ${run.merged_from} shards` : ''} · tollgate ${esc(run.tollgate)}, Node ${esc(run.node)}</div>
${r.status.reason === '' ? '' : `<p class="${r.status.state === 'completed' ? 'muted' : 'bad'}">${esc(r.status.reason)}</p>`}
${errorLine}
${r.trust.warnings.length === 0 ? '' : `<ul class="warnings">${r.trust.warnings.map((w) => `<li>${esc(w)}</li>`).join('')}</ul>`}`;
}

export function cards(r: Results): string {
  const mode = r.run.mode;
  const c = (k: string, v: string): string => `<div class="card"><div class="k">${k}</div><div class="v">${v}</div></div>`;
  const t2 = r.boundaries.t2;
  const soak = r.soak;
  const soakPhase = r.phases.find((p) => p.name === soak?.phase);
  const over = r.overhead.find((o) => o.phase === soak?.phase) ?? r.overhead[r.overhead.length - 1];
  return `<div class="cards">
${c('T2 (compute boundary)', t2 === null ? 'not reached' : level(t2.level, mode))}
${c('RPS at T2', t2?.rps === null || t2?.rps === undefined ? '–' : num(t2.rps))}
${c('preemptions at T2', t2?.preemptions === null || t2?.preemptions === undefined ? '–' : int(t2.preemptions))}
${c('T3 (memory boundary)', r.boundaries.t3 === null ? 'not reached' : level(r.boundaries.t3.level, mode))}
${c('soak', soak === null ? '–' : `${level(soak.level, mode)}, ${num(soakPhase?.summary.rps)} rps`)}
${c('soak error rate', soak === null ? '–' : pct(soak.error_rate, 4))}
${c('gateway overhead', over?.overhead_s === null || over?.overhead_s === undefined ? '–' : msec(over.overhead_s * 1000))}
${c('requests', int(r.total.requests))}
</div>`;
}

export function referenceSection(r: Results): string {
  if (r.reference === null) return '';
  const rows = r.reference.map((x) => [esc(x.quantity), esc(x.reference), esc(x.measured), x.delta_pct === null ? '' : `${x.delta_pct >= 0 ? '+' : ''}${x.delta_pct.toFixed(0)}%`, x.ok === null ? '–' : x.ok ? badge('match', 'ok') : badge('off', 'warn')]);
  return `<h2>Comparison with the whitepaper (chapter 7)</h2><p class="muted">Reference figures from "Gateway to Enterprise AI" (4× H100, gpt-oss-120b, Envoy AI Gateway). A numeric figure matches within ±30%.</p>${table(['quantity', 'whitepaper', 'this run', 'Δ', ''], rows)}`;
}

export function phaseTable(r: Results): string {
  const mode = r.run.mode;
  const rows = r.phases.map((p) => [
    `${esc(p.name)} <span class="muted">(${p.kind})</span>`,
    duration(p.duration_s),
    level(p.max_level, mode),
    p.max_users === null ? '–' : int(p.max_users),
    num(p.peak_rps),
    num(p.summary.rps),
    int(p.summary.requests),
    pct(p.summary.error_rate, 4),
    num(p.summary.goodput_rps),
    esc(p.note),
  ]);
  return `<h2>Table 1: Phase summary</h2>${table(['phase', 'duration', 'max level', mode === 'users' ? 'max users alive' : 'max sessions', 'peak RPS', 'mean RPS', 'requests', 'error rate', 'goodput RPS', 'note'], rows)}`;
}

export function latencyTable(r: Results): string {
  const p = r.phases.find((x) => x.name === r.soak?.phase) ?? r.phases[r.phases.length - 1];
  if (p === undefined) return '';
  const s = p.summary;
  const e = p.telemetry.engine;
  const row = (name: string, c: { mean: number | null; p50: number | null; p99: number | null } | undefined, eng: number | null): string[] => [name, sec(c?.mean), sec(c?.p50), sec(c?.p99), sec(eng)];
  const rows = [
    row('TTFT', s.ttft, e.ttft),
    row('TPOT', s.tpot, e.tpot),
    row('Inter-token latency (ITL)', s.itl, e.itl),
    row('End-to-end latency', s.e2e, e.e2e),
    row('Queue time', undefined, e.queue),
    row('Prefill time', undefined, e.prefill),
    row('Decode time', undefined, e.decode),
  ];
  return `<h2>Table 2: Latency breakdown (${esc(p.name)} phase)</h2><p class="muted">Client columns: measured by the harness (definitions below). Engine column: the engine's own histograms over the phase (queue and prefill exist only there).</p>${table(['metric', 'client mean', 'client p50', 'client p99', 'engine mean'], rows)}`;
}

export function saturationFigure(runs: readonly Results[]): string {
  const series = runs.map((r, i) => {
    const ramp = r.steps.filter((s) => s.kind === 'ramp' && s.summary.ttft.count > 0);
    return { r, i, ramp };
  });
  if (series.every((s) => s.ramp.length === 0)) return '';
  const multi = runs.length > 1;
  const mode = runs[0]?.run.mode ?? 'users';
  const lines = series.flatMap(({ r, i, ramp }) => [
    { name: multi ? `${r.run.name} p99 TTFT` : 'P99 TTFT', points: ramp.map((s): [number, number] => [s.level, s.summary.ttft.p99 ?? Number.NaN]), color: PALETTE[(i * 2) % PALETTE.length] ?? '#000', dots: true },
    { name: multi ? `${r.run.name} mean TTFT` : 'mean TTFT', points: ramp.map((s): [number, number] => [s.level, s.summary.ttft.mean ?? Number.NaN]), color: PALETTE[(i * 2 + 1) % PALETTE.length] ?? '#000', dashed: true, dots: true },
  ]);
  const points = series.flatMap(({ r, ramp }) => {
    const t2 = r.boundaries.t2;
    if (t2 === null) return [];
    const s = ramp.find((x) => x.index === t2.step);
    return s === undefined || s.summary.ttft.p99 === null ? [] : [{ x: s.level, y: s.summary.ttft.p99, label: `T2: ${level(s.level, mode)}`, color: '#d62728' }];
  });
  const only = runs.length === 1 ? runs[0] : undefined;
  const hlines = only?.boundaries.baseline !== null && only?.boundaries.baseline !== undefined ? [{ y: only.boundaries.baseline.ttft * (only.run.plan.gates.list.find((g) => g.kind === 't2_ttft')?.threshold ?? 3), label: `${only.run.plan.gates.list.find((g) => g.kind === 't2_ttft')?.threshold ?? 3}× baseline (mean)`, color: '#9a6700' }] : [];
  return `<h2>Figure 4: Saturation curve (concurrency vs P99 TTFT)</h2>${chart({ title: 'TTFT per ramp step', xLabel: mode === 'users' ? 'concurrent users' : 'session arrival rate (sessions/s)', yLabel: 'TTFT (s)', series: lines, points, hlines })}`;
}

export function stepsTable(r: Results): string {
  const ramp = r.steps;
  if (ramp.length === 0) return '';
  const mode = r.run.mode;
  const t2step = r.boundaries.t2?.step;
  const rows = ramp.map((s) => {
    const cls = s.index === t2step ? 't2' : s.stable === false && s.kind === 'ramp' ? 'bad' : '';
    const gates = s.gates.map((g) => `${g.kind === 't2_ttft' ? 'T2' : g.kind === 't3_preemption' ? 'T3' : g.kind} ${g.value === undefined ? '–' : g.kind === 't2_ttft' ? `${g.value.toFixed(2)}×` : g.kind === 'waiting_queue' ? g.value.toFixed(1) : g.kind === 'ttft_p99' ? `${g.value.toFixed(2)}s` : pct(g.value, 1)}${g.over ? '!' : ''}`).join(' · ');
    return { cls, cells: [`${s.index}`, esc(s.phase), level(s.level, mode), duration(s.duration_s) + (s.extensions > 0 ? ` (+${s.extensions})` : ''), num(s.summary.rps), sec(s.summary.ttft.mean), sec(s.summary.ttft.p99), sec(s.summary.tpot.mean), sec(s.summary.e2e.mean), pct(s.summary.error_rate, 2), int(s.telemetry.preemptions), pct(s.telemetry.kv_mean, 1), num(s.telemetry.waiting_mean, 1), msec(s.lag.p99 === null ? null : s.lag.p99 * 1000), esc(gates), s.stable === null ? '–' : s.stable ? 'yes' : 'no'] };
  });
  const head = ['step', 'phase', 'level', 'duration', 'RPS', 'TTFT mean', 'TTFT p99', 'TPOT mean', 'E2E mean', 'errors', 'preempt.', 'KV mean', 'waiting', 'lag p99', 'gates at end', 'stable'];
  return `<h2>Steps and gates</h2><table><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.map((x) => `<tr${x.cls === '' ? '' : ` class="${x.cls}"`}>${x.cells.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>
${r.boundaries.baseline === null ? '' : `<p class="muted">Baseline TTFT ${sec(r.boundaries.baseline.ttft)} (${r.boundaries.baseline.source}, step ${r.boundaries.baseline.step}, ${int(r.boundaries.baseline.samples)} samples).</p>`}
${[r.boundaries.t2, r.boundaries.t3, ...r.boundaries.other].filter((b) => b !== null).map((b) => `<p><b>${esc(gateName(b.gate))}</b> tripped at ${level(b.level, mode)} (step ${b.step}, t = ${b.at.toFixed(0)} s): ${esc(b.note)}; action ${b.action === 'abort' ? 'abort the run' : 'end the ramp'}.</p>`).join('')}`;
}

function bands(r: Results): Array<{ x0: number; x1: number; label: string; color: string }> {
  return r.phases.map((p, i) => ({ x0: p.start, x1: p.end, label: p.name, color: PALETTE[i % PALETTE.length] ?? '#888' }));
}

function t2line(r: Results): Array<{ x: number; label: string; color: string }> {
  return r.boundaries.t2 === null ? [] : [{ x: r.boundaries.t2.at, label: 'T2', color: '#d62728' }];
}

export function timelineFigures(r: Results): string {
  const raw = r.raw;
  const bs = raw.bin_s;
  const mid = (t: number): number => t + bs / 2;
  const users = raw.bins.map((b): [number, number] => [mid(b.t), r.run.mode === 'users' ? b.users : b.sessions]);
  const rps = raw.bins.map((b): [number, number] => [mid(b.t), b.completed / bs]);
  const p50: Array<[number, number]> = [];
  const p99: Array<[number, number]> = [];
  for (const b of raw.bins) {
    if (b.ttft === '') continue;
    const h = decodeHist(b.ttft);
    p50.push([mid(b.t), h.getValueAtPercentile(50) / 1e6]);
    p99.push([mid(b.t), h.getValueAtPercentile(99) / 1e6]);
    h.destroy();
  }
  return `<h2>Load and latency over time</h2>
${chart({ title: `${r.run.mode === 'users' ? 'Users' : 'Active sessions'} and completed RPS`, xLabel: 'time (s)', yLabel: r.run.mode === 'users' ? 'users' : 'sessions', y2Label: 'requests/s', series: [{ name: r.run.mode === 'users' ? 'users' : 'sessions', points: users, color: PALETTE[0] ?? '#000' }, { name: 'RPS', points: rps, color: PALETTE[2] ?? '#000', axis: 'right' }], bands: bands(r), vlines: t2line(r) })}
${chart({ title: `TTFT per ${bs} s bin`, xLabel: 'time (s)', yLabel: 'TTFT (s)', series: [{ name: 'p50', points: p50, color: PALETTE[0] ?? '#000' }, { name: 'p99', points: p99, color: PALETTE[1] ?? '#000' }], bands: bands(r), vlines: t2line(r) })}`;
}

export function hardwareFigure(r: Results): string {
  const tel = Telemetry.fromDump(r.raw.telemetry);
  const kv = tel.series('engine.kv_usage').map(([t, v]): [number, number] => [t, v * 100]);
  const nv = tel.series('dcgm.nvlink_bytes_s').map(([t, v]): [number, number] => [t, v / 1e9]);
  const running = tel.series('engine.running');
  const waiting = tel.series('engine.waiting');
  if (kv.length === 0 && nv.length === 0) return `<h2>Figure 5: Hardware utilization (KV cache and NVLink)</h2><p class="muted">No engine or DCGM telemetry was scraped (add --telemetry for the engine's /metrics and the DCGM exporter).</p>`;
  const soak = r.soak;
  return `<h2>Figure 5: Hardware utilization (KV cache and NVLink)</h2>
${chart({ title: 'KV cache usage and NVLink bandwidth', xLabel: 'time (s)', yLabel: 'KV cache usage (%)', y2Label: 'NVLink TX+RX (GB/s)', series: [{ name: 'KV cache %', points: kv, color: '#17becf' }, ...(nv.length > 0 ? [{ name: 'NVLink GB/s', points: nv, color: '#222222', axis: 'right' as const }] : [])], bands: bands(r), vlines: t2line(r) })}
${chart({ title: 'Engine batch: running and waiting requests', xLabel: 'time (s)', yLabel: 'requests', series: [{ name: 'running', points: running, color: PALETTE[0] ?? '#000' }, { name: 'waiting', points: waiting, color: PALETTE[1] ?? '#000' }], bands: bands(r), vlines: t2line(r) })}
${soak === null ? '' : `<p>Soak: KV cache mean ${pct(r.phases.find((p) => p.name === soak.phase)?.telemetry.kv_mean, 1)}, max ${pct(r.phases.find((p) => p.name === soak.phase)?.telemetry.kv_max, 1)}, trend ${soak.kv_usage.slope_per_h === null ? '–' : `${((soak.kv_usage.slope_per_h * soak.duration_s) / 36).toFixed(2)} points over the soak`}; NVLink TX+RX mean ${num(r.phases.find((p) => p.name === soak.phase)?.telemetry.nvlink_gbs_mean)} GB/s.</p>`}`;
}

export function overheadSection(r: Results): string {
  const rows = r.overhead.map((o) => [esc(o.phase), sec(o.upstream_s), sec(o.downstream_s), o.overhead_s === null ? '–' : msec(o.overhead_s * 1000), o.overhead_pct === null ? '–' : `${o.overhead_pct.toFixed(3)}%`, msec(o.header_overhead_ms), sec(o.engine_e2e_s), o.source.replace('_', ' ')]);
  const tel = Telemetry.fromDump(r.raw.telemetry);
  const sums = tel.series('gateway.overhead_sum');
  const counts = tel.series('gateway.overhead_count');
  const overhead: Array<[number, number]> = [];
  for (let i = 0; i < Math.min(sums.length, counts.length); i++) {
    const s = sums[i];
    const c = counts[i];
    if (s !== undefined && c !== undefined && c[1] > 0) overhead.push([s[0], s[1] / c[1]]);
  }
  const bs = r.raw.bin_s;
  const down = r.raw.bins.filter((b) => b.completed - b.errors > 0).map((b): [number, number] => [b.t + bs / 2, b.e2e_sum_ms / 1000 / (b.completed - b.errors)]);
  const nearest = (t: number): number | undefined => {
    let best: [number, number] | undefined;
    for (const p of overhead) if (best === undefined || Math.abs(p[0] - t) < Math.abs(best[0] - t)) best = p;
    return best?.[1];
  };
  const up = overhead.length === 0 ? [] : down.map(([t, v]): [number, number] => [t, v - (nearest(t) ?? 0)]);
  return `<h2>Table 3: Gateway impact</h2><p class="muted">Downstream: the client-facing latency the harness measured. Overhead: the gateway's own tollgate_gateway_overhead_seconds (downstream − upstream per request), else its server-timing header. Upstream = downstream − overhead.</p>
${table(['phase', 'upstream latency', 'downstream latency', 'absolute overhead', 'overhead %', 'gateway time to headers', 'engine e2e', 'source'], rows)}
<h2>Figure 6: Upstream vs downstream latency</h2>
${chart({ title: 'Mean request latency per bin', xLabel: 'time (s)', yLabel: 'latency (s)', series: [{ name: 'downstream (client)', points: down, color: PALETTE[1] ?? '#000' }, ...(up.length > 0 ? [{ name: 'upstream', points: up, color: PALETTE[0] ?? '#000', dashed: true }] : [])], bands: bands(r) })}
${overhead.length === 0 ? '<p class="muted">No gateway metrics scraped: add the gateway admin endpoint with --telemetry gateway=http://HOST:9901/metrics.</p>' : chart({ title: 'Gateway overhead per scrape interval', xLabel: 'time (s)', yLabel: 'overhead (ms)', series: [{ name: 'mean overhead', points: overhead.map(([t, v]): [number, number] => [t, v * 1000]), color: PALETTE[3] ?? '#000' }], bands: bands(r) })}`;
}

export function soakSection(r: Results): string {
  const s = r.soak;
  if (s === null) return '';
  const d = (name: string, x: { first_third_mean: number | null; last_third_mean: number | null; change_pct: number | null; slope_per_h: number | null }, f: (v: number | null) => string, slopeUnit: string): string[] => [name, f(x.first_third_mean), f(x.last_third_mean), x.change_pct === null ? '–' : `${x.change_pct >= 0 ? '+' : ''}${x.change_pct.toFixed(1)}%`, x.slope_per_h === null ? '–' : `${num(x.slope_per_h, 4)} ${slopeUnit}`];
  return `<h2>Soak stability</h2><p>${level(s.level, r.run.mode)} for ${duration(s.duration_s)}; error rate ${pct(s.error_rate, 4)}.</p>
${table(['quantity', 'first third', 'last third', 'change', 'slope'], [d('TTFT mean', s.ttft, (v) => sec(v), 's/h'), d('E2E mean', s.e2e, (v) => sec(v), 's/h'), d('KV cache usage', { ...s.kv_usage, slope_per_h: s.kv_usage.slope_per_h === null ? null : s.kv_usage.slope_per_h * 100 }, (v) => pct(v, 2), 'points/h'), d('GPU memory used (DCGM)', s.fb_used_mib, (v) => (v === null ? '–' : `${int(v)} MiB`), 'MiB/h'), d('gateway RSS', s.gateway_rss_mb, (v) => (v === null ? '–' : `${num(v, 1)} MB`), 'MB/h')])}`;
}

export function profileSection(r: Results): string {
  const parts: string[] = ['<h2>Per-profile breakdown</h2>'];
  parts.push(table(['profile', 'apps', 'share', 'arrival process', 'session gap', 'sessions in corpus'], r.profiles.map((p) => [esc(p.name), esc(p.apps.join(', ')), pct(p.share, 1), esc(p.arrival_text), r.run.mode === 'users' ? sec(p.gap_s) : '–', int(p.sessions)])));
  for (const ph of r.phases) {
    const rows = Object.entries(ph.by_profile).map(([name, c]) => [esc(name), int(c.requests), num(c.rps), pct(c.error_rate, 3), sec(c.ttft.mean), sec(c.ttft.p99), sec(c.tpot.mean), sec(c.itl.mean), sec(c.e2e.mean), num(c.mean_output_tokens, 0), c.mean_prompt_tokens === null ? '–' : int(c.mean_prompt_tokens), pct(c.cached_prompt_fraction, 1), pct(c.goodput_fraction, 1)]);
    parts.push(table(['profile', 'requests', 'RPS', 'errors', 'TTFT mean', 'TTFT p99', 'TPOT', 'ITL', 'E2E', 'out tokens', 'prompt tokens', 'cached', 'goodput'], rows, { caption: `${esc(ph.name)} (${ph.kind})` }));
  }
  return parts.join('');
}

export function errorSection(r: Results): string {
  const classes = Object.entries(r.errors.by_class) as Array<[ErrorClass, number]>;
  if (classes.length === 0) return '<h2 id="errors">Errors</h2><p>None.</p>';
  const rows = classes.map(([c, n]) => [esc(c), int(n), esc(ERROR_CLASS_HELP[c]), esc((r.errors.samples[c] ?? []).slice(0, 3).map((s) => `${s.app}: ${s.message}`).join(' | '))]);
  return `<h2 id="errors">Errors</h2>${table(['class', 'count', 'meaning', 'examples'], rows)}`;
}

export function harnessSection(r: Results): string {
  const tel = r.raw.telemetry.targets.map((t) => [esc(t.name), esc(t.url), esc(t.roles.join(', ') || '–'), int(t.ok), int(t.failed), esc(t.last_error ?? '')]);
  return `<h2>Harness and telemetry</h2>
<p>Schedule lag p50 ${msec(r.trust.lag_p50_ms)}, p99 ${msec(r.trust.lag_p99_ms)}, max ${msec(r.trust.lag_max_ms)} (limit ${r.trust.threshold_ms} ms on p99). Sessions started ${int(r.harness.sessions_started)}, completed ${int(r.harness.sessions_completed)}; starved starts ${int(r.harness.starved)}; corpus restarts ${esc(JSON.stringify(r.harness.corpus_wraps))}.</p>
${tel.length === 0 ? '<p class="muted">No telemetry targets.</p>' : table(['target', 'url', 'exposes', 'scrapes', 'failed', 'last error'], tel)}`;
}

export function eventsSection(r: Results): string {
  return `<details><summary>Run events (${r.events.length})</summary>${table(['t (s)', 'event', 'message'], r.events.map((e) => [e.t.toFixed(1), e.kind, esc(e.message)]))}</details>`;
}

export function definitionsSection(r: Results): string {
  return `<h2>Definitions</h2><dl class="defs">${Object.entries(r.definitions).map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>
<details><summary>Plan</summary><pre>${esc(JSON.stringify(r.run.plan, null, 2))}</pre></details>
<details><summary>Command</summary><pre>${esc(r.run.command.join(' '))}</pre></details>`;
}

export function stepLevels(steps: readonly StepView[]): number[] {
  return steps.map((s) => s.level);
}
