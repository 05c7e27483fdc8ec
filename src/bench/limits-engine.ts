// The rate-limit engine alone, in this process, for `bench limits`: what admission and settlement of
// the bench's rule cost without the HTTP path around them, whose run-to-run noise on a shared VM
// (tens of µs) hides a few µs. Local: CPU per request over many admissions. Redis: the latency of
// one admission against a PING round trip on the same Redis, measured back to back.
import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import hdr from 'hdr-histogram-js';
import { Registry } from 'prom-client';
import { loadConfig } from '../config/load.js';
import type { RouteConfig, RuleConfig } from '../config/types.js';
import { createLogger } from '../core/log.js';
import { CostContext, costInput, Estimate } from '../limits/costs.js';
import { Limits } from '../limits/index.js';
import type { LimitRequest } from '../limits/selectors.js';
import { RateLimitMetrics } from '../telemetry/rate-limit-metrics.js';

export interface EngineCost {
  /** CPU per admitted and settled request with the local rule. */
  readonly localUs: number;
  /** The same loop with a rule that has no rate limits (the cost of the loop itself). */
  readonly noneUs: number;
  readonly redisAdmitP50Us: number;
  readonly redisPingP50Us: number;
}

const REQ: LimitRequest = { headers: { 'x-workload-app': 'bench', 'content-type': 'application/json' }, method: 'POST', path: '/v1/chat/completions', clientAddress: '127.0.0.1' };
const BODY = { model: 'bench-model', messages: [{ role: 'user', content: 'Say something short.' }] };
const ZERO = { input: 0, cachedInput: 0, cacheCreationInput: 0, output: 3, reasoning: 0, total: 3 };

async function compiled(dir: string, manifests: string): Promise<{ route: RouteConfig; rule: RuleConfig }> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'gw.yaml'), manifests);
  const r = await loadConfig({ paths: [dir], purpose: 'serve' });
  const route = r.config?.routes[0];
  const rule = route?.rules[0];
  if (route === undefined || rule === undefined) throw new Error(`bench limits: the bench config did not compile: ${JSON.stringify(r.diagnostics).slice(0, 500)}`);
  return { route, rule };
}

function limitsFor(redisUrl: string | undefined): Limits {
  const logger = createLogger({ level: 'error' });
  return new Limits({
    redis: redisUrl === undefined ? undefined : { url: redisUrl, prefix: 'bench-engine:', password: undefined, caFile: undefined, timeoutMs: 1_000 },
    failureMode: 'closed',
    observer: new RateLimitMetrics(new Registry()),
    logger,
  });
}

async function once(limits: Limits, route: RouteConfig, rule: RuleConfig, i: number): Promise<void> {
  if (rule.rateLimits.length > 0) {
    const estimate = new Estimate(BODY, 'bench-model', 'bench', route);
    const a = limits.rate.admit(rule, rule.routeKey, REQ, `r${i}`, estimate);
    const admission = a instanceof Promise ? await a : a;
    if (!admission.ok) throw new Error('bench limits: the engine rejected a request under a limit of 4e9/h');
    limits.rate.settle(admission.ticket, route, new CostContext(costInput(ZERO, 'bench-model', 'bench', route.name)));
  }
}

/** CPU µs per request of `n` sequential admissions + settlements. */
async function cpuPerRequest(limits: Limits, route: RouteConfig, rule: RuleConfig, n: number): Promise<number> {
  for (let i = 0; i < 2_000; i++) await once(limits, route, rule, i);
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await once(limits, route, rule, i);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
}

export async function measureEngine(work: string, manifests: { none: string; local: string; global: string }, redisPort: number): Promise<EngineCost> {
  const none = await compiled(join(work, 'engine-none'), manifests.none);
  const local = await compiled(join(work, 'engine-local'), manifests.local);
  const global = await compiled(join(work, 'engine-global'), manifests.global);
  const mem = limitsFor(undefined);
  // Three rounds, the lowest kept: other tenants only ever add time.
  let localUs = Infinity;
  let noneUs = Infinity;
  for (let round = 0; round < 3; round++) {
    noneUs = Math.min(noneUs, await cpuPerRequest(mem, none.route, none.rule, 200_000));
    localUs = Math.min(localUs, await cpuPerRequest(mem, local.route, local.rule, 200_000));
  }
  await mem.close();
  const red = limitsFor(`redis://127.0.0.1:${redisPort}/0`);
  const admitH = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000, numberOfSignificantValueDigits: 3 });
  const pingH = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000, numberOfSignificantValueDigits: 3 });
  const sock = net.connect(redisPort, '127.0.0.1');
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', () => resolve());
      sock.once('error', (err) => reject(new Error(`bench limits: cannot reach the benchmark Redis on port ${redisPort}: ${err.message}`)));
    });
    const ping = (): Promise<void> =>
      new Promise<void>((r) => {
        sock.once('data', () => r());
        sock.write('PING\r\n');
      });
    const ready = Date.now() + 5_000;
    while (red.redis?.connected !== true) {
      if (Date.now() > ready) throw new Error('bench limits: the engine could not connect to the benchmark Redis in 5 s');
      await new Promise((r) => setTimeout(r, 10));
    }
    for (let i = 0; i < 500; i++) await once(red, global.route, global.rule, i); // load the script
    // Interleaved, so both see the same moment of the machine.
    for (let i = 0; i < 5_000; i++) {
      let t0 = performance.now();
      await once(red, global.route, global.rule, i);
      admitH.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
      t0 = performance.now();
      await ping();
      pingH.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
    }
  } finally {
    sock.destroy();
    await red.close();
  }
  const out = { localUs, noneUs, redisAdmitP50Us: admitH.getValueAtPercentile(50), redisPingP50Us: pingH.getValueAtPercentile(50) };
  admitH.destroy();
  pingH.destroy();
  return out;
}
