// Budget gauges of virtual keys and their teams, and soft-limit alerts. Fed by the spend admission
// (src/keys/spend.ts); key and team ids are data, so both gauges are capped like the other key and
// team labels (gen_ai_client_cost_total's), and an id beyond the cap gets no series rather than an
// `other` one whose value would be whichever key was admitted last.
//
// Each process reports what it saw at its own last admission. With several workers the primary's
// merged scrape takes the smallest report per series (src/telemetry/instance-metrics.ts), not the
// sum: within a period spend only grows, so the lowest figure is the latest one.
import type { Registry } from 'prom-client';
import type { SpendObserver } from '../keys/spend.js';
import { KeyedCounter, KeyedGauge } from './keyed-metrics.js';
import { OTHER, type LabelBounds } from './labels.js';

export const TEAM_BUDGET_GAUGE = 'tollgate_budget_remaining';
export const KEY_BUDGET_GAUGE = 'tollgate_key_budget_remaining';

export class BudgetMetrics implements SpendObserver {
  private readonly teamGauge: KeyedGauge<'team' | 'period' | 'backend'>;
  private readonly keyGauge: KeyedGauge<'key' | 'period' | 'backend'>;
  private readonly soft: KeyedCounter<'subject_kind' | 'period'>;

  constructor(
    registry: Registry,
    private readonly labels: LabelBounds,
  ) {
    this.teamGauge = new KeyedGauge(registry, {
      name: TEAM_BUDGET_GAUGE,
      help: "What is left of each team's budget this period, in the rates file's currency (after in-flight reservations).",
      labelNames: ['team', 'period', 'backend'],
    });
    this.keyGauge = new KeyedGauge(registry, {
      name: KEY_BUDGET_GAUGE,
      help: "What is left of each virtual key's own budget this period, in the rates file's currency (after in-flight reservations).",
      labelNames: ['key', 'period', 'backend'],
    });
    this.soft = new KeyedCounter(registry, {
      name: 'tollgate_budget_soft_limit_reached_total',
      help: 'Budgets (of keys, teams, organisations) whose soft limit was reached this period, counted once per period and process.',
      labelNames: ['subject_kind', 'period'],
    });
  }

  /** `subject` is `key:<id>`, `team:<id>` or `org:<id>`, with `@<backend>` for a backend-scoped budget. */
  remaining(subject: string, period: string, amount: number): void {
    const colon = subject.indexOf(':');
    const at = subject.indexOf('@', colon);
    const kind = subject.slice(0, colon);
    const id = subject.slice(colon + 1, at === -1 ? undefined : at);
    const backend = at === -1 ? undefined : this.labels.backend(subject.slice(at + 1));
    if (kind === 'key') {
      const key = this.labels.apiKey(id);
      if (key !== OTHER) this.keyGauge.set({ key, period, backend }, amount);
    } else if (kind === 'team') {
      const team = this.labels.team(id);
      if (team !== OTHER) this.teamGauge.set({ team, period, backend }, amount);
    }
  }

  softLimitReached(subject: string, period: string): void {
    this.soft.inc({ subject_kind: subject.slice(0, subject.indexOf(':')), period });
  }
}
