// The native simulators checked by software we did not write: each provider's official SDK talks to
// its simulator directly, streamed and not, with tools, and must parse every response; bad
// credentials must fail the way the SDK expects of the real service.
import Anthropic from '@anthropic-ai/sdk';
import { BedrockRuntimeClient, ConverseCommand, ConverseStreamCommand, InvokeModelCommand, InvokeModelWithResponseStreamCommand } from '@aws-sdk/client-bedrock-runtime';
import { GoogleGenAI, Type } from '@google/genai';
import { OAuth2Client } from 'google-auth-library';
import { AzureOpenAI } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProviderSim, type ProviderSimServer } from '../../src/sim/providers/index.js';

const WEATHER = { type: 'object' as const, properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] };
const TIME = { type: 'object' as const, properties: { zone: { type: 'string', enum: ['UTC', 'CET'] } }, required: ['zone'] };

describe('@anthropic-ai/sdk against the Anthropic simulator', () => {
  let sim: ProviderSimServer;
  let client: Anthropic;
  beforeAll(async () => {
    sim = await startProviderSim('anthropic', { apiKey: 'sk-ant-sim' });
    client = new Anthropic({ apiKey: 'sk-ant-sim', baseURL: sim.url, maxRetries: 0 });
  });
  afterAll(() => sim.close());

  const tools = [
    { name: 'get_weather', description: 'Weather for a city', input_schema: WEATHER },
    { name: 'get_time', description: 'Time in a zone', input_schema: TIME },
  ];

  it('answers a plain message with usage', async () => {
    const m = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 64, system: 'Be brief.', messages: [{ role: 'user', content: 'Hello there' }] });
    expect(m.type).toBe('message');
    expect(m.stop_reason).toBe('end_turn');
    expect(m.content[0]?.type).toBe('text');
    expect(m.usage.input_tokens).toBeGreaterThan(0);
    expect(m.usage.output_tokens).toBeGreaterThan(0);
  });

  it('calls tools in parallel and accepts the results back', async () => {
    const m = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 256, tools, messages: [{ role: 'user', content: 'Weather and time?' }] });
    expect(m.stop_reason).toBe('tool_use');
    const uses = m.content.filter((b) => b.type === 'tool_use');
    expect(uses.map((u) => u.name)).toEqual(['get_weather', 'get_time']);
    expect(typeof (uses[0]?.input as { city?: unknown }).city).toBe('string');
    const followUp = await client.messages.create({
      model: 'claude-sonnet-4-5',
      max_tokens: 64,
      tools,
      messages: [
        { role: 'user', content: 'Weather and time?' },
        { role: 'assistant', content: m.content },
        { role: 'user', content: uses.map((u) => ({ type: 'tool_result' as const, tool_use_id: u.id, content: 'sunny' })) },
      ],
    });
    expect(followUp.stop_reason).toBe('end_turn');
  });

  it('streams with the SDK accumulating text, tool input JSON and usage', async () => {
    const stream = client.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 256, tools, messages: [{ role: 'user', content: 'Weather and time?' }] });
    const events: string[] = [];
    stream.on('streamEvent', (e) => events.push(e.type));
    const m = await stream.finalMessage();
    expect(events[0]).toBe('message_start');
    expect(events).toContain('content_block_delta');
    expect(events[events.length - 1]).toBe('message_stop');
    const uses = m.content.filter((b) => b.type === 'tool_use');
    expect(uses).toHaveLength(2);
    expect((uses[1]?.input as { zone?: unknown }).zone).toBe('UTC');
    expect(m.usage.output_tokens).toBeGreaterThan(0);
  });

  it('streams thinking with a signature', async () => {
    const m = await client.messages
      .stream({ model: 'claude-sonnet-4-5', max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content: 'think' }] })
      .finalMessage();
    const t = m.content.find((b) => b.type === 'thinking');
    expect(t?.type === 'thinking' && t.signature.length > 0).toBe(true);
  });

  it('reports prompt-cache writes, then reads', async () => {
    const system = [{ type: 'text' as const, text: 'A long, stable system prompt. '.repeat(40), cache_control: { type: 'ephemeral' as const } }];
    const a = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 16, system, messages: [{ role: 'user', content: 'one' }] });
    const b = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 16, system, messages: [{ role: 'user', content: 'two' }] });
    expect(a.usage.cache_creation_input_tokens).toBeGreaterThan(0);
    expect(b.usage.cache_read_input_tokens).toBe(a.usage.cache_creation_input_tokens);
  });

  it('refuses a bad key and an orphan tool_result as the API does', async () => {
    const bad = new Anthropic({ apiKey: 'sk-ant-wrong', baseURL: sim.url, maxRetries: 0 });
    await expect(bad.messages.create({ model: 'm', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(Anthropic.AuthenticationError);
    await expect(
      client.messages.create({ model: 'm', max_tokens: 8, messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_nope', content: 'x' }] }] }),
    ).rejects.toThrow(/unexpected `tool_use_id`/);
  });
});

describe('@google/genai against the Gemini API simulator', () => {
  let sim: ProviderSimServer;
  let ai: GoogleGenAI;
  beforeAll(async () => {
    sim = await startProviderSim('gemini', { apiKey: 'AIza-sim-key' });
    ai = new GoogleGenAI({ apiKey: 'AIza-sim-key', httpOptions: { baseUrl: sim.url } });
  });
  afterAll(() => sim.close());

  const functionDeclarations = [
    { name: 'get_weather', description: 'Weather', parameters: { type: Type.OBJECT, properties: { city: { type: Type.STRING } }, required: ['city'] } },
    { name: 'get_time', description: 'Time', parametersJsonSchema: TIME },
  ];

  it('generates content with usage metadata', async () => {
    const r = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hello', config: { systemInstruction: 'Be brief.', maxOutputTokens: 64 } });
    expect(r.text?.length).toBeGreaterThan(0);
    expect(r.candidates?.[0]?.finishReason).toBe('STOP');
    expect(r.usageMetadata?.promptTokenCount).toBeGreaterThan(0);
    expect(r.usageMetadata?.candidatesTokenCount).toBeGreaterThan(0);
  });

  it('calls functions, then answers the function responses', async () => {
    const r = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Weather and time?', config: { tools: [{ functionDeclarations }] } });
    const calls = r.functionCalls ?? [];
    expect(calls.map((c) => c.name)).toEqual(['get_weather', 'get_time']);
    const next = await ai.models.generateContent({
      model: 'gemini-2.5-flash',
      contents: [
        { role: 'user', parts: [{ text: 'Weather and time?' }] },
        { role: 'model', parts: calls.map((c) => ({ functionCall: c })) },
        { role: 'user', parts: calls.map((c) => ({ functionResponse: { name: c.name ?? '', response: { result: 'ok' } } })) },
      ],
      config: { tools: [{ functionDeclarations }] },
    });
    expect(next.functionCalls).toBeUndefined();
    expect(next.text?.length).toBeGreaterThan(0);
  });

  it('streams (alt=sse) text, function calls and the final usage; thinking counts thoughts', async () => {
    let text = '';
    let last: Awaited<ReturnType<typeof ai.models.generateContent>> | undefined;
    for await (const chunk of await ai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'Tell me', config: { thinkingConfig: { thinkingBudget: 512, includeThoughts: true } } })) {
      text += chunk.text ?? '';
      last = chunk;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(last?.candidates?.[0]?.finishReason).toBe('STOP');
    expect(last?.usageMetadata?.thoughtsTokenCount).toBeGreaterThan(0);
    const calls: string[] = [];
    for await (const chunk of await ai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'x', config: { tools: [{ functionDeclarations }] } })) {
      for (const c of chunk.functionCalls ?? []) calls.push(c.name ?? '');
    }
    expect(calls).toEqual(['get_weather', 'get_time']);
  });

  it('embeds', async () => {
    const r = await ai.models.embedContent({ model: 'text-embedding-004', contents: ['alpha', 'beta'] });
    expect(r.embeddings).toHaveLength(2);
    expect(r.embeddings?.[0]?.values).toHaveLength(768);
  });

  it('refuses a wrong key with API_KEY_INVALID (400)', async () => {
    const bad = new GoogleGenAI({ apiKey: 'AIza-wrong', httpOptions: { baseUrl: sim.url } });
    await expect(bad.models.generateContent({ model: 'gemini-2.5-flash', contents: 'x' })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/API key not valid/) });
  });
});

