// Defaults of the load plan. The arrival processes per profile are the whitepaper's (chapter 6);
// their parameters where the whitepaper gives none are documented in docs/load.md with the
// evidence behind them.
import type { ArrivalSpec } from '../arrivals/process.js';
import type { GateSpec, Plan } from './types.js';

/**
 * Profile A (API orchestration): agents fire cascades of tool calls, then go quiet. A two-state
 * MMPP, ON 5 s / OFF 45 s, silent while OFF: 10% duty cycle, so arrivals come in bursts at 10× the
 * mean rate. The shape follows agent traces (cascaded, correlated calls; Pythia, SOSP 2025); the
 * durations are our choice, not a fit.
 */
export const MMPP_DEFAULT: ArrivalSpec = { kind: 'mmpp', on_s: 5, off_s: 45, off_ratio: 0 };
/** Profile B (terminal / CI): Gamma with CV 1.5, the whitepaper's value; BurstGPT and ServeGen
 *  report inter-arrival CVs above 1 in production LLM traffic. */
export const GAMMA_DEFAULT: ArrivalSpec = { kind: 'gamma', cv: 1.5 };
/** Profiles C and D (humans at UIs and IDEs): independent actors, Poisson arrivals. */
export const EXPONENTIAL: ArrivalSpec = { kind: 'exponential' };

export function defaultArrival(profile: string): ArrivalSpec {
  switch (profile) {
    case 'A':
      return MMPP_DEFAULT;
    case 'B':
      return GAMMA_DEFAULT;
    default:
      return EXPONENTIAL;
  }
}

export const DEFAULT_GAP_S = 2;

export const DEFAULT_GATES: readonly GateSpec[] = [
  { kind: 't2_ttft', threshold: 3.0, action: 'stop_ramp', source: 'client', profiles: [] },
  { kind: 't3_preemption', threshold: 0.05, action: 'abort', source: 'engine', profiles: [] },
  { kind: 'error_rate', threshold: 0.05, action: 'stop_ramp', source: 'client', profiles: [] },
];

/** The whitepaper's shape at its scale: ramp 20 users at a time every 2 minutes, soak 85% of T2. */
export const DEFAULT_PLAN: Plan = {
  name: 'default',
  mode: 'users',
  seed: 1,
  mix: undefined,
  profiles: {},
  defaultGap_s: DEFAULT_GAP_S,
  phases: [
    { kind: 'ramp', name: 'ramp', start: 20, step: 20, factor: 1, max: 400, step_s: 120, settle_s: 30, max_extensions: 1, drift_tolerance: 0.5 },
    { kind: 'soak', name: 'soak', fraction: 0.85, level: undefined, duration_s: 600 },
  ],
  gates: { window_s: 30, sustain: 3, min_samples: 20, list: DEFAULT_GATES },
  slo: { ttft_s: 2, tpot_s: 0.1, e2e_s: undefined, error_rate: 0.05 },
  telemetry: { interval_s: 2, targets: [] },
  request: { timeout_s: 600, idle_timeout_s: 60, headers: {}, on_error: 'continue' },
  harness: { workers: 'auto', max_lag_ms: 10, bin_s: 2, drain_s: 30 },
  max_duration_s: 0,
  reference: undefined,
};

/** The default plan as YAML, printed by `tollgate load --print-plan` as a starting point. */
export const DEFAULT_PLAN_YAML = `# tollgate load plan (docs/load.md). Durations: seconds or "90s", "5m", "3h".
name: default
mode: users            # users: N closed-loop users | rate: sessions/s arriving open-loop
seed: 1
# mix: {A: 0.24, B: 0.04, C: 0.24, D: 0.48}   # share of load per profile; default: corpus shares
session_gap_s: 2       # users mode: mean pause between a user's sessions
profiles:              # arrival process per profile (defaults shown)
  A: {arrival: {kind: mmpp, on_s: 5, off_s: 45, off_ratio: 0}}
  B: {arrival: {kind: gamma, cv: 1.5}}
  C: {arrival: {kind: exponential}}
  D: {arrival: {kind: exponential}}
  # X: {arrival: {kind: weibull, cv: 2}}  or {kind: weibull, shape: 0.6}
  # T: {arrival: {kind: replay, source: corpus, speed: 1}}   # rate mode, steady phases only
phases:
  - {kind: ramp, start: 20, step: 20, max: 400, step_duration: 2m, settle: 30s}
  - {kind: soak, fraction: 0.85, duration: 10m}
  # - {kind: steady, level: 100, duration: 5m}
gates:
  window: 30s          # rolling window
  sustain: 3           # consecutive evaluations before a gate trips
  min_samples: 20
  t2: {factor: 3.0, source: client}           # rolling mean TTFT > 3x baseline: stop the ramp
  t3: {max_rate: 0.05}                        # preemptions / requests > 5%: abort
  error_rate: {max: 0.05}                     # stop the ramp
  # kv_cache: {max: 0.9}   waiting_queue: {max: 50}   ttft_p99: {max: 2s, source: client}
slo: {ttft: 2s, tpot: 0.1s, error_rate: 0.05}   # more failed requests than error_rate: the run failed (exit 1)
telemetry:
  interval: 2s
  targets: []
  # - {name: gateway, url: http://127.0.0.1:9901/metrics}
  # - {name: vllm, url: http://127.0.0.1:8000/metrics}
  # - {name: dcgm, url: http://127.0.0.1:9400/metrics}
  # - {name: prom, prometheus: http://prometheus:9090, match: '{job=~"vllm|dcgm|tollgate"}'}
request:
  timeout: 600s
  idle_timeout: 60s
  on_error: continue   # or end_session
  headers: {}          # e.g. {authorization: "Bearer \${MY_KEY}"}: resolved from the environment
harness:
  workers: auto
  max_lag_ms: 10       # p99 schedule lag above this flags the run (coordinated omission)
  bin: 2s
  drain: 30s           # at the end, let in-flight requests finish (at most this long)
# max_duration: 1h
# reference: whitepaper
`;
