// The load plan: what load to offer (users or session arrival rate, per profile and arrival
// process), in which phases (steady, gated ramp, soak), which gates stop the ramp, the SLOs for
// goodput, where telemetry comes from. Parsed and validated once (plan/parse.ts); the engine
// trusts it.
import type { ArrivalSpec } from '../arrivals/process.js';

/** `users`: N closed-loop users, each running sessions back to back with a pause between them.
 *  `rate`: sessions arrive open-loop at R sessions/s; concurrency is whatever the system holds. */
export type LoadMode = 'users' | 'rate';

export interface SteadyPhase {
  readonly kind: 'steady';
  readonly name: string;
  /** Users (users mode) or sessions/s (rate mode). */
  readonly level: number;
  readonly duration_s: number;
}

export interface RampPhase {
  readonly kind: 'ramp';
  readonly name: string;
  readonly start: number;
  /** Added each step (when `factor` is 1). */
  readonly step: number;
  /** Multiplied each step instead of adding, when > 1. */
  readonly factor: number;
  readonly max: number;
  readonly step_s: number;
  /** Seconds at the start of each step that gates ignore (the system settling into the new load). */
  readonly settle_s: number;
  /** A step whose rolling TTFT is still climbing at its end is extended (at most this many times). */
  readonly max_extensions: number;
  /** Relative rise of TTFT from a step's first to second half that counts as still climbing. */
  readonly drift_tolerance: number;
}

export interface SoakPhase {
  readonly kind: 'soak';
  readonly name: string;
  /** Fraction of the T2 level (or of the last stable ramp level when T2 was not found). */
  readonly fraction: number;
  /** A fixed level instead of a fraction of T2. */
  readonly level: number | undefined;
  readonly duration_s: number;
}

export type Phase = SteadyPhase | RampPhase | SoakPhase;
export type PhaseKind = Phase['kind'];

/** Where a latency signal comes from: the harness's own measurements or the engine's metrics. */
export type SignalSource = 'client' | 'engine';

/** `stop_ramp`: end the ramp here (the boundary is found) and go on to the soak. `abort`: stop the run. */
export type GateAction = 'stop_ramp' | 'abort';

export type GateKind = 't2_ttft' | 't3_preemption' | 'kv_cache' | 'waiting_queue' | 'ttft_p99' | 'error_rate';
export const GATE_KINDS: readonly GateKind[] = ['t2_ttft', 't3_preemption', 'kv_cache', 'waiting_queue', 'ttft_p99', 'error_rate'];

export interface GateSpec {
  readonly kind: GateKind;
  /** t2_ttft: multiple of the baseline; t3_preemption / error_rate: fraction; kv_cache: fraction 0–1;
   *  waiting_queue: requests; ttft_p99: seconds. */
  readonly threshold: number;
  readonly action: GateAction;
  /** Latency gates: client or engine. */
  readonly source: SignalSource;
  /** Client latency gates: only these profiles (empty: all). */
  readonly profiles: readonly string[];
}

export interface GatesPlan {
  /** Rolling window the gates look at. */
  readonly window_s: number;
  /** Consecutive evaluations a condition must hold before the gate trips (noise must not trip it). */
  readonly sustain: number;
  /** Samples a window needs before a latency or rate gate is evaluated at all. */
  readonly min_samples: number;
  readonly list: readonly GateSpec[];
}

export interface ProfilePlan {
  readonly arrival: ArrivalSpec;
  /** Users mode: mean pause between one user's sessions, seconds (undefined: the plan's session_gap). */
  readonly gap_s: number | undefined;
}

export interface Slo {
  readonly ttft_s: number | undefined;
  readonly tpot_s: number | undefined;
  readonly e2e_s: number | undefined;
  /** Most failed requests (a fraction of those that ended) for a run to count as passed. */
  readonly error_rate: number;
}

export type TelemetryKind = 'metrics' | 'prometheus';

export interface TelemetryTarget {
  readonly name: string;
  readonly kind: TelemetryKind;
  /** metrics: the /metrics URL. prometheus: the server's base URL. */
  readonly url: string;
  /** prometheus: a series selector, e.g. `{job="vllm"}`. */
  readonly match: string | undefined;
}

export interface TelemetryPlan {
  readonly interval_s: number;
  readonly targets: readonly TelemetryTarget[];
}

export type OnError = 'continue' | 'end_session';

export interface RequestPlan {
  readonly timeout_s: number;
  /** Longest silence inside a streamed response before it counts as a timeout. */
  readonly idle_timeout_s: number;
  /** Extra headers on every request. Values may be `${ENV_VAR}`: resolved at start, never printed. */
  readonly headers: Readonly<Record<string, string>>;
  readonly on_error: OnError;
}

export interface HarnessPlan {
  /** Worker threads driving the load; 0 runs the driver on the main thread. */
  readonly workers: number | 'auto';
  /** p99 schedule lag above which a run is flagged as untrustworthy (coordinated omission). */
  readonly max_lag_ms: number;
  /** Width of the report's time bins. */
  readonly bin_s: number;
  /** Seconds a completed run lets in-flight requests finish before cancelling them (aborts cancel at once). */
  readonly drain_s: number;
}

export interface Plan {
  readonly name: string;
  readonly mode: LoadMode;
  readonly seed: number;
  /** Profile → share of the load. Absent: shares of the corpus's sessions. */
  readonly mix: Readonly<Record<string, number>> | undefined;
  readonly profiles: Readonly<Record<string, ProfilePlan>>;
  readonly defaultGap_s: number;
  readonly phases: readonly Phase[];
  readonly gates: GatesPlan;
  readonly slo: Slo;
  readonly telemetry: TelemetryPlan;
  readonly request: RequestPlan;
  readonly harness: HarnessPlan;
  /** Hard cap on the whole run, seconds (0: none). */
  readonly max_duration_s: number;
  /** Add a comparison with a published reference (the whitepaper's chapter 7). */
  readonly reference: 'whitepaper' | undefined;
}
