// Rate-limit and quota metrics. The http_{local,global}_rate_limit_{enabled,ok,rate_limited} families
// are Envoy's, and Envoy's /stats/prometheus exposes them as counters without the `_total` suffix,
// which `promtool check metrics` rejects. So /metrics carries them with `_total` (lint-clean) and
// /stats/prometheus rewrites them back to Envoy's names, for dashboards and alerts written against
// Envoy. Labels are config names, so cardinality is bounded; the remaining-budget gauges keep at
// most MAX_BUCKETS series (distinct values beyond that are dropped).
import type { Registry } from 'prom-client';
import type { RateLimitRule } from '../config/types.js';
import type { LimitObserver, QuotaObserver } from '../limits/index.js';
import { KeyedCounter, KeyedGauge, type CounterSeries, type GaugeSeries } from './keyed-metrics.js';

const MAX_BUCKETS = 500;

const ENVOY_FAMILIES = /^((?:# (?:HELP|TYPE) )?http_(?:local|global)_rate_limit_(?:enabled|ok|rate_limited))_total(?=[ {])/gm;

/** The exposition with the rate-limit counters under Envoy's names (no `_total`), for /stats/prometheus. */
export function withEnvoyNames(text: string): string {
  return text.replace(ENVOY_FAMILIES, '$1');
}

/** A rule's decision counters on one route, held so a decision builds no label key. */
interface DecisionSeries {
  readonly enabled: CounterSeries;
  readonly ok: CounterSeries;
}

export class RateLimitMetrics implements LimitObserver, QuotaObserver {
  private readonly enabled: Record<'Local' | 'Global', KeyedCounter<'rule' | 'route'>>;
  private readonly ok: Record<'Local' | 'Global', KeyedCounter<'rule' | 'route'>>;
  private readonly limited: Record<'Local' | 'Global', KeyedCounter<'rule' | 'route'>>;
  private readonly shadow: KeyedCounter<'rule' | 'route'>;
  private readonly storeErrors: KeyedCounter<'store' | 'outcome'>;
  private readonly failedOpenCounter: KeyedCounter<'rule' | 'route'>;
  private readonly remainingGauge: KeyedGauge<'rule' | 'bucket' | 'unit'>;
  private readonly quotaRequests: KeyedCounter<'policy' | 'model' | 'bucket' | 'result'>;
  private readonly quotaRemainingGauge: KeyedGauge<'bucket'>;
  private readonly series = new Set<string>();
  /**
   * Held series per rule (a reload's new rule objects start afresh; the old ones are collected with
   * their map): decisions by route, remaining-budget gauges by bucket and unit. Only buckets within
   * MAX_BUCKETS are held, so a Distinct rule's many values cannot grow these.
   */
  private readonly decisions = new WeakMap<RateLimitRule, Map<string, DecisionSeries>>();
  private readonly remainingHeld = new WeakMap<RateLimitRule, Record<'requests' | 'tokens', Map<string, GaugeSeries>>>();

  constructor(registry: Registry) {
    const counter = (name: string, help: string): KeyedCounter<'rule' | 'route'> => new KeyedCounter(registry, { name, help, labelNames: ['rule', 'route'] });
    this.enabled = {
      Local: counter('http_local_rate_limit_enabled_total', 'Requests a local rate-limit rule was evaluated for.'),
      Global: counter('http_global_rate_limit_enabled_total', 'Requests a global (Redis) rate-limit rule was evaluated for.'),
    };
    this.ok = {
      Local: counter('http_local_rate_limit_ok_total', 'Requests within the budget of a local rate-limit rule.'),
      Global: counter('http_global_rate_limit_ok_total', 'Requests within the budget of a global rate-limit rule.'),
    };
    this.limited = {
      Local: counter('http_local_rate_limit_rate_limited_total', 'Requests rejected (429) because a local rate-limit rule was exhausted.'),
      Global: counter('http_global_rate_limit_rate_limited_total', 'Requests rejected (429) because a global rate-limit rule was exhausted.'),
    };
    this.shadow = counter('tollgate_rate_limit_shadow_exceeded_total', 'Requests over a shadow-mode rule (counted, not rejected).');
    this.storeErrors = new KeyedCounter(registry, {
      name: 'tollgate_rate_limit_store_errors_total',
      help: 'Rate-limit store (Redis) failures, by what the failure mode did: allowed or denied.',
      labelNames: ['store', 'outcome'],
    });
    this.failedOpenCounter = counter('tollgate_rate_limit_failed_open_total', 'Requests admitted without checking a global rule because its store failed (failure mode open).');
    this.remainingGauge = new KeyedGauge(registry, {
      name: 'tollgate_rate_limit_remaining',
      help: 'Budget left in a rate-limit bucket at its last decision (requests or tokens).',
      labelNames: ['rule', 'bucket', 'unit'],
    });
    this.quotaRequests = new KeyedCounter(registry, {
      name: 'tollgate_quota_requests_total',
      help: 'QuotaPolicy bucket decisions: ok, exceeded (enforced) or shadow (over, not enforced).',
      labelNames: ['policy', 'model', 'bucket', 'result'],
    });
    this.quotaRemainingGauge = new KeyedGauge(registry, {
      name: 'tollgate_quota_remaining_tokens',
      help: 'Tokens left in a QuotaPolicy bucket (sliding window) at its last decision.',
      labelNames: ['bucket'],
    });
  }

  ruleDecision(rule: RateLimitRule, route: string, result: 'ok' | 'limited' | 'shadow'): void {
    const held = this.decisionSeries(rule, route);
    held.enabled.inc();
    switch (result) {
      case 'ok':
        held.ok.inc();
        return;
      case 'limited':
        this.limited[rule.scope].inc({ rule: rule.label, route });
        return;
      case 'shadow':
        held.ok.inc();
        this.shadow.inc({ rule: rule.label, route });
        return;
    }
  }

  private decisionSeries(rule: RateLimitRule, route: string): DecisionSeries {
    let byRoute = this.decisions.get(rule);
    if (byRoute === undefined) this.decisions.set(rule, (byRoute = new Map<string, DecisionSeries>()));
    let found = byRoute.get(route);
    if (found === undefined) {
      const labels = { rule: rule.label, route };
      found = { enabled: this.enabled[rule.scope].seriesOf(labels), ok: this.ok[rule.scope].seriesOf(labels) };
      byRoute.set(route, found);
    }
    return found;
  }

  storeFailure(store: string, allowed: boolean): void {
    this.storeErrors.inc({ store, outcome: allowed ? 'allowed' : 'denied' });
  }

  failedOpen(rule: RateLimitRule, route: string): void {
    this.failedOpenCounter.inc({ rule: rule.label, route });
  }

  remaining(rule: RateLimitRule, bucket: string, unit: 'requests' | 'tokens', remaining: number): void {
    let byUnit = this.remainingHeld.get(rule);
    if (byUnit === undefined) this.remainingHeld.set(rule, (byUnit = { requests: new Map(), tokens: new Map() }));
    let held = byUnit[unit].get(bucket);
    if (held === undefined) {
      const suffix = bucket.slice(rule.id.length);
      const name = suffix.length === 0 ? '*' : suffix;
      if (!this.admitSeries(`${rule.label}|${name}|${unit}`)) return;
      byUnit[unit].set(bucket, (held = this.remainingGauge.seriesOf({ rule: rule.label, bucket: name, unit })));
    }
    held.set(remaining);
  }

  quotaDecision(policy: string, model: string, bucket: string, result: 'ok' | 'exceeded' | 'shadow'): void {
    this.quotaRequests.inc({ policy, model, bucket, result });
  }

  quotaRemaining(bucket: string, remaining: number): void {
    if (!this.admitSeries(`q|${bucket}`)) return;
    this.quotaRemainingGauge.set({ bucket }, remaining);
  }

  private admitSeries(key: string): boolean {
    if (this.series.has(key)) return true;
    if (this.series.size >= MAX_BUCKETS) return false;
    this.series.add(key);
    return true;
  }
}
