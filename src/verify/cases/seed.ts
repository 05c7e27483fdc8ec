// The whitepaper's functional suite (chapter 5), exactly as it describes the three test cases, with
// the evidence it cites: status codes, the rate-limit counter on /stats/prometheus, and what the
// backend itself received.
import { createHash } from 'node:crypto';
import { sleep } from '../../core/clock.js';
import { excerpt, type Probe } from '../check.js';
import { VerifyContext, type BackendRecord } from '../context.js';
import { send, type HttpResponse } from '../http.js';
import { sumOf, type Sample } from '../prometheus.js';
import { METRICS, SEED } from '../scenario.js';
import type { Check } from './types.js';

type Shot = HttpResponse & { sentRequestId: string };

function rateLimitedTotal(samples: readonly Sample[]): number | undefined {
  // Counters may carry the OpenMetrics `_total` suffix; the contract's name is the bare one.
  return sumOf(samples, METRICS.rateLimited) ?? sumOf(samples, `${METRICS.rateLimited}_total`);
}

async function fireRapid(ctx: VerifyContext): Promise<Shot[]> {
  const shots: Shot[] = [];
  for (let i = 1; i <= SEED.rapidRequests; i++) shots.push(await ctx.chat(`test case 1 request ${i}`, { app: SEED.limitedApp }));
  return shots;
}

/** Seconds until the window that rejected the first requests resets, when that is all that went wrong. */
function staleWindow(shots: readonly Shot[]): number | undefined {
  const leading = shots.findIndex((s) => s.status !== 200);
  if (leading === -1 || leading >= SEED.limit) return undefined;
  if (!shots.every((s) => s.status === 200 || s.status === 429)) return undefined;
  const retry = Number(shots[leading]?.headers['retry-after']);
  return Number.isFinite(retry) && retry > 0 && retry <= 120 ? retry : undefined;
}

function statusHint(statuses: readonly number[]): string {
  const ok = statuses.filter((s) => s === 200).length;
  if (statuses.includes(404)) return `${SEED.limitedApp} matched no route: the gateway needs the seed routes (x-workload-app: ${SEED.limitedApp} → tier 2)`;
  if (statuses.some((s) => s >= 500)) return 'the tier-2 backend or the gateway failed; check that the backend is up and the gateway logs';
  if (ok === statuses.length) {
    return `nothing was rate limited: the gateway needs a BackendTrafficPolicy with a Local rateLimit of ${SEED.limit} requests per Minute for x-workload-app: ${SEED.limitedApp}, targeting its route`;
  }
  if (ok > SEED.limit) return `the limit admitted ${ok} requests: it must admit exactly ${SEED.limit} per minute`;
  if (ok < SEED.limit) return `the limit admitted only ${ok}: another client used the budget, or the limit is lower than ${SEED.limit} per minute`;
  return 'the admitted requests must be the first two';
}

