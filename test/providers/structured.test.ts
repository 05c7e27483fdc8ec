// Structured outputs from the simulators, checked by the clients that depend on them: openai's
// `chat.completions.parse` with zod schemas and functions, the Anthropic SDK's tool_use, Gemini's
// responseSchema, through the gateway over real sockets. Every document is also checked by a JSON
// Schema validator against the schema the client sent.
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI, Type } from '@google/genai';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { LengthFinishReasonError } from 'openai/core/error';
import { zodFunction, zodResponseFormat } from 'openai/helpers/zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startProviderSim, type ProviderSimServer } from '../../src/sim/providers/index.js';
import { startRig, type Rig } from './rig.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));

function expectValid(schema: unknown, value: unknown): void {
  // zod and openai's helpers stamp draft-07; the keywords they use mean the same under 2020-12.
  const { $schema: _draft, ...rest } = schema as Record<string, unknown>;
  const validate = ajv.compile(rest);
  if (!validate(value)) throw new Error(`${JSON.stringify(value)} does not validate: ${ajv.errorsText(validate.errors)}`);
}

const Trip = z.object({
  traveller: z.object({ name: z.string().min(2), email: z.email(), age: z.number().int().min(18).max(99) }),
  mode: z.enum(['train', 'plane', 'boat']),
  stops: z.array(z.object({ city: z.string(), nights: z.number().int().min(1).max(14), date: z.iso.date() })).min(1).max(4),
  budget: z.number().nullable(),
  notes: z.string().nullable(),
});

const Weather = z.object({ city: z.string(), unit: z.enum(['C', 'F']), days: z.number().int().min(1).max(7) });

describe('openai SDK → gateway → vLLM simulator: parse() with zod', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig('openai');
  });
  afterAll(() => rig.close());

  it('response_format json_schema (strict) parses and validates, streamed and not', async () => {
    const format = zodResponseFormat(Trip, 'trip');
    for (let i = 0; i < 5; i++) {
      const r = await rig.client.chat.completions.parse({ model: rig.model, messages: [{ role: 'user', content: `Plan trip ${i}` }], response_format: format });
      const parsed = r.choices[0]?.message.parsed;
      expect(parsed).not.toBeNull();
      expect(r.choices[0]?.finish_reason).toBe('stop');
      expectValid(format.json_schema.schema, JSON.parse(r.choices[0]?.message.content ?? ''));
    }
    const stream = rig.client.chat.completions.stream({ model: rig.model, messages: [{ role: 'user', content: 'Plan a trip' }], response_format: format, stream_options: { include_usage: true } });
    const final = await stream.finalChatCompletion();
    expect(final.choices[0]?.message.parsed?.stops.length).toBeGreaterThan(0);
    expectValid(format.json_schema.schema, JSON.parse(final.choices[0]?.message.content ?? ''));
  });

  it('a document cut by max_tokens ends with finish_reason length, which parse() reports', async () => {
    await expect(
      rig.client.chat.completions.parse({ model: rig.model, messages: [{ role: 'user', content: 'Plan' }], response_format: zodResponseFormat(Trip, 'trip'), max_tokens: 5 }),
    ).rejects.toBeInstanceOf(LengthFinishReasonError);
  });

  it('forced and named tool calls carry arguments of the declared schema; none answers in text', async () => {
    const tools = [zodFunction({ name: 'get_weather', parameters: Weather }), zodFunction({ name: 'book_trip', parameters: Trip })];
    const required = await rig.client.chat.completions.parse({ model: rig.model, messages: [{ role: 'user', content: 'Weather?' }], tools, tool_choice: 'required' });
    expect(required.choices[0]?.finish_reason).toBe('tool_calls');
    const named = await rig.client.chat.completions.parse({
      model: rig.model,
      messages: [{ role: 'user', content: 'Book it' }],
      tools,
      tool_choice: { type: 'function', function: { name: 'book_trip' } },
    });
    const call = named.choices[0]?.message.tool_calls?.[0];
    expect(call?.function.name).toBe('book_trip');
    expect(Trip.parse(call?.function.parsed_arguments)).toBeTruthy();
    const none = await rig.client.chat.completions.create({ model: rig.model, messages: [{ role: 'user', content: 'Hi' }], tools, tool_choice: 'none' });
    expect(none.choices[0]?.finish_reason).not.toBe('tool_calls');
    expect(none.choices[0]?.message.content?.length).toBeGreaterThan(0);
  });

  it('logprobs and top_logprobs when asked, one entry per token', async () => {
    const r = await rig.client.chat.completions.create(
      { model: rig.model, messages: [{ role: 'user', content: 'Hi' }], logprobs: true, top_logprobs: 3 },
      { headers: { 'x-sim-output-tokens': '6' } },
    );
    const lp = r.choices[0]?.logprobs?.content ?? [];
    expect(lp).toHaveLength(6);
    expect(lp.map((e) => e.token).join('')).toBe(r.choices[0]?.message.content);
    for (const e of lp) {
      expect(e.logprob).toBeLessThanOrEqual(0);
      expect(e.top_logprobs).toHaveLength(3);
    }
    const plain = await rig.client.chat.completions.create({ model: rig.model, messages: [{ role: 'user', content: 'Hi' }] });
    expect(plain.choices[0]?.logprobs).toBeNull();
  });
});

