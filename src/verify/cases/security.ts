// The full suite's security and routing checks: every way a client can smuggle a credential, a
// spoofed routing header, the 429 contract, and tier-2 routing proven at the backend.
import type { HeaderLines } from '../http.js';
import type { Probe } from '../check.js';
import { VerifyContext } from '../context.js';
import { METRICS, SEED } from '../scenario.js';
import { assertClean } from './seed.js';
import type { Check } from './types.js';

interface Variant {
  readonly name: string;
  readonly headers: HeaderLines;
  /** Every value that must not reach the backend (as sent, and the bare token). */
  readonly rogue: readonly string[];
}

function variants(tag: string): Variant[] {
  const tok = (v: string): string => `rogue-${v}-${tag}`;
  const bearer = (name: string, v: string, scheme = 'Bearer'): Variant => ({ name: `${name}: ${scheme} …`, headers: [[name, `${scheme} ${tok(v)}`]], rogue: [tok(v), `${scheme} ${tok(v)}`] });
  const bare = (name: string, v: string): Variant => ({ name: `${name}: …`, headers: [[name, tok(v)]], rogue: [tok(v)] });
  const basic = Buffer.from(`user:${tok('basic')}`).toString('base64');
  const list: Variant[] = [
    bearer('authorization', 'lower'),
    bearer('Authorization', 'title'),
    bearer('AUTHORIZATION', 'upper'),
    bearer('aUtHoRiZaTiOn', 'mixed', 'bearer'),
    bare('Authorization', 'noscheme'),
    { name: 'Authorization: Basic …', headers: [['Authorization', `Basic ${basic}`]], rogue: [basic, `Basic ${basic}`, tok('basic')] },
    {
      name: 'Authorization twice (two cases)',
      headers: [
        ['Authorization', `Bearer ${tok('dup1')}`],
        ['authorization', `Bearer ${tok('dup2')}`],
      ],
      rogue: [tok('dup1'), tok('dup2')],
    },
    bearer('Proxy-Authorization', 'proxy'),
    bare('x-api-key', 'xapikey'),
    bare('X-API-Key', 'xapikey-case'),
    bare('api-key', 'azure'),
    bare('Api-Key', 'azure-case'),
    bare('x-goog-api-key', 'goog'),
    bare('X-Goog-Api-Key', 'goog-case'),
    { name: 'Cookie: session=…', headers: [['Cookie', `session=${tok('cookie')}`]], rogue: [tok('cookie'), `session=${tok('cookie')}`] },
  ];
  const all: Variant = { name: 'every credential header at once', headers: list.flatMap((v) => v.headers), rogue: list.flatMap((v) => v.rogue) };
  return [...list, all];
}

export const credentialSmugglingCheck: Check = {
  id: 'credential-smuggling',
  suite: 'full',
  title: 'Zero trust: client credentials in every header variant and case never reach the backend',
  source: 'whitepaper §5.2, docs/security.md',
  async run(ctx: VerifyContext, t: Probe) {
    const list = variants(ctx.runId);
    // A few at a time: each is a full request to the simulated tier-1 model.
    for (let i = 0; i < list.length; i += 4) {
      const batch = list.slice(i, i + 4);
      const results = await Promise.all(batch.map(async (v) => ({ v, res: await ctx.chat(`smuggling: ${v.name}`, { app: SEED.premiumApp, headers: v.headers }) })));
      for (const { v, res } of results) {
        t.status(res, 200, `${v.name} through the gateway`);
        t.evidence.pop();
        const id = VerifyContext.upstreamId(res);
        const rec = await ctx.backendSaw(t, 'tier1', id);
        if (rec === undefined) t.fail(`smuggling (${v.name}): the tier-1 backend never saw request ${id}`);
        assertClean(t, rec, v.rogue, `smuggling (${v.name})`);
        t.note(`${v.name}: 200, backend got only its own key`);
      }
    }
  },
};

export const spoofedModelCheck: Check = {
  id: 'spoofed-model-header',
  suite: 'full',
  title: 'A client-sent x-ai-eg-model is overwritten, never trusted for routing',
  source: 'README.md, tollgate serve: routing',
  async run(ctx: VerifyContext, t: Probe) {
    const spoof = `spoofed-model-${ctx.runId}`;
    const res = await ctx.chat('spoofed x-ai-eg-model (tier 1)', { app: SEED.premiumApp, headers: [['x-ai-eg-model', spoof], ['X-AI-EG-MODEL', spoof]] });
    t.status(res, 200, `${SEED.premiumApp} with a spoofed x-ai-eg-model`);
    const rec = await ctx.backendSaw(t, 'tier1', VerifyContext.upstreamId(res));
    if (rec === undefined) t.fail(`the request never reached the tier-1 backend at ${ctx.opts.backends.tier1}`);
    const forwarded = rec.headers['x-ai-eg-model'];
    if (forwarded !== undefined && forwarded.includes(spoof)) {
      t.fail('the client-sent x-ai-eg-model reached the backend', {
        expected: `x-ai-eg-model set by the gateway from the body's model (or absent)`,
        actual: `x-ai-eg-model: ${forwarded}`,
        hint: 'the gateway must overwrite x-ai-eg-model from the request body; a client value must never route or reach upstream',
      });
    }
    t.note(`the backend saw x-ai-eg-model: ${forwarded ?? '(absent)'}, not the spoofed value`);

    // A spoofed model header must not open a route an identity does not have.
    for (const model of [SEED.tiers.tier1.model, SEED.tiers.tier2.model]) {
      const r = await ctx.chat('spoofed x-ai-eg-model (unknown identity)', { app: SEED.unknownApp, headers: [['x-ai-eg-model', model]], body: { model } });
      t.status(r, 404, `${SEED.unknownApp} asking for ${model} with x-ai-eg-model: ${model}`, 'an unknown identity must not be routed by a model name it sends');
    }
  },
};

