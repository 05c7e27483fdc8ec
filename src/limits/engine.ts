// BackendTrafficPolicy rate limits for one request: admission (before anything goes upstream) and
// settlement (when the response has ended, with its real token usage).
//
// Semantics (docs/rate-limits.md): each rule has one bucket per route (or one shared bucket) and per
// Distinct value. A request is admitted only if every enforced rule that selects it has budget; its
// request cost is consumed at admission, atomically with the check (so a limit of L admits exactly L
// per window), and its response cost (tokens) is charged when it ends. Local rules live in this
// process, global ones in Redis; a request with both is admitted by both or consumes neither.
import type { RateLimitRule, RouteConfig } from '../config/types.js';
import { GatewayError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { describeSelectors, addressOf, bucketFor, type LimitRequest } from './selectors.js';
import { rateLimitHeaders, retryAfterSeconds, type HeaderInput } from './headers.js';
import type { AdmitResult, Charge, Check, CheckResult, LimitStore, Release } from './store.js';
import type { CostContext, Estimate } from './costs.js';

export type FailureMode = 'open' | 'closed';

export interface LimitObserver {
  /** Per rule and request: `ok` (within budget), `limited` (rejected because of it), `shadow` (over, not enforced). */
  ruleDecision(rule: RateLimitRule, route: string, result: 'ok' | 'limited' | 'shadow'): void;
  /** The shared store failed; `allowed` when the failure mode let the request through. */
  storeFailure(store: string, allowed: boolean): void;
  /** A request admitted without this global rule being checked: its store failed, failure mode open. */
  failedOpen(rule: RateLimitRule, route: string): void;
  /** Budget left in a bucket after a decision or settlement. */
  remaining(rule: RateLimitRule, bucket: string, unit: 'requests' | 'tokens', remaining: number): void;
}

/** A bucket's name (metrics, messages) and its store keys. */
interface BucketKeys {
  readonly bucket: string;
  /** The store keys of the bucket's request/token window and of its concurrency leases ('' without). */
  readonly windowKey: string;
  readonly leaseKey: string;
}

interface Applied {
  readonly rule: RateLimitRule;
  readonly keys: BucketKeys;
  readonly store: LimitStore;
  /** Tokens reserved at admission, to settle against the actual cost. */
  readonly reserved: number;
  readonly lease: boolean;
}

export interface RateLimitTicket {
  readonly applied: readonly Applied[];
  readonly requestId: string;
}

export type Admission =
  | { readonly ok: true; readonly ticket: RateLimitTicket | undefined; readonly headers: Readonly<Record<string, string>> }
  | { readonly ok: false; readonly error: GatewayError };

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});
const NONE: readonly never[] = Object.freeze([]);
const ADMITTED_NOTHING: Admission = Object.freeze({ ok: true, ticket: undefined, headers: NO_HEADERS });

/**
 * The store of local rules: in-process (synchronous, with peek) or, with several workers, the
 * instance's shared store in the primary (asynchronous).
 */
export interface LocalStore extends LimitStore {
  peek?(kind: 'window' | 'sliding', key: string, windowMs: number): number;
}

export interface RateLimiterOptions {
  readonly local: LocalStore;
  /** Redis for global rules; undefined makes global rules per-replica (warned at config load). */
  readonly global: LimitStore | undefined;
  readonly failureMode: FailureMode;
  readonly observer: LimitObserver;
  readonly logger: Logger;
}

/** One warning per rule per this long while its store keeps failing; the metric counts every request. */
const FAIL_OPEN_WARN_MS = 10_000;

export class RateLimiter {
  /** Per rule label: when it was last warned about and the fail-open admissions since. */
  private readonly failOpenWarned = new Map<string, { at: number; since: number }>();
  /**
   * The keys of buckets without Distinct values, per rule and route: the same strings for every
   * request, built once. A reload's new rule objects start afresh; the old entries go with them.
   */
  private readonly sharedKeys = new WeakMap<RateLimitRule, Map<string, BucketKeys>>();

  constructor(private readonly opts: RateLimiterOptions) {}