describe('@google/genai (Vertex AI mode) against the Vertex simulator', () => {
  let sim: ProviderSimServer;
  beforeAll(async () => {
    sim = await startProviderSim('vertex', { apiKey: 'ya29.static-sim-token', project: 'proj-1', location: 'us-central1' });
  });
  afterAll(() => sim.close());

  function client(token: string): GoogleGenAI {
    const auth = new OAuth2Client();
    auth.setCredentials({ access_token: token, expiry_date: Date.now() + 3_600_000 });
    return new GoogleGenAI({ vertexai: true, project: 'proj-1', location: 'us-central1', httpOptions: { baseUrl: sim.url }, googleAuthOptions: { authClient: auth } });
  }

  it('generates and streams with an OAuth2 bearer token', async () => {
    const ai = client('ya29.static-sim-token');
    const r = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hello' });
    expect(r.text?.length).toBeGreaterThan(0);
    let n = 0;
    for await (const c of await ai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'Hello' })) n += c.text?.length ?? 0;
    expect(n).toBeGreaterThan(0);
    const e = await ai.models.embedContent({ model: 'text-embedding-005', contents: 'alpha' });
    expect(e.embeddings?.[0]?.values?.length).toBe(768);
  });

  it('refuses a bad token with 401 UNAUTHENTICATED', async () => {
    await expect(client('ya29.wrong').models.generateContent({ model: 'gemini-2.5-flash', contents: 'x' })).rejects.toMatchObject({ status: 401 });
  });
});

