// `tollgate chargeback` as a user runs it (the built command in a child process): cost arithmetic
// with tiers, cached-token prices, workload multipliers and business units; every output format;
// time ranges; a torn ledger line; and clear errors for bad input. Plus serve's telemetry flags.
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerWriter } from '../../src/accounting/ledger/writer.js';
import type { UsageRecord } from '../../src/accounting/record.js';
import { makeUsage } from '../../src/core/usage.js';
import { runCli } from '../helpers/cli.js';

let work: string;
let ledger: string;
let rates: string;

function rec(key: string, over: Partial<UsageRecord>): UsageRecord {
  return {
    key,
    requestId: key,
    startedAt: Date.parse('2025-06-01T10:00:00Z'),
    operation: 'chat',
    workload: 'a',
    apiKey: '',
    team: '',
    route: 'default/r',
    rule: 'default/r/rule-0',
    backend: 'default/b',
    provider: 'openai',
    originalModel: 'm',
    requestModel: 'm',
    responseModel: 'm-2025',
    stream: false,
    status: 200,
    errorCode: '',
    clientAborted: false,
    aborted: false,
    attempts: 1,
    backendUsage: undefined,
    gatewayCount: undefined,
    usage: makeUsage({}),
    usageSource: 'backend',
    cost: undefined,
    ttftMs: undefined,
    durationMs: 10,
    upstreamMs: 9,
    generation: 1,
    final: true,
    ...over,
  };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tollgate-cbcli-'));
  ledger = join(work, 'ledger');
  rates = join(work, 'rates.yaml');
  await writeFile(
    rates,
    `unit: 1K
currency: EUR
models:
  m:
    input: 1.0
    cached_input: 0.5
    output: [{up_to: 1000, price: 2}, {price: 1}]
workloads:
  a: {business_unit: research}
  b: {business_unit: research, multiplier: 1.5}
`,
  );
  const w = LedgerWriter.open(ledger);
  const u = (input: number, cached: number, output: number) => makeUsage({ input, cachedInput: cached, output });
  // a: 1000 input (400 cached) and 800 output; b: 700 output on 6 June; c: a model with no price.
  w.appendRecord(rec('r1', { workload: 'a', usage: u(1000, 400, 800), backendUsage: u(1000, 400, 800), gatewayCount: { encoding: 'o200k_base', input: 990, output: 800 } }));
  w.appendRecord(rec('r2', { workload: 'b', startedAt: Date.parse('2025-06-06T10:00:00Z'), usage: u(0, 0, 700), backendUsage: u(0, 0, 700), gatewayCount: { encoding: 'o200k_base', input: 0, output: 707 } }));
  w.appendRecord(rec('r3', { workload: 'c', requestModel: 'other', usage: u(10, 0, 10), usageSource: 'gateway' }));
  w.close();
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('tollgate chargeback', () => {
  it('prices tokens with tiers over the period volume, cached prices and workload multipliers', async () => {
    const r = await runCli(['chargeback', '--ledger', ledger, '--rates', rates, '--by', 'workload,model', '--format', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { currency: string; rows: Array<{ workload: string; model: string; cost: number | null; requests: number; unpriced: boolean; estimated_tokens: number }>; totals: { cost: number; requests: number }; unpriced_models: string[] };
    expect(out.currency).toBe('EUR');
    const cost = (w: string): number | null | undefined => out.rows.find((x) => x.workload === w)?.cost;
    // Output volume 1,500 on one card: 1,000 × 2 + 500 × 1 = 2.5 per 1K → 1/600 per token on average.
    // a: 600 uncached × 1 + 400 cached × 0.5 = 0.8; plus 800 output × 2.5/1500 = 1.3333…
    expect(cost('a')).toBeCloseTo(0.8 + (800 * 2.5) / 1500, 9);
    // b: 700 × 2.5/1500 × 1.5 (multiplier)
    expect(cost('b')).toBeCloseTo(((700 * 2.5) / 1500) * 1.5, 9);
    expect(out.rows.find((x) => x.workload === 'c')).toMatchObject({ cost: null, unpriced: true, estimated_tokens: 20 });
    expect(out.unpriced_models).toEqual(['other']);
    expect(out.totals.requests).toBe(3);
    expect(out.totals.cost).toBeCloseTo(0.8 + (800 * 2.5) / 1500 + ((700 * 2.5) / 1500) * 1.5, 9);
  });

  it('prints a table with totals, and CSV, grouped by business unit and day', async () => {
    const t = await runCli(['chargeback', '--ledger', ledger, '--rates', rates, '--by', 'business_unit']);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/business_unit\s+requests\s+input\s+cached_input/);
    expect(t.stdout).toMatch(/^research\s+2\s+1,000\s+400\s/m);
    expect(t.stdout).toMatch(/^TOTAL\s+3\s/m);
    expect(t.stdout).toContain('no price for: other');
    const c = await runCli(['chargeback', '--ledger', ledger, '--rates', rates, '--by', 'day', '--format', 'csv']);
    expect(c.code).toBe(0);
    const lines = c.stdout.trim().split('\n');
    expect(lines[0]).toBe('day,requests,input,cached_input,cache_creation_input,output,reasoning,total,estimated,cost_eur');
    expect(lines[1]).toMatch(/^2025-06-01,2,1010,400,0,810,0,1820,20,2\.133333\*$/);
    expect(lines[2]).toMatch(/^2025-06-06,1,0,0,0,700,0,700,0,1\.75/);
    expect(lines[3]).toMatch(/^TOTAL,3,/);
  });

  it('filters by time and audits drift', async () => {
    const r = await runCli(['chargeback', '--ledger', ledger, '--rates', rates, '--from', '2025-06-05', '--to', '2025-06-07', '--format', 'json']);
    expect((JSON.parse(r.stdout) as { totals: { requests: number } }).totals.requests).toBe(1);
    const d = await runCli(['chargeback', '--ledger', ledger, '--drift', '--format', 'json']);
    expect(d.code).toBe(0);
    const drift = (JSON.parse(d.stdout) as { drift: Array<{ model: string; token_type: string; drift: number; requests: number }> }).drift;
    expect(drift.find((x) => x.token_type === 'input')).toMatchObject({ model: 'm', requests: 1, drift: -0.01 });
    expect(drift.find((x) => x.token_type === 'output')?.drift).toBeCloseTo(7 / 1500, 12);
  });

  it('reads past a torn last line and says so', async () => {
    const torn = join(work, 'torn');
    const w = LedgerWriter.open(torn);
    w.appendRecord(rec('t1', { usage: makeUsage({ input: 5, output: 5 }) }));
    const file = w.stats().file;
    w.close();
    await appendFile(file, '{"v":1,"key":"t2","final":tr');
    const r = await runCli(['chargeback', '--ledger', torn, '--rates', rates, '--format', 'json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/:2: torn last line/);
    expect((JSON.parse(r.stdout) as { totals: { requests: number } }).totals.requests).toBe(1);
  });

  it('explains bad input in one line with a hint', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['chargeback', '--rates', rates], 2, /exactly one source/],
      [['chargeback', '--ledger', ledger], 2, /--rates FILE is required/],
      [['chargeback', '--ledger', join(work, 'nope'), '--rates', rates], 1, /no such file or directory/],
      [['chargeback', '--ledger', ledger, '--rates', rates, '--by', 'colour'], 2, /"colour" is not a grouping key/],
      [['chargeback', '--ledger', ledger, '--rates', rates, '--from', 'yesterday'], 2, /is not a time/],
      [['chargeback', '--prometheus', 'http://127.0.0.1:1', '--rates', rates, '--by', 'day'], 2, /needs the ledger/],
      [['chargeback', '--prometheus', 'http://127.0.0.1:1', '--rates', rates], 1, /cannot reach Prometheus/],
    ];
    for (const [args, code, re] of cases) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.stderr, args.join(' ')).toMatch(re);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
    const bad = join(work, 'bad-rates.yaml');
    await writeFile(bad, 'models:\n  m: {input: 1, output: [{up_to: 10, price: 1}, {up_to: 5, price: 2}, {price: 3}]}\n');
    const r = await runCli(['chargeback', '--ledger', ledger, '--rates', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/models\.m\.output\[1\]\.up_to: tiers must grow/);
    await writeFile(bad, 'models:\n  m: {inptu: 1}\n');
    expect((await runCli(['chargeback', '--ledger', ledger, '--rates', bad])).stderr).toMatch(/models\.m\.inptu: unknown field\nhint: allowed here: input, cached_input/);
  });
});

describe('tollgate serve telemetry flags', () => {
  it('refuses unusable ledger, database and counting settings with a clear message', async () => {
    await writeFile(join(work, 'file-not-dir'), 'x');
    const cases: Array<[string[], number, RegExp]> = [
      [['--ledger', join(work, 'file-not-dir', 'ledger')], 1, /cannot open the usage ledger in .*ENOTDIR/],
      [['--count-threads', '4'], 2, /--count-threads: "4" must be 0 or 1/],
      [['--ledger-postgres', 'mysql://x'], 2, /not a postgres:\/\/ URL/],
      [['--ledger-postgres', 'postgres://tollgate:s3cret-pw@127.0.0.1:1/db'], 1, /cannot use PostgreSQL/],
      [['--rates', join(work, 'missing.yaml')], 2, /--rates: cannot read/],
    ];
    const config = join(work, 'cfg.yaml');
    await writeFile(
      config,
      'apiVersion: aigateway.envoyproxy.io/v1beta1\nkind: AIServiceBackend\nmetadata: {name: b, namespace: default}\nspec: {schema: {name: OpenAI}, backendRef: {name: b, kind: Backend, group: gateway.envoyproxy.io}}\n---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: Backend\nmetadata: {name: b, namespace: default}\nspec: {endpoints: [{ip: {address: 127.0.0.1, port: 9}}]}\n---\napiVersion: aigateway.envoyproxy.io/v1beta1\nkind: AIGatewayRoute\nmetadata: {name: r, namespace: default}\nspec: {rules: [{backendRefs: [{name: b}]}]}\n',
    );
    for (const [flags, code, re] of cases) {
      const r = await runCli(['serve', '--config', config, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--no-watch', ...flags], { timeoutMs: 20_000 });
      expect(r.code, flags.join(' ')).toBe(code);
      expect(r.stderr, flags.join(' ')).toMatch(re);
      expect(r.stderr).not.toContain('s3cret-pw');
    }
  });

  it('validates the tokenizer annotation on AIServiceBackend', async () => {
    const bad = join(work, 'tok.yaml');
    await writeFile(
      bad,
      'apiVersion: aigateway.envoyproxy.io/v1beta1\nkind: AIServiceBackend\nmetadata:\n  name: b\n  namespace: default\n  annotations:\n    tollgate.io/tokenizer: p50k_base\nspec: {schema: {name: OpenAI}, backendRef: {name: b, kind: Backend, group: gateway.envoyproxy.io}}\n---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: Backend\nmetadata: {name: b, namespace: default}\nspec: {endpoints: [{ip: {address: 127.0.0.1, port: 9}}]}\n',
    );
    const r = await runCli(['validate', '--config', bad]);
    expect(r.code).toBe(1);
    expect(`${r.stdout}${r.stderr}`).toMatch(/tok\.yaml:\d+.*unknown tokenizer "p50k_base"[\s\S]*o200k_base, o200k_harmony, cl100k_base/);
  });
});
