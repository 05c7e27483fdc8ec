// `tollgate sim --replicas N`: every replica is its own engine, with its own KV cache, prefix cache
// and /metrics, so a pool in front of them has real cache affinity to win or lose.
import { afterEach, describe, expect, it } from 'vitest';
import { spawnCli, type RunningCli } from '../helpers/cli.js';

let sim: RunningCli | undefined;
afterEach(async () => {
  sim?.child.kill('SIGTERM');
  await sim?.exited();
  sim = undefined;
});

async function gauge(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`));
  return Number(line?.split(' ').pop());
}

describe('sim --replicas', () => {
  it('gives each replica its own prefix cache and /metrics', async () => {
    sim = spawnCli(['sim', '--replicas', '2', '--listen', '127.0.0.1:0']);
    await sim.waitFor(/serving[^\n]*\n[^\n]*serving[^\n]*\n/);
    const urls = [...sim.output().matchAll(/at (http:\/\/[\d.:]+)/g)].map((m) => m[1]!);
    expect(urls).toHaveLength(2);
    const [a, b] = urls as [string, string];
    const prompt = `a long shared system prompt ${'lorem ipsum dolor '.repeat(200)}`;
    for (let i = 0; i < 2; i++) {
      const r = await fetch(`${a}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'sim-model', max_tokens: 2, messages: [{ role: 'user', content: prompt }] }) });
      expect(r.status).toBe(200);
      await r.text();
    }
    // The second request hit the first one's blocks on replica a; replica b saw nothing.
    expect(await gauge(a, 'vllm:prefix_cache_hits_total')).toBeGreaterThan(0);
    expect(await gauge(b, 'vllm:prefix_cache_queries_total')).toBe(0);
    expect(await gauge(b, 'vllm:prefix_cache_hits_total')).toBe(0);
  });

  it('reports each replica’s own queue and KV-cache use on its /metrics, the gauges a picker scrapes', async () => {
    sim = spawnCli(['sim', '--replicas', '2', '--listen', '127.0.0.1:0']);
    await sim.waitFor(/serving[^\n]*\n[^\n]*serving[^\n]*\n/);
    const [a, b] = [...sim.output().matchAll(/at (http:\/\/[\d.:]+)/g)].map((m) => m[1]!) as [string, string];
    const ctl = new AbortController();
    const r = await fetch(`${a}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'sim-model', max_tokens: 5000, stream: true, messages: [{ role: 'user', content: 'lorem ipsum '.repeat(400) }] }),
      signal: ctl.signal,
    });
    const reader = r.body!.getReader();
    await reader.read(); // streaming: the request holds KV blocks on replica a
    expect(await gauge(a, 'vllm:kv_cache_usage_perc')).toBeGreaterThan(0);
    expect(await gauge(a, 'vllm:num_requests_running')).toBe(1);
    expect(await gauge(b, 'vllm:kv_cache_usage_perc')).toBe(0);
    expect(await gauge(b, 'vllm:num_requests_running')).toBe(0);
    for (const url of [a, b]) expect(await gauge(url, 'vllm:num_requests_waiting')).toBe(0);
    ctl.abort();
    await reader.cancel().catch(() => undefined);
  });
});