describe('openai SDK → gateway → Bedrock Converse simulator: toolUse input of the declared schema', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig('bedrock');
  });
  afterAll(() => rig.close());

  it('a forced tool call parses with zod', async () => {
    const tools = [zodFunction({ name: 'book_trip', parameters: Trip })];
    for (let i = 0; i < 3; i++) {
      const r = await rig.client.chat.completions.parse({ model: rig.model, messages: [{ role: 'user', content: `Book ${i}` }], tools, tool_choice: 'required' });
      expect(Trip.parse(r.choices[0]?.message.tool_calls?.[0]?.function.parsed_arguments)).toBeTruthy();
    }
  });
});

describe('Anthropic SDK → gateway → Anthropic simulator: tool_use input of the declared schema', () => {
  let rig: Rig;
  let client: Anthropic;
  beforeAll(async () => {
    rig = await startRig('anthropic');
    client = new Anthropic({ apiKey: 'client-key-never-forwarded', baseURL: rig.gateway.url, maxRetries: 0 });
  });
  afterAll(() => rig.close());

  it('a named tool_choice calls that tool with input that validates', async () => {
    const schema = z.toJSONSchema(Trip) as Anthropic.Tool.InputSchema;
    const tools = [
      { name: 'book_trip', description: 'Book', input_schema: schema },
      { name: 'get_weather', description: 'Weather', input_schema: z.toJSONSchema(Weather) as Anthropic.Tool.InputSchema },
    ];
    for (let i = 0; i < 3; i++) {
      const m = await client.messages.create({ model: rig.model, max_tokens: 1024, tools, tool_choice: { type: 'tool', name: 'book_trip' }, messages: [{ role: 'user', content: `Book ${i}` }] });
      const uses = m.content.filter((b) => b.type === 'tool_use');
      expect(uses.map((u) => u.name)).toEqual(['book_trip']);
      expectValid(schema, uses[0]?.input);
    }
    const none = await client.messages.create({ model: rig.model, max_tokens: 64, tools, tool_choice: { type: 'none' }, messages: [{ role: 'user', content: 'Hi' }] });
    expect(none.stop_reason).toBe('end_turn');
  });
});

describe('Gemini: responseSchema and function calls of the declared schema', () => {
  let rig: Rig;
  let sim: ProviderSimServer;
  beforeAll(async () => {
    rig = await startRig('gemini');
    sim = await startProviderSim('gemini', { apiKey: 'AIza-sim-key' });
  });
  afterAll(async () => {
    await rig.close();
    await sim.close();
  });

  it('@google/genai responseSchema (OpenAPI style) and responseJsonSchema', async () => {
    const ai = new GoogleGenAI({ apiKey: 'AIza-sim-key', httpOptions: { baseUrl: sim.url } });
    const responseSchema = {
      type: Type.OBJECT,
      properties: { city: { type: Type.STRING }, days: { type: Type.INTEGER, nullable: true }, tags: { type: Type.ARRAY, items: { type: Type.STRING, enum: ['a', 'b'] } } },
      required: ['city', 'days', 'tags'],
    };
    const r = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Weather', config: { responseMimeType: 'application/json', responseSchema } });
    const v = JSON.parse(r.text ?? '') as { city: unknown; days: unknown; tags: unknown[] };
    expect(typeof v.city).toBe('string');
    expect(v.days === null || Number.isInteger(v.days)).toBe(true);
    for (const t of v.tags) expect(['a', 'b']).toContain(t);
    const schema = z.toJSONSchema(Trip);
    const j = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Trip', config: { responseMimeType: 'application/json', responseJsonSchema: schema } });
    expectValid(schema, JSON.parse(j.text ?? ''));
  });

  it('openai parse() through the gateway to Gemini: the translated schema comes back valid', async () => {
    const format = zodResponseFormat(Trip, 'trip');
    const r = await rig.client.chat.completions.parse({ model: rig.model, messages: [{ role: 'user', content: 'Plan' }], response_format: format });
    expect(r.choices[0]?.message.parsed).not.toBeNull();
    expectValid(format.json_schema.schema, JSON.parse(r.choices[0]?.message.content ?? ''));
    const tools = [zodFunction({ name: 'get_weather', parameters: Weather })];
    const t = await rig.client.chat.completions.parse({ model: rig.model, messages: [{ role: 'user', content: 'Weather?' }], tools, tool_choice: 'required' });
    expect(Weather.parse(t.choices[0]?.message.tool_calls?.[0]?.function.parsed_arguments)).toBeTruthy();
  });
});
