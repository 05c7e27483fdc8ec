// End to end, with real services: a known traffic mix through the gateway to two simulated
// backends; a real Prometheus scraping the gateway's admin endpoint and both backends; a real
// PostgreSQL receiving the usage sink. The token totals must agree everywhere: what the clients were
// told, the ledger, PostgreSQL, Prometheus's gen_ai_client_token_usage_token_sum (queried over its
// HTTP API), and `tollgate chargeback` from the ledger and from Prometheus.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CostAggregator, DriftAggregator, type ChargebackReport } from '../../src/accounting/chargeback.js';
import { readLedger } from '../../src/accounting/ledger/reader.js';
import { readPostgres } from '../../src/accounting/postgres-reader.js';
import { addFromPrometheus, driftFromPrometheus } from '../../src/accounting/prometheus-source.js';
import { parseRates } from '../../src/accounting/rates.js';
import type { UsageRecord } from '../../src/accounting/record.js';
import { SecretValue } from '../../src/core/secret.js';
import { startSimServer, type SimServerHandle } from '../../src/sim/index.js';
import { backendYaml, routeYaml } from '../helpers/gateway.js';
import { runCli } from '../helpers/cli.js';
import { CHAT, postJson, sseEvents, startObsGateway, type ObsGateway } from './helpers.js';
import { startPostgres, startPrometheus, type PgServer, type PromServer } from './services.js';

let tier1: SimServerHandle;
let tier2: SimServerHandle;
let gw: ObsGateway;
let prom: PromServer;
let db: PgServer;
let work: string;
let ratesFile: string;
const records: UsageRecord[] = [];
/** Usage the clients were told, per request model: input and output. */
const told = new Map<string, { input: number; output: number; requests: number }>();

const RATES = `
unit: 1M
currency: USD
models:
  gemini-flash: {input: 0.30, cached_input: 0.075, output: [{up_to: 500, price: 2.50}, {price: 2.00}]}
  gpt-oss-120b: {input: 0.10, cached_input: 0.05, output: 0.40}
workloads:
  toolbench-agent: {business_unit: research, multiplier: 1.1}
  swe-rebench-ide: {business_unit: engineering}
  terminal-bench-ci: {business_unit: engineering, models: {gpt-oss-120b: {input: 0.08, output: 0.32}}}
`;

