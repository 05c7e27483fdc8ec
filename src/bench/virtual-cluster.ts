// The virtual picker bench's timeline: several copies of the simulator's engine and the outside
// world's events (users' arrivals, scrapes, shared picker batches) in one discrete-event loop in
// simulated time. Each engine runs one step at a time; the loop always advances to the earliest
// step end or event, so nothing waits on a real timer.
import { type Engine, type StepPlan } from '../sim/engine/engine.js';
import { EventQueue } from '../sim/engine/event-queue.js';

/** Several engines and the outside world's events in one simulated timeline. */
export class Cluster {
  now = 0;
  private readonly events = new EventQueue();
  private readonly plans: Array<StepPlan | null>;
  private readonly planEnd: Float64Array;

  constructor(readonly engines: readonly Engine[]) {
    this.plans = engines.map(() => null);
    this.planEnd = new Float64Array(engines.length).fill(Infinity);
  }

  at(t: number, fn: () => void): void {
    this.events.push(Math.max(t, this.now), fn);
  }

  /** Engine i has new work: it starts a step now if idle. */
  kick(i: number): void {
    if (this.plans[i] === null) this.startStep(i);
  }

  run(untilMs: number): void {
    for (;;) {
      let engine = -1;
      let stepAt = Infinity;
      for (let i = 0; i < this.engines.length; i++) {
        const e = this.planEnd[i] as number;
        if (e < stepAt) {
          stepAt = e;
          engine = i;
        }
      }
      const eventAt = this.events.nextAt;
      const t = Math.min(stepAt, eventAt);
      if (t === Infinity || t > untilMs) {
        this.now = untilMs;
        return;
      }
      this.now = t;
      if (engine >= 0 && stepAt <= eventAt) {
        const plan = this.plans[engine] as StepPlan;
        this.plans[engine] = null;
        this.planEnd[engine] = Infinity;
        (this.engines[engine] as Engine).complete(plan, t);
        this.startStep(engine);
      } else this.events.pop()();
    }
  }

  private startStep(i: number): void {
    const plan = (this.engines[i] as Engine).schedule(this.now);
    this.plans[i] = plan;
    this.planEnd[i] = plan === null ? Infinity : this.now + plan.durationMs;
  }
}
