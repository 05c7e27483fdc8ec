// results.json: everything a run measured, machine-readable. The `raw` part (encoded histograms per
// step and profile, time bins, telemetry) is what `tollgate report` rebuilds and merges from; the
// rest are the views the report shows, computed from it.
import type { ArrivalSpec } from '../arrivals/process.js';
import type { Boundary, PhaseRecord, RunEvent, RunState, StepRecord } from '../controller.js';
import type { Baseline } from '../gates.js';
import type { Plan } from '../plan/types.js';
import type { ErrorClass, ErrorSample } from '../protocol.js';
import type { EncodedBin } from '../stats/aggregate.js';
import type { CellView, EncodedCell } from '../stats/cells.js';
import type { EncodedDist, LatencySummary } from '../stats/hist.js';
import type { TelemetryDump } from '../telemetry/scraper.js';

export const RESULTS_FORMAT = 'tollgate-load-results';
export const RESULTS_VERSION = 1;

export interface RunMeta {
  readonly name: string;
  readonly started_at: string;
  readonly ended_at: string;
  /** Epoch ms of t = 0; every `t`/`start`/`end` in the file counts seconds from it. */
  readonly origin_epoch_ms: number;
  readonly target: string;
  readonly corpus: string;
  readonly plan: Plan;
  /** This harness's shard (1-based, as given), or null. */
  readonly shard: { readonly index: number; readonly count: number } | null;
  /** How many shard results were merged into this one (1 for a single run). */
  readonly merged_from: number;
  readonly workers: number;
  readonly mode: Plan['mode'];
  readonly command: readonly string[];
  readonly node: string;
  readonly host: string;
  readonly tollgate: string;
}

export interface ProfileInfo {
  readonly name: string;
  readonly share: number;
  readonly arrival: ArrivalSpec;
  readonly arrival_text: string;
  readonly gap_s: number;
  readonly sessions: number;
  readonly apps: readonly string[];
}

export interface HarnessHealth {
  readonly sessions_started: number;
  readonly sessions_completed: number;
  /** Session starts delayed because the corpus reader had nothing ready. */
  readonly starved: number;
  /** Per profile: times its corpus share ran out and started over. */
  readonly corpus_wraps: Readonly<Record<string, number>>;
}

export interface RawRun {
  readonly meta: RunMeta;
  readonly profiles: readonly ProfileInfo[];
  readonly state: RunState;
  readonly reason: string;
  readonly steps: readonly StepRecord[];
  readonly phases: readonly PhaseRecord[];
  readonly boundaries: readonly Boundary[];
  readonly baseline: Baseline | null;
  readonly events: readonly RunEvent[];
  /** step → profile name → cell. */
  readonly cells: Readonly<Record<string, Readonly<Record<string, EncodedCell>>>>;
  /** step → schedule lag. */
  readonly lag: Readonly<Record<string, EncodedDist>>;
  readonly bin_s: number;
  readonly bins: readonly EncodedBin[];
  readonly telemetry: TelemetryDump;
  readonly error_samples: Partial<Record<ErrorClass, readonly ErrorSample[]>>;
  readonly harness: HarnessHealth;
}

export interface TelemetrySummary {
  readonly kv_mean: number | null;
  readonly kv_max: number | null;
  readonly running_mean: number | null;
  readonly waiting_mean: number | null;
  readonly waiting_max: number | null;
  readonly preemptions: number | null;
  readonly engine_requests: number | null;
  readonly preemption_rate: number | null;
  readonly prefix_hit_rate: number | null;
  /** Engine histogram means over the interval, seconds. */
  readonly engine: {
    readonly ttft: number | null;
    readonly tpot: number | null;
    readonly itl: number | null;
    readonly e2e: number | null;
    readonly queue: number | null;
    readonly prefill: number | null;
    readonly decode: number | null;
  };
  readonly nvlink_gbs_mean: number | null;
  readonly fb_used_mib_mean: number | null;
  readonly gpu_util_mean: number | null;
  /** Mean of tollgate_gateway_overhead_seconds over the interval, seconds. */
  readonly gateway_overhead: number | null;
  readonly gateway_rss_mb_mean: number | null;
}