function tell(model: string, usage: { prompt_tokens: number; completion_tokens: number }): void {
  const t = told.get(model) ?? { input: 0, output: 0, requests: 0 };
  t.input += usage.prompt_tokens;
  t.output += usage.completion_tokens;
  t.requests++;
  told.set(model, t);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tollgate-finops-'));
  ratesFile = join(work, 'rates.yaml');
  await writeFile(ratesFile, RATES);
  [tier1, tier2, db] = await Promise.all([
    startSimServer({ profile: 'fast', model: 'gemini-flash', apiKey: 'k1', seed: 11 }),
    startSimServer({ profile: 'fast', model: 'gpt-oss-120b', apiKey: 'k2', seed: 12 }),
    startPostgres(),
  ]);
  gw = await startObsGateway(
    {
      'b.yaml': backendYaml('tier1', [{ port: tier1.port }], { apiKey: 'k1' }) + '---\n' + backendYaml('tier2', [{ port: tier2.port }], { apiKey: 'k2' }),
      'r.yaml': routeYaml('seed', [
        { matches: [{ 'x-workload-app': 'toolbench-agent' }], backends: [{ name: 'tier1', modelNameOverride: 'gemini-flash' }] },
        { matches: [{ 'x-workload-app': 'swe-rebench-ide' }, { 'x-workload-app': 'terminal-bench-ci' }], backends: [{ name: 'tier2', modelNameOverride: 'gpt-oss-120b' }] },
      ]),
    },
    { ledgerDir: join(work, 'ledger'), postgres: { url: new SecretValue(db.url, 'test') }, auditSampleRate: 1 },
  );
  prom = await startPrometheus([
    { job: 'tollgate', url: gw.adminUrl, path: '/metrics' },
    { job: 'vllm-tier1', url: tier1.url, path: '/metrics' },
    { job: 'vllm-tier2', url: tier2.url, path: '/metrics' },
  ]);

  // The traffic mix: three workloads, chat (streamed with and without client-requested usage, and
  // not), completions, embeddings; every body asks for model gpt-oss-120b (identity routing).
  const apps = ['toolbench-agent', 'swe-rebench-ide', 'terminal-bench-ci'] as const;
  const modelOf = (app: string): string => (app === 'toolbench-agent' ? 'gemini-flash' : 'gpt-oss-120b');
  const jobs: Array<Promise<void>> = [];
  for (let i = 0; i < 12; i++) {
    const app = apps[i % 3] as string;
    const headers = { 'x-workload-app': app };
    const messages = [
      { role: 'system', content: `You are agent number ${i}.` },
      { role: 'user', content: `Task ${i}: ${'summarize the ledger '.repeat(1 + (i % 5))}` },
    ];
    jobs.push(
      (async () => {
        const r = await postJson(gw.url + CHAT, { model: 'gpt-oss-120b', messages, max_tokens: 5 + i }, headers);
        expect(r.status).toBe(200);
        tell(modelOf(app), r.json?.['usage'] as { prompt_tokens: number; completion_tokens: number });
        const s = await fetch(gw.url + CHAT, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify({ model: 'gpt-oss-120b', messages, max_tokens: 3 + i, stream: true, stream_options: { include_usage: true } }),
        }).then((x) => x.text());
        tell(modelOf(app), sseEvents(s).find((e) => e['usage'] != null)?.['usage'] as { prompt_tokens: number; completion_tokens: number });
        if (i % 3 === 0) {
          // The client does not ask for usage: it is not told, but the same prompt and length as the
          // non-streamed request above (the simulator gives max_tokens exactly) costs the same.
          const h = await fetch(gw.url + CHAT, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...headers },
            body: JSON.stringify({ model: 'gpt-oss-120b', messages, max_tokens: 5 + i, stream: true }),
          }).then((x) => x.text());
          expect(sseEvents(h).some((e) => e['usage'] != null)).toBe(false);
          tell(modelOf(app), r.json?.['usage'] as { prompt_tokens: number; completion_tokens: number });
        }
        const c = await postJson(gw.url + '/v1/completions', { model: 'gpt-oss-120b', prompt: `Complete ${i}`, max_tokens: 4 }, headers);
        tell(modelOf(app), c.json?.['usage'] as { prompt_tokens: number; completion_tokens: number });
        const e = await postJson(gw.url + '/v1/embeddings', { model: 'gpt-oss-120b', input: `embed ${i}` }, headers);
        const eu = e.json?.['usage'] as { prompt_tokens: number };
        tell(modelOf(app), { prompt_tokens: eu.prompt_tokens, completion_tokens: 0 });
      })(),
    );
  }
  await Promise.all(jobs);
  await gw.settled();
  const trafficEnd = Date.now();
  for await (const r of readLedger(join(work, 'ledger'))) records.push(r);
  await prom.scrapedAfter(trafficEnd);
}, 120_000);

afterAll(async () => {
  await gw?.close();
  await Promise.all([prom?.close(), db?.close(), tier1?.close(), tier2?.close()]);
  await rm(work, { recursive: true, force: true });
});

const allTypes = (r: UsageRecord): number => r.usage.input + r.usage.cachedInput + r.usage.cacheCreationInput + r.usage.output + r.usage.reasoning;

