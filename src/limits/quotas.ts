// QuotaPolicy enforcement per backend attempt. Before a request goes to a backend, its quota for the
// model sent there is checked ("Shared" mode: admitted while any matching bucket has budget); the
// cost (CEL over the usage, default total_tokens) burns down every matching bucket when it ends.
// An exhausted backend is skipped for a lower-priority one by the pipeline, not answered with 429,
// when the rule has one.
import type { BackendConfig, ModelQuota, RuntimeConfig } from '../config/types.js';
import { GatewayError } from '../core/errors.js';
import { rateLimitHeaders, retryAfterSeconds, type HeaderInput } from './headers.js';
import { addressOf, bucketFor, type LimitRequest } from './selectors.js';
import type { Charge, Check, CheckResult, LimitStore } from './store.js';
import type { CostInput } from '../config/types.js';

export interface QuotaObserver {
  quotaDecision(policy: string, model: string, bucket: string, result: 'ok' | 'exceeded' | 'shadow'): void;
  quotaRemaining(bucket: string, remaining: number): void;
}

interface Held {
  readonly quota: ModelQuota;
  readonly keys: ReadonlyArray<{ key: string; windowMs: number }>;
  readonly reserved: number;
}

export interface QuotaTicket {
  readonly held: readonly Held[];
}

export type QuotaDecision =
  | { readonly ok: true; readonly ticket: QuotaTicket | undefined; readonly headers: Readonly<Record<string, string>> }
  | { readonly ok: false; readonly error: GatewayError };

const NOTHING: QuotaDecision = Object.freeze({ ok: true, ticket: undefined, headers: Object.freeze({}) });

export class QuotaGate {
  constructor(
    private readonly store: LimitStore,
    private readonly observer: QuotaObserver,
    private readonly failOpen: boolean,
  ) {}

  /** Whether any quota could apply to this backend (lets the pipeline skip the check entirely). */
  covers(config: RuntimeConfig, backend: BackendConfig): boolean {
    return config.quotas.has(backend.key);
  }

  check(config: RuntimeConfig, backend: BackendConfig, model: string | undefined, req: LimitRequest, estimate: () => CostInput): QuotaDecision | Promise<QuotaDecision> {
    const quotas = (config.quotas.get(backend.key) ?? []).filter((q) => q.model === undefined || q.model === model);
    if (quotas.length === 0) return NOTHING;
    const addr = addressOf(req);
    const plans = quotas.map((q) => {
      const reserved = q.reserve ? q.cost(estimate()) : 0;
      const checks: Check[] = [];
      const labels: string[] = [];
      for (const b of q.buckets) {
        const suffix = bucketFor(b.selectors, req, addr);
        if (suffix === undefined) continue;
        checks.push({ kind: 'sliding', key: `q:${b.id}${suffix}`, limit: b.limit, windowMs: b.windowMs, cost: reserved, shadow: b.shadow, leaseId: '' });
        labels.push(b.label);
      }
      return { q, reserved, checks, labels };
    });
    // Quotas of one backend are checked one after another: every one of them must admit.
    const run = async (): Promise<QuotaDecision> => {
      const held: Held[] = [];
      const headers: HeaderInput[] = [];
      for (const p of plans) {
        if (p.checks.length === 0) continue;
        let results: readonly CheckResult[];
        let admitted: boolean;
        try {
          const r = await this.store.admit(p.checks, 'any');
          results = r.results;
          admitted = r.admitted;
        } catch {
          if (this.failOpen) continue;
          await this.refund(held);
          return { ok: false, error: new GatewayError('rate_limit_unavailable', 'The quota store is unreachable and this gateway fails closed; retry shortly.', { headers: { 'retry-after': '1' } }) };
        }
        p.checks.forEach((c, i) => {
          const res = results[i] as CheckResult;
          const verdict = res.over ? (c.shadow ? 'shadow' : 'exceeded') : 'ok';
          this.observer.quotaDecision(p.q.policy, p.q.model ?? '*', p.labels[i] ?? '', verdict);
          const remaining = Math.max(0, c.limit - res.used);
          this.observer.quotaRemaining(p.labels[i] ?? '', remaining);
          if (!c.shadow) headers.push({ unit: 'tokens', limit: c.limit, remaining, resetMs: res.resetMs });
        });
        if (!admitted) {
          await this.refund(held);
          const reset = retryAfterSeconds(results.filter((r) => r.over).map((r) => r.resetMs));
          return {
            ok: false,
            error: new GatewayError(
              'quota_exceeded',
              `Token quota exhausted for model "${model ?? '*'}" on backend "${backend.name}" (QuotaPolicy ${p.q.policy}). Retry after ${reset} s.`,
              { headers: { ...rateLimitHeaders(headers), 'retry-after': String(reset) } },
            ),
          };
        }
        held.push({ quota: p.q, keys: p.checks.map((c) => ({ key: c.key, windowMs: c.windowMs })), reserved: p.reserved });
      }
      return { ok: true, ticket: held.length === 0 ? undefined : { held }, headers: rateLimitHeaders(headers) };
    };
    return run();
  }

  /** Burns the request's cost down from every bucket it was admitted under (net of its reservation). */
  settle(ticket: QuotaTicket | undefined, usage: CostInput | undefined): void {
    if (ticket === undefined) return;
    const charges: Charge[] = [];
    for (const h of ticket.held) {
      const amount = (usage === undefined ? 0 : h.quota.cost(usage)) - h.reserved;
      if (amount === 0) continue;
      for (const k of h.keys) charges.push({ kind: 'sliding', key: k.key, windowMs: k.windowMs, amount });
    }
    if (charges.length > 0) void Promise.resolve(this.store.settle(charges, [])).catch(() => undefined);
  }

  /** Gives back what an attempt reserved when the request went elsewhere. */
  release(ticket: QuotaTicket | undefined): void {
    if (ticket !== undefined) void this.refund(ticket.held);
  }

  private async refund(held: readonly Held[]): Promise<void> {
    const charges: Charge[] = [];
    for (const h of held) if (h.reserved > 0) for (const k of h.keys) charges.push({ kind: 'sliding', key: k.key, windowMs: k.windowMs, amount: -h.reserved });
    if (charges.length > 0) await Promise.resolve(this.store.settle(charges, [])).catch(() => undefined);
  }
}
