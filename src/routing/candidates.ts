// Which backend each attempt of a request goes to: weighted choice within a priority level, lower
// levels only after `attemptsPerPriority` failures at the current one, wrapping around when every
// level was tried and retries remain (as Envoy resets excluded priorities once all are excluded).
import type { BackendRefConfig, RuleConfig } from '../config/types.js';

export interface PriorityLevel {
  readonly priority: number;
  readonly refs: readonly BackendRefConfig[];
  /** Cumulative weights, same order as refs; refs with weight 0 never receive traffic. */
  readonly cumulative: readonly number[];
  readonly total: number;
}

export interface RulePlan {
  readonly levels: readonly PriorityLevel[];
  /** Total attempts allowed: 1 + numRetries. */
  readonly maxAttempts: number;
  readonly attemptsPerPriority: number;
}

export function planRule(rule: RuleConfig): RulePlan {
  const byPriority = new Map<number, BackendRefConfig[]>();
  for (const ref of rule.backendRefs) {
    if (ref.weight <= 0) continue;
    let list = byPriority.get(ref.priority);
    if (list === undefined) byPriority.set(ref.priority, (list = []));
    list.push(ref);
  }
  const levels = [...byPriority.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([priority, refs]): PriorityLevel => {
      let acc = 0;
      const cumulative = refs.map((r) => (acc += r.weight));
      return { priority, refs, cumulative, total: acc };
    });
  return {
    levels,
    maxAttempts: 1 + Math.max(0, rule.retry.numRetries),
    attemptsPerPriority: Math.max(1, rule.retry.attemptsPerPriority),
  };
}

/** The level an attempt (0-based) runs at. */
export function levelForAttempt(plan: RulePlan, attempt: number): PriorityLevel | undefined {
  if (plan.levels.length === 0) return undefined;
  return plan.levels[Math.floor(attempt / plan.attemptsPerPriority) % plan.levels.length];
}

/**
 * Weighted random choice in a level, preferring refs not tried yet by this request so a retry does
 * not go straight back to the backend that just failed when the level has another.
 */
export function chooseRef(
  level: PriorityLevel,
  tried: ReadonlySet<BackendRefConfig>,
  random: () => number = Math.random,
): BackendRefConfig {
  if (level.refs.length === 1) return level.refs[0] as BackendRefConfig;
  let total = 0;
  for (const r of level.refs) if (!tried.has(r)) total += r.weight;
  const pickFromAll = total === 0;
  if (pickFromAll) total = level.total;
  let x = random() * total;
  for (const r of level.refs) {
    if (!pickFromAll && tried.has(r)) continue;
    x -= r.weight;
    if (x < 0) return r;
  }
  return level.refs[level.refs.length - 1] as BackendRefConfig;
}

/**
 * The next candidate not in `excluded`, from `from` downwards in priority: a weighted choice among
 * the level's remaining refs, or the first lower level that has some.
 */
export function nextAvailable(
  plan: RulePlan,
  from: PriorityLevel,
  excluded: ReadonlySet<BackendRefConfig>,
  random: () => number = Math.random,
): { ref: BackendRefConfig; level: PriorityLevel } | undefined {
  const start = plan.levels.indexOf(from);
  for (let i = Math.max(0, start); i < plan.levels.length; i++) {
    const level = plan.levels[i] as PriorityLevel;
    const open = level.refs.filter((r) => !excluded.has(r));
    if (open.length === 0) continue;
    let total = 0;
    for (const r of open) total += r.weight;
    let x = random() * total;
    for (const r of open) {
      x -= r.weight;
      if (x < 0) return { ref: r, level };
    }
    return { ref: open[open.length - 1] as BackendRefConfig, level };
  }
  return undefined;
}
