// Telemetry: Prometheus text parsing, vLLM's old and new metric names, counter deltas across
// resets, a live simulator's /metrics, and the same figures through a real Prometheus server's API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { derive } from '../../src/load/telemetry/derive.js';
import { parsePromText } from '../../src/load/telemetry/prom-text.js';
import { promQuery, Telemetry } from '../../src/load/telemetry/scraper.js';
import { startSimServer, type SimServerHandle } from '../../src/sim/index.js';
import { startPrometheus, type PromServer } from '../observability/services.js';

describe('Prometheus text', () => {
  it('parses names with colons, escaped label values, special values and timestamps', () => {
    const s = parsePromText(`# HELP vllm:num_requests_running Number of requests
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m",engine="0"} 3.0
weird{a="x\\"y",b="back\\\\slash",c="line\\nbreak"} +Inf 1712345678000
nan_metric NaN
no_labels 42
bad line here
# EOF
`);
    expect(s.map((x) => x.name)).toEqual(['vllm:num_requests_running', 'weird', 'nan_metric', 'no_labels']);
    expect(s[0]?.labels).toEqual({ model_name: 'm', engine: '0' });
    expect(s[1]?.labels).toEqual({ a: 'x"y', b: 'back\\slash', c: 'line\nbreak' });
    expect(s[1]?.value).toBe(Number.POSITIVE_INFINITY);
    expect(Number.isNaN(s[2]?.value)).toBe(true);
    expect(s[3]?.value).toBe(42);
  });

  it('understands vLLM V1 and the V0 names it replaced (the newest wins when both exist)', () => {
    const v0 = derive(parsePromText(`vllm:gpu_cache_usage_perc{model_name="m"} 0.25
vllm:time_per_output_token_seconds_sum{model_name="m"} 2
vllm:time_per_output_token_seconds_count{model_name="m"} 40
vllm:gpu_prefix_cache_hits{model_name="m"} 7
vllm:num_preemptions_total{model_name="m"} 3
`));
    expect(v0['engine.kv_usage']).toBe(0.25);
    expect(v0['engine.itl_sum']).toBe(2);
    expect(v0['engine.itl_count']).toBe(40);
    expect(v0['engine.prefix_hits']).toBe(7);
    expect(v0['engine.preemptions']).toBe(3);
    const both = derive(parsePromText(`vllm:gpu_cache_usage_perc{model_name="m"} 0.25
vllm:kv_cache_usage_perc{model_name="m"} 0.5
`));
    expect(both['engine.kv_usage']).toBe(0.5);
  });

  it('sums counters over engines, takes the fullest KV cache, adds NVLink TX and RX over GPUs', () => {
    const d = derive(parsePromText(`vllm:num_requests_waiting{engine="0"} 2
vllm:num_requests_waiting{engine="1"} 5
vllm:kv_cache_usage_perc{engine="0"} 0.1
vllm:kv_cache_usage_perc{engine="1"} 0.3
DCGM_FI_PROF_NVLINK_TX_BYTES{gpu="0"} 100
DCGM_FI_PROF_NVLINK_TX_BYTES{gpu="1"} 100
DCGM_FI_PROF_NVLINK_RX_BYTES{gpu="0"} 50
DCGM_FI_DEV_FB_USED{gpu="0"} 1000
DCGM_FI_DEV_FB_USED{gpu="1"} 2000
tollgate_gateway_overhead_seconds_sum{route="r"} 0.5
tollgate_gateway_overhead_seconds_count{route="r"} 250
tollgate_process_process_resident_memory_bytes 1e8
`));
    expect(d['engine.waiting']).toBe(7);
    expect(d['engine.kv_usage']).toBe(0.3);
    expect(d['dcgm.nvlink_bytes_s']).toBe(250);
    expect(d['dcgm.fb_used_mib']).toBe(3000);
    expect(d['gateway.overhead_sum']).toBe(0.5);
    expect(d['gateway.overhead_count']).toBe(250);
    expect(d['gateway.rss_bytes']).toBe(1e8);
  });

  it('counter deltas survive a reset (a restarted engine)', () => {
    const tel = Telemetry.fromDump({
      t: [0, 1, 2, 3, 4],
      targets: [{ name: 'e', kind: 'metrics', url: 'x', roles: ['engine'], ok: 5, failed: 0, last_error: null, series: { 'engine.requests': [10, 20, 5, 15, 25] } }],
    });
    // 10 → 20 (+10), reset to 5 (+5), → 15 (+10), → 25 (+10)
    expect(tel.delta('engine.requests', 0, 4)).toBe(35);
    expect(tel.delta('engine.requests', 2, 4)).toBe(20);
    expect(tel.delta('engine.preemptions', 0, 4)).toBeUndefined();
  });

  it('builds Prometheus selectors from a match', () => {
    expect(promQuery(undefined)).toBe('{__name__=~"vllm:.*|DCGM_FI_.*|tollgate_.*|gen_ai_.*"}');
    expect(promQuery('{job="vllm"}')).toBe('{job="vllm", __name__=~"vllm:.*|DCGM_FI_.*|tollgate_.*|gen_ai_.*"}');
    expect(() => promQuery('job=vllm')).toThrow(/not a series selector/);
  });
});