  /** `rule` is an AIGatewayRoute rule, or anything else with rate limits (an MCPRoute's tool calls). */
  admit(
    rule: { readonly rateLimits: readonly RateLimitRule[]; readonly timeouts: { readonly requestMs: number } },
    route: string,
    req: LimitRequest,
    requestId: string,
    estimate: Pick<Estimate, 'cost'>,
  ): Admission | Promise<Admission> {
    if (rule.rateLimits.length === 0) return ADMITTED_NOTHING;
    const addr = addressOf(req);
    const local: Check[] = [];
    const localApplied: Applied[] = [];
    // Global rules are the rarer kind: their lists are made only when one applies.
    let global: Check[] | undefined;
    let globalApplied: Applied[] | undefined;
    for (const r of rule.rateLimits) {
      const suffix = bucketFor(r.selectors, req, addr);
      if (suffix === undefined) continue;
      const keys = suffix === '' ? this.sharedKeysOf(r, route) : bucketKeys(r, route, suffix);
      const isGlobal = r.scope === 'Global' && this.opts.global !== undefined;
      const store = isGlobal ? this.opts.global : this.opts.local;
      const checks = isGlobal ? (global ??= []) : local;
      const applied = isGlobal ? (globalApplied ??= []) : localApplied;
      const reserved = r.reserve && r.responseCost?.from === 'Metadata' ? estimate.cost(r.responseCost.key) : 0;
      if (r.limit !== undefined) {
        const requestCost = r.requestCost.from === 'Number' ? r.requestCost.number : r.reserve ? estimate.cost(r.requestCost.key) : 0;
        checks.push({ kind: 'window', key: keys.windowKey, limit: r.limit.requests, windowMs: r.limit.windowMs, cost: requestCost + reserved, shadow: r.shadow, leaseId: '' });
      }
      if (r.maxConcurrent !== undefined) {
        const ttl = rule.timeouts.requestMs > 0 ? rule.timeouts.requestMs + 30_000 : 3_600_000;
        checks.push({ kind: 'concurrency', key: keys.leaseKey, limit: r.maxConcurrent, windowMs: ttl, cost: 1, shadow: r.shadow, leaseId: requestId });
      }
      applied.push({ rule: r, keys, store, reserved, lease: r.maxConcurrent !== undefined });
    }
    if (local.length === 0 && global === undefined) return ADMITTED_NOTHING;
    const g = global ?? NONE;
    const ga = globalApplied ?? NONE;

    const localResult = local.length === 0 ? undefined : this.opts.local.admit(local, 'all');
    if (localResult instanceof Promise) {
      return localResult.then(
        (r) => this.afterLocal(route, requestId, r, local, localApplied, g, ga),
        (err: unknown) => this.storeDown(this.opts.local, err, () => this.afterLocal(route, requestId, undefined, [], [], g, ga), () => undefined),
      );
    }
    return this.afterLocal(route, requestId, localResult, local, localApplied, g, ga);
  }

  private sharedKeysOf(r: RateLimitRule, route: string): BucketKeys {
    let byRoute = this.sharedKeys.get(r);
    if (byRoute === undefined) this.sharedKeys.set(r, (byRoute = new Map<string, BucketKeys>()));
    let keys = byRoute.get(route);
    if (keys === undefined) byRoute.set(route, (keys = bucketKeys(r, route, '')));
    return keys;
  }

  private afterLocal(
    route: string,
    requestId: string,
    localResult: AdmitResult | undefined,
    local: readonly Check[],
    localApplied: readonly Applied[],
    global: readonly Check[],
    globalApplied: readonly Applied[],
  ): Admission | Promise<Admission> {
    if (localResult !== undefined && !localResult.admitted) {
      return this.reject(route, localApplied, local, localResult.results, []);
    }
    if (global.length === 0) return this.accept(route, requestId, localApplied, local, localResult?.results ?? [], [], [], []);
    const store = this.opts.global as LimitStore;
    return Promise.resolve()
      .then(() => store.admit(global, 'all'))
      .then(
        (g): Admission => {
          if (g.admitted) return this.accept(route, requestId, localApplied, local, localResult?.results ?? [], globalApplied, global, g.results);
          this.rollback(localApplied, local, requestId);
          return this.reject(route, globalApplied, global, g.results, localApplied);
        },
        (err: unknown) =>
          this.storeDown(
            store,
            err,
            () => {
              this.failedOpen(route, globalApplied, err);
              return this.accept(route, requestId, localApplied, local, localResult?.results ?? [], [], [], []);
            },
            () => this.rollback(localApplied, local, requestId),
          ),
      );
  }

