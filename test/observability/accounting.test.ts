// Token accounting for every response shape, through a real gateway to a real simulated backend
// (and a raw HTTP upstream for the shapes the simulator does not produce). Each request's usage as
// the client saw it must equal the ledger record, the Prometheus token metrics, and the gateway's
// own count where the backend's tokenizer is the gateway's.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLedger } from '../../src/accounting/ledger/reader.js';
import type { UsageRecord } from '../../src/accounting/record.js';
import { startSimServer, type SimServerHandle } from '../../src/sim/index.js';
import { countChatTokens, loadTokenizer } from '../../src/tokenizer/index.js';
import { backendYaml, routeYaml } from '../helpers/gateway.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { CHAT, parseProm, postJson, sseEvents, startObsGateway, sumOf, type ObsGateway } from './helpers.js';

let sim: SimServerHandle;
let raw: Upstream;
let gw: ObsGateway;
let ledgerDir: string;

/** The AIServiceBackend with the tokenizer annotation the simulated engine really uses. */
function annotated(yaml: string, name: string, tokenizer: string): string {
  return yaml.replace(`kind: AIServiceBackend\nmetadata:\n  name: ${name}\n`, `kind: AIServiceBackend\nmetadata:\n  name: ${name}\n  annotations:\n    tollgate.io/tokenizer: ${tokenizer}\n`);
}

beforeAll(async () => {
  sim = await startSimServer({ profile: 'fast', model: 'gpt-oss-120b', apiKey: 'sk-sim', seed: 7 });
  raw = await startUpstream();
  ledgerDir = await mkdtemp(join(tmpdir(), 'tollgate-ledger-'));
  gw = await startObsGateway(
    {
      'sim.yaml': annotated(backendYaml('sim', [{ port: sim.port }], { apiKey: 'sk-sim' }), 'sim', 'o200k_base'),
      'raw.yaml': backendYaml('raw', [{ port: raw.port }]),
      'r.yaml': routeYaml('r', [
        { matches: [{ 'x-ai-eg-model': 'gpt-oss-120b', 'x-workload-app': 'app-a' }], backends: [{ name: 'sim' }] },
        { matches: [{ 'x-ai-eg-model': 'shapes' }], backends: [{ name: 'raw' }] },
      ]),
    },
    { ledgerDir, ledgerFsyncMs: 10, auditSampleRate: 1 },
  );
});

afterAll(async () => {
  await gw.close();
  await sim.close();
  await raw.close();
  await rm(ledgerDir, { recursive: true, force: true });
});

async function ledgerRecords(): Promise<Map<string, UsageRecord>> {
  await gw.settled();
  const out = new Map<string, UsageRecord>();
  for await (const r of readLedger(ledgerDir)) out.set(r.requestId, r);
  return out;
}

const headers = { 'x-workload-app': 'app-a' };
const messages = [
  { role: 'system', content: 'You are a careful assistant. Answer briefly.' },
  { role: 'user', content: 'Count the tokens in this sentence, please — with ünïcödé and 数字 123456.' },
];

