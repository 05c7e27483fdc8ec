// The contract verify checks a gateway against: the whitepaper's seed scenario (identities, tiers,
// models, the rate limit) and the metric names of docs/observability.md. Any gateway configured with the seed
// scenario (Tollgate's demo, or Envoy AI Gateway with the same manifests) is expected to pass.

export type Tier = 'tier1' | 'tier2';

export interface TierSpec {
  /** The model the backend serves (after modelNameOverride): what its responses name. */
  readonly model: string;
  /** The AIServiceBackend name in the scenario's manifests (used by the reload check's manifest). */
  readonly backend: string;
  /** Where `tollgate demo` runs the simulated backend. */
  readonly demoUrl: string;
  readonly label: string;
}

export const SEED = {
  /** Rate limited to `limit` requests per minute (test case 1), routed to tier 2. */
  limitedApp: 'swe-rebench-ide',
  limit: 2,
  rapidRequests: 6,
  /** Premium identity → tier 1 (test cases 2 and 3). */
  premiumApp: 'toolbench-agent',
  /** Another tier-2 identity without a rate limit (the full suite's tier-2 traffic). */
  standardApp: 'terminal-bench-ci',
  /** Matches no route → 404. */
  unknownApp: 'unknown-guest',
  /** The one body model every identity sends (test case 3: identical bodies). */
  bodyModel: 'gpt-oss-120b',
  rogueToken: 'malicious-token',
  tiers: {
    tier1: { model: 'gemini-flash', backend: 'tier1-gemini-flash', demoUrl: 'http://127.0.0.1:8101', label: 'tier 1 (premium)' },
    tier2: { model: 'gpt-oss-120b', backend: 'tier2-vllm', demoUrl: 'http://127.0.0.1:8102', label: 'tier 2 (on-prem vLLM)' },
  } satisfies Record<Tier, TierSpec>,
} as const;

export const METRICS = {
  rateLimited: 'http_local_rate_limit_rate_limited',
  tokenUsage: 'gen_ai_client_token_usage_token',
  /** vLLM's gauge, also served by `tollgate sim`: proves a cancelled stream stopped upstream. */
  backendRunning: 'vllm:num_requests_running',
} as const;

export const IDENTITY_HEADER = 'x-workload-app';
