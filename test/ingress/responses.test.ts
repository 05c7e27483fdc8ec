// The OpenAI Responses API front door: the official `openai` SDK (responses.create, .stream,
// .retrieve, .delete, inputItems) → gateway → every backend kind by translation (vLLM-style sim,
// Azure, Anthropic on its API, Vertex and Bedrock, Gemini API and Vertex, Bedrock Converse), and
// natively to a backend that serves /v1/responses itself.
// Conversation state: previous_response_id chains, refused across callers, shared through Redis.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimServer } from '../../src/sim/index.js';
import { eventually, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { btpYaml, costRouteYaml, TOKEN_COST } from '../helpers/limits.js';
import { backendYaml, credentialYaml, routeYaml, startRig, startSim, type Rig, type Target } from '../providers/rig.js';

const TARGETS: readonly Target[] = ['openai', 'azure', 'anthropic', 'gcp-anthropic', 'aws-anthropic', 'gemini', 'vertex', 'bedrock'];

const WEATHER = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'Weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  strict: true,
};

function clientFor(gateway: TestGateway, apiKey = 'caller-a'): OpenAI {
  return new OpenAI({ apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
}

describe.each(TARGETS)('openai SDK responses → gateway → %s', (target) => {
  let rig: Rig;
  let client: OpenAI;
  beforeAll(async () => {
    rig = await startRig(target);
    client = clientFor(rig.gateway);
  });
  afterAll(() => rig.close());

  it('creates a response with instructions and usage', async () => {
    const r = await client.responses.create({ model: rig.model, instructions: 'Be brief.', input: 'Hello there', max_output_tokens: 64 }, { headers: { 'x-sim-output-tokens': '10' } });
    expect(r.object).toBe('response');
    expect(r.id).toMatch(/^resp_/);
    expect(r.status).toBe('completed');
    expect(r.output_text.length).toBeGreaterThan(0);
    expect(r.output[0]?.type).toBe('message');
    expect(r.usage?.input_tokens).toBeGreaterThan(0);
    expect(r.usage?.output_tokens).toBeGreaterThan(0);
    expect(r.usage?.input_tokens_details.cached_tokens).toBeGreaterThanOrEqual(0);
    expect(r.usage?.output_tokens_details.reasoning_tokens).toBeGreaterThanOrEqual(0);
    expect(r.usage?.total_tokens).toBe((r.usage?.input_tokens ?? 0) + (r.usage?.output_tokens ?? 0));
  });

  it('streams the Responses event sequence the SDK accumulates', async () => {
    const stream = client.responses.stream({ model: rig.model, input: [{ role: 'user', content: [{ type: 'input_text', text: 'Stream please' }] }] });
    const types: string[] = [];
    stream.on('event', (e) => types.push(e.type));
    const final = await stream.finalResponse();
    expect(types.slice(0, 2)).toEqual(['response.created', 'response.in_progress']);
    for (const t of ['response.output_item.added', 'response.content_part.added', 'response.output_text.delta', 'response.output_text.done', 'response.content_part.done', 'response.output_item.done']) {
      expect(types).toContain(t);
    }
    expect(types[types.length - 1]).toBe('response.completed');
    expect(final.output_text.length).toBeGreaterThan(0);
    expect(final.usage?.output_tokens).toBeGreaterThan(0);
  });

  it('function tools: a call, then its output, streamed and not', async () => {
    const r = await client.responses.create({ model: rig.model, input: 'Weather in Paris?', tools: [WEATHER], tool_choice: 'required' });
    const call = r.output.find((o) => o.type === 'function_call');
    expect(call?.type).toBe('function_call');
    if (call?.type !== 'function_call') return;
    expect(call.name).toBe('get_weather');
    expect(typeof JSON.parse(call.arguments)).toBe('object');

    const stream = client.responses.stream({ model: rig.model, input: 'Weather in Paris?', tools: [WEATHER], tool_choice: 'required' });
    const types: string[] = [];
    stream.on('event', (e) => types.push(e.type));
    const streamed = await stream.finalResponse();
    expect(types).toContain('response.function_call_arguments.delta');
    expect(types).toContain('response.function_call_arguments.done');
    const sCall = streamed.output.find((o) => o.type === 'function_call');
    expect(sCall?.type === 'function_call' && typeof JSON.parse(sCall.arguments)).toBe('object');

    const next = await client.responses.create({
      model: rig.model,
      tools: [WEATHER],
      input: [
        { role: 'user', content: 'Weather in Paris?' },
        { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: 'function_call_output', call_id: call.call_id, output: '{"temp":21}' },
      ],
    });
    expect(next.status).toBe('completed');
    expect(next.output_text.length).toBeGreaterThan(0);

    // The agent loop: only the tool's output, the call itself comes from the stored response.
    const chained = await client.responses.create({
      model: rig.model,
      tools: [WEATHER],
      previous_response_id: r.id,
      input: [{ type: 'function_call_output', call_id: call.call_id, output: '{"temp":21}' }],
    });
    expect(chained.status).toBe('completed');
    expect(chained.output_text.length).toBeGreaterThan(0);
  });

  it('chains with previous_response_id, and another caller cannot', async () => {
    const first = await client.responses.create({ model: rig.model, input: 'My name is Ada.' });
    const second = await client.responses.create({ model: rig.model, previous_response_id: first.id, input: 'What is my name?' });
    expect(second.previous_response_id).toBe(first.id);
    expect(second.status).toBe('completed');
    if (target !== 'openai') {
      // The backend saw the whole conversation: first input, first answer, second input.
      const seen = JSON.stringify(rig.seen()?.body ?? {});
      expect(seen).toContain('My name is Ada.');
      expect(seen).toContain('What is my name?');
    }
    const got = await client.responses.retrieve(second.id);
    expect(got.id).toBe(second.id);
    expect(got.output_text).toBe(second.output_text);
    const items = await client.responses.inputItems.list(second.id);
    expect(items.data.length).toBe(1);

    const other = clientFor(rig.gateway, 'caller-b');
    await expect(other.responses.retrieve(second.id)).rejects.toMatchObject({ status: 404 });
    await expect(other.responses.create({ model: rig.model, previous_response_id: second.id, input: 'And now?' })).rejects.toMatchObject({ status: 404 });
    await expect(other.responses.delete(second.id)).rejects.toMatchObject({ status: 404 });

    await client.responses.delete(second.id);
    await expect(client.responses.retrieve(second.id)).rejects.toMatchObject({ status: 404 });
  });

  it('translates text.format json_schema and reasoning for the backend', async () => {
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };
    const r = await client.responses.create({
      model: rig.model,
      input: 'A city as JSON',
      text: { format: { type: 'json_schema', name: 'city', schema, strict: true } },
      reasoning: { effort: 'low' },
      max_output_tokens: 256,
    });
    expect(r.text?.format?.type).toBe('json_schema');
    expect(r.output_text.length).toBeGreaterThan(0);
    const seen = rig.seen()?.body as Record<string, unknown> | undefined;
    switch (target) {
      case 'gemini': {
        const gc = seen?.['generationConfig'] as Record<string, unknown>;
        expect(gc['responseMimeType']).toBe('application/json');
        expect(JSON.stringify(gc['responseJsonSchema'] ?? gc['responseSchema'])).toContain('city');
        expect(gc['maxOutputTokens']).toBe(256);
        break;
      }
      case 'anthropic':
        expect(JSON.stringify(seen)).toContain('city');
        // The thinking budget for effort "low" comes on top of the answer's 256 tokens.
        expect(seen?.['thinking']).toMatchObject({ type: 'enabled' });
        expect(seen?.['max_tokens']).toBe(256 + ((seen?.['thinking'] as { budget_tokens: number }).budget_tokens));
        break;
      case 'bedrock':
        expect(JSON.stringify(seen)).toContain('city');
        break;
      default:
        break;
    }
  });
});

describe('state across replicas and stores', () => {
  let redis: TestRedis;
  let sim: Awaited<ReturnType<typeof startSimServer>>;
  let a: TestGateway;
  let b: TestGateway;
  beforeAll(async () => {
    redis = await startRedis();
    sim = await startSimServer({ apiKey: 'sk-openai-sim', profile: 'fast' });
    const files = {
      'backend.yaml': backendYaml('be', 'OpenAI', sim.port),
      'credentials.yaml': credentialYaml('openai', 'be', sim.url),
      'route.yaml': routeYaml('route', 'sim-model', 'be'),
    };
    const opts = { redis: { url: redis.url, prefix: 'rt:', password: undefined, caFile: undefined, timeoutMs: 1000 } };
    a = await startGateway(files, opts);
    b = await startGateway(files, opts);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    await sim.close();
    await redis.stop();
  });

  it('a response stored by one replica is read and continued on another', async () => {
    const first = await clientFor(a).responses.create({ model: 'sim-model', input: 'Remember 42.' });
    const onB = clientFor(b);
    expect((await onB.responses.retrieve(first.id)).output_text).toBe(first.output_text);
    const next = await onB.responses.create({ model: 'sim-model', previous_response_id: first.id, input: 'What number?' });
    expect(next.status).toBe('completed');
    await expect(clientFor(b, 'caller-b').responses.retrieve(first.id)).rejects.toMatchObject({ status: 404 });
  });

  it('store: false keeps nothing', async () => {
    const r = await clientFor(a).responses.create({ model: 'sim-model', input: 'Forget this.', store: false });
    await expect(clientFor(a).responses.retrieve(r.id)).rejects.toMatchObject({ status: 404 });
  });
});

describe('native passthrough to a backend serving the Responses API', () => {
  // The upstream is itself a gateway (translating to a vLLM-style simulator): a real Responses server.
  let sim: Awaited<ReturnType<typeof startSimServer>>;
  let upstream: TestGateway;
  let front: TestGateway;
  beforeAll(async () => {
    sim = await startSimServer({ apiKey: 'sk-openai-sim', profile: 'fast' });
    upstream = await startGateway({
      'backend.yaml': backendYaml('be', 'OpenAI', sim.port),
      'credentials.yaml': credentialYaml('openai', 'be', sim.url),
      'route.yaml': routeYaml('route', 'sim-model', 'be'),
    });
    const port = Number(new URL(upstream.url).port);
    const backend = backendYaml('native', 'OpenAI', port).replace('  namespace: default\nspec:\n  schema', '  namespace: default\n  annotations:\n    tollgate.io/responses-api: native\nspec:\n  schema');
    front = await startGateway({
      'backend.yaml': backend,
      'credentials.yaml': credentialYaml('openai', 'native', upstream.url),
      'route.yaml': routeYaml('route', 'sim-model', 'native'),
    });
  });
  afterAll(async () => {
    await front.close();
    await upstream.close();
    await sim.close();
  });

  it('passes create, stream and chaining through, keeping ownership at the front', async () => {
    const client = clientFor(front);
    const r = await client.responses.create({ model: 'sim-model', input: 'Hi' });
    expect(r.status).toBe('completed');
    const final = await client.responses.stream({ model: 'sim-model', input: 'Stream' }).finalResponse();
    expect(final.output_text.length).toBeGreaterThan(0);
    const next = await client.responses.create({ model: 'sim-model', previous_response_id: r.id, input: 'Again' });
    expect(next.previous_response_id).toBe(r.id);
    expect((await client.responses.retrieve(next.id)).id).toBe(next.id);
    await expect(clientFor(front, 'caller-b').responses.create({ model: 'sim-model', previous_response_id: r.id, input: 'Mine?' })).rejects.toMatchObject({ status: 404 });
    await eventually(async () => /gen_ai_client_token_usage_token_sum\{[^}]*gen_ai_token_type="output"[^}]*\} [1-9]/.test(await (await fetch(`${front.adminUrl}/metrics`)).text()), 'output tokens in /metrics', 15_000);
  });
});

