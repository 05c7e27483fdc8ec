// Prometheus text for the simulator's two scrape targets: vLLM's own /metrics (names, label names
// and bucket boundaries as in vllm/v1/metrics/loggers.py) and an NVIDIA DCGM exporter's GPU metrics
// derived from the engine's state. The text is formatted here rather than through prom-client:
// the values already live in the engine's counters, the names contain ':' (vLLM's convention) and
// prom-client's home is the gateway's telemetry/, which toolkit code must not reach into.
import { hostname } from 'node:os';
import type { Histogram } from './engine/stats.js';
import { kvBytesPerTokenPerGpu, numKvBlocks, nvlinkBytesPerToken } from './profile.js';
import type { SimInstance } from './server/instance.js';

/** prometheus_client's float formatting: integers as "1.0", infinities as "+Inf". */
function num(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  return Number.isInteger(v) && Math.abs(v) < 1e16 ? `${v}.0` : String(v);
}

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

class Writer {
  private out: string[] = [];
  constructor(private readonly labels: string) {}

  head(name: string, type: 'gauge' | 'counter' | 'histogram', help: string): void {
    this.out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  }

  sample(name: string, value: number, extra = ''): void {
    const l = extra === '' ? this.labels : this.labels === '' ? extra : `${this.labels},${extra}`;
    this.out.push(`${name}{${l}} ${num(value)}`);
  }

  gauge(name: string, help: string, value: number): void {
    this.head(name, 'gauge', help);
    this.sample(name, value);
  }

  counter(name: string, help: string, value: number): void {
    this.head(`${name}_total`, 'counter', help);
    this.sample(`${name}_total`, value);
  }

  histogram(name: string, help: string, h: Histogram): void {
    this.head(name, 'histogram', help);
    let cum = 0;
    h.bounds.forEach((b, i) => {
      cum += h.counts[i] ?? 0;
      this.sample(`${name}_bucket`, cum, `le="${num(b)}"`);
    });
    cum += h.counts[h.bounds.length] ?? 0;
    this.sample(`${name}_bucket`, cum, 'le="+Inf"');
    this.sample(`${name}_count`, h.count);
    this.sample(`${name}_sum`, h.sum);
  }

  text(): string {
    return this.out.join('\n') + '\n';
  }
}