export interface StepView {
  readonly index: number;
  readonly phase: string;
  readonly kind: StepRecord['phaseKind'];
  readonly level: number;
  readonly start: number;
  readonly end: number;
  readonly duration_s: number;
  readonly extensions: number;
  readonly stable: boolean | null;
  readonly note: string;
  readonly summary: CellView;
  readonly by_profile: Readonly<Record<string, CellView>>;
  readonly lag: LatencySummary;
  readonly gates: StepRecord['gates'];
  readonly telemetry: TelemetrySummary;
  /** Mean users / sessions alive during the step (from the workers' gauges). */
  readonly users_mean: number | null;
  readonly sessions_mean: number | null;
}

export interface PhaseView {
  readonly name: string;
  readonly kind: PhaseRecord['kind'];
  readonly start: number;
  readonly end: number;
  readonly duration_s: number;
  readonly steps: readonly number[];
  readonly max_level: number;
  readonly max_users: number | null;
  readonly peak_rps: number;
  readonly note: string;
  readonly summary: CellView;
  readonly by_profile: Readonly<Record<string, CellView>>;
  readonly lag: LatencySummary;
  readonly telemetry: TelemetrySummary;
}

export interface Drift {
  readonly first_third_mean: number | null;
  readonly last_third_mean: number | null;
  readonly change_pct: number | null;
  /** Least-squares slope per hour of wall time. */
  readonly slope_per_h: number | null;
}

export interface SoakView {
  readonly phase: string;
  readonly level: number;
  readonly duration_s: number;
  readonly error_rate: number;
  readonly ttft: Drift;
  readonly e2e: Drift;
  readonly kv_usage: Drift;
  readonly fb_used_mib: Drift;
  readonly gateway_rss_mb: Drift;
}

export interface OverheadRow {
  readonly phase: string;
  /** Client-facing latency: the harness's mean end-to-end latency, seconds. */
  readonly downstream_s: number | null;
  /** downstream − overhead, seconds. */
  readonly upstream_s: number | null;
  readonly overhead_s: number | null;
  readonly overhead_pct: number | null;
  /** Where the overhead figure came from. */
  readonly source: 'gateway_metrics' | 'server_timing' | 'none';
  /** The gateway's own time before the response headers (`server-timing: gateway;dur`), ms. */
  readonly header_overhead_ms: number | null;
  /** The engine's own end-to-end latency (vllm:e2e_request_latency_seconds), seconds. */
  readonly engine_e2e_s: number | null;
}

export interface ReferenceRow {
  readonly quantity: string;
  readonly reference: string;
  readonly measured: string;
  /** Relative difference, when both are numbers. */
  readonly delta_pct: number | null;
  /** Within ±30%, or the qualitative condition holds. */
  readonly ok: boolean | null;
}

export interface Trust {
  readonly lag_p50_ms: number | null;
  readonly lag_p99_ms: number | null;
  readonly lag_max_ms: number | null;
  readonly threshold_ms: number;
  readonly trustworthy: boolean;
  readonly warnings: readonly string[];
}

export interface Results {
  readonly format: typeof RESULTS_FORMAT;
  readonly version: typeof RESULTS_VERSION;
  readonly run: RunMeta;
  readonly status: { readonly state: RunState; readonly reason: string };
  readonly trust: Trust;
  readonly profiles: readonly ProfileInfo[];
  readonly boundaries: {
    readonly baseline: Baseline | null;
    readonly t2: (Boundary & { readonly rps: number | null; readonly preemptions: number | null }) | null;
    readonly t3: Boundary | null;
    readonly other: readonly Boundary[];
  };
  readonly phases: readonly PhaseView[];
  readonly steps: readonly StepView[];
  readonly total: CellView;
  readonly soak: SoakView | null;
  readonly overhead: readonly OverheadRow[];
  readonly reference: readonly ReferenceRow[] | null;
  readonly errors: {
    readonly by_class: Partial<Record<ErrorClass, number>>;
    readonly samples: Partial<Record<ErrorClass, readonly ErrorSample[]>>;
  };
  readonly events: readonly RunEvent[];
  readonly harness: HarnessHealth;
  readonly definitions: Readonly<Record<string, string>>;
  readonly raw: RawRun;
}
