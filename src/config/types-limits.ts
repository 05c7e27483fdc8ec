// Rate limits, quotas and their costs as compiled from BackendTrafficPolicy, QuotaPolicy and
// llmRequestCosts: client selectors with their regexes and CIDRs built, costs as functions.

/** One condition of a rate-limit / quota client selector (Envoy Gateway RateLimitSelectCondition). */
export interface HeaderSelector {
  /** Lower-cased header name. */
  readonly name: string;
  /** Distinct: every value gets its own bucket (the header must be present). */
  readonly type: 'Exact' | 'RegularExpression' | 'Distinct';
  readonly value: string | undefined;
  readonly regex: RegExp | undefined;
  readonly invert: boolean;
}

export interface CidrMatch {
  readonly cidr: string;
  readonly family: 4 | 6;
  /** Address bits as a bigint, masked to the prefix. */
  readonly network: bigint;
  readonly prefix: number;
  /** Distinct: every client address in the range gets its own bucket. */
  readonly distinct: boolean;
  readonly invert: boolean;
}

export interface PathSelector {
  readonly type: 'Exact' | 'PathPrefix' | 'RegularExpression';
  readonly value: string;
  readonly regex: RegExp | undefined;
  readonly invert: boolean;
}

/** All conditions must hold; a selector list is ANDed too. */
export interface ClientSelector {
  readonly headers: readonly HeaderSelector[];
  /** ORed (any listed method matches); empty matches every method. */
  readonly methods: ReadonlyArray<{ readonly method: string; readonly invert: boolean }>;
  readonly path: PathSelector | undefined;
  readonly sourceCIDR: CidrMatch | undefined;
}

/** Where a rate-limit cost comes from: a fixed number, or an llmRequestCosts metadata key. */
export type CostSpec = { readonly from: 'Number'; readonly number: number } | { readonly from: 'Metadata'; readonly key: string };

export interface RateLimitRule {
  /**
   * Stable identity: the policy, the rule's position and a hash of everything that defines it, so
   * bucket state survives reloads and resets only when the rule itself changes.
   */
  readonly id: string;
  /** For messages and metric labels: `namespace/policy/rule-<index>`. */
  readonly label: string;
  readonly scope: 'Local' | 'Global';
  readonly selectors: readonly ClientSelector[];
  /** Requests (or cost units) per window; undefined for a concurrency-only rule. */
  readonly limit: { readonly requests: number; readonly unit: string; readonly windowMs: number } | undefined;
  /** Tollgate extension: most requests in flight at once per bucket. */
  readonly maxConcurrent: number | undefined;
  readonly requestCost: CostSpec;
  readonly responseCost: CostSpec | undefined;
  /** Counted and reported, never enforced. */
  readonly shadow: boolean;
  /** One bucket across every route the policy targets (Envoy `shared`); else one per route. */
  readonly shared: boolean;
  /** Reserve an estimate of the token cost at admission, settle to the actual at the end. */
  readonly reserve: boolean;
  /** Whether x-ratelimit-* headers report this rule (Envoy `xRateLimitHeaders: Off` disables). */
  readonly headers: boolean;
}

/** Usage and request facts a cost expression can read (Envoy AI Gateway's CEL variables). */
export interface CostInput {
  readonly model: string;
  readonly backend: string;
  readonly routeName: string;
  readonly inputTokens: number;
  readonly cachedInputTokens: number;
  readonly cacheCreationInputTokens: number;
  readonly outputTokens: number;
  readonly reasoningTokens: number;
  readonly totalTokens: number;
}

export type CostFunction = (input: CostInput) => number;

export interface QuotaBucket {
  readonly id: string;
  readonly label: string;
  /** Empty for the default bucket (all traffic). */
  readonly selectors: readonly ClientSelector[];
  readonly limit: number;
  readonly windowMs: number;
  readonly shadow: boolean;
}

/** A QuotaPolicy's quota for one model (or every model, for a serviceQuota) on one backend. */
export interface ModelQuota {
  readonly policy: string;
  /** The model name sent to the backend (after modelNameOverride); undefined for serviceQuota. */
  readonly model: string | undefined;
  readonly cost: CostFunction;
  readonly costSource: string;
  readonly buckets: readonly QuotaBucket[];
  readonly reserve: boolean;
}
