// Budget gauges of virtual keys' teams and soft-limit alerts. Fed by the spend admission
// (src/keys/spend.ts); team ids are data, so the gauge is capped like other learned labels.
import type { Registry } from 'prom-client';
import type { SpendObserver } from '../keys/spend.js';
import { KeyedCounter, KeyedGauge } from './keyed-metrics.js';
import type { LabelBounds } from './labels.js';

export class BudgetMetrics implements SpendObserver {
  private readonly remainingGauge: KeyedGauge<'team' | 'period'>;
  private readonly soft: KeyedCounter<'subject_kind' | 'period'>;

  constructor(
    registry: Registry,
    private readonly labels: LabelBounds,
  ) {
    this.remainingGauge = new KeyedGauge(registry, {
      name: 'tollgate_budget_remaining',
      help: "What is left of each team's budget this period, in the rates file's currency (after in-flight reservations).",
      labelNames: ['team', 'period'],
    });
    this.soft = new KeyedCounter(registry, {
      name: 'tollgate_budget_soft_limit_reached_total',
      help: 'Budgets (of keys, teams, organisations) whose soft limit was reached this period, counted once per period and process.',
      labelNames: ['subject_kind', 'period'],
    });
  }

  remaining(team: string, period: string, amount: number): void {
    this.remainingGauge.set({ team: this.labels.team(team), period }, amount);
  }

  softLimitReached(subject: string, period: string): void {
    this.soft.inc({ subject_kind: subject.slice(0, subject.indexOf(':')), period });
  }
}