export function renderVllmMetrics(inst: SimInstance): string {
  const e = inst.engine;
  const st = e.stats;
  const p = inst.profile;
  const w = new Writer(`model_name="${esc(inst.model)}",engine="0"`);
  const hidden = inst.showHiddenMetrics;

  w.gauge('vllm:num_requests_running', 'Number of requests in model execution batches.', e.running.length);
  w.gauge('vllm:num_requests_waiting', 'Number of requests waiting to be processed.', e.numWaiting);
  w.gauge('vllm:kv_cache_usage_perc', 'KV-cache usage. 1 means 100 percent usage.', e.kv.usage());
  if (hidden) {
    w.gauge('vllm:gpu_cache_usage_perc', 'GPU KV-cache usage. 1 means 100 percent usage.DEPRECATED: Use vllm:kv_cache_usage_perc instead.', e.kv.usage());
    w.counter('vllm:gpu_prefix_cache_queries', 'GPU prefix cache queries, in terms of number of queried tokens.DEPRECATED: Use vllm:prefix_cache_queries instead.', st.prefixQueries);
    w.counter('vllm:gpu_prefix_cache_hits', 'GPU prefix cache hits, in terms of number of cached tokens.DEPRECATED: Use vllm:prefix_cache_hits instead.', st.prefixHits);
  }
  w.counter('vllm:prefix_cache_queries', 'Prefix cache queries, in terms of number of queried tokens.', st.prefixQueries);
  w.counter('vllm:prefix_cache_hits', 'Prefix cache hits, in terms of number of cached tokens.', st.prefixHits);
  w.counter('vllm:num_preemptions', 'Cumulative number of preemption from the engine.', st.preemptions);
  w.counter('vllm:prompt_tokens', 'Number of prefill tokens processed.', st.promptTokens);
  w.counter('vllm:generation_tokens', 'Number of generation tokens processed.', st.generationTokens);
  w.head('vllm:request_success_total', 'counter', 'Count of successfully processed requests.');
  for (const reason of ['stop', 'length', 'abort'] as const) w.sample('vllm:request_success_total', st.success[reason], `finished_reason="${reason}"`);

  w.histogram('vllm:request_prompt_tokens', 'Number of prefill tokens processed.', st.promptTokensPerRequest);
  w.histogram('vllm:request_generation_tokens', 'Number of generation tokens processed.', st.generationTokensPerRequest);
  w.histogram('vllm:iteration_tokens_total', 'Histogram of number of tokens per engine_step.', st.iterationTokens);
  w.histogram('vllm:request_max_num_generation_tokens', 'Histogram of maximum number of requested generation tokens.', st.maxGenerationTokens);
  w.histogram('vllm:request_params_n', 'Histogram of the n request parameter.', st.nParam);
  w.histogram('vllm:request_params_max_tokens', 'Histogram of the max_tokens request parameter.', st.maxTokensParam);
  w.histogram('vllm:time_to_first_token_seconds', 'Histogram of time to first token in seconds.', st.ttft);
  if (hidden) {
    w.histogram('vllm:time_per_output_token_seconds', 'Histogram of time per output token in seconds.DEPRECATED: Use vllm:inter_token_latency_seconds instead.', st.itl);
  }
  w.histogram('vllm:inter_token_latency_seconds', 'Histogram of inter-token latency in seconds.', st.itl);
  w.histogram('vllm:request_time_per_output_token_seconds', 'Histogram of time_per_output_token_seconds per request.', st.requestTpot);
  w.histogram('vllm:e2e_request_latency_seconds', 'Histogram of e2e request latency in seconds.', st.e2e);
  w.histogram('vllm:request_queue_time_seconds', 'Histogram of time spent in WAITING phase for request.', st.queue);
  w.histogram('vllm:request_inference_time_seconds', 'Histogram of time spent in RUNNING phase for request.', st.inference);
  w.histogram('vllm:request_prefill_time_seconds', 'Histogram of time spent in PREFILL phase for request.', st.prefill);
  w.histogram('vllm:request_decode_time_seconds', 'Histogram of time spent in DECODE phase for request.', st.decode);

  // vllm:cache_config_info: an info-style gauge fixed at 1 whose labels describe the cache.
  const info = new Writer('');
  info.head('vllm:cache_config_info', 'gauge', 'Information of the LLMEngine CacheConfig');
  info.sample(
    'vllm:cache_config_info',
    1,
    [
      `block_size="${p.cache.blockSize}"`,
      `cache_dtype="${p.modelSpec.kvBytes === 1 ? 'fp8' : 'auto'}"`,
      `enable_prefix_caching="${p.cache.prefixCaching ? 'True' : 'False'}"`,
      `engine="0"`,
      `gpu_memory_utilization="${p.cache.gpuMemoryUtilization}"`,
      `num_gpu_blocks="${numKvBlocks(p)}"`,
    ].join(','),
  );
  return w.text() + info.text();
}

// ---- DCGM exporter -------------------------------------------------------------------------------

interface Window {
  wallMs: number;
  busyMs: number;
  tokens: number;
  util: number;
  nvlinkBps: number;
}

const windows = new WeakMap<SimInstance, Window>();