  /**
   * An over-admission must never be silent: every request let through unchecked counts against its
   * rules, and a warning names each rule (at most one line per rule per 10 s, with the count since).
   */
  private failedOpen(route: string, applied: readonly Applied[], err: unknown): void {
    const now = Date.now();
    for (const a of applied) {
      this.opts.observer.failedOpen(a.rule, route);
      const label = a.rule.label;
      const w = this.failOpenWarned.get(label) ?? { at: -Infinity, since: 0 };
      w.since++;
      this.failOpenWarned.set(label, w);
      if (now - w.at < FAIL_OPEN_WARN_MS) continue;
      this.opts.logger.warn('rate limit store failed; admitted without checking a global rule (failure mode open)', {
        rule: label,
        route,
        admittedUnchecked: w.since,
        err: err instanceof Error ? err.message : String(err),
        hint: 'over-admission is possible until the store answers again; --rate-limit-failure-mode closed answers 503 instead',
      });
      w.at = now;
      w.since = 0;
    }
  }

  /** A store failed: the failure mode lets the request through or answers 503. */
  private storeDown(store: LimitStore, err: unknown, allow: () => Admission | Promise<Admission>, undo: () => void): Admission | Promise<Admission> {
    const allowed = this.opts.failureMode === 'open';
    this.opts.observer.storeFailure(store.name, allowed);
    if (allowed) return allow();
    undo();
    this.opts.logger.debug('rate limit store failed; failing closed', { err });
    return {
      ok: false,
      error: new GatewayError('rate_limit_unavailable', 'The rate-limit store is unreachable and this gateway fails closed; retry shortly.', {
        headers: { 'retry-after': '1' },
      }),
    };
  }

  /** Charges response costs (tokens), settles reservations and releases concurrency leases. */
  settle(ticket: RateLimitTicket | undefined, route: RouteConfig, cost: CostContext): void {
    if (ticket === undefined) return;
    // Called now, not in a later tick: the pipeline settles before the response's last bytes go
    // out, and a store shared between processes must see the charge before the client can react.
    this.settleIn(this.opts.local, ticket, route, cost);
    if (this.opts.global !== undefined) this.settleIn(this.opts.global, ticket, route, cost);
    // Local token budgets: report what is left now that this response has been charged.
    for (const a of ticket.applied) {
      const l = a.rule.limit;
      if (a.store !== this.opts.local || l === undefined || a.rule.responseCost === undefined || this.opts.local.peek === undefined) continue;
      const used = this.opts.local.peek('window', a.keys.windowKey, l.windowMs);
      this.opts.observer.remaining(a.rule, a.keys.bucket, isTokenRule(a.rule) ? 'tokens' : 'requests', Math.max(0, l.requests - used));
    }
  }

  /** The ticket's charges and releases in one store, in one call (none when it has nothing there). */
  private settleIn(store: LimitStore, ticket: RateLimitTicket, route: RouteConfig, cost: CostContext): void {
    let charges: Charge[] | undefined;
    let releases: Release[] | undefined;
    for (const a of ticket.applied) {
      if (a.store !== store) continue;
      const r = a.rule;
      if (a.lease) (releases ??= []).push({ key: a.keys.leaseKey, leaseId: ticket.requestId });
      if (r.limit === undefined || r.responseCost === undefined) continue;
      const actual = r.responseCost.from === 'Number' ? r.responseCost.number : cost.value(route, r.responseCost.key);
      const amount = actual - a.reserved;
      if (amount !== 0) (charges ??= []).push({ kind: 'window', key: a.keys.windowKey, windowMs: r.limit.windowMs, amount });
    }
    if (charges === undefined && releases === undefined) return;
    const failed = (): void => this.opts.observer.storeFailure(store.name, true);
    try {
      const r = store.settle(charges ?? [], releases ?? []);
      if (r instanceof Promise) r.catch(failed);
    } catch {
      failed();
    }
  }

  private accept(
    route: string,
    requestId: string,
    la: readonly Applied[],
    lc: readonly Check[],
    lr: readonly CheckResult[],
    ga: readonly Applied[],
    gc: readonly Check[],
    gr: readonly CheckResult[],
  ): Admission {
    const headers: HeaderInput[] = [];
    this.observe(route, la, lc, lr, false, headers);
    this.observe(route, ga, gc, gr, false, headers);
    return { ok: true, ticket: { applied: ga.length === 0 ? la : [...la, ...ga], requestId }, headers: rateLimitHeaders(headers) };
  }

