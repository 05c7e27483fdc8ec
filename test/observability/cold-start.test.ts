// Usage is recorded when a response ends, from the usage the backend reported, without waiting for
// the gateway's own count; that count is a sampled drift audit (--audit-sample-rate); and the BPE
// encodings are loaded before /readyz says ready. Through a real gateway and a real upstream, plus
// the accountant itself with a counter held back to show nothing waits for it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Accountant, type RecordListener } from '../../src/accounting/accountant.js';
import type { TokenCounter } from '../../src/accounting/counter.js';
import { LedgerWriter } from '../../src/accounting/ledger/writer.js';
import { readLedger } from '../../src/accounting/ledger/reader.js';
import type { UsageRecord } from '../../src/accounting/record.js';
import { createLogger } from '../../src/core/log.js';
import type { RequestOutcome } from '../../src/core/outcome.js';
import { telemetryOptions, TelemetryFlagError } from '../../src/telemetry/flags.js';
import { tokenizerIfLoaded } from '../../src/tokenizer/index.js';
import { backendYaml, routeYaml } from '../helpers/gateway.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { CHAT, parseProm, postJson, startObsGateway, sumOf, type ObsGateway } from './helpers.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function gateway(telemetry: Parameters<typeof startObsGateway>[1], tokenizer?: string): Promise<{ gw: ObsGateway; up: Upstream; ledgerDir: string }> {
  const up = await startUpstream();
  cleanups.push(() => up.close());
  const ledgerDir = await mkdtemp(join(tmpdir(), 'tollgate-cold-'));
  cleanups.push(() => rm(ledgerDir, { recursive: true, force: true }));
  let backend = backendYaml('b', [{ port: up.port }]);
  if (tokenizer !== undefined) backend = backend.replace('kind: AIServiceBackend\nmetadata:\n  name: b\n', `kind: AIServiceBackend\nmetadata:\n  name: b\n  annotations:\n    tollgate.io/tokenizer: ${tokenizer}\n`);
  const gw = await startObsGateway({ 'b.yaml': backend, 'r.yaml': routeYaml('r', [{ matches: [{ 'x-ai-eg-model': 'gpt-4o-mini' }], backends: [{ name: 'b' }] }]) }, { ledgerDir, ledgerFsyncMs: 0, ...telemetry });
  cleanups.push(() => gw.close());
  return { gw, up, ledgerDir };
}

async function waitReady(adminUrl: string): Promise<void> {
  for (;;) {
    const r = await fetch(`${adminUrl}/readyz`);
    if (r.status === 200) return;
    expect(((await r.json()) as { reason: string }).reason).toBe('loading the BPE token encodings');
    await new Promise((res) => setTimeout(res, 20));
  }
}

async function ledger(dir: string): Promise<UsageRecord[]> {
  const out: UsageRecord[] = [];
  for await (const r of readLedger(dir)) out.push(r);
  return out;
}

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Count these words, please.' }] };

describe('cold start and the sampled audit', () => {
  it('loads the encodings (the counting ones and an annotated backend’s) before /readyz says ready', async () => {
    const { gw } = await gateway({ countThreads: 0 }, 'cl100k_base');
    await waitReady(gw.adminUrl);
    expect(tokenizerIfLoaded('o200k_base')).toBeDefined();
    expect(tokenizerIfLoaded('cl100k_base')).toBeDefined();
  });

  it('the first request after start has its token metrics and ledger line as soon as its response ended', async () => {
    const { gw, ledgerDir } = await gateway({ auditSampleRate: 1 });
    await waitReady(gw.adminUrl);
    const r = await postJson(`${gw.url}${CHAT}`, chat);
    expect(r.status).toBe(200);
    const usage = r.json?.['usage'] as { prompt_tokens: number; completion_tokens: number };
    const m = parseProm(await gw.metrics());
    expect(sumOf(m, 'gen_ai_client_token_usage_token_sum', { gen_ai_token_type: 'input' })).toBe(usage.prompt_tokens);
    expect(sumOf(m, 'gen_ai_client_token_usage_token_sum', { gen_ai_token_type: 'output' })).toBe(usage.completion_tokens);
    const [first] = await ledger(ledgerDir);
    expect(first?.usageSource).toBe('backend');
    expect(first?.usage.input).toBe(usage.prompt_tokens);
    // With every request audited, the count lands later as the record's final line, with the drift.
    await gw.settled();
    const [final] = await ledger(ledgerDir);
    expect(final?.final).toBe(true);
    expect(final?.gatewayCount?.encoding).toBe('o200k_base');
    expect(sumOf(parseProm(await gw.metrics()), 'tollgate_token_drift_ratio_count')).toBeGreaterThan(0);
  });

  it('audit rate 0: backend usage billed and recorded, nothing counted, no drift, every request in the unsampled total', async () => {
    const { gw, ledgerDir } = await gateway({ auditSampleRate: 0 });
    for (let i = 0; i < 5; i++) expect((await postJson(`${gw.url}${CHAT}`, chat)).status).toBe(200);
    await gw.settled();
    const recs = await ledger(ledgerDir);
    expect(recs).toHaveLength(5);
    expect(recs.every((r) => r.final && r.usageSource === 'backend' && r.gatewayCount === undefined)).toBe(true);
    const m = parseProm(await gw.metrics());
    expect(sumOf(m, 'tollgate_token_drift_ratio_count')).toBe(0);
    expect(sumOf(m, 'tollgate_token_audit_unsampled_total')).toBe(5);
    expect(sumOf(m, 'tollgate_usage_records_total', { usage_source: 'backend' })).toBe(5);
  });
});

