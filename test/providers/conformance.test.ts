// One conformance suite, the same cases against every provider: the openai SDK → gateway → each
// provider's simulator (which speaks that provider's real wire format, checked by its own SDK in
// sdk-sims.test.ts). Streams are also read raw, so chunk-level conventions (assistant role first,
// tool-call indexes, the usage chunk) are asserted on the bytes, not on what an SDK tolerates.
import OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionCreateParamsNonStreaming, ChatCompletionTool } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRig, TARGETS, type Rig, type Target } from './rig.js';

type Rec = Record<string, unknown>;

const TOOLS: ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] } } },
  { type: 'function', function: { name: 'get_time', description: 'Time in a zone', parameters: { type: 'object', properties: { zone: { type: 'string', enum: ['UTC', 'CET'] } }, required: ['zone'] } } },
];

/** The vLLM-engine targets call one tool, and only when required; native simulators call both in parallel. */
const VLLM_ENGINE: ReadonlySet<Target> = new Set(['openai', 'azure']);
const CLAUDE: ReadonlySet<Target> = new Set(['anthropic', 'gcp-anthropic', 'aws-anthropic']);
const NATIVE_JSON: ReadonlySet<Target> = new Set(['openai', 'azure', 'gemini', 'vertex']);

function errorHeaders(t: Target, status: number): Record<string, string> {
  return t === 'openai' ? { 'x-sim-fault': `status=${status}` } : { 'x-sim-error': String(status) };
}

