// Runs the plan's phases on the main thread: sets each step's load level, evaluates the gates on
// a fixed tick, advances the ramp only from a stable step, stops it at a boundary (T2, or any gate
// with action stop_ramp), aborts at a hard stop (T3, or any gate with action abort), then soaks at
// a fraction of the boundary level.
import { GateEvaluator, measureBaseline, type Baseline, type GateReading, type SignalSource } from './gates.js';
import type { GateKind, Phase, Plan, RampPhase } from './plan/types.js';

export interface StepRecord {
  readonly index: number;
  readonly phase: string;
  readonly phaseKind: Phase['kind'];
  readonly level: number;
  /** Seconds since the origin. */
  readonly start: number;
  end: number;
  extensions: number;
  stable: boolean | undefined;
  gates: GateReading[];
  note: string;
}

export interface PhaseRecord {
  readonly name: string;
  readonly kind: Phase['kind'];
  readonly start: number;
  end: number;
  readonly steps: number[];
  note: string;
}

export interface Boundary {
  readonly gate: GateKind;
  readonly step: number;
  readonly level: number;
  /** Seconds since the origin when it tripped. */
  readonly at: number;
  readonly value: number;
  readonly threshold: number;
  readonly action: 'stop_ramp' | 'abort';
  readonly note: string;
}

export interface RunEvent {
  readonly t: number;
  readonly kind: 'phase' | 'step' | 'baseline' | 'extend' | 'boundary' | 'abort' | 'end' | 'warning';
  readonly message: string;
}

export type RunState = 'completed' | 'aborted' | 'interrupted' | 'failed';

export interface ControllerHooks {
  /** Applies a total load level (users or sessions/s) from `atEpochMs`, tagged with a step index. */
  setLevel(step: number, level: number, atEpochMs: number): void;
  /** Seconds since the origin, now. */
  now(): number;
  sleep(ms: number): Promise<void>;
  signals: SignalSource;
  /** Called after every evaluation (the live view). */
  onTick?(c: Controller, readings: GateReading[]): void;
}

export class Controller {
  readonly steps: StepRecord[] = [];
  readonly phases: PhaseRecord[] = [];
  readonly events: RunEvent[] = [];
  readonly boundaries: Boundary[] = [];
  baseline: Baseline | undefined;
  state: RunState = 'completed';
  reason = '';
  level = 0;
  private readonly gates: GateEvaluator;
  private stopRequested: { state: RunState; reason: string } | undefined;
  private lastStableLevel: number | undefined;
  private rampBoundaryLevel: number | undefined;

  constructor(
    readonly plan: Plan,
    private readonly hooks: ControllerHooks,
    /** Epoch ms of t = 0. */
    private readonly origin: number,
    private readonly evalMs: number,
  ) {
    this.gates = new GateEvaluator(plan.gates);
  }

  /** Ends the run at the next tick (Ctrl-C, a duration cap, a failed worker). */
  requestStop(state: RunState, reason: string): void {
    this.stopRequested ??= { state, reason };
  }

  get currentStep(): StepRecord | undefined {
    return this.steps[this.steps.length - 1];
  }

  get currentPhase(): PhaseRecord | undefined {
    return this.phases[this.phases.length - 1];
  }

  private event(kind: RunEvent['kind'], message: string): void {
    this.events.push({ t: round(this.hooks.now()), kind, message });
  }