describe('native passthrough to Azure OpenAI (its v1 Responses API)', () => {
  let sim: Awaited<ReturnType<typeof startSim>>;
  let gw: TestGateway;
  beforeAll(async () => {
    sim = await startSim('azure');
    const backend = backendYaml('az', 'AzureOpenAI', sim.port, '2025-04-01-preview').replace('  namespace: default\nspec:\n  schema', '  namespace: default\n  annotations:\n    tollgate.io/responses-api: native\nspec:\n  schema');
    gw = await startGateway({
      'backend.yaml': backend,
      'credentials.yaml': credentialYaml('azure', 'az', sim.url),
      // Clients say "gpt-4o"; the Azure deployment is "prod-4o".
      'route.yaml': routeYaml('route', 'gpt-4o', 'az', '\n          modelNameOverride: prod-4o'),
    });
  });
  afterAll(async () => {
    await gw.close();
    await sim.close();
  });

  it('create and stream reach /openai/v1/responses with the deployment as the model and the Azure key', async () => {
    const client = clientFor(gw);
    const r = await client.responses.create({ model: 'gpt-4o', instructions: 'Be brief.', input: 'Hi', max_output_tokens: 64 });
    expect(r.status).toBe('completed');
    expect(r.output_text.length).toBeGreaterThan(0);
    expect(r.usage?.input_tokens).toBeGreaterThan(0);
    const seen = sim.seen();
    expect(seen?.path).toBe('/openai/v1/responses');
    expect(seen?.body).toMatchObject({ model: 'prod-4o', instructions: 'Be brief.', input: 'Hi' });
    expect(Object.keys(seen?.headers ?? {})).toContain('api-key');
    expect(JSON.stringify(seen?.headers)).not.toContain('caller-a');
    const final = await client.responses.stream({ model: 'gpt-4o', input: 'Stream please' }).finalResponse();
    expect(final.output_text.length).toBeGreaterThan(0);
    // The gateway keeps what it relayed: the answer can be read back and continued by its caller.
    expect((await client.responses.retrieve(r.id)).id).toBe(r.id);
    await eventually(async () => /gen_ai_client_token_usage_token_sum\{[^}]*gen_ai_token_type="output"[^}]*\} [1-9]/.test(await (await fetch(`${gw.adminUrl}/metrics`)).text()), 'output tokens in /metrics', 15_000);
  });

  it('the simulator answers the SDK as Azure would: events in order, incomplete when the budget runs out', async () => {
    const direct = new OpenAI({ apiKey: 'azure-sim-key', baseURL: `${sim.url}/openai/v1`, maxRetries: 0 });
    const types: string[] = [];
    const stream = direct.responses.stream({ model: 'prod-4o', input: [{ role: 'user', content: 'Count to ten.' }], max_output_tokens: 16 });
    for await (const e of stream) types.push(e.type);
    const final = await stream.finalResponse();
    expect(types.slice(0, 4)).toEqual(['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
    expect(types.at(-1)).toBe('response.incomplete');
    expect(final).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' }, usage: { output_tokens: 16 } });
  });
});

