// The simulated server over real sockets, with the official openai SDK as the client: every
// response shape parses, usage and metrics agree, credentials are checked and never echoed.
import { createHash } from 'node:crypto';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startSimServer, type SimServerHandle } from '../../src/sim/index.js';
import { loadTokenizer } from '../../src/tokenizer/index.js';

const KEY = 'sk-sim-test-key-123';
let sim: SimServerHandle;
let client: OpenAI;

beforeAll(async () => {
  sim = await startSimServer({ apiKey: KEY, profile: 'fast', seed: 7 });
  client = new OpenAI({ apiKey: KEY, baseURL: `${sim.url}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await sim.close();
});

async function metric(name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${sim.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  if (line === undefined) throw new Error(`metric ${name} not found`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${sim.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('OpenAI shapes through the official SDK', () => {
  test('chat completion, not streamed, with usage and cached_tokens', async () => {
    const r = await client.chat.completions.create({ model: 'sim-model', messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 7 });
    expect(r.object).toBe('chat.completion');
    expect(r.model).toBe('sim-model');
    expect(r.choices[0]!.message.role).toBe('assistant');
    expect(r.choices[0]!.finish_reason).toBe('length');
    expect(r.usage!.completion_tokens).toBe(7);
    expect(r.usage!.prompt_tokens_details!.cached_tokens).toBe(0);
    expect(r.usage!.total_tokens).toBe(r.usage!.prompt_tokens + 7);
  });

  test('chat completion streamed: role first, content chunks, finish, usage chunk, [DONE]', async () => {
    const stream = await client.chat.completions.create({
      model: 'sim-model',
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Count to five.' }],
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 6,
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(chunks.filter((c) => (c.choices[0]?.delta.content ?? '') !== '')).toHaveLength(6);
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('length');
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage!.completion_tokens).toBe(6);
    // The pseudo-text re-tokenizes to exactly the reported completion tokens.
    const tok = await loadTokenizer('o200k_base');
    expect(tok.count(text)).toBe(6);
  });

  test('tool calls (required), streamed and not', async () => {
    const parameters = { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['C', 'F'] } }, required: ['city', 'unit'] };
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters } }];
    const r = await client.chat.completions.create({ model: 'sim-model', messages: [{ role: 'user', content: 'weather?' }], tools, tool_choice: 'required', max_tokens: 50 });
    const call = r.choices[0]!.message.tool_calls![0]!;
    expect(r.choices[0]!.finish_reason).toBe('tool_calls');
    expect(call.type).toBe('function');
    if (call.type !== 'function') throw new Error('unreachable');
    expect(call.function.name).toBe('get_weather');
    const args = JSON.parse(call.function.arguments) as { city: unknown; unit: unknown };
    expect(typeof args.city).toBe('string');
    expect(['C', 'F']).toContain(args.unit);

    const stream = client.chat.completions.stream({ model: 'sim-model', messages: [{ role: 'user', content: 'weather?' }], tools, tool_choice: 'required', max_tokens: 50 });
    const final = await stream.finalChatCompletion();
    const fc = final.choices[0]!.message.tool_calls![0]!;
    if (fc.type !== 'function') throw new Error('unreachable');
    expect(Object.keys(JSON.parse(fc.function.arguments) as object).sort()).toEqual(['city', 'unit']);
    expect(final.choices[0]!.finish_reason).toBe('tool_calls');
  });

  test('json mode answers a JSON object; n=2 gives two choices', async () => {
    const r = await client.chat.completions.create({ model: 'sim-model', messages: [{ role: 'user', content: 'json' }], response_format: { type: 'json_object' }, n: 2, max_tokens: 400 });
    expect(r.choices).toHaveLength(2);
    const tok = await loadTokenizer('o200k_base');
    let tokens = 0;
    for (const c of r.choices) {
      expect(typeof (JSON.parse(c.message.content!) as { answer: unknown }).answer).toBe('string');
      tokens += tok.count(c.message.content!);
    }
    expect(r.usage!.completion_tokens).toBe(tokens);
    const cut = await client.chat.completions.create({ model: 'sim-model', messages: [{ role: 'user', content: 'json' }], response_format: { type: 'json_object' }, max_tokens: 3 });
    expect(cut.choices[0]!.finish_reason).toBe('length');
    expect(cut.usage!.completion_tokens).toBe(3);
  });

  test('legacy completions: batch prompts, streamed and not', async () => {
    const r = await client.completions.create({ model: 'sim-model', prompt: ['one two three', 'four five'], max_tokens: 3 });
    expect(r.object).toBe('text_completion');
    expect(r.choices.map((c) => c.index)).toEqual([0, 1]);
    expect(r.usage!.completion_tokens).toBe(6);
    const s = await client.completions.create({ model: 'sim-model', prompt: 'hello', max_tokens: 4, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let completionTokens = -1;
    for await (const c of s) {
      text += c.choices[0]?.text ?? '';
      if (c.usage) completionTokens = c.usage.completion_tokens;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(completionTokens).toBe(4);
  });

  test('embeddings as floats and base64; models list', async () => {
    const e = await client.embeddings.create({ model: 'sim-model', input: ['a cat', 'a dog'] });
    expect(e.data).toHaveLength(2);
    expect(e.data[0]!.embedding).toHaveLength(256);
    const again = await client.embeddings.create({ model: 'sim-model', input: 'a cat', encoding_format: 'float' });
    expect(again.data[0]!.embedding).toEqual(e.data[0]!.embedding);
    const b64 = await client.embeddings.create({ model: 'sim-model', input: 'a cat', encoding_format: 'base64' });
    expect(typeof b64.data[0]!.embedding === 'string' || Array.isArray(b64.data[0]!.embedding)).toBe(true);
    expect(e.usage.prompt_tokens).toBeGreaterThan(0);
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['sim-model']);
  });
});

describe('credentials', () => {
  test('missing or wrong key: 401 that says so without echoing the key', async () => {
    const missing = await fetch(`${sim.url}/v1/models`);
    expect(missing.status).toBe(401);
    const mb = (await missing.json()) as { error: { message: string } };
    expect(mb.error.message).toMatch(/Missing API key/);
    const wrong = await fetch(`${sim.url}/v1/models`, { headers: { authorization: 'Bearer malicious-token' } });
    expect(wrong.status).toBe(401);
    const text = await wrong.text();
    expect(text).toMatch(/Incorrect API key/);
    expect(text).not.toContain('malicious-token');
    expect(text).not.toContain(KEY);
    const viaApiKey = await fetch(`${sim.url}/v1/models`, { headers: { 'api-key': KEY } });
    expect(viaApiKey.status).toBe(200);
    const viaX = await fetch(`${sim.url}/v1/models`, { headers: { 'x-api-key': KEY } });
    expect(viaX.status).toBe(200);
  });

  test('the request log shows what arrived, with credentials replaced', async () => {
    await fetch(`${sim.url}/v1/models`, { headers: { authorization: `Bearer ${KEY}`, 'x-request-id': 'req-good', 'x-workload-app': 'toolbench-agent' } });
    await fetch(`${sim.url}/v1/models`, { headers: { authorization: 'Bearer malicious-token', 'x-request-id': 'req-bad', cookie: 'session=abc' } });
    const good = (await (await fetch(`${sim.url}/_sim/requests/req-good`)).json()) as Record<string, unknown>;
    expect(good['credential']).toBe('valid');
    expect((good['headers'] as Record<string, string>)['authorization']).toBe('<configured key>');
    expect((good['headers'] as Record<string, string>)['x-workload-app']).toBe('toolbench-agent');
    expect(good['path']).toBe('/v1/models');
    const bad = (await (await fetch(`${sim.url}/_sim/requests/req-bad`)).json()) as Record<string, unknown>;
    expect(bad['credential']).toBe('invalid');
    const sha = createHash('sha256').update('Bearer malicious-token').digest('hex').slice(0, 12);
    expect((bad['headers'] as Record<string, string>)['authorization']).toBe(`<other: sha256:${sha}>`);
    expect(JSON.stringify(bad)).not.toContain('malicious-token');
    expect(JSON.stringify(bad)).not.toContain('abc');
    expect((await fetch(`${sim.url}/_sim/requests/never-seen`)).status).toBe(404);

    await post('/v1/chat/completions', { model: 'sim-model', messages: [{ role: 'user', content: 'x' }], max_tokens: 1 }, { 'x-request-id': 'req-model' });
    const withModel = (await (await fetch(`${sim.url}/_sim/requests/req-model`)).json()) as Record<string, unknown>;
    expect(withModel['model']).toBe('sim-model');
    expect(typeof withModel['receivedAt']).toBe('string');
  });
});

describe('validation like vLLM', () => {
  const cases: Array<[string, unknown, number, RegExp]> = [
    ['missing messages', { model: 'sim-model' }, 400, /messages: Field required/],
    ['empty messages', { model: 'sim-model', messages: [] }, 400, /at least 1 item/],
    ['role function without name', { model: 'sim-model', messages: [{ role: 'function', content: 'x' }] }, 400, /role 'function' requires a 'name'/],
    ['unknown role', { model: 'sim-model', messages: [{ role: 'robot', content: 'x' }] }, 400, /unknown role 'robot'/],
    ['tool message without id', { model: 'sim-model', messages: [{ role: 'tool', content: 'x' }] }, 400, /tool_call_id/],
    ['stream_options without stream', { model: 'sim-model', messages: [{ role: 'user', content: 'x' }], stream_options: { include_usage: true } }, 400, /stream=True/],
    ['max_tokens zero', { model: 'sim-model', messages: [{ role: 'user', content: 'x' }], max_tokens: 0 }, 400, /max_tokens must be at least 1/],
    ['unknown model', { model: 'gpt-9', messages: [{ role: 'user', content: 'x' }] }, 404, /The model `gpt-9` does not exist/],
    ['context too long', { model: 'sim-model', messages: [{ role: 'user', content: 'x' }], max_tokens: 40_000 }, 400, /maximum context length is 32768 tokens/],
  ];
  test.each(cases)('%s', async (_name, body, status, message) => {
    const r = await post('/v1/chat/completions', body);
    expect(r.status).toBe(status);
    const b = (await r.json()) as { error: { message: string; code: number; type: string } };
    expect(b.error.message).toMatch(message);
    expect(b.error.code).toBe(status);
  });

  test('a body that is not JSON is a 400, and unknown paths a 404', async () => {
    const r = await post('/v1/chat/completions', '{"model": ');
    expect(r.status).toBe(400);
    expect((await fetch(`${sim.url}/v1/nothing`, { headers: { authorization: `Bearer ${KEY}` } })).status).toBe(404);
    expect((await fetch(`${sim.url}/health`)).status).toBe(200);
  });
});

describe('output length, tokenize and metrics', () => {
  test('x-sim-output-tokens fixes the completion length', async () => {
    const r = await post('/v1/chat/completions', { model: 'sim-model', messages: [{ role: 'user', content: 'hi' }] }, { 'x-sim-output-tokens': '23' });
    const b = (await r.json()) as { usage: { completion_tokens: number }; choices: Array<{ finish_reason: string }> };
    expect(b.usage.completion_tokens).toBe(23);
    expect(b.choices[0]!.finish_reason).toBe('stop');
    const bad = await post('/v1/chat/completions', { model: 'sim-model', messages: [{ role: 'user', content: 'hi' }] }, { 'x-sim-output-tokens': 'lots' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/x-sim-output-tokens/);
  });

  test('/tokenize counts what usage reports', async () => {
    const messages = [{ role: 'user', content: 'How many tokens is this sentence, exactly?' }];
    const t = (await (await post('/tokenize', { messages })).json()) as { count: number };
    const r = await client.chat.completions.create({ model: 'sim-model', messages: messages as OpenAI.ChatCompletionMessageParam[], max_tokens: 1 });
    expect(r.usage!.prompt_tokens).toBe(t.count);
  });

  test('token counters equal the sum of reported usage; a repeated prompt raises prefix cache hits', async () => {
    const p0 = await metric('vllm:prompt_tokens_total');
    const g0 = await metric('vllm:generation_tokens_total');
    const h0 = await metric('vllm:prefix_cache_hits_total');
    const long = 'The quick brown fox jumps over the lazy dog. '.repeat(20);
    let prompt = 0;
    let completion = 0;
    let cached = 0;
    for (let i = 0; i < 3; i++) {
      const r = await client.chat.completions.create({ model: 'sim-model', messages: [{ role: 'user', content: long }], max_tokens: 5 + i });
      prompt += r.usage!.prompt_tokens;
      completion += r.usage!.completion_tokens;
      cached += r.usage!.prompt_tokens_details!.cached_tokens!;
    }
    const s = await client.chat.completions.create({ model: 'sim-model', messages: [{ role: 'user', content: 'short' }], stream: true, stream_options: { include_usage: true }, max_tokens: 4 });
    for await (const c of s) {
      if (c.usage) {
        prompt += c.usage.prompt_tokens;
        completion += c.usage.completion_tokens;
      }
    }
    expect((await metric('vllm:prompt_tokens_total')) - p0).toBe(prompt);
    expect((await metric('vllm:generation_tokens_total')) - g0).toBe(completion);
    expect(cached).toBeGreaterThan(0);
    expect((await metric('vllm:prefix_cache_hits_total')) - h0).toBe(cached);
  });

  test('metrics: vLLM names, labels and buckets; DCGM series; hidden aliases only when asked', async () => {
    const text = await (await fetch(`${sim.url}/metrics`)).text();
    expect(text).toContain('vllm:num_requests_running{model_name="sim-model",engine="0"}');
    expect(text).toContain('vllm:time_to_first_token_seconds_bucket{model_name="sim-model",engine="0",le="0.001"}');
    expect(text).toContain('vllm:inter_token_latency_seconds_bucket{model_name="sim-model",engine="0",le="80.0"}');
    expect(text).toContain('vllm:request_queue_time_seconds_bucket{model_name="sim-model",engine="0",le="7680.0"}');
    expect(text).toMatch(/vllm:request_success_total\{model_name="sim-model",engine="0",finished_reason="length"\} [1-9]/);
    for (const name of ['vllm:kv_cache_usage_perc', 'vllm:num_preemptions_total', 'vllm:request_prefill_time_seconds_sum', 'vllm:prefix_cache_queries_total']) {
      expect(text).toContain(name);
    }
    expect(text).not.toContain('vllm:gpu_cache_usage_perc');
    const dcgm = await (await fetch(`${sim.url}/_sim/dcgm`)).text();
    for (const name of ['DCGM_FI_DEV_FB_USED', 'DCGM_FI_DEV_FB_FREE', 'DCGM_FI_DEV_GPU_UTIL', 'DCGM_FI_PROF_NVLINK_TX_BYTES', 'DCGM_FI_PROF_NVLINK_RX_BYTES']) {
      expect(dcgm).toMatch(new RegExp(`^${name}\\{gpu="0",`, 'm'));
    }
    const hidden = await startSimServer({ profile: 'fast', showHiddenMetrics: true, dcgmPort: 0 });
    try {
      const t = await (await fetch(`${hidden.url}/metrics`)).text();
      expect(t).toContain('vllm:gpu_cache_usage_perc{');
      expect(t).toContain('vllm:time_per_output_token_seconds_bucket{');
      expect(await (await fetch(`${hidden.dcgmUrl!}/metrics`)).text()).toContain('DCGM_FI_DEV_GPU_UTIL{');
    } finally {
      await hidden.close();
    }
  });
});

describe('determinism and drift', () => {
  test('the same seed gives the same text for the same request sequence', async () => {
    const run = async (): Promise<string> => {
      const s = await startSimServer({ profile: 'fast', seed: 42 });
      try {
        const c = new OpenAI({ apiKey: 'x', baseURL: `${s.url}/v1`, maxRetries: 0 });
        const r = await c.chat.completions.create({ model: 'sim-model', messages: [{ role: 'user', content: 'hi' }] });
        return r.choices[0]!.message.content!;
      } finally {
        await s.close();
      }
    };
    expect(await run()).toBe(await run());
  });

  test('counting with another encoding changes prompt_tokens (drift for the audit)', async () => {
    const text = 'Tokenizers disagree: naïve café résumé 東京 🤖 — ∑x² ≠ ∫f(x)dx';
    const counts: number[] = [];
    for (const encoding of ['o200k_base', 'cl100k_base'] as const) {
      const s = await startSimServer({ profile: 'fast', encoding });
      try {
        const r = await fetch(`${s.url}/tokenize`, { method: 'POST', body: JSON.stringify({ prompt: text }) });
        counts.push(((await r.json()) as { count: number }).count);
      } finally {
        await s.close();
      }
    }
    expect(counts[0]).not.toBe(counts[1]);
  });
});