  async run(): Promise<void> {
    for (const phase of this.plan.phases) {
      if (this.stopRequested !== undefined) break;
      const rec: PhaseRecord = { name: phase.name, kind: phase.kind, start: this.hooks.now(), end: 0, steps: [], note: '' };
      this.phases.push(rec);
      this.event('phase', `${phase.kind} phase "${phase.name}" begins`);
      switch (phase.kind) {
        case 'steady':
          await this.hold(rec, phase.level, phase.duration_s, false);
          break;
        case 'ramp':
          await this.ramp(rec, phase);
          break;
        case 'soak': {
          const base = this.rampBoundaryLevel ?? this.lastStableLevel;
          let level = phase.level ?? (base === undefined ? undefined : phase.fraction * base);
          if (level === undefined) {
            rec.note = 'skipped: no ramp level to take a fraction of';
            this.event('warning', `soak "${phase.name}" skipped: the ramp found no level`);
            break;
          }
          level = this.plan.mode === 'users' ? Math.max(1, Math.round(level)) : level;
          rec.note = phase.level !== undefined ? `fixed level ${level}` : `${Math.round(phase.fraction * 100)}% of ${this.rampBoundaryLevel !== undefined ? 'the T2 level' : 'the last stable ramp level (no boundary was found)'} ${base}`;
          await this.hold(rec, level, phase.duration_s, true);
          break;
        }
        default: {
          const never: never = phase;
          throw new Error(String(never));
        }
      }
      rec.end = this.hooks.now();
      if (this.state === 'aborted') break;
    }
    if (this.stopRequested !== undefined && this.state === 'completed') {
      this.state = this.stopRequested.state;
      this.reason = this.stopRequested.reason;
    }
    const last = this.currentPhase;
    if (last !== undefined && last.end === 0) last.end = this.hooks.now();
    this.event('end', this.state === 'completed' ? 'run completed' : `run ${this.state}: ${this.reason}`);
  }

  private beginStep(rec: PhaseRecord, phase: Phase, level: number): StepRecord {
    const index = this.steps.length;
    const step: StepRecord = { index, phase: phase.name, phaseKind: phase.kind, level, start: this.hooks.now(), end: 0, extensions: 0, stable: undefined, gates: [], note: '' };
    this.steps.push(step);
    rec.steps.push(index);
    this.level = level;
    this.gates.resetStreaks();
    this.hooks.setLevel(index, level, this.origin + step.start * 1000);
    this.event('step', `step ${index}: ${phase.name} at ${fmtLevel(level, this.plan.mode)}`);
    return step;
  }

  /** A steady or soak phase: one step at a fixed level; abort gates still apply. */
  private async hold(rec: PhaseRecord, level: number, duration: number, soak: boolean): Promise<void> {
    const phase = this.plan.phases.find((p) => p.name === rec.name) as Phase;
    const step = this.beginStep(rec, phase, level);
    const result = await this.watch(step, step.start + duration, 0, false);
    step.end = this.hooks.now();
    step.stable = result === undefined;
    if (soak && result !== undefined && result.action === 'stop_ramp') step.note = `${result.gate} over its limit during the soak (reported, not acted on)`;
  }

  private async ramp(rec: PhaseRecord, phase: RampPhase): Promise<void> {
    let level = phase.start;
    for (;;) {
      const step = this.beginStep(rec, phase, level);
      let end = step.start + phase.step_s;
      let trip: Boundary | undefined;
      for (;;) {
        trip = await this.watch(step, end, phase.settle_s, true);
        if (trip !== undefined || this.stopRequested !== undefined) break;
        // Stable so far; still climbing? Give it another step's time before judging it.
        if (step.extensions < phase.max_extensions && this.drifting(step, phase)) {
          step.extensions++;
          end = this.hooks.now() + phase.step_s;
          this.event('extend', `step ${step.index}: TTFT still rising, extended by ${phase.step_s} s`);
          continue;
        }
        break;
      }
      step.end = this.hooks.now();
      if (this.stopRequested !== undefined) {
        step.stable = false;
        return;
      }
      if (trip !== undefined) {
        step.stable = false;
        if (trip.action === 'abort') return;
        this.rampBoundaryLevel = level;
        rec.note = `ended at ${trip.gate === 't2_ttft' ? 'T2' : trip.gate} (${fmtLevel(level, this.plan.mode)})`;
        return;
      }
      step.stable = true;
      this.lastStableLevel = level;
      if (this.baseline === undefined) {
        const spec = this.plan.gates.list.find((g) => g.kind === 't2_ttft');
        const b = measureBaseline(spec, this.hooks.signals, step.start + phase.settle_s, step.end, this.plan.gates.min_samples, step.index);
        if (b !== undefined) {
          this.baseline = b;
          this.event('baseline', `baseline TTFT ${b.ttft.toFixed(3)} s (${b.source}, step ${step.index}, ${b.samples} samples)`);
        } else if (spec !== undefined) {
          step.note = 'too few samples for a baseline; the next stable step sets it';
        }
      }
      if (level >= phase.max) {
        rec.note = `reached max ${fmtLevel(phase.max, this.plan.mode)} without a boundary`;
        this.event('warning', `ramp reached its max (${fmtLevel(phase.max, this.plan.mode)}) without tripping a gate`);
        return;
      }
      const next = phase.factor > 1 ? level * phase.factor : level + phase.step;
      level = Math.min(phase.max, this.plan.mode === 'users' ? Math.max(level + 1, Math.round(next)) : next);
    }
  }

