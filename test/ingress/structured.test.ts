// Structured outputs end to end with clients nobody here wrote, against the schema-true simulators:
// the Vercel AI SDK's generateObject / streamObject (default provider: the Responses API), the openai
// SDK's responses.parse with zodTextFormat, and @google/genai responseSchema through the Gemini door to
// backends that are not Gemini. Each result is validated with ajv against the JSON Schema.
import { createOpenAI } from '@ai-sdk/openai';
import { GoogleGenAI, Type } from '@google/genai';
import { generateObject, streamObject } from 'ai';
import { Ajv } from 'ajv';
import OpenAI from 'openai';
import { zodTextFormat } from 'openai/helpers/zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startRig, type Rig, type Target } from '../providers/rig.js';

const Ticket = z.object({
  title: z.string(),
  priority: z.enum(['low', 'medium', 'high']),
  estimate: z.number(),
  done: z.boolean(),
  tags: z.array(z.string()),
  owner: z.object({ name: z.string(), team: z.string() }),
  due: z.string().nullable(),
  links: z.array(z.object({ url: z.string(), kind: z.enum(['issue', 'doc']) })).min(1).max(3),
});

const TICKET_SCHEMA = z.toJSONSchema(Ticket, { target: 'draft-7' });

function validator(schema: object): (v: unknown) => string | undefined {
  const check = new Ajv({ strict: false }).compile(schema);
  return (v) => (check(v) ? undefined : JSON.stringify(check.errors));
}

const validTicket = validator(TICKET_SCHEMA);

describe('Vercel AI SDK generateObject / streamObject → /v1/responses → vLLM simulator', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig('openai');
  });
  afterAll(() => rig.close());

  it('generateObject returns an object that validates', async () => {
    const openai = createOpenAI({ apiKey: 'client-key', baseURL: `${rig.gateway.url}/v1` });
    const r = await generateObject({ model: openai('sim-model'), schema: Ticket, prompt: 'File a ticket for the login bug.' });
    expect(validTicket(r.object)).toBeUndefined();
    expect(r.usage.outputTokens).toBeGreaterThan(0);
  });

  it('streamObject streams partial objects and ends with one that validates', async () => {
    const openai = createOpenAI({ apiKey: 'client-key', baseURL: `${rig.gateway.url}/v1` });
    const s = streamObject({ model: openai('sim-model'), schema: Ticket, prompt: 'File a ticket for the login bug.' });
    let partials = 0;
    for await (const _ of s.partialObjectStream) partials++;
    expect(partials).toBeGreaterThan(0);
    expect(validTicket(await s.object)).toBeUndefined();
  });
});

describe('openai responses.parse with zodTextFormat → /v1/responses', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig('openai');
  });
  afterAll(() => rig.close());

  it('output_parsed validates', async () => {
    const r = await rig.client.responses.parse({ model: rig.model, input: 'File a ticket for the login bug.', text: { format: zodTextFormat(Ticket, 'ticket') } });
    expect(r.output_parsed).not.toBeNull();
    expect(validTicket(r.output_parsed)).toBeUndefined();
  });

  it('a streamed parse validates too', async () => {
    const client = new OpenAI({ apiKey: 'client-key', baseURL: `${rig.gateway.url}/v1`, maxRetries: 0 });
    const stream = client.responses.stream({ model: rig.model, input: 'File a ticket.', text: { format: zodTextFormat(Ticket, 'ticket') } });
    const final = await stream.finalResponse();
    expect(validTicket(final.output_parsed)).toBeUndefined();
  });
});

// Gemini's OpenAPI-style schema (upper-case types) and the JSON Schema it means.
const GEMINI_SCHEMA = {
  type: Type.OBJECT,
  properties: {
    city: { type: Type.STRING },
    days: { type: Type.INTEGER },
    unit: { type: Type.STRING, format: 'enum', enum: ['C', 'F'] },
    note: { type: Type.STRING, nullable: true },
    sky: { type: Type.STRING, enum: ['clear', 'cloudy'], nullable: true },
    forecast: { type: Type.ARRAY, minItems: '1', items: { type: Type.OBJECT, properties: { day: { type: Type.INTEGER }, high: { type: Type.NUMBER }, rain: { type: Type.BOOLEAN } }, required: ['day', 'high', 'rain'] } },
  },
  required: ['city', 'days', 'unit', 'note', 'forecast'],
  propertyOrdering: ['city', 'days', 'unit', 'note', 'forecast'],
};
const validForecast = validator({
  type: 'object',
  properties: {
    city: { type: 'string' },
    days: { type: 'integer' },
    unit: { enum: ['C', 'F'] },
    note: { type: ['string', 'null'] },
    sky: { enum: ['clear', 'cloudy', null] },
    forecast: { type: 'array', minItems: 1, items: { type: 'object', properties: { day: { type: 'integer' }, high: { type: 'number' }, rain: { type: 'boolean' } }, required: ['day', 'high', 'rain'] } },
  },
  required: ['city', 'days', 'unit', 'note', 'forecast'],
  additionalProperties: false,
});

