// The OpenAI endpoints beside generation, passed through to OpenAI-compatible backends with routing by
// `model`, the backend's credential and usage where the backend reports it: moderations, image
// generation, text to speech (a binary body streamed through), and rerank, both to an OpenAI-schema
// backend (vLLM serves Cohere's rerank API) and to an AIServiceBackend of schema `Cohere`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimServer, type SimServerHandle } from '../../src/sim/index.js';
import { eventually, startGateway, type TestGateway } from '../helpers/gateway.js';
import { backendYaml, credentialYaml, routeYaml, startRig, type Rig } from './rig.js';

async function metric(adminUrl: string, series: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('openai SDK → gateway → OpenAI-compatible backend: moderations, images, speech, rerank', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig('openai');
  });
  afterAll(() => rig.close());

  it('moderations', async () => {
    const r = await rig.client.moderations.create({ model: rig.model, input: ['hello there', 'good morning'] });
    expect(r.results).toHaveLength(2);
    expect(r.results[0]?.flagged).toBe(false);
    expect(typeof r.results[0]?.category_scores.violence).toBe('number');
  });

  it('image generation, with the usage the backend reports', async () => {
    const r = await rig.client.images.generate({ model: rig.model, prompt: 'A lighthouse at dusk', n: 2 });
    expect(r.data).toHaveLength(2);
    expect(Buffer.from(r.data?.[0]?.b64_json ?? '', 'base64').subarray(1, 4).toString()).toBe('PNG');
    expect(r.usage?.output_tokens).toBe(544);
    expect(r.usage?.input_tokens).toBeGreaterThan(0);
    // Accounted with the backend's numbers.
    await eventually(async () => (await metric(rig.gateway.adminUrl, 'tollgate_usage_records_total{usage_source="backend"}')) >= 1, 'a usage record from the backend');
  });

  it('speech: the audio body streams through as the backend sent it', async () => {
    const input = 'The quick brown fox jumps over the lazy dog.';
    const r = await rig.client.audio.speech.create({ model: rig.model, voice: 'alloy', input });
    expect(r.headers.get('content-type')).toBe('audio/mpeg');
    expect(r.headers.get('x-request-id')).toMatch(/.+/);
    const bytes = Buffer.from(await r.arrayBuffer());
    expect(bytes.length).toBe(4096 + input.length * 512);
  });

  it('rerank at /v2/rerank and /cohere/v2/rerank, routed by model', async () => {
    for (const path of ['/v2/rerank', '/cohere/v2/rerank']) {
      const r = await fetch(`${rig.gateway.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: rig.model, query: 'capital of France', documents: ['Paris is the capital of France.', 'Berlin is in Germany.', 'Madrid'], top_n: 2 }),
      });
      expect(r.status).toBe(200);
      const j = (await r.json()) as { results: Array<{ index: number; relevance_score: number }> };
      expect(j.results).toHaveLength(2);
      expect(j.results[0]!.relevance_score).toBeGreaterThanOrEqual(j.results[1]!.relevance_score);
    }
  });

  it('an unrouted model is refused before any backend is asked', async () => {
    await expect(rig.client.images.generate({ model: 'no-such-model', prompt: 'x' })).rejects.toMatchObject({ status: 404 });
  });
});

describe('AIServiceBackend schema Cohere: rerank', () => {
  let sim: SimServerHandle;
  let gw: TestGateway;
  beforeAll(async () => {
    sim = await startSimServer({ apiKey: 'sk-openai-sim', profile: 'fast' });
    gw = await startGateway({
      'backend.yaml': backendYaml('cohere', 'Cohere', sim.port, 'v2'),
      'credentials.yaml': credentialYaml('openai', 'cohere', sim.url),
      'route.yaml': routeYaml('rerank', 'rerank-v3.5', 'cohere'),
    });
  });
  afterAll(async () => {
    await gw.close();
    await sim.close();
  });

  it('passes rerank through to /v2/rerank with the backend credential; other operations are refused', async () => {
    const r = await fetch(`${gw.url}/v2/rerank`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'rerank-v3.5', query: 'q', documents: [{ text: 'a' }, { text: 'b' }] }),
    });
    expect(r.status).toBe(200);
    const j = (await r.json()) as { results: unknown[]; meta: unknown };
    expect(j.results).toHaveLength(2);
    // The simulator logs what it received under the gateway's request id.
    const last = (await (await fetch(`${sim.url}/_sim/requests/${r.headers.get('x-request-id') ?? ''}`)).json()) as { path: string; credential: string };
    expect(last?.path).toBe('/v2/rerank');
    expect(last?.credential).toBe('valid');
    const chat = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'rerank-v3.5', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(chat.status).toBe(400);
  });
});