  /** Whether TTFT over the step's second half rose more than the tolerance over its first half. */
  private drifting(step: StepRecord, phase: RampPhase): boolean {
    const spec = this.plan.gates.list.find((g) => g.kind === 't2_ttft');
    const from = step.start + phase.settle_s;
    const to = this.hooks.now();
    const mid = (from + to) / 2;
    const a = measureBaseline(spec, this.hooks.signals, from, mid, Math.max(5, Math.floor(this.plan.gates.min_samples / 2)), step.index);
    const b = measureBaseline(spec, this.hooks.signals, mid, to, Math.max(5, Math.floor(this.plan.gates.min_samples / 2)), step.index);
    return a !== undefined && b !== undefined && b.ttft > a.ttft * (1 + phase.drift_tolerance);
  }

  /**
   * Evaluates the gates every tick until `end` (seconds since origin). Returns the boundary when a
   * gate trips (after `settle` seconds into the step); abort gates end the run.
   */
  private async watch(step: StepRecord, end: number, settle: number, ramp: boolean): Promise<Boundary | undefined> {
    for (;;) {
      const now = this.hooks.now();
      if (this.stopRequested !== undefined) return undefined;
      if (now >= end) return undefined;
      await this.hooks.sleep(Math.min(this.evalMs, Math.max(1, (end - now) * 1000)));
      const t = this.hooks.now();
      const readings = this.gates.evaluate(this.hooks.signals, t, this.baseline);
      step.gates = readings;
      this.hooks.onTick?.(this, readings);
      if (t - step.start < settle) continue;
      for (const r of readings) {
        if (!r.tripped || r.value === undefined) continue;
        const spec = this.plan.gates.list.find((g) => g.kind === r.kind);
        if (spec === undefined) continue;
        if (!ramp && spec.action === 'stop_ramp') continue; // only the ramp has a boundary to find
        const b: Boundary = { gate: r.kind, step: step.index, level: step.level, at: round(t), value: r.value, threshold: r.threshold, action: spec.action, note: r.note };
        this.boundaries.push(b);
        if (spec.action === 'abort') {
          this.state = 'aborted';
          this.reason = `${gateName(r.kind)} tripped at ${fmtLevel(step.level, this.plan.mode)}: ${r.note}`;
          this.event('abort', this.reason);
        } else {
          this.event('boundary', `${gateName(r.kind)} at ${fmtLevel(step.level, this.plan.mode)}: ${r.note}`);
        }
        return b;
      }
    }
  }
}

export function gateName(k: GateKind): string {
  switch (k) {
    case 't2_ttft':
      return 'T2 (TTFT over k× baseline)';
    case 't3_preemption':
      return 'T3 (preemption rate)';
    case 'kv_cache':
      return 'KV cache usage';
    case 'waiting_queue':
      return 'waiting queue';
    case 'ttft_p99':
      return 'p99 TTFT SLO';
    case 'error_rate':
      return 'error rate';
    default: {
      const never: never = k;
      return String(never);
    }
  }
}

export function fmtLevel(level: number, mode: 'users' | 'rate'): string {
  return mode === 'users' ? `${Math.round(level)} users` : `${Math.round(level * 1000) / 1000} sessions/s`;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