  private reject(route: string, applied: readonly Applied[], checks: readonly Check[], results: readonly CheckResult[], others: readonly Applied[]): Admission {
    const headers: HeaderInput[] = [];
    this.observe(route, applied, checks, results, true, headers);
    // Rules of the other store that were within budget (and rolled back) still count as consulted.
    for (const a of others) this.opts.observer.ruleDecision(a.rule, route, 'ok');
    const limiting = checks.map((c, i) => ({ c, r: results[i] as CheckResult, a: appliedFor(applied, c) })).filter((x) => x.r.over && !x.c.shadow);
    const first = limiting[0];
    const rule = first?.a?.rule;
    const retryAfter = retryAfterSeconds(limiting.map((x) => x.r.resetMs));
    let message: string;
    if (rule === undefined || first === undefined) message = 'Rate limit exceeded.';
    else if (first.c.kind === 'concurrency') {
      message = `Too many requests in flight: ${rule.label} allows ${rule.maxConcurrent ?? 0} at once for ${describeSelectors(rule.selectors)}. Retry when one finishes.`;
    } else {
      const l = rule.limit;
      const what = isTokenRule(rule) ? 'Token budget exhausted' : 'Rate limit exceeded';
      const unit = isTokenRule(rule) ? 'tokens' : 'requests';
      message = `${what}: ${rule.label} allows ${l?.requests ?? 0} ${unit} per ${(l?.unit ?? 'window').toLowerCase()} for ${describeSelectors(rule.selectors)}. Retry after ${retryAfter} s.`;
    }
    return {
      ok: false,
      error: new GatewayError(first?.c.kind === 'concurrency' ? 'concurrency_limited' : 'rate_limited', message, {
        headers: { ...rateLimitHeaders(headers), 'retry-after': String(retryAfter) },
      }),
    };
  }

  private observe(route: string, applied: readonly Applied[], checks: readonly Check[], results: readonly CheckResult[], rejected: boolean, headers: HeaderInput[]): void {
    // A rule's checks are adjacent (its window, then its concurrency): one `ok` per rule is enough.
    let last: Applied | undefined;
    for (let i = 0; i < checks.length; i++) {
      const c = checks[i] as Check;
      const a = appliedFor(applied, c);
      const res = results[i];
      if (a === undefined || res === undefined) continue;
      const verdict = res.over ? (c.shadow ? 'shadow' : rejected ? 'limited' : 'ok') : 'ok';
      if (a !== last || verdict !== 'ok') this.opts.observer.ruleDecision(a.rule, route, verdict);
      last = a;
      if (c.kind === 'window' && a.rule.limit !== undefined) {
        const unit = isTokenRule(a.rule) ? 'tokens' : 'requests';
        const remaining = Math.max(0, c.limit - res.used);
        this.opts.observer.remaining(a.rule, a.keys.bucket, unit, remaining);
        if (a.rule.headers) headers.push({ unit, limit: c.limit, remaining, resetMs: res.resetMs });
      }
    }
  }

  private rollback(applied: readonly Applied[], checks: readonly Check[], requestId: string): void {
    const charges: Charge[] = [];
    const releases: Release[] = [];
    for (const c of checks) {
      if (c.kind === 'concurrency') releases.push({ key: c.key, leaseId: requestId });
      else if (c.cost > 0) charges.push({ kind: c.kind, key: c.key, windowMs: c.windowMs, amount: -c.cost });
    }
    if (applied.length > 0) void this.opts.local.settle(charges, releases);
  }
}

function appliedFor(applied: readonly Applied[], c: Check): Applied | undefined {
  return applied.find((a) => (c.kind === 'concurrency' ? a.keys.leaseKey : a.keys.windowKey) === c.key);
}

function bucketKeys(r: RateLimitRule, route: string, suffix: string): BucketKeys {
  const bucket = `${r.id}${r.shared ? '' : `@${route}`}${suffix}`;
  return { bucket, windowKey: `rl:${bucket}`, leaseKey: r.maxConcurrent === undefined ? '' : `cc:${bucket}` };
}

/** A rule whose budget is tokens (a metadata cost) rather than requests. */
export function isTokenRule(r: RateLimitRule): boolean {
  return r.responseCost?.from === 'Metadata' || r.requestCost.from === 'Metadata';
}