/** Engine activity since the previous scrape (or since start): GPU utilization and NVLink rate. */
function sample(inst: SimInstance): Window {
  const now = Date.now();
  const st = inst.engine.stats;
  const prev = windows.get(inst) ?? { wallMs: inst.startedAtMs, busyMs: 0, tokens: 0, util: 0, nvlinkBps: 0 };
  const dt = now - prev.wallMs;
  if (dt < 250) return prev; // scraped twice in a blink: keep the last window's rates
  const busy = Math.min(dt, st.busyMs - prev.busyMs);
  const tokens = st.processedTokens - prev.tokens;
  const next: Window = {
    wallMs: now,
    busyMs: st.busyMs,
    tokens: st.processedTokens,
    util: Math.max(0, Math.min(100, (busy / dt) * 100)),
    nvlinkBps: (tokens * nvlinkBytesPerToken(inst.profile)) / (dt / 1000),
  };
  windows.set(inst, next);
  return next;
}

export function renderDcgmMetrics(inst: SimInstance, host = hostname()): string {
  const p = inst.profile;
  const win = sample(inst);
  const MiB = 1024 * 1024;
  const totalMiB = Math.round(p.hardware.memoryGiB * 1024);
  // vLLM preallocates its KV pool at start, so framebuffer use is flat whatever the load: weights,
  // activations and the whole pool. (Busy-ness shows in GPU_UTIL and in vLLM's kv_cache_usage_perc.)
  const kvMiB = (numKvBlocks(p) * p.cache.blockSize * kvBytesPerTokenPerGpu(p)) / MiB;
  const usedMiB = Math.min(totalMiB, Math.round((p.modelSpec.weightsGiB / p.hardware.tensorParallel + p.cache.reservedGiBPerGpu) * 1024 + kvMiB + 512));
  const tpGpus = p.hardware.tensorParallel;
  const out: string[] = [];
  const metric = (name: string, help: string, type: 'gauge' | 'counter', value: (gpu: number) => number): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (let g = 0; g < p.hardware.count; g++) {
      const uuid = `GPU-${inst.seed.toString(16).padStart(8, '0')}-5a3e-4c1d-9b7f-${(g + 1).toString(16).padStart(12, '0')}`;
      const labels = `gpu="${g}",UUID="${uuid}",pci_bus_id="00000000:${(0x18 + g * 0x10).toString(16).toUpperCase()}:00.0",device="nvidia${g}",modelName="${esc(p.hardware.gpu)}",Hostname="${esc(host)}"`;
      out.push(`${name}{${labels}} ${value(g)}`);
    }
  };
  const active = (g: number): boolean => g < tpGpus;
  metric('DCGM_FI_DEV_GPU_UTIL', 'GPU utilization (in %).', 'gauge', (g) => (active(g) ? Math.round(win.util) : 0));
  metric('DCGM_FI_PROF_GR_ENGINE_ACTIVE', 'Ratio of time the graphics engine is active.', 'gauge', (g) => (active(g) ? Number((win.util / 100).toFixed(6)) : 0));
  metric('DCGM_FI_DEV_FB_USED', 'Framebuffer memory used (in MiB).', 'gauge', (g) => (active(g) ? usedMiB : 0));
  metric('DCGM_FI_DEV_FB_FREE', 'Framebuffer memory free (in MiB).', 'gauge', (g) => (active(g) ? totalMiB - usedMiB : totalMiB));
  metric('DCGM_FI_PROF_NVLINK_TX_BYTES', 'The rate of data transmitted over NVLink, not including protocol headers, in bytes per second.', 'gauge', (g) =>
    active(g) ? Math.round(win.nvlinkBps) : 0,
  );
  metric('DCGM_FI_PROF_NVLINK_RX_BYTES', 'The rate of data received over NVLink, not including protocol headers, in bytes per second.', 'gauge', (g) =>
    active(g) ? Math.round(win.nvlinkBps) : 0,
  );
  // Board power: idle floor plus a share of the TDP proportional to activity (H100 SXM: 700 W).
  metric('DCGM_FI_DEV_POWER_USAGE', 'Power draw (in W).', 'gauge', (g) => (active(g) ? Number((90 + 6.1 * win.util).toFixed(3)) : 70));
  return out.join('\n') + '\n';
}