export const rateLimitCase: Check = {
  id: 'rate-limit',
  suite: 'seed',
  title: `Test case 1: local rate limiting (${SEED.limitedApp}, ${SEED.limit} requests per minute)`,
  source: 'whitepaper §5.1',
  async run(ctx: VerifyContext, t: Probe) {
    const metricBefore = async (): Promise<number> => rateLimitedTotal(await ctx.metrics(t)) ?? 0;
    let before = await metricBefore();
    let shots = await fireRapid(ctx);
    const wait = staleWindow(shots);
    if (wait !== undefined) {
      // An earlier run (or another client) used this minute's budget: the case needs a fresh window.
      ctx.notify(`  rate-limit: the ${SEED.limitedApp} budget was already used in this window; waiting ${wait} s (retry-after) for a fresh one`);
      await sleep(wait * 1000 + 250);
      before = await metricBefore();
      shots = await fireRapid(ctx);
    }
    const statuses = shots.map((s) => s.status);
    const expected = [...Array<number>(SEED.limit).fill(200), ...Array<number>(SEED.rapidRequests - SEED.limit).fill(429)];
    if (statuses.join(' ') !== expected.join(' ')) {
      const odd = shots.find((s) => s.status !== 200 && s.status !== 429);
      t.fail(`${SEED.rapidRequests} rapid requests as ${SEED.limitedApp} did not give ${SEED.limit}×200 then ${SEED.rapidRequests - SEED.limit}×429`, {
        expected: expected.join(' '),
        actual: statuses.join(' ') + (odd === undefined ? '' : ` (the ${odd.status} said: ${excerpt(odd.body.toString('utf8'), 200)})`),
        hint: statusHint(statuses),
      });
    }
    t.note(`${SEED.rapidRequests} rapid requests as ${SEED.limitedApp}: ${statuses.join(' ')}`);
    ctx.shared.rateLimited = shots.filter((s) => s.status === 429);

    // The counter moves by exactly the number of rejections (polled: a gateway may export lazily).
    let after: number | undefined;
    const end = Date.now() + 2_000;
    for (;;) {
      const samples = await ctx.metrics(t);
      after = rateLimitedTotal(samples);
      if ((after !== undefined && after - before >= SEED.rapidRequests - SEED.limit) || Date.now() > end) {
        if (after === undefined) {
          const similar = [...new Set(samples.map((s) => s.name))].filter((n) => n.includes('rate_limit')).slice(0, 8);
          t.fail(`the metric ${METRICS.rateLimited} is not exposed at ${ctx.opts.admin}/stats/prometheus`, {
            expected: `a counter ${METRICS.rateLimited} (summed across its labels)`,
            actual: similar.length === 0 ? 'no metric with "rate_limit" in its name' : `only ${similar.join(', ')}`,
          });
        }
        break;
      }
      await sleep(100);
    }
    t.equal(after - before, SEED.rapidRequests - SEED.limit, `${METRICS.rateLimited} increase (summed across labels)`);

    // Shedding happens before the backend: the admitted requests reached tier 2, the rejected ones did not.
    for (const s of shots) {
      const id = VerifyContext.upstreamId(s);
      const seen = await ctx.backendSaw(t, 'tier2', id);
      if (s.status === 200 && seen === undefined) {
        t.fail(`an admitted request (${id}) never reached the tier-2 backend at ${ctx.opts.backends.tier2}`, {
          hint: `is --backend tier2 the backend that serves ${SEED.limitedApp}? does the gateway forward x-request-id?`,
        });
      }
      if (s.status === 429 && seen !== undefined) t.fail(`a rejected request (${id}) reached the tier-2 backend anyway: the limit must shed load before the backend`);
    }
    t.note(`the ${SEED.limit} admitted requests reached tier 2; the ${SEED.rapidRequests - SEED.limit} rejected ones never did`);
  },
};

/** Every way a rogue value can show in a backend's request record (the sim hashes credential values). */
export function leakMarks(rogue: readonly string[]): string[] {
  const marks: string[] = [];
  for (const r of rogue) {
    marks.push(r);
    marks.push(`sha256:${createHash('sha256').update(r).digest('hex').slice(0, 12)}`);
  }
  return marks;
}

/** The backend got its own key and nothing of the client's: no rogue value, no foreign credential. */
export function assertClean(t: Probe, rec: BackendRecord, rogueValues: readonly string[], where: string): void {
  if (rec.credential !== 'valid') {
    t.fail(`${where}: the backend did not receive its configured key`, {
      expected: 'credential "valid" (the gateway injected the backend key)',
      actual: `credential "${rec.credential}", authorization: ${rec.headers['authorization'] ?? '(absent)'}`,
    });
  }
  const marks = leakMarks(rogueValues);
  for (const [name, value] of Object.entries(rec.headers)) {
    const leaked = marks.find((m) => value.includes(m));
    if (leaked !== undefined || value.startsWith('<other:')) {
      t.fail(`${where}: a credential other than the backend's own key reached the backend in header "${name}"`, {
        expected: `no client credential upstream; only the backend's own key`,
        actual: `${name}: ${value}`,
        hint: 'the gateway must strip every client credential header (any case, any number of copies) before injecting the backend key',
      });
    }
  }
}

