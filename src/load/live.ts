// The live terminal view: phase and step, a progress bar, users, RPS, TTFT p50/p99, errors, the
// gates against their limits, schedule lag. Redrawn in place on a terminal; a plain line every
// ten seconds otherwise (CI logs); nothing in quiet mode.
import { fmtLevel, gateName, type Controller } from './controller.js';
import type { GateReading } from './gates.js';
import type { Aggregator } from './stats/aggregate.js';

export interface LiveView {
  update(c: Controller, agg: Aggregator, readings: readonly GateReading[]): void;
  line(text: string): void;
  done(): void;
}

export function createLiveView(mode: 'tty' | 'plain' | 'quiet', out: NodeJS.WriteStream | { write(s: string): unknown } = process.stderr): LiveView {
  let drawn = 0;
  let lastPlain = 0;
  const clear = (): void => {
    if (drawn > 0) out.write(`\x1b[${drawn}A\x1b[0J`);
    drawn = 0;
  };
  return {
    update(c, agg, readings) {
      if (mode === 'quiet') return;
      const lines = render(c, agg, readings, mode === 'tty');
      if (mode === 'tty') {
        clear();
        // A wrapped line would throw off the cursor-up redraw: cut lines to the terminal's width.
        const cols = 'columns' in out && typeof out.columns === 'number' && out.columns > 20 ? out.columns - 1 : 200;
        out.write(`${lines.map((l) => (l.length > cols ? `${l.slice(0, cols - 1)}…` : l)).join('\n')}\n`);
        drawn = lines.length;
        return;
      }
      const now = Date.now();
      if (now - lastPlain < 10_000) return;
      lastPlain = now;
      out.write(`${lines.join(' | ')}\n`);
    },
    line(text) {
      if (mode === 'quiet') return;
      if (mode === 'tty') clear();
      out.write(`${text}\n`);
    },
    done() {
      if (mode === 'tty') drawn = 0;
    },
  };
}

function render(c: Controller, agg: Aggregator, readings: readonly GateReading[], tty: boolean): string[] {
  const step = c.currentStep;
  const phase = c.currentPhase;
  const plan = c.plan;
  const now = (Date.now() - agg.origin) / 1000;
  const phaseSpec = plan.phases.find((p) => p.name === phase?.name);
  let progress = 0;
  let label = '';
  if (phaseSpec !== undefined && step !== undefined && phase !== undefined) {
    switch (phaseSpec.kind) {
      case 'ramp':
        progress = Math.min(1, (now - step.start) / phaseSpec.step_s);
        label = `${phase.name} step ${phase.steps.length} (${fmtLevel(step.level, plan.mode)} of max ${fmtLevel(phaseSpec.max, plan.mode)})`;
        break;
      case 'steady':
      case 'soak':
        progress = Math.min(1, (now - phase.start) / phaseSpec.duration_s);
        label = `${phase.name} at ${fmtLevel(step.level, plan.mode)}`;
        break;
      default: {
        const never: never = phaseSpec;
        label = String(never);
      }
    }
  }
  const w = agg.window(Math.max(0, now - 10) * 1000, now * 1000);
  const t = agg.totals();
  const width = 24;
  const filled = Math.round(progress * width);
  const bar = tty ? `${'█'.repeat(filled)}${'░'.repeat(width - filled)} ${String(Math.round(progress * 100)).padStart(3)}%` : `${Math.round(progress * 100)}%`;
  const rps = w.completions / Math.min(10, Math.max(1, now));
  const gates = readings
    .map((r) => {
      const short = r.kind === 't2_ttft' ? 'T2' : r.kind === 't3_preemption' ? 'T3' : gateName(r.kind);
      const val = r.value === undefined ? '–' : r.kind === 't2_ttft' ? `${r.value.toFixed(2)}×` : r.kind === 'waiting_queue' ? r.value.toFixed(1) : r.kind === 'ttft_p99' ? `${r.value.toFixed(2)}s` : `${(r.value * 100).toFixed(1)}%`;
      const lim = r.kind === 't2_ttft' ? `${r.threshold}×` : r.kind === 'waiting_queue' ? String(r.threshold) : r.kind === 'ttft_p99' ? `${r.threshold}s` : `${(r.threshold * 100).toFixed(0)}%`;
      return `${short} ${val}/${lim}${r.over ? '!' : ''}`;
    })
    .join('  ');
  const ms = (x: number | undefined): string => (x === undefined ? '–' : x >= 1000 ? `${(x / 1000).toFixed(2)}s` : `${x.toFixed(0)}ms`);
  const lag = [...agg.lag.values()].pop()?.summary().p99;
  const kinds = Object.entries(agg.errorsByClass)
    .sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0))
    .map(([k, n]) => `${k} ${n}`);
  return [
    `${label}  ${bar}  t=${now.toFixed(0)}s`,
    `${plan.mode === 'users' ? `users ${t.users}` : `sessions ${t.sessions}`}  in-flight ${t.inflight}  rps ${rps.toFixed(1)}  TTFT p50 ${ms(w.ttftP50)} p99 ${ms(w.ttftP99)}  errors ${w.errors}${w.completions > 0 ? ` (${((w.errors / w.completions) * 100).toFixed(2)}%)` : ''}  lag p99 ${lag === null || lag === undefined ? '–' : `${(lag * 1000).toFixed(1)}ms`}`,
    `gates: ${gates || 'none'}${c.baseline === undefined ? '' : `  baseline TTFT ${(c.baseline.ttft * 1000).toFixed(0)}ms`}`,
    ...(kinds.length === 0 ? [] : [`errors so far by kind: ${kinds.join(', ')}`]),
  ];
}