describe('FinOps end to end', () => {
  it('records every request once in the ledger, billed from the backend report', () => {
    const total = [...told.values()].reduce((a, t) => a + t.requests, 0);
    expect(records.length).toBe(total);
    expect(new Set(records.map((r) => r.key)).size).toBe(total);
    expect(records.every((r) => r.final && r.usageSource === 'backend' && r.status === 200)).toBe(true);
  });

  it('Prometheus sum by (gen_ai_request_model) (gen_ai_client_token_usage_token_sum) equals the ledger and what clients were told', async () => {
    const byModel = await prom.query('sum by (gen_ai_request_model) (gen_ai_client_token_usage_token_sum)');
    expect(byModel.map((s) => s.metric['gen_ai_request_model']).sort()).toEqual(['gemini-flash', 'gpt-oss-120b']);
    for (const s of byModel) {
      const model = s.metric['gen_ai_request_model'] as string;
      const ledger = records.filter((r) => r.requestModel === model).reduce((a, r) => a + allTypes(r), 0);
      expect(Number(s.value[1]), model).toBe(ledger);
    }
    for (const [model, t] of told) {
      for (const [type, tokens] of [
        ['input', t.input],
        ['output', t.output],
      ] as const) {
        const [v] = await prom.query(`sum(gen_ai_client_token_usage_token_sum{gen_ai_request_model="${model}",gen_ai_token_type="${type}"})`);
        expect(Number(v?.value[1]), `${model} ${type}`).toBe(tokens);
        expect(records.filter((r) => r.requestModel === model).reduce((a, r) => a + r.usage[type], 0)).toBe(tokens);
      }
      const [count] = await prom.query(`sum(gen_ai_client_token_usage_token_count{gen_ai_request_model="${model}",gen_ai_token_type="input"})`);
      expect(Number(count?.value[1])).toBe(t.requests);
    }
  });

  it('agrees with what the backends themselves exported to Prometheus', async () => {
    // Dual-target scraping (the whitepaper's point): the engine's own generation counter matches.
    for (const [job, model] of [
      ['vllm-tier1', 'gemini-flash'],
      ['vllm-tier2', 'gpt-oss-120b'],
    ] as const) {
      const [v] = await prom.query(`sum(vllm:generation_tokens_total{job="${job}"})`);
      expect(Number(v?.value[1]), job).toBe(told.get(model)?.output);
    }
  });

  it('writes the same records to PostgreSQL', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    // The sink batches: wait for its queue to drain (bounded), then compare row for row.
    const deadline = Date.now() + 10_000;
    let rows = 0;
    while (Date.now() < deadline) {
      rows = Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM tollgate_usage')).rows[0]?.n);
      if (rows >= records.length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await client.end();
    expect(rows).toBe(records.length);
    const fromDb = new Map<string, UsageRecord>();
    for await (const r of readPostgres(new SecretValue(db.url, 'test'), 'tollgate_usage', undefined, undefined)) fromDb.set(r.key, r);
    for (const r of records) {
      const d = fromDb.get(r.key);
      expect(d, r.key).toBeDefined();
      expect(d?.usage).toEqual(r.usage);
      expect(d?.gatewayCount).toEqual(r.gatewayCount);
      expect(d).toEqual(r);
    }
  });

  it('computes the same chargeback from the ledger, PostgreSQL and Prometheus', async () => {
    const rates = parseRates(RATES, 'rates.yaml');
    const by = ['business_unit', 'workload', 'model'] as const;
    const fromLedger = new CostAggregator(rates, [...by]);
    for (const r of records) fromLedger.add({ workload: r.workload, model: r.requestModel, originalModel: r.originalModel, responseModel: r.responseModel, route: r.route, backend: r.backend, provider: r.provider, operation: r.operation, day: '', usageSource: '', key: '', team: '' }, r.usage, 1, 0);
    const fromProm = new CostAggregator(rates, [...by]);
    await addFromPrometheus(fromProm, prom.url, undefined, undefined);
    const a = fromLedger.report([...by]);
    const b = fromProm.report([...by]);
    const strip = (rep: ChargebackReport) => rep.rows.map((r) => ({ ...r, estimatedTokens: 0, cost: Number(r.cost?.toFixed(9)) }));
    expect(strip(b)).toEqual(strip(a));
    expect(a.rows.length).toBe(3);
    expect(a.totals.cost).toBeGreaterThan(0);
    expect(a.unpricedModels).toEqual([]);

    // The command itself, on each source.
    const viaLedger = await runCli(['chargeback', '--ledger', join(work, 'ledger'), '--rates', ratesFile, '--by', 'business_unit,workload,model', '--format', 'json']);
    expect(viaLedger.stderr).toBe('');
    expect(viaLedger.code).toBe(0);
    const viaProm = await runCli(['chargeback', '--prometheus', prom.url, '--rates', ratesFile, '--by', 'business_unit,workload,model', '--format', 'json']);
    expect(viaProm.code).toBe(0);
    const viaDb = await runCli(['chargeback', '--ledger', db.url, '--rates', ratesFile, '--by', 'business_unit,workload,model', '--format', 'json']);
    expect(viaDb.code).toBe(0);
    const totals = (out: string) => (JSON.parse(out) as { totals: { cost: number; tokens: Record<string, number>; requests: number } }).totals;
    for (const other of [viaProm, viaDb]) {
      expect(totals(other.stdout).tokens).toEqual(totals(viaLedger.stdout).tokens);
      expect(totals(other.stdout).requests).toBe(totals(viaLedger.stdout).requests);
      expect(totals(other.stdout).cost).toBeCloseTo(totals(viaLedger.stdout).cost, 9);
    }
    expect(totals(viaLedger.stdout).cost).toBeCloseTo(a.totals.cost ?? 0, 9);
  });

  it('audits drift the same way from the ledger and from Prometheus', async () => {
    const audit = new DriftAggregator();
    for (const r of records) {
      if (r.backendUsage === undefined || r.gatewayCount === undefined) continue;
      audit.add(r.requestModel, 'input', r.backendUsage.input, r.gatewayCount.input);
      audit.add(r.requestModel, 'output', r.backendUsage.output, r.gatewayCount.output);
    }
    const fromLedger = audit.lines();
    const fromProm = await driftFromPrometheus(prom.url, undefined, undefined);
    expect(fromProm.map((l) => [l.model, l.tokenType, l.requests, l.backendTokens, l.gatewayTokens])).toEqual(fromLedger.map((l) => [l.model, l.tokenType, l.requests, l.backendTokens, l.gatewayTokens]));
    for (let i = 0; i < fromLedger.length; i++) expect(fromProm[i]?.meanRatio).toBeCloseTo(fromLedger[i]?.meanRatio ?? 0, 9);
    // gpt-oss-120b is served here by an engine counting with o200k_base, while the gateway counts
    // gpt-oss with o200k_harmony (one reply-priming token fewer per chat): the audit shows it.
    const oss = fromLedger.find((l) => l.model === 'gpt-oss-120b' && l.tokenType === 'input');
    expect(oss?.drift).toBeLessThan(0);
    const flash = fromLedger.find((l) => l.model === 'gemini-flash' && l.tokenType === 'input');
    expect(flash?.drift).toBe(0);
    const cli = await runCli(['chargeback', '--ledger', join(work, 'ledger'), '--drift']);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/gpt-oss-120b\s+input/);
  });

  it('ships a Grafana dashboard whose every query runs on Prometheus and names metrics the gateway exports', async () => {
    const dash = JSON.parse(await readFile(new URL('../../deploy/grafana/tollgate-dashboard.json', import.meta.url), 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
    const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr })));
    expect(exprs.length).toBeGreaterThan(25);
    const families = new Set<string>();
    for (const url of [gw.adminUrl + '/metrics', tier1.url + '/metrics']) {
      for (const m of (await (await fetch(url)).text()).matchAll(/^# TYPE (\S+) /gm)) families.add(m[1] as string);
    }
    for (const { title, expr } of exprs) {
      const q = expr.replace(/\$__rate_interval/g, '1m').replace(/\$__range/g, '1h').replace(/\$(model|workload)/g, '.*');
      await expect(prom.query(q), `${title}: ${q}`).resolves.toBeDefined();
      for (const m of expr.matchAll(/\b(tollgate_[a-z0-9_]+|gen_ai_[a-z_]+|vllm:[a-z_:]+|http_local_rate_limit_[a-z_]+)/g)) {
        if (/^gen_ai_(request|original|response)_model$|^gen_ai_(provider|operation)_name$|^gen_ai_token_type$/.test(m[1] as string)) continue; // label names
        // Only the primary of several workers exports these: test/cluster/instance.test.ts checks them.
        if (/^tollgate_(worker_(requests|restarts)_total|local_limit_(leases_total|leases_held|messages_total))$/.test(m[1] as string)) continue;
        const name = (m[1] as string).replace(/_(bucket|sum|count)$/, '');
        expect(families.has(name) || families.has(m[1] as string), `${title}: ${m[1] as string}`).toBe(true);
      }
    }
    const tokens = exprs.find((e) => e.title.startsWith('Cumulative tokens by model'));
    expect((await prom.query((tokens?.expr ?? '').replace(/\$(model|workload)/g, '.*'))).length).toBe(2);
  });
});
