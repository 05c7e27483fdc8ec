// The gateway's own contract (README.md, docs/observability.md): bad input gets precise OpenAI-shaped errors and
// never reaches a backend, token metrics move by exactly what each model served, the admin endpoints
// answer, and every response carries x-request-id and server-timing.
import type { IncomingHttpHeaders } from 'node:http';
import { sleep } from '../../core/clock.js';
import type { Probe } from '../check.js';
import { VerifyContext } from '../context.js';
import { sendOversize } from '../http.js';
import { select, type Sample } from '../prometheus.js';
import { METRICS, SEED, type Tier } from '../scenario.js';
import { readChatStream } from './streaming.js';
import type { Check } from './types.js';

async function neverReachedBackends(ctx: VerifyContext, t: Probe, res: { headers: IncomingHttpHeaders; sentRequestId: string }, what: string): Promise<void> {
  const id = VerifyContext.upstreamId(res);
  for (const tier of ['tier1', 'tier2'] as const) {
    if ((await ctx.backendSaw(t, tier, id)) !== undefined) t.fail(`${what} reached the ${SEED.tiers[tier].label} backend; bad input must stop at the gateway`);
  }
}

export const malformedJsonCheck: Check = {
  id: 'malformed-json',
  suite: 'full',
  title: 'Malformed JSON bodies get 400 with an OpenAI-shaped error and never reach a backend',
  source: 'README.md, tollgate serve',
  async run(ctx: VerifyContext, t: Probe) {
    const cases: Array<[string, string]> = [
      ['truncated JSON', '{"model": "gpt-oss-120b", "messages": ['],
      ['not JSON at all', 'model=gpt-oss-120b'],
      ['JSON that is not an object', '["gpt-oss-120b"]'],
    ];
    for (const [what, body] of cases) {
      const res = await ctx.chat(`malformed: ${what}`, { app: SEED.premiumApp, rawBody: body });
      t.status(res, 400, `${what}`);
      t.openAiError(res, `the 400 for ${what}`);
      await neverReachedBackends(ctx, t, res, what);
    }
  },
};

export const oversizeBodyCheck: Check = {
  id: 'oversize-body',
  suite: 'full',
  title: 'A body over the limit gets 413, whether its length is declared or not',
  source: 'seed ClientTrafficPolicy bufferLimit 50Mi, docs/configuration.md',
  async run(ctx: VerifyContext, t: Probe) {
    // The seed allows 50 MiB (ClientTrafficPolicy bufferLimit: 50Mi). Declared: 64 MiB, which the
    // gateway should refuse on the header alone. Chunked: one byte over the limit.
    const limit = 50 * 1024 * 1024;
    for (const declared of [true, false]) {
      const bytes = declared ? 64 * 1024 * 1024 : limit + 1;
      const what = declared ? `content-length: ${bytes} (64 MiB)` : `a chunked body of ${bytes} bytes (50 MiB + 1, no content-length)`;
      const res = await sendOversize({
        method: 'POST',
        url: `${ctx.opts.gateway}/v1/chat/completions`,
        headers: [
          ['content-type', 'application/json'],
          ['x-workload-app', SEED.premiumApp],
          ['x-request-id', ctx.newRequestId('oversize')],
        ],
        bytes,
        declared,
        earlyMs: 2_000,
        timeoutMs: Math.max(ctx.opts.timeoutMs, 30_000),
      });
      ctx.record(`oversize: ${what}`, res.status, res.headers, '');
      t.status(res, 413, what, 'set the limit with a ClientTrafficPolicy connection.bufferLimit (the seed uses 50Mi)');
      t.openAiError(res, 'the 413');
      t.note(declared && res.bytesWritten === 0 ? 'refused on the declared length, before any body byte' : `${res.bytesWritten} body bytes were sent before the gateway answered`);
    }
  },
};

export const unknownPathCheck: Check = {
  id: 'unknown-path',
  suite: 'full',
  title: 'Unknown paths get 404 with an OpenAI-shaped error',
  source: 'README.md, tollgate serve',
  async run(ctx: VerifyContext, t: Probe) {
    const cases: Array<['GET' | 'POST', string]> = [
      ['GET', '/v1/does-not-exist'],
      ['POST', '/v1/chat/completion'],
      ['POST', '/v2/chat/completions'],
    ];
    for (const [method, path] of cases) {
      const res = await ctx.gatewayRequest(`unknown path ${method} ${path}`, method, path, [
        ['content-type', 'application/json'],
        ['x-workload-app', SEED.premiumApp],
      ], method === 'POST' ? JSON.stringify({ model: SEED.bodyModel, messages: [{ role: 'user', content: 'hi' }] }) : undefined);
      t.status(res, 404, `${method} ${path}`);
      t.openAiError(res, `the 404 for ${path}`);
    }
  },
};