/** Reads an SSE response from the gateway into parsed data events. */
async function rawStream(rig: Rig, body: Rec, headers: Record<string, string> = {}): Promise<{ status: number; contentType: string | null; events: Array<Rec | '[DONE]'> }> {
  const res = await fetch(`${rig.gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer client-key', ...headers },
    body: JSON.stringify({ model: rig.model, stream: true, ...body }),
  });
  const text = await res.text();
  const events: Array<Rec | '[DONE]'> = [];
  for (const block of text.split('\n\n')) {
    const line = block.split('\n').find((l) => l.startsWith('data: '));
    if (line === undefined) continue;
    const data = line.slice(6);
    events.push(data === '[DONE]' ? '[DONE]' : (JSON.parse(data) as Rec));
  }
  return { status: res.status, contentType: res.headers.get('content-type'), events };
}

describe.each(TARGETS)('conformance: openai SDK → gateway → %s', (target) => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig(target);
  });
  afterAll(() => rig.close());

  const create = (p: Omit<ChatCompletionCreateParamsNonStreaming, 'model'>, headers?: Record<string, string>) =>
    rig.client.chat.completions.create({ model: rig.model, ...p }, headers === undefined ? undefined : { headers });

  it('answers a chat completion with exact usage and the finish reason', async () => {
    const r = await create({ messages: [{ role: 'user', content: 'Say something.' }] });
    expect(r.object).toBe('chat.completion');
    const c = r.choices[0];
    expect(c?.message.role).toBe('assistant');
    expect(c?.message.content?.length).toBeGreaterThan(0);
    expect(c?.finish_reason).toBe('stop');
    expect(r.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(r.usage?.completion_tokens).toBeGreaterThan(0);
    expect(r.usage?.total_tokens).toBe((r.usage?.prompt_tokens ?? 0) + (r.usage?.completion_tokens ?? 0));
  });

  it('maps the system prompt, multi-turn history, stop, temperature, top_p and max tokens', async () => {
    const r = await create({
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello.' },
        { role: 'user', content: 'Again' },
      ],
      temperature: 0.5,
      top_p: 0.9,
      stop: ['END'],
      max_tokens: 200,
    }, { 'x-sim-output-tokens': '20' });
    expect(r.choices[0]?.finish_reason).toBe('stop');
    const seen = rig.seen();
    if (seen === undefined) return; // the vLLM engine logs no bodies: its passthrough is covered in test/gateway
    const b = seen.body as Rec;
    switch (target) {
      case 'azure':
        expect(seen.path).toBe('/openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01-preview');
        expect(b['messages']).toHaveLength(4);
        break;
      case 'gemini':
      case 'vertex':
        expect(seen.path).toBe(
          target === 'gemini' ? '/v1beta/models/gemini-2.5-flash:generateContent' : '/v1/projects/proj-1/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent',
        );
        expect(b['systemInstruction']).toEqual({ parts: [{ text: 'You are terse.' }] });
        expect((b['contents'] as Rec[]).map((c) => c['role'])).toEqual(['user', 'model', 'user']);
        expect(b['generationConfig']).toEqual({ temperature: 0.5, topP: 0.9, maxOutputTokens: 200, stopSequences: ['END'] });
        break;
      case 'anthropic':
      case 'gcp-anthropic':
      case 'aws-anthropic':
        expect(b['system']).toBe('You are terse.');
        expect((b['messages'] as Rec[]).map((m) => m['role'])).toEqual(['user', 'assistant', 'user']);
        expect(b).toMatchObject({ temperature: 0.5, top_p: 0.9, stop_sequences: ['END'], max_tokens: 200 });
        if (target === 'anthropic') {
          expect(seen.path).toBe('/v1/messages');
          expect(b['model']).toBe('claude-sonnet-4-5');
          expect(seen.headers['anthropic-version']).toBe('2023-06-01');
        } else if (target === 'gcp-anthropic') {
          expect(seen.path).toBe('/v1/projects/proj-1/locations/us-central1/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict');
          expect(b['anthropic_version']).toBe('vertex-2023-10-16');
          expect(b['model']).toBeUndefined();
        } else {
          expect(seen.path).toBe('/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/invoke');
          expect(b['anthropic_version']).toBe('bedrock-2023-05-31');
          expect(b['model']).toBeUndefined();
          expect(b['stream']).toBeUndefined();
        }
        break;
      case 'bedrock':
        expect(seen.path).toBe('/model/us.amazon.nova-micro-v1%3A0/converse');
        expect(b['system']).toEqual([{ text: 'You are terse.' }]);
        expect(b['inferenceConfig']).toEqual({ maxTokens: 200, temperature: 0.5, topP: 0.9, stopSequences: ['END'] });
        break;
      case 'openai':
        break;
    }
    // The client's own credential never reaches a provider.
    expect(seen.headers['authorization'] === undefined || seen.headers['authorization'] === '<present>').toBe(true);
  });

  it('streams: the assistant role first, content deltas, one finish chunk, no usage unless asked, then [DONE]', async () => {
    const s = await rawStream(rig, { messages: [{ role: 'user', content: 'Stream please.' }] });
    expect(s.status).toBe(200);
    expect(s.contentType).toMatch(/^text\/event-stream/);
    expect(s.events[s.events.length - 1]).toBe('[DONE]');
    const chunks = s.events.filter((e): e is Rec => e !== '[DONE]') as unknown as ChatCompletionChunk[];
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text.length).toBeGreaterThan(0);
    expect(chunks.filter((c) => c.choices[0]?.finish_reason != null).map((c) => c.choices[0]?.finish_reason)).toEqual(['stop']);
    expect(chunks.some((c) => c.usage != null)).toBe(false);

    const u = await rawStream(rig, { messages: [{ role: 'user', content: 'Stream please.' }], stream_options: { include_usage: true } });
    const last = u.events[u.events.length - 2] as unknown as ChatCompletionChunk;
    expect(last.choices).toEqual([]);
    expect(last.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(last.usage?.total_tokens).toBe((last.usage?.prompt_tokens ?? 0) + (last.usage?.completion_tokens ?? 0));
  });

  it('calls tools (in parallel where the provider does), with ids, names and JSON arguments', async () => {
    const r = await create({ messages: [{ role: 'user', content: 'Weather in Paris and the time?' }], tools: TOOLS, tool_choice: VLLM_ENGINE.has(target) ? 'required' : 'auto' });
    const m = r.choices[0];
    expect(m?.finish_reason).toBe('tool_calls');
    const calls = m?.message.tool_calls ?? [];
    expect(calls).toHaveLength(VLLM_ENGINE.has(target) ? 1 : 2);
    for (const c of calls) {
      expect(c.type).toBe('function');
      expect(c.id.length).toBeGreaterThan(0);
      if (c.type === 'function') expect(() => JSON.parse(c.function.arguments) as unknown).not.toThrow();
    }
    if (!VLLM_ENGINE.has(target)) expect(calls.map((c) => (c.type === 'function' ? c.function.name : ''))).toEqual(['get_weather', 'get_time']);
  });

  it('streams tool calls with stable indexes: id, type and name once, then argument fragments', async () => {
    const s = await rawStream(rig, { messages: [{ role: 'user', content: 'Weather and time?' }], tools: TOOLS, tool_choice: VLLM_ENGINE.has(target) ? 'required' : 'auto' });
    const chunks = s.events.filter((e): e is Rec => e !== '[DONE]') as unknown as ChatCompletionChunk[];
    const byIndex = new Map<number, { id?: string; name?: string; args: string; starts: number }>();
    for (const c of chunks) {
      for (const d of c.choices[0]?.delta.tool_calls ?? []) {
        const e = byIndex.get(d.index) ?? { args: '', starts: 0 };
        if (d.id !== undefined) {
          e.starts++;
          e.id = d.id;
          expect(d.type).toBe('function');
          e.name = d.function?.name;
        }
        e.args += d.function?.arguments ?? '';
        byIndex.set(d.index, e);
      }
    }
    const n = VLLM_ENGINE.has(target) ? 1 : 2;
    expect([...byIndex.keys()]).toEqual([...Array(n).keys()]);
    for (const e of byIndex.values()) {
      expect(e.starts).toBe(1);
      expect(e.name?.length).toBeGreaterThan(0);
      expect(() => JSON.parse(e.args) as unknown).not.toThrow();
    }
    expect(chunks.find((c) => c.choices[0]?.finish_reason != null)?.choices[0]?.finish_reason).toBe('tool_calls');
    // The SDK's own accumulator agrees.
    const final = await rig.client.chat.completions
      .stream({ model: rig.model, messages: [{ role: 'user', content: 'Weather and time?' }], tools: TOOLS, tool_choice: VLLM_ENGINE.has(target) ? 'required' : 'auto' })
      .finalChatCompletion();
    expect(final.choices[0]?.message.tool_calls).toHaveLength(n);
  });

  it('sends tool results back and gets an answer; a named tool_choice calls that tool', async () => {
    const first = await create({ messages: [{ role: 'user', content: 'Weather?' }], tools: TOOLS, tool_choice: { type: 'function', function: { name: 'get_time' } } });
    const calls = first.choices[0]?.message.tool_calls ?? [];
    expect(calls.map((c) => (c.type === 'function' ? c.function.name : ''))).toEqual(['get_time']);
    const r = await create({
      messages: [
        { role: 'user', content: 'Weather?' },
        { role: 'assistant', content: null, tool_calls: calls },
        ...calls.map((c) => ({ role: 'tool' as const, tool_call_id: c.id, content: '{"time": "12:00"}' })),
      ],
      tools: TOOLS,
    });
    expect(r.choices[0]?.finish_reason).toBe('stop');
    expect(r.choices[0]?.message.content?.length).toBeGreaterThan(0);
  });

  it('JSON mode: native where the provider has it, instructed where it does not', async () => {
    const r = await create({ messages: [{ role: 'user', content: 'Give JSON.' }], response_format: { type: 'json_object' } });
    const content = r.choices[0]?.message.content ?? '';
    if (NATIVE_JSON.has(target)) expect(() => JSON.parse(content) as unknown).not.toThrow();
    const seen = rig.seen();
    if (seen === undefined) return;
    const b = seen.body as Rec;
    if (target === 'gemini' || target === 'vertex') expect((b['generationConfig'] as Rec)['responseMimeType']).toBe('application/json');
    if (CLAUDE.has(target)) expect(String(b['system'])).toMatch(/JSON object/);
    if (target === 'bedrock') expect(JSON.stringify(b['system'])).toMatch(/JSON object/);
  });

  it('takes images as data URLs, in each provider\'s native form', async () => {
    const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
    const r = await create({ messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } }] }] });
    expect(r.choices[0]?.message.content?.length).toBeGreaterThan(0);
    const seen = rig.seen();
    if (seen === undefined) return;
    const text = JSON.stringify(seen.body);
    if (CLAUDE.has(target)) expect(text).toContain(`{"type":"image","source":{"type":"base64","media_type":"image/png","data":"${png}"}}`);
    if (target === 'gemini' || target === 'vertex') expect(text).toContain(`{"inlineData":{"mimeType":"image/png","data":"${png}"}}`);
    if (target === 'bedrock') expect(text).toContain(`{"image":{"format":"png","source":{"bytes":"${png}"}}}`);
  });

  it('reports length when max_tokens cuts the answer', async () => {
    const r = await create({ messages: [{ role: 'user', content: 'Long answer please.' }], max_tokens: 3 }, { 'x-sim-output-tokens': '50' });
    expect(r.choices[0]?.finish_reason).toBe('length');
    expect(r.usage?.completion_tokens).toBeLessThanOrEqual(3);
  });

  it('maps provider errors to OpenAI errors with the right status', async () => {
    const msg = { messages: [{ role: 'user' as const, content: 'x' }] };
    await expect(create(msg, errorHeaders(target, 429))).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    await expect(create(msg, errorHeaders(target, 400))).rejects.toMatchObject({ status: 400, code: 'upstream_rejected' });
    await expect(create(msg, errorHeaders(target, 401))).rejects.toMatchObject({ status: 502, code: 'upstream_auth_failed' });
    await expect(create(msg, errorHeaders(target, 500))).rejects.toMatchObject({ status: 502, code: 'upstream_status' });
    await expect(create(msg, errorHeaders(target, 503))).rejects.toMatchObject({ status: 503 });
    if (target === 'anthropic') await expect(create(msg, errorHeaders(target, 529))).rejects.toMatchObject({ status: 503 });
  });

  it.skipIf(target === 'openai' || target === 'azure')('ends a cut or failed upstream stream with an error event the SDK raises', async () => {
    for (const fault of ['truncate', 'midstream-error']) {
      const s = await rig.client.chat.completions.create({ model: rig.model, messages: [{ role: 'user', content: 'x' }], stream: true }, { headers: { 'x-sim-fault': fault } });
      await expect(
        (async () => {
          for await (const _ of s) {
            // drain until the error event
          }
        })(),
      ).rejects.toBeInstanceOf(OpenAI.APIError);
    }
  });

  it.skipIf(target === 'openai' || target === 'azure')('maps reasoning effort to the provider\'s thinking and returns reasoning', async () => {
    const r = await create({ messages: [{ role: 'user', content: 'Think first.' }], reasoning_effort: 'low' });
    const msg = r.choices[0]?.message as unknown as Rec;
    expect(typeof msg['reasoning_content'] === 'string' && msg['reasoning_content'].length > 0).toBe(true);
    const seen = rig.seen();
    const b = (seen?.body ?? {}) as Rec;
    if (target === 'gemini' || target === 'vertex') {
      expect((b['generationConfig'] as Rec)['thinkingConfig']).toEqual({ thinkingBudget: 2048, includeThoughts: true });
      // Gemini counts thoughts separately: they are the reasoning tokens, inside completion_tokens.
      expect(r.usage?.completion_tokens_details?.reasoning_tokens).toBeGreaterThan(0);
    }
    if (CLAUDE.has(target)) expect(b['thinking']).toEqual({ type: 'enabled', budget_tokens: 2048 });
    if (target === 'bedrock') expect(b['additionalModelRequestFields']).toEqual({ reasoningConfig: { type: 'enabled', maxReasoningEffort: 'low' } });
  });

  it('embeddings where the provider has them, a clear 400 where it does not', async () => {
    if (CLAUDE.has(target) || target === 'bedrock') {
      if (target === 'bedrock') return; // embeddings are other models on Bedrock: see embeddings.test.ts
      await expect(rig.client.embeddings.create({ model: rig.model, input: 'x' })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/has no embeddings/) });
      return;
    }
    const r = await rig.client.embeddings.create({ model: rig.model, input: ['alpha', 'beta'] });
    expect(r.data).toHaveLength(2);
    expect(r.data[0]?.embedding.length).toBeGreaterThan(0);
  });
});
