// The whitepaper's chapter 7 figures beside a run's: the seed scenario's report shows
// how close the reproduction came, ±30% counting as a match.
import type { Boundary } from '../controller.js';
import type { OverheadRow, PhaseView, ReferenceRow, SoakView } from './types.js';

interface Inputs {
  readonly boundaries: { readonly t2: (Boundary & { readonly rps: number | null; readonly preemptions: number | null }) | null };
  readonly phases: readonly PhaseView[];
  readonly soak: SoakView | null;
  readonly overhead: readonly OverheadRow[];
}

const TOLERANCE = 0.3;

function num(quantity: string, reference: number, measured: number | null | undefined, unit: string, digits: number): ReferenceRow {
  if (measured === null || measured === undefined || !Number.isFinite(measured)) return { quantity, reference: `${fmt(reference, digits)}${unit}`, measured: '–', delta_pct: null, ok: null };
  const delta = reference === 0 ? null : ((measured - reference) / reference) * 100;
  return { quantity, reference: `${fmt(reference, digits)}${unit}`, measured: `${fmt(measured, digits)}${unit}`, delta_pct: delta, ok: delta === null ? null : Math.abs(delta) <= TOLERANCE * 100 };
}

function cond(quantity: string, reference: string, measured: string, ok: boolean | null): ReferenceRow {
  return { quantity, reference, measured, delta_pct: null, ok };
}

/** Flat: the fitted trend moves KV usage by less than 2 points (or 20% of its mean) over the whole soak. */
function kvFlat(soak: SoakView | null): ReferenceRow {
  const slope = soak?.kv_usage.slope_per_h;
  const mean = soak?.kv_usage.first_third_mean;
  if (soak === null || slope === null || slope === undefined || mean === null || mean === undefined) return cond('KV cache flat in the soak', 'flat', '–', null);
  const change = slope * (soak.duration_s / 3600) * 100;
  return cond('KV cache flat in the soak', 'flat', `${change >= 0 ? '+' : ''}${change.toFixed(2)} points over the soak`, Math.abs(change) < Math.max(2, mean * 100 * 0.2));
}

function fmt(x: number, digits: number): string {
  return x.toFixed(digits);
}

export function whitepaperComparison(r: Inputs): ReferenceRow[] {
  const t2 = r.boundaries.t2;
  const soakPhase = r.soak === null ? undefined : r.phases.find((p) => p.name === r.soak?.phase);
  const soakOver = r.soak === null ? undefined : r.overhead.find((o) => o.phase === r.soak?.phase);
  const s = soakPhase?.summary;
  const tel = soakPhase?.telemetry;
  const rows: ReferenceRow[] = [
    num('T2 saturation point (users)', 224, t2?.level, '', 0),
    num('RPS at T2', 10, t2?.rps, '', 2),
    cond('preemptions at T2', '0', t2?.preemptions === null || t2?.preemptions === undefined ? '–' : String(Math.round(t2.preemptions)), t2?.preemptions === null || t2?.preemptions === undefined ? null : t2.preemptions === 0),
    num('soak users (~85% of T2)', 190, r.soak?.level, '', 0),
    num('soak RPS', 8.7, s?.rps, '', 2),
    cond('soak error rate', '0.0125%', s === undefined ? '–' : `${(s.error_rate * 100).toFixed(4)}%`, s === undefined ? null : s.error_rate <= 0.001),
    num('soak TTFT mean', 0.103, s?.ttft.mean, ' s', 3),
    num('soak TPOT mean', 0.035, s?.tpot.mean, ' s', 4),
    num('soak ITL mean', 0.035, s?.itl.mean, ' s', 4),
    cond('soak queue time (engine)', '< 0.001 s', tel?.engine.queue === null || tel?.engine.queue === undefined ? '–' : `${tel.engine.queue.toFixed(4)} s`, tel?.engine.queue === null || tel?.engine.queue === undefined ? null : tel.engine.queue < 0.005),
    num('soak prefill time (engine)', 0.074, tel?.engine.prefill, ' s', 3),
    num('soak KV cache usage', 10.5, tel?.kv_mean === null || tel?.kv_mean === undefined ? null : tel.kv_mean * 100, '%', 1),
    kvFlat(r.soak),
    num('soak NVLink TX+RX (DCGM)', 261.87, tel?.nvlink_gbs_mean, ' GB/s', 1),
    num('upstream latency', 14.291, soakOver?.upstream_s, ' s', 3),
    num('downstream latency', 14.293, soakOver?.downstream_s, ' s', 3),
    cond(
      'gateway overhead',
      '0.002 s (~0.01%)',
      soakOver?.overhead_s === null || soakOver?.overhead_s === undefined ? '–' : `${(soakOver.overhead_s * 1000).toFixed(2)} ms (${(soakOver.overhead_pct ?? 0).toFixed(3)}%)`,
      soakOver?.overhead_s === null || soakOver?.overhead_s === undefined ? null : soakOver.overhead_s < 0.01,
    ),
  ];
  return rows;
}
