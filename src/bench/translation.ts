// Translation cost, per provider, against OpenAI passthrough measured in the same run: CPU time to
// translate one chat request, one non-streamed response, and one streamed upstream chunk (a
// 200-token answer, one token per upstream event, in each provider's own wire format). In-process and
// single-threaded: this isolates the translators from the HTTP stack the overhead benchmark measures.
import type { BackendConfig, BackendRefConfig } from '../config/types.js';
import { SecretValue } from '../core/secret.js';
import { encodeSse } from '../protocol/sse.js';
import { providerFor } from '../providers/index.js';
import type { ClientRequest, Provider, ResponseReading } from '../providers/types.js';
import { claudeEvents, claudeMessage } from '../sim/providers/claude.js';
import { converseFrames, converseResponse, eventFrame } from '../sim/providers/bedrock-converse.js';
import { geminiResponse } from '../sim/providers/gemini-core.js';
import { ReplyEngine, type Reply } from '../sim/providers/reply.js';
import type { ApiSchemaName } from '../config/types.js';

export interface TranslationRow {
  readonly target: string;
  /** CPU µs to translate one request (body parse of the client's JSON is the pipeline's, not counted). */
  readonly requestUs: number;
  /** CPU µs to translate one non-streamed response. */
  readonly responseUs: number;
  /** CPU µs per upstream stream event (one output token each). */
  readonly chunkUs: number;
}

const TOKENS = 200;

interface Case {
  readonly target: string;
  readonly provider: Provider;
  readonly ref: BackendRefConfig;
  readonly json: ClientRequest;
  readonly stream: ClientRequest;
  readonly nativeJson: Buffer;
  readonly nativeJsonType: string;
  readonly nativeStream: readonly Buffer[];
  readonly nativeStreamType: string;
}

function ref(schema: ApiSchemaName, version?: string): BackendRefConfig {
  const none = { set: [], remove: [] };
  const backend: BackendConfig = {
    key: `bench/${schema}`,
    name: schema,
    namespace: 'bench',
    schema: { name: schema, version, prefix: '/v1' },
    endpointsKey: 'bench/b',
    endpoints: [{ kind: 'ip', host: '127.0.0.1', port: 1 }],
    tls: undefined,
    credential:
      schema === 'GCPVertexAI' || schema === 'GCPAnthropic'
        ? {
            kind: 'bearer-token',
            policy: 'GCPCredentials',
            header: 'authorization',
            value: new SecretValue('', 'bench'),
            policyName: 'bench',
            tokens: { current: () => 'token', whenReady: () => Promise.resolve() },
            gcp: { project: 'p', region: 'r' },
          }
        : undefined,
    headerMutation: none,
    bodyMutation: none,
    requestTimeoutMs: undefined,
    connectTimeoutMs: 1000,
    source: { file: 'bench', line: 0, column: 0 },
  };
  return { backend, weight: 1, priority: 0, modelNameOverride: undefined, headerMutation: none, bodyMutation: none };
}

function chatBody(stream: boolean): Record<string, unknown> {
  return {
    model: 'bench-model',
    stream,
    ...(stream ? { stream_options: { include_usage: true } } : {}),
    max_tokens: 512,
    temperature: 0.7,
    messages: [
      { role: 'system', content: 'You are a careful assistant that answers briefly and calls tools when needed.' },
      { role: 'user', content: 'What is the weather in Paris, and what should I wear?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temp_c": 14, "sky": "overcast"}' },
    ],
    tools: [
      { type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } },
      { type: 'function', function: { name: 'get_time', description: 'Time in a zone', parameters: { type: 'object', properties: { zone: { type: 'string' } } } } },
    ],
  };
}

function client(body: Record<string, unknown>, operation: 'chat' | 'messages' = 'chat'): ClientRequest {
  const raw = Buffer.from(JSON.stringify(body));
  return { operation, subpath: operation === 'chat' ? '/chat/completions' : '/messages', query: '', body: JSON.parse(raw.toString()) as Record<string, unknown>, raw, stream: body['stream'] === true };
}