interface SeriesDelta {
  count: number;
  sum: number;
}

function tokenSeries(samples: readonly Sample[], model: string, type: string): SeriesDelta {
  const match = { gen_ai_request_model: model, gen_ai_token_type: type };
  const count = select(samples, `${METRICS.tokenUsage}_count`, match).reduce((a, s) => a + s.value, 0);
  const sum = select(samples, `${METRICS.tokenUsage}_sum`, match).reduce((a, s) => a + s.value, 0);
  return { count, sum };
}

function tokenFingerprint(samples: readonly Sample[]): string {
  return samples
    .filter((x) => x.name === `${METRICS.tokenUsage}_count` || x.name === `${METRICS.tokenUsage}_sum`)
    .map((x) => `${x.name}${JSON.stringify(x.labels)}=${x.value}`)
    .sort()
    .join('\n');
}

/** Scrape until the token series stop moving (two scrapes 200 ms apart agree), at most 3 s. */
async function settledTokens(ctx: VerifyContext, t: Probe, first?: Sample[]): Promise<Sample[]> {
  let last = first ?? (await ctx.metrics(t));
  const end = Date.now() + 3_000;
  for (;;) {
    await sleep(200);
    const next = await ctx.metrics(t);
    if (tokenFingerprint(next) === tokenFingerprint(last) || Date.now() > end) return next;
    last = next;
  }
}

export const tokenMetricsCheck: Check = {
  id: 'token-metrics',
  suite: 'full',
  title: `${METRICS.tokenUsage} moves per model by exactly what each request used (streamed or not)`,
  source: 'docs/observability.md, metrics; whitepaper ch. 3',
  async run(ctx: VerifyContext, t: Probe) {
    // Accounting may land after a response ends (the gateway counts off the hot path): earlier
    // checks' requests must have settled before the baseline is taken.
    const before = await settledTokens(ctx, t);
    if (!before.some((s) => s.name.startsWith(METRICS.tokenUsage))) {
      // Fine before any traffic, but by now earlier checks sent some: a missing family is a failure.
      const similar = [...new Set(before.map((s) => s.name))].filter((n) => n.includes('token')).slice(0, 8);
      t.fail(`the histogram ${METRICS.tokenUsage} is not exposed at ${ctx.opts.admin}/stats/prometheus`, {
        expected: `${METRICS.tokenUsage}_sum/_count with labels gen_ai_request_model and gen_ai_token_type`,
        actual: similar.length === 0 ? 'no metric with "token" in its name' : `only ${similar.join(', ')}`,
      });
    }
    // One non-streamed request to tier 1, one streamed to tier 2: each model's series must move by
    // exactly its own request's usage, and not by the other's.
    const plain = await ctx.chat('token metrics (tier 1, non-streamed)', { app: SEED.premiumApp, body: { max_tokens: 6 } });
    t.status(plain, 200, `${SEED.premiumApp} non-streamed`);
    const u1 = t.json<{ usage?: { prompt_tokens: number; completion_tokens: number } }>(plain, 'tier-1 answer').usage;
    if (u1 === undefined) t.fail('the tier-1 answer has no usage');
    const { stream } = ctx.stream('token metrics (tier 2, streamed)', { app: SEED.standardApp, body: { max_tokens: 7, stream_options: { include_usage: true } } });
    const s = await readChatStream(t, stream, `${SEED.standardApp} streamed`);
    t.evidence.pop();
    const u2 = s.usage;
    if (u2 === undefined) t.fail('the tier-2 stream carried no usage');
    const expected: Array<{ tier: Tier; type: string; tokens: number }> = [
      { tier: 'tier1', type: 'input', tokens: u1.prompt_tokens },
      { tier: 'tier1', type: 'output', tokens: u1.completion_tokens },
      { tier: 'tier2', type: 'input', tokens: u2.prompt_tokens },
      { tier: 'tier2', type: 'output', tokens: u2.completion_tokens },
    ];
    // Accounting may finish just after the response: poll briefly for the counts to land.
    let after: Sample[] = before;
    const deadline = Date.now() + 3_000;
    const landed = (): boolean =>
      expected.every((e) => tokenSeries(after, SEED.tiers[e.tier].model, e.type).count - tokenSeries(before, SEED.tiers[e.tier].model, e.type).count >= 1);
    while (!landed() && Date.now() < deadline) {
      await sleep(100);
      after = await ctx.metrics(t);
    }
    after = await settledTokens(ctx, t, after);
    for (const e of expected) {
      const model = SEED.tiers[e.tier].model;
      const b = tokenSeries(before, model, e.type);
      const a = tokenSeries(after, model, e.type);
      const what = `${METRICS.tokenUsage}{gen_ai_request_model="${model}", gen_ai_token_type="${e.type}"}`;
      if (a.count - b.count !== 1 || a.sum - b.sum !== e.tokens) {
        t.fail(`${what} did not move by exactly one request of ${e.tokens} tokens`, {
          expected: `_count +1, _sum +${e.tokens} (the usage the client was told)`,
          actual: `_count +${a.count - b.count}, _sum +${a.sum - b.sum}`,
          hint: a.count === b.count ? 'no observation for this model: is the label gen_ai_request_model set to the model sent upstream?' : undefined,
        });
      }
      t.note(`${what}: _count +1, _sum +${e.tokens}`);
    }
  },
};