export const rateLimitResponseCheck: Check = {
  id: 'rate-limit-response',
  suite: 'full',
  title: '429 responses: OpenAI-shaped error, retry-after and x-ratelimit-* headers',
  source: 'docs/rate-limits.md',
  async run(ctx: VerifyContext, t: Probe) {
    let limited = ctx.shared.rateLimited ?? [];
    if (limited.length === 0) {
      // Test case 1 did not run (or did not limit): exhaust the budget here.
      for (let i = 0; i <= SEED.limit && limited.length === 0; i++) {
        const r = await ctx.chat('rate-limit response', { app: SEED.limitedApp });
        if (r.status === 429) limited = [r];
      }
      if (limited.length === 0) t.fail(`${SEED.limit + 1} requests as ${SEED.limitedApp} were never rate limited`, { hint: `see the rate-limit check; ${METRICS.rateLimited} needs a Local rateLimit policy` });
    }
    const r = limited[0];
    if (r === undefined) return;
    t.openAiError(r, 'the 429 body');
    const retry = r.headers['retry-after'];
    t.ok(typeof retry === 'string' && /^\d+$/.test(retry.trim()) && Number(retry) >= 0 && Number(retry) <= 60, `retry-after: ${String(retry)} (whole seconds within the one-minute window)`, {
      message: 'the 429 has no usable retry-after',
      expected: 'retry-after: <seconds, 0–60>',
      actual: `retry-after: ${String(retry ?? '(absent)')}`,
    });
    const names = Object.keys(r.headers).filter((h) => h.startsWith('x-ratelimit-'));
    for (const kind of ['limit', 'remaining', 'reset']) {
      t.ok(
        names.some((n) => n.startsWith(`x-ratelimit-${kind}-`)),
        `x-ratelimit-${kind}-*: ${names.filter((n) => n.startsWith(`x-ratelimit-${kind}-`)).map((n) => `${n}=${String(r.headers[n])}`).join(', ')}`,
        { message: `the 429 has no x-ratelimit-${kind}-* header`, expected: `x-ratelimit-${kind}-requests (and -tokens where tokens are limited)`, actual: names.length === 0 ? 'no x-ratelimit-* header' : names.join(', ') },
      );
    }
    const remaining = r.headers['x-ratelimit-remaining-requests'];
    if (remaining !== undefined) t.equal(String(remaining), '0', 'x-ratelimit-remaining-requests on a rejected request');
    const lim = r.headers['x-ratelimit-limit-requests'];
    if (lim !== undefined) t.equal(String(lim), String(SEED.limit), 'x-ratelimit-limit-requests');
  },
};

export const tier2RoutingCheck: Check = {
  id: 'identity-routing-tier2',
  suite: 'full',
  title: `Identity routing to tier 2 proven at the backend (${SEED.standardApp})`,
  source: 'whitepaper §5, figure 3',
  async run(ctx: VerifyContext, t: Probe) {
    const res = await ctx.chat('tier-2 routing', { app: SEED.standardApp });
    t.status(res, 200, `${SEED.standardApp} → tier 2`);
    const body = t.json<{ model?: unknown }>(res, 'the tier-2 answer');
    t.equal(String(body.model), SEED.tiers.tier2.model, 'the answer came from the tier-2 model');
    const rec = await ctx.backendSaw(t, 'tier2', VerifyContext.upstreamId(res));
    if (rec === undefined) t.fail(`the ${SEED.standardApp} request never reached the tier-2 backend at ${ctx.opts.backends.tier2}`);
    assertClean(t, rec, [], 'tier-2 routing');
    t.note(`the tier-2 backend saw it with its configured key, asked for model ${String(rec.model)}`);
    if ((await ctx.backendSaw(t, 'tier1', VerifyContext.upstreamId(res))) !== undefined) t.fail(`the ${SEED.standardApp} request also reached the tier-1 backend`);
  },
};

export const SECURITY_CHECKS: readonly Check[] = [rateLimitResponseCheck, tier2RoutingCheck, credentialSmugglingCheck, spoofedModelCheck];
