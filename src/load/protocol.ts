// Messages between the main thread (schedules phases, gates, reports) and the workers (which own
// their users, timers and connections). Per-request results travel as packed Float64Arrays
// (transferred, not copied) so 5,000 requests/s cost a few messages a second, not 5,000.
import type { ArrivalSpec } from './arrivals/process.js';
import type { LoadMode, OnError } from './plan/types.js';

export interface Shard {
  readonly index: number;
  readonly count: number;
}

export interface WorkerProfile {
  readonly name: string;
  readonly arrival: ArrivalSpec;
  /** Users mode: mean pause between a user's sessions, seconds. */
  readonly gap_s: number;
  /** Replay from a file: this worker's arrival offsets (seconds). */
  readonly replayTimes?: readonly number[];
}

export interface WorkerInit {
  readonly index: number;
  readonly workers: number;
  readonly corpus: string;
  /** The harness's own shard (`--shard`); workers split it further among themselves. */
  readonly shard: Shard | undefined;
  readonly target: string;
  readonly mode: LoadMode;
  readonly seed: number;
  readonly profiles: readonly WorkerProfile[];
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly onError: OnError;
  /** Epoch ms of the run's t = 0: arrival processes and reports count from it. */
  readonly origin: number;
  /** How often to report, ms. */
  readonly reportMs: number;
  /** Per-request SLOs for goodput, ms (0: none). */
  readonly slo: { readonly ttftMs: number; readonly tpotMs: number; readonly e2eMs: number };
}

export type ToWorker =
  | { readonly type: 'init'; readonly init: WorkerInit }
  /** From `at` (epoch ms), this worker's share of the load: users or sessions/s per profile. */
  | { readonly type: 'level'; readonly at: number; readonly step: number; readonly levels: Readonly<Record<string, number>> }
  /** Stop starting turns; cancel what is in flight after `graceMs`. */
  | { readonly type: 'stop'; readonly graceMs: number };

/** Fields of one completed request in a `done` array. */
export const REC = {
  profile: 0,
  step: 1,
  /** Epoch ms the request was sent. */
  sent: 2,
  ttft: 3,
  e2e: 4,
  outputTokens: 5,
  promptTokens: 6,
  status: 7,
  /** Index into ERROR_CLASSES, or -1. */
  error: 8,
  gatewayMs: 9,
  upstreamMs: 10,
  tpot: 11,
  itlCount: 12,
  itlSum: 13,
  cachedTokens: 14,
  /** 1 when the request met every SLO. */
  good: 15,
  /** 1 when the harness cancelled it (end of run): neither success nor error. */
  cancelled: 16,
} as const;
export const REC_WIDTH = 17;

/** Fields of a first-token event: gates need TTFT when it happens, not when the response ends. */
export const FIRST = { profile: 0, step: 1, at: 2, ttft: 3 } as const;
export const FIRST_WIDTH = 4;

export const ERROR_CLASSES = ['http_429', 'http_4xx', 'http_5xx', 'connect', 'timeout', 'reset', 'incomplete', 'malformed', 'stream_error'] as const;
export type ErrorClass = (typeof ERROR_CLASSES)[number];

export const ERROR_CLASS_HELP: Readonly<Record<ErrorClass, string>> = {
  http_429: 'rate limited (HTTP 429)',
  http_4xx: 'rejected by the target (HTTP 4xx other than 429)',
  http_5xx: 'server error (HTTP 5xx)',
  connect: 'could not connect or the connection failed before a response',
  timeout: 'no response within the request timeout, or a stream silent for longer than the idle timeout',
  reset: 'the connection closed in the middle of a response',
  incomplete: 'a stream ended without its terminating [DONE] event, or a body shorter than announced',
  malformed: 'a response that is not the JSON / SSE it should be',
  stream_error: 'an error event inside a 200 stream',
};

export interface ErrorSample {
  readonly cls: ErrorClass;
  readonly status: number;
  readonly message: string;
  readonly app: string;
}

export interface WorkerGauges {
  /** Users mode: users alive (running a session or pausing between sessions). */
  readonly users: number;
  /** Sessions being replayed now. */
  readonly sessions: number;
  readonly inflight: number;
  readonly sessionsStarted: number;
  readonly sessionsCompleted: number;
  /** Session starts that found no session ready (the corpus reader fell behind). */
  readonly starved: number;
  /** Times a profile's corpus share was exhausted and started over. */
  readonly wraps: Readonly<Record<string, number>>;
}

export interface WorkerReport {
  readonly type: 'report';
  readonly worker: number;
  readonly at: number;
  readonly done: Float64Array;
  readonly first: Float64Array;
  /** Encoded HDR histograms (µs) of inter-token latencies since the last report, by `profile|step`. */
  readonly itl: ReadonlyArray<{ readonly profile: number; readonly step: number; readonly hist: string }>;
  /** Encoded HDR histogram (µs) of schedule lag since the last report, by step. */
  readonly lag: ReadonlyArray<{ readonly step: number; readonly hist: string }>;
  readonly gauges: WorkerGauges;
  readonly errors: readonly ErrorSample[];
  /** Final report of a stopped worker. */
  readonly final: boolean;
}

export type FromWorker =
  | { readonly type: 'ready'; readonly worker: number; readonly profiles: Readonly<Record<string, { sessions: number; streams: number; shared: boolean }>> }
  | WorkerReport
  | { readonly type: 'fatal'; readonly worker: number; readonly message: string; readonly hint?: string };
