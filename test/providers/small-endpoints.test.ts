// The small endpoints everyday clients call, through the gateway with the official SDKs:
// `models.retrieve`, Anthropic `messages.countTokens` (forwarded to Anthropic, counted by the gateway
// otherwise, the header saying which), Anthropic-shaped errors and the `request-id` header.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRig, type Rig } from './rig.js';

const MSG = { messages: [{ role: 'user' as const, content: 'How many tokens is this sentence, roughly?' }] };

describe('GET /v1/models/{id}', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig('openai');
  });
  afterAll(() => rig.close());

  it('retrieves a routed model and answers 404 for others', async () => {
    const m = await rig.client.models.retrieve(rig.model);
    expect(m.id).toBe(rig.model);
    expect(m.object).toBe('model');
    const err = await rig.client.models.retrieve('no-such-model').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
  });
});

describe('Anthropic SDK → gateway → Anthropic: count_tokens forwarded, errors and request-id', () => {
  let rig: Rig;
  let client: Anthropic;
  beforeAll(async () => {
    rig = await startRig('anthropic');
    client = new Anthropic({ apiKey: 'client-key-never-forwarded', baseURL: rig.gateway.url, maxRetries: 0 });
  });
  afterAll(() => rig.close());

  it('forwards count_tokens to the backend and says so', async () => {
    const { data, response } = await client.messages.countTokens({ model: rig.model, ...MSG }).withResponse();
    expect(data.input_tokens).toBeGreaterThan(0);
    expect(response.headers.get('x-tollgate-counted-by')).toBe('backend');
    expect(response.headers.get('request-id')).toBe(response.headers.get('x-request-id'));
    expect(rig.seen()?.path).toBe('/v1/messages/count_tokens');
    // Envoy AI Gateway's prefix works too.
    const r = await fetch(`${rig.gateway.url}/anthropic/v1/messages/count_tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: rig.model, ...MSG }),
    });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { input_tokens: number }).input_tokens).toBe(data.input_tokens);
  });

  it('answers errors in Anthropic shape with request-id, which the SDK exposes', async () => {
    const err = await client.messages.create({ model: 'no-such-model', max_tokens: 10, ...MSG }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
    const e = err as InstanceType<typeof Anthropic.NotFoundError>;
    expect(e.error).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    expect(e.requestID).toMatch(/.+/);
    const bad = await client.messages.create({ model: rig.model, max_tokens: 10, messages: 'nope' as unknown as [] }).catch((x: unknown) => x);
    expect(bad).toBeInstanceOf(Anthropic.APIError);
    expect((bad as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error' });
    const ok = await client.messages.create({ model: rig.model, max_tokens: 16, ...MSG });
    expect(ok._request_id).toMatch(/.+/);
  });
});

describe('Anthropic SDK → gateway → vLLM: count_tokens counted by the gateway', () => {
  let rig: Rig;
  let client: Anthropic;
  beforeAll(async () => {
    rig = await startRig('openai');
    client = new Anthropic({ apiKey: 'client-key-never-forwarded', baseURL: rig.gateway.url, maxRetries: 0 });
  });
  afterAll(() => rig.close());

  it('counts system, messages and tools with the gateway tokenizer and says so', async () => {
    const { data, response } = await client.messages.countTokens({ model: rig.model, ...MSG }).withResponse();
    expect(response.headers.get('x-tollgate-counted-by')).toBe('gateway');
    expect(data.input_tokens).toBeGreaterThan(5);
    const more = await client.messages.countTokens({
      model: rig.model,
      system: 'You are a careful assistant who answers in one sentence.',
      tools: [{ name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
      ...MSG,
    });
    expect(more.input_tokens).toBeGreaterThan(data.input_tokens + 20);
    // An unrouted model: a 404 in Anthropic's shape, before any counting.
    const err = await client.messages.countTokens({ model: 'no-such-model', ...MSG }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
  });
});

describe('Anthropic SDK → gateway → Claude on Vertex AI and Bedrock: count_tokens forwarded to their count endpoints', () => {
  for (const [target, upstreamPath] of [
    ['gcp-anthropic', /\/publishers\/anthropic\/models\/count-tokens:rawPredict$/],
    ['aws-anthropic', /^\/model\/anthropic\.claude-3-5-sonnet-20241022-v2%3A0\/count-tokens$/],
  ] as const) {
    it(`${target}: the backend counts, the answer is Anthropic's shape`, async () => {
      const rig = await startRig(target);
      try {
        const client = new Anthropic({ apiKey: 'client-key-never-forwarded', baseURL: rig.gateway.url, maxRetries: 0 });
        const { data, response } = await client.messages.countTokens({ model: rig.model, system: 'Be brief.', ...MSG }).withResponse();
        expect(response.headers.get('x-tollgate-counted-by')).toBe('backend');
        expect(data).toEqual({ input_tokens: expect.any(Number) as number });
        expect(data.input_tokens).toBeGreaterThan(5);
        const seen = rig.seen();
        expect(seen?.path).toMatch(upstreamPath);
        if (target === 'gcp-anthropic') expect(seen?.body).toMatchObject({ model: rig.model, system: 'Be brief.', messages: MSG.messages });
        else {
          // Bedrock's CountTokens takes the InvokeModel body, base64, under input.invokeModel.body.
          const b64 = (seen?.body as { input: { invokeModel: { body: string } } }).input.invokeModel.body;
          expect(JSON.parse(Buffer.from(b64, 'base64').toString('utf8'))).toMatchObject({ anthropic_version: 'bedrock-2023-05-31', system: 'Be brief.', messages: MSG.messages });
        }
      } finally {
        await rig.close();
      }
    });
  }
});