function openAIStream(words: readonly string[]): Buffer[] {
  const head = '{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"bench-model","choices":[{"index":0,"delta":';
  const out = [Buffer.from(`data: ${head}{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n`)];
  for (const w of words) out.push(Buffer.from(`data: ${head}{"content":${JSON.stringify(w)}},"logprobs":null,"finish_reason":null}]}\n\n`));
  out.push(Buffer.from(`data: ${head}{},"logprobs":null,"finish_reason":"stop"}]}\n\n`));
  out.push(Buffer.from(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"bench-model","choices":[],"usage":{"prompt_tokens":500,"completion_tokens":${words.length},"total_tokens":${500 + words.length}}}\n\n`));
  out.push(Buffer.from('data: [DONE]\n\n'));
  return out;
}

function openAIJson(words: readonly string[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      id: 'chatcmpl-bench',
      object: 'chat.completion',
      created: 1,
      model: 'bench-model',
      choices: [{ index: 0, message: { role: 'assistant', content: words.join('') }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 500, completion_tokens: words.length, total_tokens: 500 + words.length },
    }),
  );
}

async function cases(): Promise<Case[]> {
  const engine = await ReplyEngine.create(1);
  const words = Array.from({ length: TOKENS }, (_, i) => (i === 0 ? 'The' : ` word${i % 50}`));
  const reply: Reply = { thinking: [], text: words, toolCalls: [], finish: 'stop', inputTokens: 500, cacheRead: 0, cacheWrite: 0, outputTokens: TOKENS, thinkingTokens: 0 };
  const sse = (events: ReadonlyArray<{ type: string }>): Buffer[] => events.map((e) => Buffer.from(encodeSse(JSON.stringify(e), e.type)));
  const claudeJson = Buffer.from(JSON.stringify(claudeMessage(engine, reply, 'bench-model')));
  const claudeSse = sse(claudeEvents(engine, reply, 'bench-model'));
  const claudeFrames = claudeEvents(engine, reply, 'bench-model').map((e) => eventFrame('chunk', { bytes: Buffer.from(JSON.stringify(e)).toString('base64') }));
  const gem = geminiResponse({ reply, includeThoughts: false }, 'bench-model', 'r1');
  const geminiChunks = words.map((w, i) =>
    Buffer.from(
      `data: ${JSON.stringify({
        candidates: [{ content: { role: 'model', parts: [{ text: w }] }, ...(i === words.length - 1 ? { finishReason: 'STOP' } : {}), index: 0 }],
        usageMetadata: i === words.length - 1 ? gem.usageMetadata : { promptTokenCount: 500, totalTokenCount: 500 },
        modelVersion: 'bench-model',
      })}\r\n\r\n`,
    ),
  );
  const chat = (p: Provider, r: BackendRefConfig, target: string, nativeJson: Buffer, nativeStream: Buffer[], streamType: string): Case => ({
    target,
    provider: p,
    ref: r,
    json: client(chatBody(false)),
    stream: client(chatBody(true)),
    nativeJson,
    nativeJsonType: 'application/json',
    nativeStream,
    nativeStreamType: streamType,
  });
  const get = (s: ApiSchemaName): Provider => providerFor(s) as Provider;
  const anthropicReq = (stream: boolean): ClientRequest =>
    client({ model: 'bench-model', max_tokens: 512, stream, system: 'You are careful.', messages: [{ role: 'user', content: 'What is the weather in Paris?' }] }, 'messages');
  return [
    chat(get('OpenAI'), ref('OpenAI'), 'openai (passthrough)', openAIJson(words), openAIStream(words), 'text/event-stream'),
    chat(get('AzureOpenAI'), ref('AzureOpenAI', '2024-10-21'), 'azure-openai', openAIJson(words), openAIStream(words), 'text/event-stream'),
    chat(get('GeminiAPI'), ref('GeminiAPI'), 'gemini', Buffer.from(JSON.stringify(gem)), geminiChunks, 'text/event-stream'),
    chat(get('GCPVertexAI'), ref('GCPVertexAI'), 'vertex-gemini', Buffer.from(JSON.stringify(gem)), geminiChunks, 'text/event-stream'),
    chat(get('Anthropic'), ref('Anthropic'), 'anthropic', claudeJson, claudeSse, 'text/event-stream'),
    chat(get('GCPAnthropic'), ref('GCPAnthropic'), 'vertex-anthropic', claudeJson, claudeSse, 'text/event-stream'),
    chat(get('AWSAnthropic'), ref('AWSAnthropic'), 'bedrock-anthropic', claudeJson, claudeFrames, 'application/vnd.amazon.eventstream'),
    chat(get('AWSBedrock'), ref('AWSBedrock'), 'bedrock-converse', Buffer.from(JSON.stringify(converseResponse(engine, reply))), converseFrames(engine, reply), 'application/vnd.amazon.eventstream'),
    {
      target: '/v1/messages → vLLM',
      provider: get('OpenAI'),
      ref: ref('OpenAI'),
      json: anthropicReq(false),
      stream: anthropicReq(true),
      nativeJson: openAIJson(words),
      nativeJsonType: 'application/json',
      nativeStream: openAIStream(words),
      nativeStreamType: 'text/event-stream',
    },
    {
      target: '/v1/messages → anthropic',
      provider: get('Anthropic'),
      ref: ref('Anthropic'),
      json: anthropicReq(false),
      stream: anthropicReq(true),
      nativeJson: claudeJson,
      nativeJsonType: 'application/json',
      nativeStream: claudeSse,
      nativeStreamType: 'text/event-stream',
    },
  ];
}

/** CPU µs per call: the best of three timed runs (the machine is shared; the minimum is the cost). */
function cpuUs(f: () => void, iterations: number): number {
  let best = Infinity;
  for (let run = 0; run < 3; run++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < iterations; i++) f();
    const d = process.cpuUsage(t0);
    best = Math.min(best, (d.user + d.system) / iterations);
  }
  return best;
}

/** Every event read for its text, as for a request the drift audit samples: the full cost of reading. */
const READ_ALL: ResponseReading = { suppressUsageChunk: false, keepText: true };

/** Measures every case; `scale` multiplies the iteration counts (1 ≈ a few seconds in total). */
export async function measureTranslation(scale = 1): Promise<TranslationRow[]> {
  const rows: TranslationRow[] = [];
  const all = await cases();
  // Warm every code path first, so the first case measured does not pay the JIT for the rest.
  for (let i = 0; i < 300; i++) {
    for (const c of all) {
      c.provider.translateRequest({ ...c.json }, c.ref);
      const t = c.provider.responseTranslator(c.stream, c.nativeStreamType, READ_ALL);
      for (const chunk of c.nativeStream) t.push(chunk);
      t.end();
      const j = c.provider.responseTranslator(c.json, c.nativeJsonType, READ_ALL);
      j.push(c.nativeJson);
      j.end();
    }
  }
  for (const c of all) {
    const n = Math.max(50, Math.round(2000 * scale));
    const requestUs = cpuUs(() => {
      // A new request object each time, as the pipeline makes one per client request.
      c.provider.translateRequest({ ...c.json }, c.ref);
    }, n);
    const responseUs = cpuUs(() => {
      const t = c.provider.responseTranslator(c.json, c.nativeJsonType, READ_ALL);
      t.push(c.nativeJson);
      t.end();
      t.result();
    }, n);
    const streams = Math.max(10, Math.round(100 * scale));
    const perStream = cpuUs(() => {
      const req = { ...c.stream };
      c.provider.translateRequest(req, c.ref);
      const t = c.provider.responseTranslator(req, c.nativeStreamType, READ_ALL);
      for (const chunk of c.nativeStream) t.push(chunk);
      t.end();
      t.result();
    }, streams);
    rows.push({ target: c.target, requestUs, responseUs, chunkUs: perStream / c.nativeStream.length });
  }
  return rows;
}

export function formatTranslation(rows: readonly TranslationRow[]): string {
  const base = rows[0];
  const ratio = (v: number, b: number | undefined): string => (b === undefined || b === 0 ? '' : `${(v / b).toFixed(1)}x`);
  const lines = [
    `translation cost (CPU µs; ${TOKENS}-token answers, one token per upstream event; ratios vs ${base?.target ?? 'openai'} in this run)`,
    'target                      request µs  response µs  stream µs/chunk   req ratio  resp ratio  chunk ratio',
    '--------------------------  ----------  -----------  ---------------  ----------  ----------  -----------',
  ];
  for (const r of rows) {
    lines.push(
      `${r.target.padEnd(26)}  ${r.requestUs.toFixed(1).padStart(10)}  ${r.responseUs.toFixed(1).padStart(11)}  ${r.chunkUs.toFixed(2).padStart(15)}  ${ratio(r.requestUs, base?.requestUs).padStart(10)}  ${ratio(r.responseUs, base?.responseUs).padStart(10)}  ${ratio(r.chunkUs, base?.chunkUs).padStart(11)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