describe('token accounting', () => {
  it('accounts a non-streamed chat exactly, and counts it itself', async () => {
    const r = await postJson(gw.url + CHAT, { model: 'gpt-oss-120b', messages, max_tokens: 9 }, { ...headers, 'x-request-id': 'acct-plain' });
    expect(r.status).toBe(200);
    const usage = r.json?.['usage'] as { prompt_tokens: number; completion_tokens: number };
    const rec = (await ledgerRecords()).get('acct-plain');
    expect(rec).toBeDefined();
    expect(rec?.final).toBe(true);
    expect(rec?.usageSource).toBe('backend');
    expect(rec?.usage.input).toBe(usage.prompt_tokens);
    expect(rec?.usage.output).toBe(usage.completion_tokens);
    // The gateway's own count: the prompt by the published chat-template recipe, the completion as
    // the text the client received (equal to the backend's count unless its text re-tokenizes
    // differently, which is what the drift audit measures).
    const tok = await loadTokenizer('o200k_base');
    const content = (r.json?.['choices'] as Array<{ message: { content: string } }>)[0]?.message.content ?? '';
    expect(rec?.gatewayCount).toEqual({ encoding: 'o200k_base', input: usage.prompt_tokens, output: tok.count(content) });
    expect(rec?.gatewayCount?.input).toBe(countChatTokens(tok, messages as never));
    expect(rec).toMatchObject({ workload: 'app-a', route: 'default/r', backend: 'default/sim', provider: 'openai', requestModel: 'gpt-oss-120b', status: 200, stream: false });
  });

  it('accounts a stream whose client asked for usage, and one whose client did not (usage hidden, still billed)', async () => {
    const asked = await fetch(gw.url + CHAT, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers, 'x-request-id': 'acct-stream-usage' },
      body: JSON.stringify({ model: 'gpt-oss-120b', messages, max_tokens: 7, stream: true, stream_options: { include_usage: true } }),
    }).then((x) => x.text());
    const seen = sseEvents(asked).find((e) => e['usage'] !== undefined && e['usage'] !== null)?.['usage'] as { prompt_tokens: number; completion_tokens: number };
    expect(seen.completion_tokens).toBe(7);
    const tok = await loadTokenizer('o200k_base');
    const received = (text: string): number => tok.count(sseEvents(text).map((e) => ((e['choices'] as Array<{ delta?: { content?: string } }>)[0]?.delta?.content ?? '')).join(''));
    const hidden = await fetch(gw.url + CHAT, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers, 'x-request-id': 'acct-stream-hidden' },
      body: JSON.stringify({ model: 'gpt-oss-120b', messages, max_tokens: 7, stream: true }),
    }).then((x) => x.text());
    // The client did not ask: it sees no usage chunk at all.
    expect(sseEvents(hidden).some((e) => e['usage'] !== undefined && e['usage'] !== null)).toBe(false);
    const recs = await ledgerRecords();
    for (const [id, text] of [
      ['acct-stream-usage', asked],
      ['acct-stream-hidden', hidden],
    ] as const) {
      const rec = recs.get(id);
      // Billed: exactly what the backend reported (and what a client asking for usage was told).
      expect(rec?.usageSource).toBe('backend');
      expect(rec?.usage.input).toBe(seen.prompt_tokens);
      expect(rec?.usage.output).toBe(7);
      // The gateway's own count: the prompt by the chat recipe, the completion as the text the client received.
      expect(rec?.gatewayCount?.input).toBe(seen.prompt_tokens);
      expect(rec?.gatewayCount?.output).toBe(received(text));
      expect(rec?.stream).toBe(true);
      expect(rec?.ttftMs).toBeGreaterThan(0);
    }
  });

  it('reads usage that arrives with the last content chunk', async () => {
    raw.behave((_req, _rec, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const frame = (o: unknown): string => `data: ${JSON.stringify(o)}\n\n`;
      res.write(frame({ id: 'x', object: 'chat.completion.chunk', model: 'shapes-1', choices: [{ index: 0, delta: { role: 'assistant', content: 'Hello' } }] }));
      res.write(
        frame({
          id: 'x',
          object: 'chat.completion.chunk',
          model: 'shapes-1',
          choices: [{ index: 0, delta: { content: ' world' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 21, completion_tokens: 2, total_tokens: 23, prompt_tokens_details: { cached_tokens: 16 } },
        }),
      );
      res.end('data: [DONE]\n\n');
    });
    const text = await fetch(gw.url + CHAT, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'acct-last-chunk' },
      body: JSON.stringify({ model: 'shapes', messages, stream: true }),
    }).then((x) => x.text());
    expect(text).toContain('world');
    const rec = (await ledgerRecords()).get('acct-last-chunk');
    expect(rec?.usageSource).toBe('backend');
    expect(rec?.usage).toMatchObject({ input: 21, cachedInput: 16, output: 2 });
    expect(rec?.responseModel).toBe('shapes-1');
    // "Hello world" is two tokens in every encoding the gateway has.
    expect(rec?.gatewayCount?.output).toBe(2);
  });

  it('counts a stream with no usage at all itself, and flags the record as the gateway count', async () => {
    const words = ['The', ' gateway', ' counts', ' what', ' the', ' client', ' received', '.'];
    raw.behave((_req, _rec, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const w of words) res.write(`data: ${JSON.stringify({ id: 'y', object: 'chat.completion.chunk', model: 'shapes', choices: [{ index: 0, delta: { content: w } }] })}\n\n`);
      res.end('data: [DONE]\n\n');
    });
    const before = sumOf(parseProm(await gw.metrics()), 'gen_ai_client_token_usage_token_sum', { gen_ai_request_model: 'shapes', gen_ai_token_type: 'output' });
    await fetch(gw.url + CHAT, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'acct-no-usage' },
      body: JSON.stringify({ model: 'shapes', messages, stream: true }),
    }).then((x) => x.text());
    const rec = (await ledgerRecords()).get('acct-no-usage');
    const tok = await loadTokenizer('o200k_base');
    expect(rec?.usageSource).toBe('gateway');
    expect(rec?.backendUsage).toBeUndefined();
    expect(rec?.usage.input).toBe(countChatTokens(tok, messages as never));
    expect(rec?.usage.output).toBe(tok.count(words.join('')));
    const m = parseProm(await gw.metrics());
    expect(sumOf(m, 'gen_ai_client_token_usage_token_sum', { gen_ai_request_model: 'shapes', gen_ai_token_type: 'output' }) - before).toBe(tok.count(words.join('')));
    expect(sumOf(m, 'tollgate_usage_records_total', { usage_source: 'gateway' })).toBeGreaterThanOrEqual(1);
  });

  it('accounts completions and embeddings', async () => {
    const c = await postJson(gw.url + '/v1/completions', { model: 'gpt-oss-120b', prompt: 'Once upon a time', max_tokens: 5 }, { ...headers, 'x-request-id': 'acct-completion' });
    expect(c.status).toBe(200);
    const e = await postJson(gw.url + '/v1/embeddings', { model: 'gpt-oss-120b', input: ['first text to embed', 'second one'] }, { ...headers, 'x-request-id': 'acct-embed' });
    expect(e.status).toBe(200);
    const recs = await ledgerRecords();
    const cu = c.json?.['usage'] as { prompt_tokens: number; completion_tokens: number };
    expect(recs.get('acct-completion')?.usage).toMatchObject({ input: cu.prompt_tokens, output: cu.completion_tokens });
    expect(recs.get('acct-completion')?.gatewayCount).toMatchObject({ input: cu.prompt_tokens, output: cu.completion_tokens });
    const eu = e.json?.['usage'] as { prompt_tokens: number };
    expect(recs.get('acct-embed')?.usage).toMatchObject({ input: eu.prompt_tokens, output: 0 });
    expect(recs.get('acct-embed')?.gatewayCount?.input).toBe(eu.prompt_tokens);
    expect(recs.get('acct-embed')?.operation).toBe('embeddings');
  });

  it('exposes token usage, drift and overhead in Prometheus with the contract names', async () => {
    await gw.settled();
    const text = await gw.metrics();
    const m = parseProm(text);
    const recs = [...(await ledgerRecords()).values()].filter((r) => r.requestModel === 'gpt-oss-120b');
    const input = recs.reduce((a, r) => a + r.usage.input, 0);
    const output = recs.reduce((a, r) => a + r.usage.output, 0);
    expect(sumOf(m, 'gen_ai_client_token_usage_token_sum', { gen_ai_request_model: 'gpt-oss-120b', gen_ai_token_type: 'input' })).toBe(input);
    expect(sumOf(m, 'gen_ai_client_token_usage_token_sum', { gen_ai_request_model: 'gpt-oss-120b', gen_ai_token_type: 'output' })).toBe(output);
    const bucket = m.find((x) => x.name === 'gen_ai_client_token_usage_token_bucket' && x.labels['le'] === '1024' && x.labels['gen_ai_token_type'] === 'input' && x.labels['gen_ai_operation_name'] === 'chat');
    expect(bucket?.labels).toMatchObject({ gen_ai_original_model: 'gpt-oss-120b', gen_ai_request_model: 'gpt-oss-120b', gen_ai_response_model: 'gpt-oss-120b', gen_ai_provider_name: 'openai', workload: 'app-a', route: 'default/r', backend: 'default/sim' });
    // The drift histogram and audit totals are the ledger's per-request comparisons, summed.
    const both = recs.filter((r) => r.backendUsage !== undefined && r.gatewayCount !== undefined);
    for (const type of ['input', 'output'] as const) {
      const pairs = both.map((r) => [r.backendUsage?.[type] ?? 0, r.gatewayCount?.[type] ?? 0] as const).filter(([b, g]) => b > 0 || g > 0);
      const where = { gen_ai_request_model: 'gpt-oss-120b', gen_ai_token_type: type };
      expect(sumOf(m, 'tollgate_token_drift_ratio_count', where)).toBe(pairs.filter(([b]) => b > 0).length);
      expect(sumOf(m, 'tollgate_token_drift_ratio_sum', where)).toBeCloseTo(pairs.filter(([b]) => b > 0).reduce((a, [b, g]) => a + (g - b) / b, 0), 9);
      expect(sumOf(m, 'tollgate_token_audit_tokens_total', { ...where, counted_by: 'backend' })).toBe(pairs.reduce((a, [b]) => a + b, 0));
      expect(sumOf(m, 'tollgate_token_audit_tokens_total', { ...where, counted_by: 'gateway' })).toBe(pairs.reduce((a, [, g]) => a + g, 0));
    }
    // The simulator counts prompts with the annotated encoding: no input drift at all.
    expect(sumOf(m, 'tollgate_token_drift_ratio_sum', { gen_ai_request_model: 'gpt-oss-120b', gen_ai_token_type: 'input' })).toBe(0);
    for (const name of ['gen_ai_server_request_duration_seconds', 'gen_ai_server_time_to_first_token_seconds', 'gen_ai_server_time_per_output_token_seconds', 'tollgate_gateway_overhead_seconds', 'tollgate_upstream_duration_seconds', 'tollgate_downstream_duration_seconds']) {
      expect(sumOf(m, `${name}_count`), name).toBeGreaterThan(0);
    }
    expect(sumOf(m, 'tollgate_upstream_pool_connections', { backend: 'default/sim', state: 'connected' })).toBeGreaterThanOrEqual(1);
  });

  it('bills a stream the client abandoned from what was generated, flagged as the gateway count', async () => {
    let sent = 0;
    raw.behave((_req, _rec, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const tick = (): void => {
        if (res.destroyed || sent >= 200) return;
        sent++;
        res.write(`data: ${JSON.stringify({ id: 'z', object: 'chat.completion.chunk', model: 'shapes', choices: [{ index: 0, delta: { content: ' word' } }] })}\n\n`);
        setTimeout(tick, 5);
      };
      tick();
    });
    const ac = new AbortController();
    const r = await fetch(gw.url + CHAT, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'acct-abandoned' },
      body: JSON.stringify({ model: 'shapes', messages, stream: true }),
      signal: ac.signal,
    });
    const reader = (r.body as ReadableStream<Uint8Array>).getReader();
    let got = '';
    while ((got.match(/data:/g) ?? []).length < 3) got += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    await new Promise((res) => setTimeout(res, 50));
    const rec = (await ledgerRecords()).get('acct-abandoned');
    expect(rec?.clientAborted).toBe(true);
    expect(rec?.usageSource).toBe('gateway');
    // Billed: the prompt, and every chunk the backend produced before the gateway cancelled it.
    expect(rec?.usage.output).toBeGreaterThanOrEqual(3);
    expect(rec?.usage.output).toBeLessThan(200);
    expect(rec?.usage.input).toBeGreaterThan(0);
  });
});
