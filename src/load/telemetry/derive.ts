// What the harness reads from a scrape, under one name whatever the exporter's version: vLLM's
// V1 names and the V0 names they replaced, the DCGM exporter's fields, the gateway's own metrics.
import type { Sample } from './prom-text.js';

/** Gauges and counters read from a scrape. Histograms appear as `<key>_sum` and `<key>_count`. */
export type MetricKey =
  | 'engine.running'
  | 'engine.waiting'
  | 'engine.kv_usage'
  | 'engine.preemptions'
  | 'engine.requests'
  | 'engine.prompt_tokens'
  | 'engine.generation_tokens'
  | 'engine.prefix_queries'
  | 'engine.prefix_hits'
  | 'engine.ttft_sum'
  | 'engine.ttft_count'
  | 'engine.itl_sum'
  | 'engine.itl_count'
  | 'engine.tpot_sum'
  | 'engine.tpot_count'
  | 'engine.e2e_sum'
  | 'engine.e2e_count'
  | 'engine.queue_sum'
  | 'engine.queue_count'
  | 'engine.prefill_sum'
  | 'engine.prefill_count'
  | 'engine.decode_sum'
  | 'engine.decode_count'
  | 'dcgm.fb_used_mib'
  | 'dcgm.fb_free_mib'
  | 'dcgm.nvlink_bytes_s'
  | 'dcgm.gpu_util'
  | 'dcgm.power_w'
  | 'gateway.overhead_sum'
  | 'gateway.overhead_count'
  | 'gateway.requests'
  | 'gateway.duration_sum'
  | 'gateway.duration_count'
  | 'gateway.upstream_sum'
  | 'gateway.upstream_count'
  | 'gateway.rss_bytes'
  | 'gateway.cpu_s';

export type Derived = Partial<Record<MetricKey, number>>;

/** Keys that are cumulative counters (deltas across a counter reset start from the new value). */
export function isCounter(k: MetricKey): boolean {
  return (
    k.endsWith('_sum') ||
    k.endsWith('_count') ||
    k === 'engine.preemptions' ||
    k === 'engine.requests' ||
    k === 'engine.prompt_tokens' ||
    k === 'engine.generation_tokens' ||
    k === 'engine.prefix_queries' ||
    k === 'engine.prefix_hits' ||
    k === 'gateway.requests' ||
    k === 'gateway.cpu_s'
  );
}

type Agg = 'sum' | 'max' | 'mean';

/** [key, metric names in order of preference (newest first), how label sets combine]. */
const MAP: ReadonlyArray<readonly [MetricKey, readonly string[], Agg]> = [
  ['engine.running', ['vllm:num_requests_running'], 'sum'],
  ['engine.waiting', ['vllm:num_requests_waiting'], 'sum'],
  // V1 renamed gpu_cache_usage_perc to kv_cache_usage_perc (both 0–1); several engines: the fullest.
  ['engine.kv_usage', ['vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc'], 'max'],
  ['engine.preemptions', ['vllm:num_preemptions_total', 'vllm:num_preemptions'], 'sum'],
  ['engine.requests', ['vllm:request_success_total'], 'sum'],
  ['engine.prompt_tokens', ['vllm:prompt_tokens_total'], 'sum'],
  ['engine.generation_tokens', ['vllm:generation_tokens_total'], 'sum'],
  ['engine.prefix_queries', ['vllm:prefix_cache_queries_total', 'vllm:gpu_prefix_cache_queries_total', 'vllm:gpu_prefix_cache_queries'], 'sum'],
  ['engine.prefix_hits', ['vllm:prefix_cache_hits_total', 'vllm:gpu_prefix_cache_hits_total', 'vllm:gpu_prefix_cache_hits'], 'sum'],
  ['dcgm.fb_used_mib', ['DCGM_FI_DEV_FB_USED'], 'sum'],
  ['dcgm.fb_free_mib', ['DCGM_FI_DEV_FB_FREE'], 'sum'],
  ['dcgm.gpu_util', ['DCGM_FI_DEV_GPU_UTIL'], 'mean'],
  ['dcgm.power_w', ['DCGM_FI_DEV_POWER_USAGE'], 'sum'],
  ['gateway.requests', ['tollgate_requests_total'], 'sum'],
  // prom-client's default metrics under the gateway's `tollgate_process_` prefix (or none).
  ['gateway.rss_bytes', ['tollgate_process_process_resident_memory_bytes', 'tollgate_process_resident_memory_bytes'], 'sum'],
  ['gateway.cpu_s', ['tollgate_process_process_cpu_seconds_total', 'tollgate_process_cpu_seconds_total'], 'sum'],
];