describe('@aws-sdk/client-bedrock-runtime against the Bedrock simulator', () => {
  let sim: ProviderSimServer;
  let client: BedrockRuntimeClient;
  const credentials = { accessKeyId: 'AKIDSIMULATOR0000001', secretAccessKey: 'sim-secret-key' };
  beforeAll(async () => {
    sim = await startProviderSim('bedrock', { ...credentials, region: 'us-east-1' });
    client = new BedrockRuntimeClient({ region: 'us-east-1', endpoint: sim.url, credentials, maxAttempts: 1 });
  });
  afterAll(() => {
    client.destroy();
    return sim.close();
  });

  const toolConfig = {
    tools: [{ toolSpec: { name: 'get_weather', description: 'Weather', inputSchema: { json: WEATHER } } }, { toolSpec: { name: 'get_time', inputSchema: { json: TIME } } }],
  };

  it('Converse: SigV4-signed, with tools and usage', async () => {
    const r = await client.send(new ConverseCommand({ modelId: 'us.amazon.nova-micro-v1:0', messages: [{ role: 'user', content: [{ text: 'Weather and time?' }] }], toolConfig }));
    expect(r.stopReason).toBe('tool_use');
    const uses = (r.output?.message?.content ?? []).flatMap((b) => (b.toolUse === undefined ? [] : [b.toolUse]));
    expect(uses.map((u) => u.name)).toEqual(['get_weather', 'get_time']);
    expect(r.usage?.inputTokens).toBeGreaterThan(0);
  });

  it('ConverseStream: the event stream parses into typed events', async () => {
    const r = await client.send(new ConverseStreamCommand({ modelId: 'us.amazon.nova-micro-v1:0', messages: [{ role: 'user', content: [{ text: 'Weather and time?' }] }], toolConfig }));
    const kinds: string[] = [];
    let input = '';
    let usage: number | undefined;
    for await (const ev of r.stream ?? []) {
      kinds.push(Object.keys(ev)[0] ?? '');
      input += ev.contentBlockDelta?.delta?.toolUse?.input ?? '';
      if (ev.metadata !== undefined) usage = ev.metadata.usage?.outputTokens;
    }
    expect(kinds[0]).toBe('messageStart');
    expect(kinds).toContain('contentBlockStart');
    expect(kinds.slice(-2)).toEqual(['messageStop', 'metadata']);
    expect(input).toContain('"city"');
    expect(usage).toBeGreaterThan(0);
  });

  it('InvokeModel and InvokeModelWithResponseStream for Claude', async () => {
    const body = JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
    const r = await client.send(new InvokeModelCommand({ modelId: 'anthropic.claude-3-5-sonnet-20241022-v2:0', body, contentType: 'application/json' }));
    const msg = JSON.parse(new TextDecoder().decode(r.body)) as { type: string; usage: { input_tokens: number } };
    expect(msg.type).toBe('message');
    const s = await client.send(new InvokeModelWithResponseStreamCommand({ modelId: 'anthropic.claude-3-5-sonnet-20241022-v2:0', body, contentType: 'application/json' }));
    const types: string[] = [];
    for await (const ev of s.body ?? []) {
      if (ev.chunk?.bytes !== undefined) types.push((JSON.parse(new TextDecoder().decode(ev.chunk.bytes)) as { type: string }).type);
    }
    expect(types[0]).toBe('message_start');
    expect(types[types.length - 1]).toBe('message_stop');
  });

  it('in-stream exceptions surface as the SDK\'s typed errors', async () => {
    const failing = new BedrockRuntimeClient({ region: 'us-east-1', endpoint: sim.url, credentials, maxAttempts: 1 });
    failing.middlewareStack.add((next) => (args) => {
      (args.request as { headers: Record<string, string> }).headers['x-sim-fault'] = 'midstream-error';
      return next(args);
    }, { step: 'build' });
    const bad = await failing.send(new ConverseStreamCommand({ modelId: 'm', messages: [{ role: 'user', content: [{ text: 'x' }] }] }));
    await expect(
      (async () => {
        for await (const _ of bad.stream ?? []) {
          // drain until the exception
        }
      })(),
    ).rejects.toMatchObject({ name: 'ThrottlingException' });
    failing.destroy();
  });

  it('refuses a wrong secret (InvalidSignatureException) and an unknown key (UnrecognizedClientException)', async () => {
    const msg = { modelId: 'm', messages: [{ role: 'user' as const, content: [{ text: 'x' }] }] };
    const wrongSecret = new BedrockRuntimeClient({ region: 'us-east-1', endpoint: sim.url, credentials: { ...credentials, secretAccessKey: 'nope' }, maxAttempts: 1 });
    await expect(wrongSecret.send(new ConverseCommand(msg))).rejects.toMatchObject({ name: 'InvalidSignatureException', $metadata: { httpStatusCode: 403 } });
    const unknown = new BedrockRuntimeClient({ region: 'us-east-1', endpoint: sim.url, credentials: { accessKeyId: 'AKIDUNKNOWN', secretAccessKey: 'x' }, maxAttempts: 1 });
    await expect(unknown.send(new ConverseCommand(msg))).rejects.toMatchObject({ name: 'UnrecognizedClientException' });
    const otherRegion = new BedrockRuntimeClient({ region: 'eu-west-1', endpoint: sim.url, credentials, maxAttempts: 1 });
    await expect(otherRegion.send(new ConverseCommand(msg))).rejects.toMatchObject({ name: 'InvalidSignatureException' });
    await expect(client.send(new ConverseCommand({ modelId: 'm', messages: [{ role: 'assistant', content: [{ text: 'x' }] }] }))).rejects.toMatchObject({ name: 'ValidationException' });
    for (const c of [wrongSecret, unknown, otherRegion]) c.destroy();
  });
});

