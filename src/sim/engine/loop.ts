// Drivers for the engine's step loop. The real-time loop keeps exactly one timer for the step in
// flight (never one per token or per request), fires it at the step's deadline and emits every
// sequence's token in that one callback, so the cost per step is one timer plus one write per
// stream. Steps follow a virtual schedule (each starts when the previous one was due, not when its
// timer happened to fire), so timer lateness does not slow the simulated GPU; if the event loop
// falls far behind, the schedule resyncs to now and the overrun is counted.
// The virtual loop runs the same engine in simulated time as fast as the CPU allows: that is how
// tests and `tollgate sim ramp` explore hours of load in seconds, deterministically.
import { nowMs } from '../../core/clock.js';
import type { Engine, StepPlan } from './engine.js';
import { EventQueue } from './event-queue.js';

/** Lateness samples (ms) of step timers, kept in a ring for percentiles. */
export class JitterStats {
  private readonly ring: Float64Array;
  private n = 0;
  max = 0;
  overruns = 0;
  steps = 0;

  constructor(size = 20_000) {
    this.ring = new Float64Array(size);
  }

  record(latenessMs: number): void {
    this.ring[this.n % this.ring.length] = latenessMs;
    this.n++;
    this.steps++;
    if (latenessMs > this.max) this.max = latenessMs;
  }

  reset(): void {
    this.n = 0;
    this.max = 0;
    this.overruns = 0;
    this.steps = 0;
  }

  summary(): { steps: number; p50: number; p90: number; p99: number; max: number; mean: number; overruns: number } {
    const count = Math.min(this.n, this.ring.length);
    const xs = Array.from(this.ring.subarray(0, count)).sort((a, b) => a - b);
    const q = (p: number): number => (count === 0 ? 0 : (xs[Math.min(count - 1, Math.floor(p * count))] as number));
    const mean = count === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / count;
    return { steps: this.steps, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: this.max, mean, overruns: this.overruns };
  }
}

export interface StepObserver {
  /** After a step's tokens were delivered (real time: writes are issued). */
  afterStep?(plan: StepPlan, endMs: number): void;
}

/** Behind schedule by more than this, the loop stops catching up and restarts from now. */
const RESYNC_MS = 20;
/**
 * Node's timers have millisecond granularity, so a timer set for a fractional deadline fires up to
 * ~1 ms late. For steps long enough that it is cheap, the loop wakes this much early and spins to
 * the deadline (at most ~4% of a 30 ms step), which keeps lateness well under a millisecond.
 */
const EARLY_WAKE_MS = 1.2;
const PRECISE_MIN_STEP_MS = 8;
/** Steps completed back to back in one callback when the schedule is behind (keeps I/O flowing). */
const MAX_CATCH_UP = 32;

export class RealtimeLoop {
  readonly jitter = new JitterStats();
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private plan: StepPlan | null = null;
  private deadline = 0;
  private stopped = false;

  constructor(
    private readonly engine: Engine,
    private readonly observer: StepObserver = {},
  ) {}

  /** New work arrived: start stepping if idle. Arrivals in the same tick join the same step. */
  kick(): void {
    if (this.stopped || this.plan !== null || this.immediate !== null) return;
    this.immediate = setImmediate(() => {
      this.immediate = null;
      this.start(nowMs());
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    this.plan = null;
  }

  private start(at: number): void {
    let t = at;
    for (let i = 0; ; i++) {
      const plan = this.engine.schedule(t);
      if (plan === null) {
        this.plan = null;
        return;
      }
      this.plan = plan;
      this.deadline = t + plan.durationMs;
      const wait = this.deadline - nowMs();
      if (wait > 0 || i >= MAX_CATCH_UP) {
        const early = plan.durationMs >= PRECISE_MIN_STEP_MS ? EARLY_WAKE_MS : 0;
        this.timer = setTimeout(this.onTimer, Math.max(0, wait - early));
        return;
      }
      // Already due (a step shorter than timer resolution, or we are behind): finish it now.
      this.jitter.record(-wait);
      this.finish(plan, this.deadline);
      t = this.deadline;
    }
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    const plan = this.plan;
    if (plan === null || this.stopped) return;
    let now = nowMs();
    if (now < this.deadline && this.deadline - now <= EARLY_WAKE_MS + 0.5) {
      while (now < this.deadline) now = nowMs();
    } else if (now < this.deadline) {
      this.timer = setTimeout(this.onTimer, this.deadline - now - EARLY_WAKE_MS);
      return;
    }
    const late = now - this.deadline;
    this.jitter.record(Math.max(0, late));
    this.finish(plan, this.deadline);
    let next = this.deadline;
    if (late > RESYNC_MS) {
      this.jitter.overruns++;
      next = now;
    }
    this.start(next);
  };

  private finish(plan: StepPlan, end: number): void {
    this.plan = null;
    this.engine.complete(plan, end);
    this.observer.afterStep?.(plan, end);
  }
}

/** Discrete-event simulation: external events (arrivals, think times) and engine steps in time order. */
export class VirtualLoop {
  now = 0;
  private readonly events = new EventQueue();
  private plan: StepPlan | null = null;
  private planEnd = 0;

  constructor(
    private readonly engine: Engine,
    private readonly observer: StepObserver = {},
  ) {}

  /** Run fn at simulated time t (ms). */
  at(t: number, fn: () => void): void {
    this.events.push(Math.max(t, this.now), fn);
  }

  /** New work arrived: if the engine is idle, a step starts now. */
  kick(): void {
    if (this.plan === null) this.startStep();
  }

  /** Advance until simulated time `untilMs` (or until nothing is left to do). */
  run(untilMs: number): void {
    for (;;) {
      const nextEvent = this.events.nextAt;
      const nextStep = this.plan === null ? Infinity : this.planEnd;
      const t = Math.min(nextEvent, nextStep);
      if (t === Infinity || t > untilMs) {
        this.now = Math.max(this.now, Math.min(untilMs, t));
        return;
      }
      this.now = t;
      if (nextStep <= nextEvent && this.plan !== null) {
        const plan = this.plan;
        this.plan = null;
        this.engine.complete(plan, t);
        this.observer.afterStep?.(plan, t);
        this.startStep();
      } else {
        this.events.pop()();
      }
    }
  }

  private startStep(): void {
    const plan = this.engine.schedule(this.now);
    if (plan === null) return;
    this.plan = plan;
    this.planEnd = this.now + plan.durationMs;
  }
}