describe('live telemetry', () => {
  let sim: SimServerHandle;
  let prom: PromServer;

  beforeAll(async () => {
    sim = await startSimServer({ profile: 'fast', model: 'm', seed: 1 });
    prom = await startPrometheus([{ job: 'vllm', url: sim.url, path: '/metrics' }]);
  });
  afterAll(async () => {
    await prom?.close();
    await sim?.close();
  });

  async function send(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const r = await fetch(`${sim.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: `hello ${i}` }], max_tokens: 5 }) });
      await r.text();
    }
  }

  it('scrapes a simulator directly: request and TTFT deltas match what was sent', async () => {
    const tel = new Telemetry([{ name: 'sim', kind: 'metrics', url: `${sim.url}/metrics`, match: undefined }], Date.now());
    await tel.tick(1000);
    const sentAt = performance.now();
    await send(7);
    const waited_s = (performance.now() - sentAt) / 1000;
    await tel.tick(1000);
    const last = tel.ticks[tel.ticks.length - 1]?.t ?? 0;
    expect(tel.delta('engine.requests', 0, last)).toBe(7);
    expect(tel.delta('engine.generation_tokens', 0, last)).toBe(35);
    const ttft = tel.histMean('engine.ttft', 0, last);
    expect(ttft).toBeGreaterThan(0);
    // Seconds, and no more than the client waited for the seven answers in all.
    expect(ttft).toBeLessThanOrEqual(waited_s);
    expect(tel.status[0]?.roles).toEqual(['engine']);
  });

  it('reads the same series through a real Prometheus server', async () => {
    await send(3);
    const since = Date.now();
    await prom.scrapedAfter(since);
    const direct = derive(parsePromText(await (await fetch(`${sim.url}/metrics`)).text()));
    const tel = new Telemetry([{ name: 'prom', kind: 'prometheus', url: prom.url, match: '{job="vllm"}' }], Date.now());
    await tel.tick(2000);
    const viaProm = tel.ticks[0]?.values[0];
    expect(tel.status[0]?.lastError).toBeUndefined();
    expect(viaProm?.['engine.requests']).toBe(direct['engine.requests']);
    expect(viaProm?.['engine.generation_tokens']).toBe(direct['engine.generation_tokens']);
    expect(viaProm?.['engine.kv_usage']).toBeDefined();
  });

  it('a target that does not answer is counted, not fatal', async () => {
    const tel = new Telemetry([{ name: 'gone', kind: 'metrics', url: 'http://127.0.0.1:1/metrics', match: undefined }], Date.now());
    await tel.tick(500);
    expect(tel.status[0]?.failed).toBe(1);
    expect(tel.status[0]?.lastError).toBeDefined();
    expect(tel.ticks[0]?.values[0]).toBeUndefined();
  });
});
