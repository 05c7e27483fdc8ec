// The Anthropic Messages front door: @anthropic-ai/sdk → gateway (/v1/messages and
// /anthropic/v1/messages) → Claude hosts by passthrough (Anthropic, Vertex AI, Bedrock re-framed as
// SSE) and → vLLM, Gemini and Bedrock Converse by translation. The SDK must parse everything.
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/gateway.js';
import { startRig, type Rig, type Target } from './rig.js';

const TOOLS = [
  { name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] } },
  { name: 'get_time', description: 'Time in a zone', input_schema: { type: 'object' as const, properties: { zone: { type: 'string', enum: ['UTC', 'CET'] } }, required: ['zone'] } },
];

const INGRESS_TARGETS: readonly Target[] = ['openai', 'anthropic', 'gcp-anthropic', 'aws-anthropic', 'gemini', 'bedrock'];
const VLLM_ENGINE: ReadonlySet<Target> = new Set(['openai']);

/** Sum of a token-usage histogram for one token type, from the gateway's /metrics. */
async function tokenSum(rig: Rig, type: string): Promise<number> {
  const text = await (await fetch(`${rig.gateway.adminUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('gen_ai_client_token_usage_token_sum{') && line.includes(`gen_ai_token_type="${type}"`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describe.each(INGRESS_TARGETS)('@anthropic-ai/sdk → gateway /v1/messages → %s', (target) => {
  let rig: Rig;
  let client: Anthropic;
  beforeAll(async () => {
    rig = await startRig(target);
    client = new Anthropic({ apiKey: 'client-key-never-forwarded', baseURL: rig.gateway.url, maxRetries: 0 });
  });
  afterAll(() => rig.close());

  it('answers a message with usage', async () => {
    const m = await client.messages.create({ model: rig.model, max_tokens: 200, system: 'Be brief.', messages: [{ role: 'user', content: 'Hello' }] }, { headers: { 'x-sim-output-tokens': '12' } });
    expect(m.type).toBe('message');
    expect(m.role).toBe('assistant');
    expect(m.content[0]?.type).toBe('text');
    expect(m.stop_reason).toBe('end_turn');
    expect(m.usage.input_tokens).toBeGreaterThan(0);
    expect(m.usage.output_tokens).toBeGreaterThan(0);
  });

  it('streams the event sequence the SDK accumulates', async () => {
    const stream = client.messages.stream({ model: rig.model, max_tokens: 200, messages: [{ role: 'user', content: 'Stream' }] }, { headers: { 'x-sim-output-tokens': '12' } });
    const types: string[] = [];
    stream.on('streamEvent', (e) => types.push(e.type));
    const m = await stream.finalMessage();
    expect(types[0]).toBe('message_start');
    expect(types).toContain('content_block_start');
    expect(types.slice(-2)).toEqual(['message_delta', 'message_stop']);
    expect(m.content.map((b) => b.type)).toEqual(['text']);
    expect(m.content[0]?.type === 'text' && m.content[0].text.length > 0).toBe(true);
    expect(m.stop_reason).toBe('end_turn');
    expect(m.usage.output_tokens).toBeGreaterThan(0);
  });

  it('tool use, streamed and not, and the tool_result round trip', async () => {
    const tool_choice = VLLM_ENGINE.has(target) ? { type: 'any' as const } : { type: 'auto' as const };
    const m = await client.messages.create({ model: rig.model, max_tokens: 512, tools: TOOLS, tool_choice, messages: [{ role: 'user', content: 'Weather and time?' }] });
    expect(m.stop_reason).toBe('tool_use');
    const uses = m.content.filter((b) => b.type === 'tool_use');
    expect(uses).toHaveLength(VLLM_ENGINE.has(target) ? 1 : 2);
    for (const u of uses) {
      expect(u.id.length).toBeGreaterThan(0);
      expect(typeof u.input).toBe('object');
    }
    const streamed = await client.messages.stream({ model: rig.model, max_tokens: 512, tools: TOOLS, tool_choice, messages: [{ role: 'user', content: 'Weather and time?' }] }).finalMessage();
    const sUses = streamed.content.filter((b) => b.type === 'tool_use');
    expect(sUses).toHaveLength(uses.length);
    expect(sUses.every((u) => typeof u.input === 'object' && u.input !== null && Object.keys(u.input).length > 0)).toBe(true);
    const next = await client.messages.create({
      model: rig.model,
      max_tokens: 200,
      tools: TOOLS,
      messages: [
        { role: 'user', content: 'Weather and time?' },
        { role: 'assistant', content: m.content },
        { role: 'user', content: uses.map((u) => ({ type: 'tool_result' as const, tool_use_id: u.id, content: 'sunny, 12:00' })) },
      ],
    }, { headers: { 'x-sim-output-tokens': '8' } });
    expect(next.stop_reason).toBe('end_turn');
  });

  it('maps errors to the statuses Anthropic clients expect', async () => {
    const h = (s: number): Record<string, string> => (target === 'openai' ? { 'x-sim-fault': `status=${s}` } : { 'x-sim-error': String(s) });
    const msg = { model: rig.model, max_tokens: 16, messages: [{ role: 'user' as const, content: 'x' }] };
    await expect(client.messages.create(msg, { headers: h(429) })).rejects.toBeInstanceOf(Anthropic.RateLimitError);
    await expect(client.messages.create(msg, { headers: h(400) })).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    await expect(client.messages.create(msg, { headers: h(500) })).rejects.toMatchObject({ status: 502 });
  });
});

describe('/v1/messages specifics', () => {
  let anthropic: Rig;
  let vllm: Rig;
  beforeAll(async () => {
    [anthropic, vllm] = await Promise.all([startRig('anthropic'), startRig('openai')]);
  });
  afterAll(() => Promise.all([anthropic.close(), vllm.close()]));

  it('passes the client\'s body to Anthropic byte for byte, on /anthropic/v1/messages too', async () => {
    const body = { model: anthropic.model, max_tokens: 32, metadata: { user_id: 'u-1' }, top_k: 5, messages: [{ role: 'user', content: 'exact' }] };
    for (const path of ['/v1/messages', '/anthropic/v1/messages']) {
      const res = await fetch(`${anthropic.gateway.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'anthropic-beta': 'tools-2024-05-16', 'x-api-key': 'client-key' },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { type: string }).type).toBe('message');
      expect(anthropic.seen()?.body).toEqual(body);
      expect(anthropic.seen()?.headers['x-api-key']).toBe('<present>');
      expect(anthropic.seen()?.headers['anthropic-version']).toBe('2023-06-01');
      expect(anthropic.seen()?.headers['anthropic-beta']).toBe('tools-2024-05-16');
    }
  });

  it('records prompt-cache reads and writes from passthrough usage exactly', async () => {
    const client = new Anthropic({ apiKey: 'k', baseURL: anthropic.gateway.url, maxRetries: 0 });
    const system = [{ type: 'text' as const, text: 'A long and stable system prompt for caching. '.repeat(30), cache_control: { type: 'ephemeral' as const } }];
    const a = await client.messages.create({ model: anthropic.model, max_tokens: 16, system, messages: [{ role: 'user', content: 'one' }] });
    const b = await client.messages.stream({ model: anthropic.model, max_tokens: 16, system, messages: [{ role: 'user', content: 'two' }] }).finalMessage();
    const written = a.usage.cache_creation_input_tokens ?? 0;
    expect(written).toBeGreaterThan(0);
    expect(b.usage.cache_read_input_tokens).toBe(written);
    await eventually(async () => (await tokenSum(anthropic, 'cache_creation_input')) === written && (await tokenSum(anthropic, 'cached_input')) === written, 'cache tokens in the metrics');
  });

  it('refuses a translated request the backend API cannot express, in client terms', async () => {
    const res = await fetch(`${vllm.gateway.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: vllm.model, messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(res.status).toBe(400);
    // In Anthropic's error shape (no `param`: the message names the field).
    expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringMatching(/max_tokens/) as unknown } });
  });
});