describe('openai AzureOpenAI client against the Azure OpenAI simulator', () => {
  let sim: ProviderSimServer;
  beforeAll(async () => {
    sim = await startProviderSim('azure', { apiKey: 'azure-sim-key', deployments: ['gpt-4o-prod', 'embed'] });
  });
  afterAll(() => sim.close());

  it('chat (streamed and not, with tools) and embeddings through deployments', async () => {
    const client = new AzureOpenAI({ apiKey: 'azure-sim-key', endpoint: sim.url, apiVersion: '2025-01-01-preview', deployment: 'gpt-4o-prod', maxRetries: 0 });
    const r = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    expect(r.choices[0]?.message.content?.length).toBeGreaterThan(0);
    expect(r.usage?.prompt_tokens).toBeGreaterThan(0);
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: WEATHER } }];
    const t = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'weather?' }], tools, tool_choice: 'required' });
    expect(t.choices[0]?.finish_reason).toBe('tool_calls');
    let text = '';
    for await (const c of await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true })) text += c.choices[0]?.delta.content ?? '';
    expect(text.length).toBeGreaterThan(0);
    const embed = new AzureOpenAI({ apiKey: 'azure-sim-key', endpoint: sim.url, apiVersion: '2025-01-01-preview', deployment: 'embed', maxRetries: 0 });
    const e = await embed.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'] });
    expect(e.data).toHaveLength(2);
  });

  it('refuses a wrong key (401) and an unknown deployment (404 DeploymentNotFound)', async () => {
    const bad = new AzureOpenAI({ apiKey: 'nope', endpoint: sim.url, apiVersion: '2025-01-01-preview', deployment: 'gpt-4o-prod', maxRetries: 0 });
    await expect(bad.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ status: 401 });
    const missing = new AzureOpenAI({ apiKey: 'azure-sim-key', endpoint: sim.url, apiVersion: '2025-01-01-preview', deployment: 'nope', maxRetries: 0 });
    await expect(missing.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ status: 404, code: 'DeploymentNotFound' });
  });
});
