// The native Gemini front door: the official `@google/genai` SDK with its base URL set to the gateway
// → Gemini backends natively (Gemini API, Vertex AI) and every other backend kind by translation
// (vLLM-style sim, Azure, Anthropic on its API, Vertex and Bedrock, Bedrock Converse): generateContent, generateContentStream (alt=sse),
// function calling round trips, countTokens and embedContent.
import { FunctionCallingConfigMode, GoogleGenAI, Type } from '@google/genai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/gateway.js';
import { startRig, type Rig, type Target } from '../providers/rig.js';

const TARGETS: readonly Target[] = ['gemini', 'vertex', 'openai', 'azure', 'anthropic', 'gcp-anthropic', 'aws-anthropic', 'bedrock'];
const NATIVE: ReadonlySet<Target> = new Set(['gemini', 'vertex']);
const EMBEDS: ReadonlySet<Target> = new Set(['gemini', 'vertex', 'openai', 'azure']);

const WEATHER = {
  name: 'get_weather',
  description: 'Weather for a city',
  parameters: { type: Type.OBJECT, properties: { city: { type: Type.STRING } }, required: ['city'] },
};

async function metric(rig: Rig, name: string, match: string): Promise<number> {
  const text = await (await fetch(`${rig.gateway.adminUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${name}{`) && line.includes(match)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

describe.each(TARGETS)('@google/genai → gateway /v1beta → %s', (target) => {
  let rig: Rig;
  let ai: GoogleGenAI;
  beforeAll(async () => {
    rig = await startRig(target);
    ai = new GoogleGenAI({ apiKey: 'client-key-never-forwarded', httpOptions: { baseUrl: rig.gateway.url } });
  });
  afterAll(() => rig.close());

  it('generateContent with a system instruction and usage', async () => {
    const r = await ai.models.generateContent({
      model: rig.model,
      contents: 'Hello there',
      config: { systemInstruction: 'Be brief.', maxOutputTokens: 64, temperature: 0.2 },
    });
    expect(r.text?.length ?? 0).toBeGreaterThan(0);
    expect(r.candidates?.[0]?.finishReason).toBeDefined();
    expect(r.usageMetadata?.promptTokenCount).toBeGreaterThan(0);
    expect(r.usageMetadata?.candidatesTokenCount).toBeGreaterThan(0);
    if (!NATIVE.has(target)) {
      const seen = JSON.stringify(rig.seen()?.body ?? {});
      if (target !== 'openai') expect(seen).toContain('Be brief.');
    }
    await eventually(async () => (await metric(rig, 'gen_ai_client_token_usage_token_sum', 'gen_ai_token_type="output"')) > 0, 'output tokens counted', 15_000);
  });

  it('generateContentStream yields text chunks and final usage', async () => {
    const stream = await ai.models.generateContentStream({ model: rig.model, contents: [{ role: 'user', parts: [{ text: 'Stream please' }] }] });
    let text = '';
    let chunks = 0;
    let last: Awaited<ReturnType<typeof ai.models.generateContent>> | undefined;
    for await (const c of stream) {
      chunks++;
      text += c.text ?? '';
      last = c;
    }
    expect(chunks).toBeGreaterThan(1);
    expect(text.length).toBeGreaterThan(0);
    expect(last?.usageMetadata?.totalTokenCount).toBeGreaterThan(0);
    expect(last?.candidates?.[0]?.finishReason).toBe('STOP');
  });

  it('function calling: a call, then its response', async () => {
    const config = { tools: [{ functionDeclarations: [WEATHER] }], toolConfig: { functionCallingConfig: { mode: FunctionCallingConfigMode.ANY } } };
    const r = await ai.models.generateContent({ model: rig.model, contents: 'Weather in Paris?', config });
    const call = r.functionCalls?.[0];
    expect(call?.name).toBe('get_weather');
    expect(typeof call?.args).toBe('object');
    if (!NATIVE.has(target) && target !== 'openai') {
      // Gemini's upper-case schema types reached the backend as JSON Schema.
      expect(JSON.stringify(rig.seen()?.body ?? {})).toMatch(/"type":"(object|OBJECT)"/);
    }
    const next = await ai.models.generateContent({
      model: rig.model,
      contents: [
        { role: 'user', parts: [{ text: 'Weather in Paris?' }] },
        { role: 'model', parts: [{ functionCall: call }] },
        { role: 'user', parts: [{ functionResponse: { id: call?.id, name: 'get_weather', response: { temp: 21 } } }] },
      ],
      config: { tools: [{ functionDeclarations: [WEATHER] }] },
    });
    expect(next.text?.length ?? 0).toBeGreaterThan(0);
  });

  it('structured output: responseSchema reaches the backend in its form', async () => {
    const r = await ai.models.generateContent({
      model: rig.model,
      contents: 'A city as JSON',
      config: { responseMimeType: 'application/json', responseSchema: { type: Type.OBJECT, properties: { city: { type: Type.STRING } }, required: ['city'] } },
    });
    expect(r.text?.length ?? 0).toBeGreaterThan(0);
    const seen = rig.seen()?.body as Record<string, unknown> | undefined;
    if (target === 'anthropic' || target === 'bedrock') expect(JSON.stringify(seen)).toContain('city');
  });

  it('countTokens: the backend counts when it speaks Gemini, else the gateway', async () => {
    const r = await ai.models.countTokens({ model: rig.model, contents: 'How many tokens is this sentence?' });
    expect(r.totalTokens).toBeGreaterThan(3);
    const res = await fetch(`${rig.gateway.url}/v1beta/models/${rig.model}:countTokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'How many tokens is this sentence?' }] }] }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-tollgate-token-count')).toBe(NATIVE.has(target) ? null : 'gateway');
  });

  it.runIf(EMBEDS.has(target))('embedContent', async () => {
    const r = await ai.models.embedContent({ model: rig.model, contents: 'Embed me' });
    expect(r.embeddings?.[0]?.values?.length ?? 0).toBeGreaterThan(0);
  });
});

describe('Gemini ingress errors', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig('openai');
  });
  afterAll(() => rig.close());

  it('says what cannot be translated, and unknown models get 404', async () => {
    const ai = new GoogleGenAI({ apiKey: 'k', httpOptions: { baseUrl: rig.gateway.url } });
    await expect(ai.models.generateContent({ model: rig.model, contents: 'x', config: { tools: [{ googleSearch: {} }] } })).rejects.toThrow(/googleSearch/);
    await expect(ai.models.generateContent({ model: 'no-such-model', contents: 'x' })).rejects.toThrow(/no-such-model/);
    const res = await fetch(`${rig.gateway.url}/v1beta/models/${rig.model}:generateContent`, { method: 'GET' });
    expect(res.status).toBe(405);
  });
});