describe('usage feeds rate limits', () => {
  let sim: Awaited<ReturnType<typeof startSimServer>>;
  let gw: TestGateway;
  beforeAll(async () => {
    sim = await startSimServer({ apiKey: 'sk-openai-sim', profile: 'fast' });
    gw = await startGateway({
      'backend.yaml': backendYaml('be', 'OpenAI', sim.port),
      'credentials.yaml': credentialYaml('openai', 'be', sim.url),
      'route.yaml': costRouteYaml('route', 'sim-model', [{ name: 'be' }]),
      'policy.yaml': btpYaml('tokens', 'route', 'Local', [{ requests: 100000, unit: 'Hour', cost: TOKEN_COST('llm_total_token') }]),
    });
  });
  afterAll(async () => {
    await gw.close();
    await sim.close();
  });

  it('a response is charged its total tokens, streamed or not', async () => {
    const client = clientFor(gw);
    const first = await client.responses.create({ model: 'sim-model', input: 'Count me' }, { headers: { 'x-sim-output-tokens': '9' } });
    const streamed = await client.responses.stream({ model: 'sim-model', input: 'Count me too' }, { headers: { 'x-sim-output-tokens': '9' } }).finalResponse();
    const { response } = await client.responses.create({ model: 'sim-model', input: 'And me' }).withResponse();
    const spent = (first.usage?.total_tokens ?? 0) + (streamed.usage?.total_tokens ?? 0);
    expect(spent).toBeGreaterThan(18);
    expect(response.headers.get('x-ratelimit-remaining-tokens')).toBe(String(100000 - spent));
  });
});