// ---- the accountant alone --------------------------------------------------------------------

/** A counter whose counts finish only when the test says so. */
function heldCounter(): TokenCounter & { jobs: number; release: () => void } {
  const waiting: Array<() => void> = [];
  return {
    jobs: 0,
    mode: 'worker',
    backlogChars: 0,
    count(_enc, job) {
      this.jobs++;
      return new Promise((resolve) => waiting.push(() => resolve(job.constant + job.texts.join('').length)));
    },
    warm: () => Promise.resolve(),
    close: () => Promise.resolve(),
    release: () => {
      for (const w of waiting.splice(0)) w();
    },
  };
}

function outcome(i: number, withUsage: boolean): RequestOutcome {
  return {
    requestId: `req-${i}`,
    startedAt: Date.now(),
    operation: 'chat',
    stream: false,
    status: 200,
    clientAborted: false,
    aborted: false,
    attempts: 1,
    routeKey: 'default/r',
    backendKey: 'default/b',
    originalModel: 'gpt-4o-mini',
    durationMs: 1,
    requestBody: { messages: [{ role: 'user', content: 'hello there' }] },
    completionText: 'general kenobi',
    completionOverflowChars: 0,
    auditSampled: undefined,
    usage: withUsage ? { input: 10, cachedInput: 0, cacheCreationInput: 0, output: 3, reasoning: 0, total: 13 } : undefined,
    generation: 1,
  } as unknown as RequestOutcome;
}

describe('accountant', () => {
  it('completes backend-reported records (ledger, listeners, limits) while the audit count is still running', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-acct-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const ledgerWriter = LedgerWriter.open(dir, { fsyncIntervalMs: 0 });
    const counter = heldCounter();
    const completed: UsageRecord[] = [];
    const audited: UsageRecord[] = [];
    const listener: RecordListener = { recordCompleted: (r) => completed.push(r), recordAudited: (r) => audited.push(r) };
    const acct = new Accountant({ logger: createLogger({ level: 'error' }), ledger: ledgerWriter, listeners: [listener], counter, auditSampleRate: 1 });
    const charged: number[] = [];
    const o = { ...outcome(1, true), settleUsage: (u: { total: number }) => charged.push(u.total) } as unknown as RequestOutcome;
    acct.requestFinished(o, undefined);
    expect(counter.jobs).toBe(2);
    expect(completed.map((r) => r.usage.total)).toEqual([13]);
    expect(charged).toEqual([13]);
    expect(audited).toHaveLength(0);
    counter.release();
    await acct.idle();
    expect(audited.map((r) => r.gatewayCount?.output)).toEqual(['general kenobi'.length]);
    expect(completed).toHaveLength(1);
    await acct.close();
    const recs: UsageRecord[] = [];
    for await (const r of readLedger(dir)) recs.push(r);
    expect(recs.map((r) => [r.final, r.gatewayCount?.output])).toEqual([[true, 'general kenobi'.length]]);
  });

  it('audits the share of backend-reported requests the rate says, and counts every request without backend usage', async () => {
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const draws: number[] = [];
    const recorded = (): number => {
      const v = random();
      draws.push(v);
      return v;
    };
    const counter = heldCounter();
    const acct = new Accountant({ logger: createLogger({ level: 'error' }), counter, auditSampleRate: 0.25, random: recorded });
    for (let i = 0; i < 400; i++) acct.requestFinished(outcome(i, true), undefined);
    const sampled = draws.filter((d) => d < 0.25).length;
    expect(draws).toHaveLength(400);
    expect(counter.jobs).toBe(2 * sampled);
    expect(acct.stats().unsampled).toBe(400 - sampled);
    for (let i = 0; i < 10; i++) acct.requestFinished(outcome(1000 + i, false), undefined);
    expect(counter.jobs).toBe(2 * sampled + 20);
    counter.release();
    await acct.idle();
    expect(acct.stats().counted).toBe(sampled + 10);
  });

  it('--audit-sample-rate takes 0 to 1 and says what is wrong otherwise', async () => {
    expect((await telemetryOptions({ 'audit-sample-rate': '0.5' }, {})).auditSampleRate).toBe(0.5);
    expect((await telemetryOptions({}, { TOLLGATE_AUDIT_SAMPLE_RATE: '1' })).auditSampleRate).toBe(1);
    expect((await telemetryOptions({}, {})).auditSampleRate).toBeUndefined();
    for (const bad of ['2', '-0.1', 'half', '']) await expect(telemetryOptions({ 'audit-sample-rate': bad }, {})).rejects.toThrow(TelemetryFlagError);
  });
});
