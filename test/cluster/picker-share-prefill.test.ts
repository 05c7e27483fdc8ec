// `serve --concurrency 2` with the workers sharing their pending prefill (TOLLGATE_PICKER_SHARE_PREFILL):
// a long prompt one worker sent to a replica, still in its prefill, keeps the other worker's picks
// away from that replica too. The picker weighs the prefill scorer alone here, so without what the
// peer told, the other worker would see four equal replicas and its rotating tie-break would land on
// the busy one within four picks. Which worker served a request is read from the per-worker request
// counter of the admin /metrics; where it went, from the picker's debug header; the busy replica,
// from the simulators' own /metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimServer, type SimServerHandle } from '../../src/sim/index.js';
import { poolYaml } from '../helpers/inference-pool.js';
import { chatFresh, startInstance, waitUntil, type Instance, type Reply } from './helpers.js';

/** A slow prefill (1 ms a token) so a long prompt is still prefilling while the test goes on. */
const PROFILE = { extends: 'fast', cost: { fixedMs: 1, prefillTokenMs: 1, decodeSeqMs: 0.0005, contextTokenMs: 0 } };

const endpointOf = (r: Reply): string => {
  const m = /endpoint=([^;]+)/.exec(String(r.headers['x-tollgate-endpoint-pick'] ?? ''));
  if (r.status !== 200 || m === null) throw new Error(`no pick (status ${r.status}): ${r.text.slice(0, 200)}`);
  return m[1]!;
};

async function perWorker(inst: Instance): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const m of (await inst.metrics()).matchAll(/^tollgate_worker_requests_total\{worker="(\d+)"\} (\S+)$/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

async function running(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = /^vllm:num_requests_running(?:\{[^}]*\})? (\S+)$/m.exec(text);
  return m === null ? 0 : Number(m[1]);
}

describe('pending prefill shared across two workers', { timeout: 120_000 }, () => {
  const sims: SimServerHandle[] = [];
  let inst: Instance;

  beforeAll(async () => {
    for (let i = 0; i < 4; i++) sims.push(await startSimServer({ profile: PROFILE as never, seed: i }));
    inst = await startInstance(
      { 'pool.yaml': poolYaml(sims.map((s) => s.port), { 'tollgate.io/picker-weights': 'queue=0,kv-cache=0,prefix-cache=0,prefill=1' }) },
      ['--concurrency', '2'],
      { TOLLGATE_PICKER_SHARE_PREFILL: '1024' },
    );
  });

  afterAll(async () => {
    await inst?.stop();
    await Promise.all(sims.map((s) => s.close()));
  });

  it('a long prompt one worker sent keeps both workers’ next picks off its replica until its first byte', async () => {
    // Some 60,000 bytes of varied words: ~15,000 tokens by the gateway's estimate, seconds of prefill.
    const words = Array.from({ length: 9_000 }, (_, i) => `w${(i * 7_919) % 10_007}`).join(' ');
    const long = chatFresh(inst.url, { model: 'sim-model', max_tokens: 2, messages: [{ role: 'user', content: `long ${words}` }] });
    let busy = -1;
    await waitUntil(async () => {
      for (const [i, s] of sims.entries()) if ((await running(s.port)) > 0) busy = i;
      return busy >= 0;
    }, 'the long prompt to be running on a replica');
    const busyId = `127.0.0.1:${sims[busy]!.port}`;
    // The figure goes out at once (nothing was sent for an interval) and the primary relays it at
    // once too; a quarter of a second is many times that.
    await new Promise((r) => setTimeout(r, 250));

    const served = new Map<string, number>();
    for (let i = 0; i < 12; i++) {
      const before = await perWorker(inst);
      const r = await chatFresh(inst.url, { model: 'sim-model', max_tokens: 2, messages: [{ role: 'user', content: `short ${i}` }] });
      expect({ request: i, endpoint: endpointOf(r) }).not.toEqual({ request: i, endpoint: busyId });
      let worker: string | undefined;
      await waitUntil(async () => {
        worker = [...(await perWorker(inst))].find(([w, n]) => n > (before.get(w) ?? 0))?.[0];
        return worker !== undefined;
      }, 'the request to show in a worker request counter');
      served.set(worker!, (served.get(worker!) ?? 0) + 1);
      // The long prompt still prefilling: otherwise the picks below prove nothing.
      expect(await running(sims[busy]!.port)).toBeGreaterThan(0);
    }
    // Both workers picked, at least four times each: the one that did not send the long prompt too.
    expect([...served.values()].filter((n) => n >= 4)).toHaveLength(2);
    expect(endpointOf(await long)).toBe(busyId);
  });
});