export const adminEndpointsCheck: Check = {
  id: 'admin-endpoints',
  suite: 'full',
  title: 'Admin endpoints: /healthz, /readyz, /metrics = /stats/prometheus (Envoy names there), /config_dump',
  source: 'README.md, tollgate serve',
  async run(ctx: VerifyContext, t: Probe) {
    for (const path of ['/healthz', '/readyz']) t.status(await ctx.adminGet(path), 200, `GET ${path}`);
    // /stats/prometheus may name Envoy's rate-limit counters as Envoy does, without `_total`.
    const envoy = /^(http_(?:local|global)_rate_limit_(?:enabled|ok|rate_limited))_total$/;
    // Families, not sample names: a labelled gauge (active handles, requests in flight) has no samples
    // at an instant it is zero, and the two scrapes are two instants.
    const fa = new Set([...(await ctx.metricFamilies(t, '/metrics'))].map((n) => n.replace(envoy, '$1')));
    const fb = await ctx.metricFamilies(t, '/stats/prometheus');
    const onlyA = [...fa].filter((n) => !fb.has(n));
    const onlyB = [...fb].filter((n) => !fa.has(n));
    t.ok(onlyA.length === 0 && onlyB.length === 0, `/metrics and /stats/prometheus declare the same ${fa.size} metric families`, {
      message: '/metrics and /stats/prometheus differ',
      actual: `only in /metrics: ${onlyA.slice(0, 5).join(', ') || '-'}; only in /stats/prometheus: ${onlyB.slice(0, 5).join(', ') || '-'}`,
    });
    const gen = await ctx.configGeneration(t);
    t.note(`/config_dump: generation ${gen}`);
  },
};

export const responseHeadersCheck: Check = {
  id: 'response-headers',
  suite: 'full',
  title: 'Every gateway response in this run carried x-request-id and server-timing',
  source: 'README.md, tollgate serve',
  run(ctx: VerifyContext, t: Probe): Promise<void> {
    const seen = ctx.seen;
    t.ok(seen.length > 0, `${seen.length} gateway responses recorded`, { message: 'no gateway response was recorded (did every other check fail?)' });
    const noId = seen.filter((s) => s.requestId === undefined || s.requestId.length === 0);
    const noTiming = seen.filter((s) => s.serverTiming === undefined || s.serverTiming.length === 0);
    if (noId.length > 0) t.fail(`${noId.length} response(s) without x-request-id`, { actual: noId.slice(0, 5).map((s) => `${s.what} (${s.status})`).join('; ') });
    if (noTiming.length > 0) t.fail(`${noTiming.length} response(s) without server-timing`, { actual: noTiming.slice(0, 5).map((s) => `${s.what} (${s.status})`).join('; ') });
    const statuses = [...new Set(seen.map((s) => s.status))].sort((x, y) => x - y);
    t.note(`all ${seen.length} responses (statuses ${statuses.join(', ')}) carry x-request-id and server-timing`);
    const echoed = seen.filter((s) => s.sentRequestId !== '' && s.requestId === s.sentRequestId).length;
    t.note(`${echoed} of ${seen.filter((s) => s.sentRequestId !== '').length} kept the client's x-request-id`);
    return Promise.resolve();
  },
};

export const PROTOCOL_CHECKS: readonly Check[] = [malformedJsonCheck, oversizeBodyCheck, unknownPathCheck, tokenMetricsCheck, adminEndpointsCheck];
