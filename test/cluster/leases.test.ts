// Local limits across two workers when the workers admit from leases of the buckets' budgets (real
// processes, real sockets): the instance never admits more than the limit, refuses only once the
// unused leases held elsewhere have been recalled, and never admits more than the limit when a
// worker dies holding a lease.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendYaml } from '../helpers/gateway.js';
import { btpYaml, costRouteYaml, metricValue, TOKEN_COST } from '../helpers/limits.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';
import { chatFresh, post, startInstance, waitUntil, type Instance, type Reply } from './helpers.js';

let up: Upstream;
let slow: Upstream;

beforeAll(async () => {
  up = await startUpstream(openAIBehavior({ chunks: 6 }));
  // Streams that last ~10 s: every request of a burst is admitted before the first one settles.
  slow = await startUpstream(openAIBehavior({ chunks: 6, chunkDelayMs: 1_500 }));
});

afterAll(async () => {
  await up.close();
  await slow.close();
});

function manifests(policy: string, upstream: Upstream = up): Record<string, string> {
  return {
    'b.yaml': backendYaml('b', [{ port: upstream.port }]),
    'r.yaml': costRouteYaml('r', 'm', [{ name: 'b' }]),
    'p.yaml': policy,
  };
}

/** One chat request on the agent's kept-alive connection (the same worker every time). */
function chatKept(url: string, agent: http.Agent): Promise<Reply> {
  return post(url, '/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'hi' }] }, {}, agent);
}

const burst = (inst: Instance, n: number, body: Record<string, unknown> = {}): Promise<Reply[]> => Promise.all(Array.from({ length: n }, () => chatFresh(inst.url, body)));
const passed = (rs: readonly Reply[]): number => rs.filter((r) => r.status === 200).length;
const leases = async (inst: Instance, event: string): Promise<number> => metricValue(await inst.metrics(), 'tollgate_local_limit_leases_total', { event });

describe('leases of local limits across two workers', { timeout: 120_000 }, () => {
  it('200 concurrent requests after the workers hold leases: the limit is reached exactly, never passed', async () => {
    const inst = await startInstance(manifests(btpYaml('limits', 'r', 'Local', [{ requests: 300, unit: 'Hour' }])));
    try {
      // The first burst makes both workers busy enough to be granted leases of their own.
      expect(passed(await burst(inst, 200))).toBe(200);
      expect(await leases(inst, 'granted')).toBeGreaterThan(0);
      const second = await burst(inst, 200);
      expect(passed(second)).toBe(100);
      expect(second.filter((r) => r.status === 429)).toHaveLength(100);
      expect(passed(await burst(inst, 20))).toBe(0);
    } finally {
      expect(await inst.stop()).toBe(0);
    }
  });

  it('a reserved token budget admits exactly what it covers under 200 concurrent requests', async () => {
    const reserve = '  annotations:\n    tollgate.io/token-reservation: "true"\n';
    const inst = await startInstance(manifests(btpYaml('tokens', 'r', 'Local', [{ requests: 2_000, unit: 'Hour', cost: TOKEN_COST('llm_total_token') }], reserve), slow));
    try {
      const body = { stream: true, max_tokens: 6 };
      // One request alone shows the reservation each identical request makes (its estimate).
      const probe = await chatFresh(inst.url, body);
      expect(probe.status).toBe(200);
      const estimate = 2_000 - Number(probe.headers['x-ratelimit-remaining-tokens']);
      expect(estimate).toBeGreaterThan(0);
      // The probe settled to its real cost: 11 prompt + 6 completion tokens.
      const left = 2_000 - 17;
      const rs = await burst(inst, 200, body);
      expect(passed(rs)).toBe(Math.floor(left / estimate));
      expect(rs.filter((r) => r.status === 429)).toHaveLength(200 - Math.floor(left / estimate));
    } finally {
      expect(await inst.stop()).toBe(0);
    }
  });

  it('a request is refused only after the unused leases held by the workers have been recalled', async () => {
    const inst = await startInstance(manifests(btpYaml('limits', 'r', 'Local', [{ requests: 100, unit: 'Hour' }])));
    try {
      expect(passed(await burst(inst, 40))).toBe(40);
      expect(await leases(inst, 'granted')).toBeGreaterThan(0);
      // One at a time on one kept-alive connection, so on one worker: it spends its lease, then the
      // primary's pool; the last requests pass only if the other worker's unused lease came back.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      let more = 0;
      for (;;) {
        const r = await chatKept(inst.url, agent);
        if (r.status !== 200) {
          expect(r.status).toBe(429);
          break;
        }
        more++;
        expect(more).toBeLessThanOrEqual(60);
      }
      agent.destroy();
      expect(more).toBe(60);
      expect(await leases(inst, 'recalled')).toBeGreaterThan(0);
      expect(passed(await burst(inst, 10))).toBe(0);
    } finally {
      expect(await inst.stop()).toBe(0);
    }
  });

  it('an idle worker gives its leases back: killed with -9 after that, the whole rest of the budget passes', async () => {
    const inst = await startInstance(manifests(btpYaml('limits', 'r', 'Local', [{ requests: 100, unit: 'Hour' }])));
    try {
      expect(passed(await burst(inst, 60))).toBe(60);
      expect(await leases(inst, 'granted')).toBeGreaterThan(0);
      // Unused for a second, the leases go back with what was spent from them.
      await waitUntil(async () => metricValue(await inst.metrics(), 'tollgate_local_limit_leases_held') === 0, 'every lease given back');
      const victim = (await inst.workers())[0]?.pid as number;
      process.kill(victim, 'SIGKILL');
      await inst.cli.waitFor(/worker exited unexpectedly/);
      await waitUntil(async () => {
        const ws = await inst.workers();
        return ws.every((w) => w.state === 'serving' && w.pid !== victim) && (await fetch(`${inst.adminUrl}/readyz`)).status === 200;
      }, 'the worker restarted');
      expect(await leases(inst, 'stranded')).toBe(0);
      expect(passed(await burst(inst, 100))).toBe(40);
    } finally {
      expect(await inst.stop()).toBe(0);
    }
  });

  it('kill -9 of a worker under load: never more than the limit, fewer only by what its leases held', async () => {
    const limit = 1_500;
    const inst = await startInstance(manifests(btpYaml('limits', 'r', 'Local', [{ requests: limit, unit: 'Hour' }])));
    try {
      let ok = 0;
      let refused = 0;
      let cut = 0;
      let stop = false;
      // Closed loops on fresh connections, spread over both workers, until the budget is spent.
      const loop = async (): Promise<void> => {
        while (!stop) {
          // Node's cluster closes its copy of a new connection once the worker it hands it to says it
          // has it: one handed to the victim as it died is never answered nor closed.
          const r = await Promise.race([chatFresh(inst.url).catch(() => undefined), new Promise<undefined>((res) => setTimeout(() => res(undefined), 15_000).unref())]);
          if (r?.status === 200) ok++;
          else if (r?.status === 429) refused++;
          else cut++;
        }
      };
      const loops = Array.from({ length: 24 }, loop);
      await waitUntil(async () => ok >= limit / 3 && (await leases(inst, 'granted')) > 0, 'a third of the budget spent from leases');
      const victim = (await inst.workers())[0]?.pid as number;
      process.kill(victim, 'SIGKILL');
      await inst.cli.waitFor(/worker exited unexpectedly/);
      await waitUntil(async () => refused >= 200 && (await inst.workers()).every((w) => w.state === 'serving' && w.pid !== victim), 'the budget spent and the worker back', 60_000);
      stop = true;
      await Promise.all(loops);
      // What the victim held stays counted as used: the log line says how much.
      const line = /"msg":"worker exited unexpectedly[^\n]*/.exec(inst.cli.output())?.[0] ?? '';
      const kept = Number(/"budgetKeptAsUsed":(\d+)/.exec(line)?.[1] ?? '0');
      expect(ok).toBeLessThanOrEqual(limit);
      expect(ok + cut + kept).toBeGreaterThanOrEqual(limit);
      expect(await leases(inst, 'stranded')).toBe(kept > 0 ? 1 : 0);
      expect(passed(await burst(inst, 20))).toBe(0);
    } finally {
      expect(await inst.stop()).toBe(0);
    }
  });
});
