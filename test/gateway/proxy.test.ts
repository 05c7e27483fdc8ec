// The OpenAI front door end to end: the official `openai` SDK as the client, a real upstream.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendYaml, routeYaml, startGateway, type TestGateway } from '../helpers/gateway.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';

let up: Upstream;
let gw: TestGateway;

beforeAll(async () => {
  up = await startUpstream(openAIBehavior({ chunks: 6 }));
  gw = await startGateway({
    'backend.yaml': backendYaml('vllm', [{ port: up.port }], {
      apiKey: 'sk-upstream-secret',
      extraSpec: `  bodyMutation:\n    set:\n      - path: service_tier\n        value: '"scale"'\n    remove: [internal_flag]\n`,
    }),
    'route.yaml': routeYaml('models', [
      { name: 'by-model', matches: [{ 'x-ai-eg-model': 'gpt-oss-120b' }], backends: [{ name: 'vllm' }] },
      {
        name: 'by-app',
        matches: [{ 'x-workload-app': 'swe-rebench-ide' }],
        backends: [{ name: 'vllm', modelNameOverride: 'served-model', extra: `\n          headerMutation:\n            set:\n              - name: x-tier\n                value: two` }],
      },
    ]),
  });
});

afterAll(async () => {
  await gw.close();
  await up.close();
});

function client(headers: Record<string, string> = {}): OpenAI {
  return new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'client-key-that-must-not-travel', defaultHeaders: headers, maxRetries: 0 });
}

describe('OpenAI front door', () => {
  it('proxies a non-streamed chat completion and reports the backend usage', async () => {
    const { data, response } = await client()
      .chat.completions.create({ model: 'gpt-oss-120b', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    expect(data.choices[0]?.message.content).toBe('w0 w1 w2 w3 w4 w5 ');
    expect(data.usage).toMatchObject({ prompt_tokens: 11, completion_tokens: 6, total_tokens: 17 });
    expect(response.headers.get('x-request-id')).toMatch(/.+/);
    expect(response.headers.get('server-timing')).toMatch(/gateway;dur=[\d.]+, upstream;dur=[\d.]+/);
    const seen = up.requests.at(-1);
    expect(seen?.url).toBe('/v1/chat/completions');
    expect(seen?.headers['authorization']).toBe('Bearer sk-upstream-secret');
    expect(seen?.headers['x-ai-eg-model']).toBe('gpt-oss-120b');
    expect(seen?.headers['x-request-id']).toBe(response.headers.get('x-request-id'));
    // bodyMutation on the backend
    expect(seen?.json?.['service_tier']).toBe('scale');
  });

  it('streams chunks through and hides the usage chunk the client did not ask for', async () => {
    const stream = await client().chat.completions.create({ model: 'gpt-oss-120b', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    const parts: string[] = [];
    let sawUsage = false;
    for await (const chunk of stream) {
      if (chunk.usage) sawUsage = true;
      for (const c of chunk.choices) if (c.delta.content) parts.push(c.delta.content);
    }
    expect(parts.join('')).toBe('w0 w1 w2 w3 w4 w5 ');
    expect(sawUsage).toBe(false);
    // ... while the upstream was asked for usage (the gateway needs it for accounting).
    expect(up.requests.at(-1)?.json?.['stream_options']).toEqual({ include_usage: true });
  });

  it('passes the usage chunk through when the client asked for it', async () => {
    const stream = await client().chat.completions.create({
      model: 'gpt-oss-120b',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'hi' }],
    });
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    expect(usage).toMatchObject({ prompt_tokens: 11, completion_tokens: 6 });
  });

  it('routes by x-workload-app and applies modelNameOverride and header mutations', async () => {
    const out = await client({ 'x-workload-app': 'swe-rebench-ide' }).chat.completions.create({
      model: 'whatever-the-client-says',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(out.model).toBe('served-model');
    const seen = up.requests.at(-1);
    expect(seen?.json?.['model']).toBe('served-model');
    expect(seen?.headers['x-tier']).toBe('two');
  });

  it('overwrites a client-sent x-ai-eg-model with the body model', async () => {
    const before = up.requests.length;
    const err = await client({ 'x-ai-eg-model': 'gpt-oss-120b' })
      .chat.completions.create({ model: 'not-routed', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('route_not_found');
    expect(up.requests.length).toBe(before);
  });

  it('serves completions and embeddings, and lists models', async () => {
    const c = client();
    const emb = await c.embeddings.create({ model: 'gpt-oss-120b', input: 'hello', encoding_format: 'float' });
    expect(emb.data[0]?.embedding).toEqual([0.1, 0.2]);
    expect(up.requests.at(-1)?.url).toBe('/v1/embeddings');
    const comp = await c.completions.create({ model: 'gpt-oss-120b', prompt: 'hi' });
    expect(comp).toBeDefined();
    expect(up.requests.at(-1)?.url).toBe('/v1/completions');
    const models = await c.models.list();
    expect(models.data.map((m) => m.id).sort()).toEqual(['gpt-oss-120b', 'served-model']);
  });

  it('serves HTTP/2 cleartext (prior knowledge) on the same port', async () => {
    const http2 = await import('node:http2');
    const session = http2.connect(gw.url);
    try {
      const body = await new Promise<{ status: number; text: string; rid: string | undefined }>((resolve, reject) => {
        const s = session.request({
          ':method': 'POST',
          ':path': '/v1/chat/completions',
          'content-type': 'application/json',
          authorization: 'Bearer client',
        });
        let status = 0;
        let rid: string | undefined;
        let text = '';
        s.on('response', (h) => {
          status = Number(h[':status']);
          rid = h['x-request-id'] as string | undefined;
        });
        s.setEncoding('utf8');
        s.on('data', (d: string) => (text += d));
        s.on('end', () => resolve({ status, text, rid }));
        s.on('error', reject);
        s.end(JSON.stringify({ model: 'gpt-oss-120b', stream: true, messages: [{ role: 'user', content: 'hi' }] }));
      });
      expect(body.status).toBe(200);
      expect(body.rid).toBeDefined();
      expect(body.text).toContain('data: [DONE]');
      expect(body.text).toContain('"content":"w5 "');
      expect(up.requests.at(-1)?.headers['authorization']).toBe('Bearer sk-upstream-secret');
    } finally {
      session.close();
    }
  });
});
