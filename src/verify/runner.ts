// Runs the selected checks in order against a live gateway. A check that fails is recorded with its
// evidence and the run goes on; a target that cannot be reached at all (connection refused, unknown
// host) stops the run at once, since nothing after it can mean anything. Only CheckFailed and
// NetworkFailure are caught: anything else is a bug in verify and propagates.
import { nowMs, sleep } from '../core/clock.js';
import { CheckFailed, Probe, type CheckResult, type Suite } from './check.js';
import { VerifyContext, type VerifyOptions } from './context.js';
import { NetworkFailure, send } from './http.js';
import { PROTOCOL_CHECKS, adminEndpointsCheck, malformedJsonCheck, oversizeBodyCheck, responseHeadersCheck, tokenMetricsCheck, unknownPathCheck } from './cases/protocol.js';
import { SEED_CHECKS } from './cases/seed.js';
import { SECURITY_CHECKS } from './cases/security.js';
import { STREAMING_CHECKS, clientDisconnectCheck, reloadWhileStreamingCheck, streamingUsageCheck } from './cases/streaming.js';
import type { Check } from './cases/types.js';
import { SEED, type Tier } from './scenario.js';

export interface RunOptions extends VerifyOptions {
  readonly suite: Suite;
  readonly skip: ReadonlySet<string>;
  /** Run only these (plus the preflight); empty = all of the suite. */
  readonly only: ReadonlySet<string>;
}

export interface RunReport {
  readonly tool: 'tollgate verify';
  readonly suite: Suite;
  readonly gateway: string;
  readonly admin: string;
  readonly backends: Readonly<Record<Tier, string>>;
  readonly startedAt: string;
  readonly ms: number;
  readonly results: readonly CheckResult[];
  readonly counts: { readonly passed: number; readonly failed: number; readonly skipped: number; readonly notRun: number };
  readonly ok: boolean;
}

/** Every check in run order. The response-header audit is last: it reads what all others saw. */
export function checksFor(suite: Suite): readonly Check[] {
  switch (suite) {
    case 'seed':
      return SEED_CHECKS;
    case 'full':
      return [
        ...SEED_CHECKS,
        ...SECURITY_CHECKS,
        malformedJsonCheck,
        oversizeBodyCheck,
        unknownPathCheck,
        streamingUsageCheck,
        tokenMetricsCheck,
        clientDisconnectCheck,
        reloadWhileStreamingCheck,
        adminEndpointsCheck,
        responseHeadersCheck,
      ];
  }
}

/** Every check id (for --skip/--only validation and --list). */
export const ALL_CHECKS: readonly Check[] = [...SEED_CHECKS, ...SECURITY_CHECKS, ...PROTOCOL_CHECKS, ...STREAMING_CHECKS, responseHeadersCheck];

const READY_WAIT_MS = 15_000;

const preflight: Check = {
  id: 'preflight',
  suite: 'seed',
  title: 'The gateway, its admin listener and the backends are reachable',
  source: 'whitepaper ch. 5: fail loudly on unreachable infrastructure',
  async run(ctx: VerifyContext, t: Probe) {
    const gw = await ctx.gatewayRequest('preflight GET /v1/models', 'GET', '/v1/models', [['x-workload-app', SEED.premiumApp]]);
    t.note(`gateway ${ctx.opts.gateway} answers (GET /v1/models: ${gw.status})`);
    // A gateway that has just started may still be loading (token encodings, a Redis connection):
    // give it the time a startup probe would before calling it not ready.
    let ready = await ctx.adminGet('/readyz');
    for (const end = Date.now() + READY_WAIT_MS; ready.status === 503 && Date.now() < end; ready = await ctx.adminGet('/readyz')) await sleep(100);
    t.status(ready, 200, `admin ${ctx.opts.admin}/readyz`, `the gateway is up but was not ready within ${READY_WAIT_MS / 1000} s: its /readyz says why (and its logs)`);
    for (const tier of ['tier1', 'tier2'] as const) {
      const base = ctx.opts.backends[tier];
      const res = await send({ method: 'GET', url: `${base}/_sim/requests/${ctx.newRequestId('preflight')}`, timeoutMs: ctx.opts.timeoutMs });
      t.status(res, 404, `${SEED.tiers[tier].label} backend ${base} keeps a request log (unknown id → 404)`, `verify needs backends that report what reached them (tollgate sim); point --backend ${tier}=URL at it`);
    }
  },
};

export async function runVerify(opts: RunOptions, onResult: (r: CheckResult) => void, notify: (line: string) => void): Promise<RunReport> {
  const ctx = new VerifyContext(opts, notify);
  const started = new Date().toISOString();
  const t0 = nowMs();
  const results: CheckResult[] = [];
  const push = (r: CheckResult): void => {
    results.push(r);
    onResult(r);
  };
  let abort: string | undefined;
  const first = await runOne(ctx, preflight);
  push(first.result);
  if (first.result.outcome !== 'passed') abort = 'the preflight failed';
  for (const check of checksFor(opts.suite)) {
    const base = { id: check.id, title: check.title, suite: check.suite, source: check.source, ms: 0, evidence: [] };
    if (opts.only.size > 0 && !opts.only.has(check.id)) continue;
    if (opts.skip.has(check.id)) {
      push({ ...base, outcome: 'skipped', reason: 'skipped with --skip' });
      continue;
    }
    if (abort !== undefined) {
      push({ ...base, outcome: 'not-run', reason: `not run: ${abort}` });
      continue;
    }
    const r = await runOne(ctx, check);
    push(r.result);
    if (r.unreachable !== undefined) abort = `${r.unreachable} is unreachable`;
  }
  const count = (o: CheckResult['outcome']): number => results.filter((r) => r.outcome === o).length;
  const counts = { passed: count('passed'), failed: count('failed'), skipped: count('skipped'), notRun: count('not-run') };
  return {
    tool: 'tollgate verify',
    suite: opts.suite,
    gateway: opts.gateway,
    admin: opts.admin,
    backends: opts.backends,
    startedAt: started,
    ms: Math.round(nowMs() - t0),
    results,
    counts,
    ok: counts.failed === 0 && counts.notRun === 0,
  };
}

async function runOne(ctx: VerifyContext, check: Check): Promise<{ result: CheckResult; unreachable?: string }> {
  const t = new Probe();
  const t0 = nowMs();
  const base = { id: check.id, title: check.title, suite: check.suite, source: check.source };
  try {
    await check.run(ctx, t);
    return { result: { ...base, outcome: 'passed', ms: Math.round(nowMs() - t0), evidence: t.evidence } };
  } catch (err) {
    const ms = Math.round(nowMs() - t0);
    if (err instanceof CheckFailed) return { result: { ...base, outcome: 'failed', ms, evidence: t.evidence, failure: err.failure } };
    if (err instanceof NetworkFailure) {
      const hint = err.unreachable ? 'is it running, and is the URL right? verify stops here: nothing else can pass' : err.kind === 'timeout' ? 'raise --timeout if the backend is slow; a hang is a failure either way' : undefined;
      return {
        result: { ...base, outcome: 'failed', ms, evidence: t.evidence, failure: { message: err.message, hint } },
        ...(err.unreachable ? { unreachable: err.target } : {}),
      };
    }
    throw err;
  }
}