/** Histograms: [key prefix, base names newest first]. V0's time_per_output_token was per token (ITL). */
const HISTS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['engine.ttft', ['vllm:time_to_first_token_seconds']],
  ['engine.itl', ['vllm:inter_token_latency_seconds', 'vllm:time_per_output_token_seconds']],
  ['engine.tpot', ['vllm:request_time_per_output_token_seconds']],
  ['engine.e2e', ['vllm:e2e_request_latency_seconds']],
  ['engine.queue', ['vllm:request_queue_time_seconds']],
  ['engine.prefill', ['vllm:request_prefill_time_seconds']],
  ['engine.decode', ['vllm:request_decode_time_seconds']],
  ['gateway.overhead', ['tollgate_gateway_overhead_seconds']],
  ['gateway.duration', ['gen_ai_server_request_duration_seconds', 'tollgate_request_duration_seconds', 'tollgate_downstream_duration_seconds']],
  ['gateway.upstream', ['tollgate_upstream_duration_seconds', 'tollgate_upstream_request_duration_seconds']],
];

export function derive(samples: readonly Sample[]): Derived {
  const byName = new Map<string, Sample[]>();
  for (const s of samples) {
    let l = byName.get(s.name);
    if (l === undefined) {
      l = [];
      byName.set(s.name, l);
    }
    l.push(s);
  }
  const out: Derived = {};
  for (const [key, names, agg] of MAP) {
    for (const n of names) {
      const l = byName.get(n);
      if (l === undefined || l.length === 0) continue;
      out[key] = combine(l.map((s) => s.value), agg);
      break;
    }
  }
  for (const [key, names] of HISTS) {
    for (const n of names) {
      const sum = byName.get(`${n}_sum`);
      const count = byName.get(`${n}_count`);
      if (sum === undefined || count === undefined) continue;
      out[`${key}_sum` as MetricKey] = combine(sum.map((s) => s.value), 'sum');
      out[`${key}_count` as MetricKey] = combine(count.map((s) => s.value), 'sum');
      break;
    }
  }
  const tx = byName.get('DCGM_FI_PROF_NVLINK_TX_BYTES');
  const rx = byName.get('DCGM_FI_PROF_NVLINK_RX_BYTES');
  // The whitepaper's NVLink figure is TX + RX summed over the GPUs (bytes/s).
  if (tx !== undefined || rx !== undefined) out['dcgm.nvlink_bytes_s'] = combine([...(tx ?? []), ...(rx ?? [])].map((s) => s.value), 'sum');
  return out;
}

function combine(values: readonly number[], agg: Agg): number {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return Number.NaN;
  switch (agg) {
    case 'sum':
      return finite.reduce((a, b) => a + b, 0);
    case 'max':
      return Math.max(...finite);
    case 'mean':
      return finite.reduce((a, b) => a + b, 0) / finite.length;
    default: {
      const never: never = agg;
      return never;
    }
  }
}

/** Which roles a scrape showed (for the report's target list). */
export function rolesOf(d: Derived): Array<'engine' | 'dcgm' | 'gateway'> {
  const keys = Object.keys(d);
  const roles: Array<'engine' | 'dcgm' | 'gateway'> = [];
  if (keys.some((k) => k.startsWith('engine.'))) roles.push('engine');
  if (keys.some((k) => k.startsWith('dcgm.'))) roles.push('dcgm');
  if (keys.some((k) => k.startsWith('gateway.'))) roles.push('gateway');
  return roles;
}