export const zeroTrustCase: Check = {
  id: 'zero-trust',
  suite: 'seed',
  title: `Test case 2: zero-trust credentials (${SEED.premiumApp} with "Authorization: Bearer ${SEED.rogueToken}")`,
  source: 'whitepaper §5.2',
  async run(ctx: VerifyContext, t: Probe) {
    const rogue = `Bearer ${SEED.rogueToken}`;
    const res = await ctx.chat('test case 2', { app: SEED.premiumApp, headers: [['Authorization', rogue]] });
    t.status(res, 200, `${SEED.premiumApp} with a rogue bearer token through the gateway`);
    const body = t.json<{ model?: unknown }>(res, 'the tier-1 answer');
    t.equal(String(body.model), SEED.tiers.tier1.model, 'the answer came from the tier-1 model');
    const id = VerifyContext.upstreamId(res);
    const rec = await ctx.backendSaw(t, 'tier1', id);
    if (rec === undefined) {
      t.fail(`the tier-1 backend at ${ctx.opts.backends.tier1} never saw request ${id}`, {
        hint: 'either the gateway routed it elsewhere, does not forward x-request-id, or --backend tier1 points at another backend',
      });
    }
    assertClean(t, rec, [SEED.rogueToken, rogue], 'test case 2');
    t.note(`the tier-1 backend saw request ${id} with its configured key (authorization: ${rec.headers['authorization'] ?? '?'}) and no trace of "${SEED.rogueToken}"`);

    // Bypass: the backend itself refuses anyone without its key, so only the gateway can reach it.
    const direct = async (what: string, auth: string | undefined): Promise<void> => {
      const headers: Array<readonly [string, string]> = [['content-type', 'application/json']];
      if (auth !== undefined) headers.push(['authorization', auth]);
      const url = `${ctx.opts.backends.tier1}/v1/chat/completions`;
      const r = await send({
        method: 'POST',
        url,
        headers,
        body: JSON.stringify({ model: SEED.tiers.tier1.model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 }),
        timeoutMs: ctx.opts.timeoutMs,
      });
      t.status(r, [401, 403], `direct request to the tier-1 backend ${what}, bypassing the gateway (authentication refused)`, 'the backend must require its own API key, or the gateway can be bypassed');
    };
    await direct('without a credential', undefined);
    await direct(`with the rogue token`, rogue);
  },
};

export const identityRoutingCase: Check = {
  id: 'identity-routing',
  suite: 'seed',
  title: 'Test case 3: identity-based routing (one body, three identities)',
  source: 'whitepaper §5.3',
  async run(ctx: VerifyContext, t: Probe) {
    const limited = await ctx.chat('test case 3 (tier 2, rate limited)', { app: SEED.limitedApp });
    t.status(
      limited,
      429,
      `${SEED.limitedApp} → tier 2, where the budget test case 1 used up answers`,
      ctx.shared.rateLimited === undefined
        ? 'this case expects test case 1 (rate-limit) to have used the budget just before: run them together, as the whitepaper does'
        : 'test case 1 used the budget moments ago: the limit must still hold within the same minute',
    );
    if ((await ctx.backendSaw(t, 'tier2', VerifyContext.upstreamId(limited))) !== undefined) t.fail(`the rate-limited ${SEED.limitedApp} request reached the tier-2 backend`);

    const premium = await ctx.chat('test case 3 (tier 1)', { app: SEED.premiumApp });
    t.status(premium, 200, `${SEED.premiumApp} → tier 1`);
    const rec = await ctx.backendSaw(t, 'tier1', VerifyContext.upstreamId(premium));
    if (rec === undefined) t.fail(`the ${SEED.premiumApp} request never reached the tier-1 backend at ${ctx.opts.backends.tier1}`);
    t.equal(String(rec.model), SEED.tiers.tier1.model, 'the tier-1 backend was asked for its model');

    const unknown = await ctx.chat('test case 3 (unknown identity)', { app: SEED.unknownApp });
    t.status(unknown, 404, `${SEED.unknownApp} → blocked at the gateway`, 'an identity no route names must get 404, not a default route');
    t.openAiError(unknown, 'the 404');
    const id = VerifyContext.upstreamId(unknown);
    for (const tier of ['tier1', 'tier2'] as const) {
      if ((await ctx.backendSaw(t, tier, id)) !== undefined) t.fail(`the ${SEED.unknownApp} request reached the ${SEED.tiers[tier].label} backend`);
    }
    t.note(`the ${SEED.unknownApp} request reached no backend`);
  },
};

export const SEED_CHECKS: readonly Check[] = [rateLimitCase, zeroTrustCase, identityRoutingCase];