// Backends with a JSON-schema mode of their own, and those without one (Claude on each host, Bedrock
// Converse), where the schema is forced as a tool's input and the call comes back as the text.
const GEMINI_TARGETS: readonly Target[] = ['openai', 'azure', 'anthropic', 'gcp-anthropic', 'aws-anthropic', 'bedrock'];

describe.each(GEMINI_TARGETS)('@google/genai responseSchema → gateway /v1beta → %s', (target) => {
  let rig: Rig;
  let ai: GoogleGenAI;
  beforeAll(async () => {
    rig = await startRig(target);
    ai = new GoogleGenAI({ apiKey: 'client-key', httpOptions: { baseUrl: rig.gateway.url } });
  });
  afterAll(() => rig.close());

  it('generateContent: the text is JSON that validates', async () => {
    const r = await ai.models.generateContent({
      model: rig.model,
      contents: 'Three-day forecast for Paris.',
      config: { responseMimeType: 'application/json', responseSchema: GEMINI_SCHEMA },
    });
    expect(validForecast(JSON.parse(r.text ?? ''))).toBeUndefined();
    if (target === 'azure') {
      // What the backend was asked for is JSON Schema: numbers for Gemini's int64 strings, null allowed where nullable.
      const rf = (rig.seen()?.body as { response_format?: { json_schema?: { schema?: { properties?: Record<string, unknown> } } } }).response_format;
      expect(rf?.json_schema?.schema?.properties).toMatchObject({
        unit: { type: 'string', enum: ['C', 'F'] },
        sky: { type: ['string', 'null'], enum: ['clear', 'cloudy', null] },
        forecast: { type: 'array', minItems: 1 },
      });
      expect(rf?.json_schema?.schema?.properties?.['unit']).not.toHaveProperty('format');
    }
  });

  it('an ARRAY root schema: the text is the array itself, streamed or not', async () => {
    const schema = { type: Type.ARRAY, items: { type: Type.OBJECT, properties: { name: { type: Type.STRING }, minutes: { type: Type.INTEGER } }, required: ['name', 'minutes'] }, minItems: '2' };
    const valid = validator({ type: 'array', minItems: 2, items: { type: 'object', properties: { name: { type: 'string' }, minutes: { type: 'integer' } }, required: ['name', 'minutes'] } });
    const config = { responseMimeType: 'application/json', responseSchema: schema };
    const r = await ai.models.generateContent({ model: rig.model, contents: 'Two cookie recipes.', config });
    expect(valid(JSON.parse(r.text ?? ''))).toBeUndefined();
    if (target === 'azure') {
      // The backend was asked for an object (json_schema roots must be objects) holding the array.
      const rf = (rig.seen()?.body as { response_format?: { json_schema?: { schema?: Record<string, unknown> } } }).response_format;
      expect(rf?.json_schema?.schema).toMatchObject({ type: 'object', properties: { value: { type: 'array', minItems: 2 } }, required: ['value'] });
    }
    let text = '';
    for await (const c of await ai.models.generateContentStream({ model: rig.model, contents: 'Two cookie recipes.', config })) text += c.text ?? '';
    expect(valid(JSON.parse(text))).toBeUndefined();
  });

  it('text/x.enum: the text is the bare enum value', async () => {
    const r = await ai.models.generateContent({
      model: rig.model,
      contents: 'Is the sky clear?',
      config: { responseMimeType: 'text/x.enum', responseSchema: { type: Type.STRING, format: 'enum', enum: ['yes', 'no', 'unsure'] } },
    });
    expect(['yes', 'no', 'unsure']).toContain(r.text);
  });

  it('generateContentStream: the joined text validates', async () => {
    const stream = await ai.models.generateContentStream({
      model: rig.model,
      contents: 'Three-day forecast for Paris.',
      config: { responseMimeType: 'application/json', responseJsonSchema: { type: 'object', properties: { city: { type: 'string' }, ok: { type: 'boolean' } }, required: ['city', 'ok'] } },
    });
    let text = '';
    for await (const c of stream) text += c.text ?? '';
    const parsed: unknown = JSON.parse(text);
    expect(parsed).toMatchObject({ city: expect.any(String), ok: expect.any(Boolean) });
  });
});
