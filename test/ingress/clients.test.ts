// Clients nobody here wrote, unchanged: the Vercel AI SDK's default OpenAI provider (which calls the
// Responses API) for generateText and streamText; and the openai and @google/genai SDKs facing a
// stream whose backend broke mid-way (an error the SDK raises, nothing stored, counted as failed).
import { createOpenAI } from '@ai-sdk/openai';
import { GoogleGenAI } from '@google/genai';
import { generateText, streamText } from 'ai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/gateway.js';
import { startRig, type Rig } from '../providers/rig.js';

describe('Vercel AI SDK default provider → gateway /v1/responses', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig('openai');
  });
  afterAll(() => rig.close());

  it('generateText and streamText', async () => {
    const openai = createOpenAI({ apiKey: 'client-key', baseURL: `${rig.gateway.url}/v1` });
    const g = await generateText({ model: openai('sim-model'), system: 'Be brief.', prompt: 'Hello', maxOutputTokens: 64, headers: { 'x-sim-output-tokens': '10' } });
    expect(g.text.length).toBeGreaterThan(0);
    expect(g.usage.inputTokens).toBeGreaterThan(0);
    expect(g.usage.outputTokens).toBeGreaterThan(0);
    expect(g.finishReason).toBe('stop');

    const s = streamText({ model: openai('sim-model'), prompt: 'Stream please', headers: { 'x-sim-output-tokens': '10' } });
    let text = '';
    for await (const part of s.textStream) text += part;
    expect(text.length).toBeGreaterThan(0);
    expect((await s.usage).outputTokens).toBeGreaterThan(0);
    expect(await s.finishReason).toBe('stop');

    // A budget the answer exceeds: the response is incomplete, which the SDK reports as length.
    const cut = await generateText({ model: openai('sim-model'), prompt: 'Hello', maxOutputTokens: 16, headers: { 'x-sim-output-tokens': '40' } });
    expect(cut.finishReason).toBe('length');
  });
});

describe('a Responses stream cut mid-way', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig('openai');
  });
  afterAll(() => rig.close());

  it.each(['reset-after=3', 'truncate-after=3'])('upstream %s: the SDK raises, nothing is stored', async (fault) => {
    const client = new OpenAI({ apiKey: 'caller-a', baseURL: `${rig.gateway.url}/v1`, maxRetries: 0 });
    const stream = client.responses.stream({ model: rig.model, input: 'A long answer please' }, { headers: { 'x-sim-fault': fault, 'x-sim-output-tokens': '50' } });
    let id: string | undefined;
    let deltas = 0;
    stream.on('event', (e) => {
      if (e.type === 'response.created') id = e.response.id;
      if (e.type === 'response.output_text.delta') deltas++;
    });
    await expect(stream.finalResponse()).rejects.toThrow();
    expect(id).toMatch(/^resp_/);
    expect(deltas).toBeGreaterThan(0);
    await expect(client.responses.retrieve(id ?? '')).rejects.toMatchObject({ status: 404 });
  });

  it('a Gemini stream cut mid-way raises in @google/genai', async () => {
    const ai = new GoogleGenAI({ apiKey: 'k', httpOptions: { baseUrl: rig.gateway.url, headers: { 'x-sim-fault': 'reset-after=3', 'x-sim-output-tokens': '50' } } });
    const stream = await ai.models.generateContentStream({ model: rig.model, contents: 'A long answer please' });
    let text = '';
    await expect(
      (async () => {
        for await (const c of stream) text += c.text ?? '';
      })(),
    ).rejects.toThrow();
    expect(text.length).toBeGreaterThan(0);
  });

  it('counts the cut stream as an error in the metrics', async () => {
    await eventually(async () => {
      const text = await (await fetch(`${rig.gateway.adminUrl}/metrics`)).text();
      return text.split('\n').some((l) => l.includes('error_type="upstream_') && l.includes('gen_ai_operation_name="chat"') && !l.endsWith(' 0'));
    }, 'an upstream error counted for the Responses stream', 15_000);
  });
});
