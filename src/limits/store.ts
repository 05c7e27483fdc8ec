// What a limit store does, the same for the in-process store (local limits) and Redis (global ones):
// evaluate a set of checks for one request atomically, admit all-or-nothing, and charge costs later.

export type CheckKind =
  /** Fixed window that starts with the first counted request and lasts windowMs (Envoy's buckets). */
  | 'window'
  /** Sliding window (QuotaPolicy): the previous window's count weighted by its overlap, plus the current. */
  | 'sliding'
  /** In-flight requests; admission takes a lease that settle releases. */
  | 'concurrency';

export interface Check {
  readonly kind: CheckKind;
  readonly key: string;
  readonly limit: number;
  /** Window length; for concurrency, the lease lifetime (a crashed replica's leases expire). */
  readonly windowMs: number;
  /** Consumed on admission. 0 only checks that budget remains (Envoy `cost.request.number: 0`). */
  readonly cost: number;
  /** Counted, never the reason for a rejection. */
  readonly shadow: boolean;
  /** Concurrency only: the lease to take. */
  readonly leaseId: string;
}

export interface CheckResult {
  /** Budget used after this request (if admitted) or before it (if not). */
  readonly used: number;
  /** This check alone would reject the request. */
  readonly over: boolean;
  /** Milliseconds until the window frees budget again. */
  readonly resetMs: number;
}

export interface AdmitResult {
  readonly admitted: boolean;
  readonly results: readonly CheckResult[];
}

/**
 * 'all': admit only if no enforced check is over (rate limits: one exhausted rule rejects).
 * 'any': admit if some enforced check has budget (QuotaPolicy's Shared mode).
 */
export type AdmitMode = 'all' | 'any';

export interface Charge {
  readonly kind: 'window' | 'sliding';
  readonly key: string;
  readonly windowMs: number;
  /** Tokens to add; negative returns part of a reservation. */
  readonly amount: number;
}

export interface Release {
  readonly key: string;
  readonly leaseId: string;
}

export interface LimitStore {
  readonly name: 'memory' | 'redis';
  admit(checks: readonly Check[], mode: AdmitMode): AdmitResult | Promise<AdmitResult>;
  settle(charges: readonly Charge[], releases: readonly Release[]): void | Promise<void>;
  close(): Promise<void>;
}

/** Whether checks with these results (one per check, in order) admit the request. */
export function decide(checks: readonly Check[], results: readonly Pick<CheckResult, 'over'>[], mode: AdmitMode): boolean {
  let enforced = 0;
  let ok = 0;
  for (let i = 0; i < checks.length; i++) {
    if ((checks[i] as Check).shadow) continue;
    enforced++;
    if (results[i]?.over !== true) ok++;
  }
  if (enforced === 0) return true;
  return mode === 'all' ? ok === enforced : ok > 0;
}
