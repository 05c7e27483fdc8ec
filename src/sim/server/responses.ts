// The OpenAI Responses API (POST /v1/responses; Azure OpenAI serves it at /openai/v1/responses), for
// text answers: `input` as a string or message items, `instructions`, `max_output_tokens`, and
// `stream: true` with the Responses event sequence (response.created, response.in_progress, the
// output item and content part events, output_text deltas, response.completed or .incomplete when
// the token budget ran out). The text is the simulator's pseudo-text, deterministic for the input and
// the seed; usage counts the input with the server's tokenizer.
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { hashString, Rng } from '../rng.js';
import { generateText } from '../text.js';
import { badRequest } from './errors.js';
import type { SimInstance } from './instance.js';

type Obj = Record<string, unknown>;

const DEFAULT_OUTPUT_TOKENS = 24;

function inputText(input: unknown): string {
  if (typeof input === 'string') return input;
  if (!Array.isArray(input)) throw badRequest("input: must be a string or a list of input items.", 'input');
  const texts: string[] = [];
  for (const item of input as unknown[]) {
    if (typeof item !== 'object' || item === null) continue;
    const content = (item as Obj)['content'];
    if (typeof content === 'string') texts.push(content);
    else if (Array.isArray(content)) for (const p of content as unknown[]) if (typeof p === 'object' && p !== null && typeof (p as Obj)['text'] === 'string') texts.push((p as Obj)['text'] as string);
  }
  return texts.join('\n');
}

export function responses(inst: SimInstance, body: unknown, res: ServerResponse, headers: Record<string, string>): void {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('The request body must be a JSON object.');
  const b = body as Obj;
  if (b['input'] === undefined) throw badRequest('input: Field required.', 'input');
  const prompt = `${typeof b['instructions'] === 'string' ? `${b['instructions']}\n` : ''}${inputText(b['input'])}`;
  const max = b['max_output_tokens'];
  if (max !== undefined && max !== null && (typeof max !== 'number' || !Number.isInteger(max) || max < 16)) throw badRequest('max_output_tokens: must be an integer of at least 16.', 'max_output_tokens');
  const budget = typeof max === 'number' ? max : undefined;
  const n = budget === undefined ? DEFAULT_OUTPUT_TOKENS : Math.min(budget, DEFAULT_OUTPUT_TOKENS * 2);
  const text = generateText(inst.vocab, new Rng(inst.seed ^ hashString(prompt), 3), n);
  const input_tokens = inst.tokenizer.count(prompt);
  const output_tokens = inst.tokenizer.count(text);
  const incomplete = budget !== undefined && output_tokens >= budget;
  const id = `resp_${randomBytes(16).toString('hex')}`;
  const msgId = `msg_${randomBytes(16).toString('hex')}`;
  const created_at = Math.floor(Date.now() / 1000);
  const model = typeof b['model'] === 'string' ? b['model'] : inst.model;
  const part = { type: 'output_text', text, annotations: [], logprobs: [] };
  const item = { id: msgId, type: 'message', status: incomplete ? 'incomplete' : 'completed', role: 'assistant', content: [part] };
  const usage = { input_tokens, input_tokens_details: { cached_tokens: 0 }, output_tokens, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: input_tokens + output_tokens };
  const shell = (status: string, output: unknown[], u: unknown): Obj => ({
    id,
    object: 'response',
    created_at,
    status,
    error: null,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: b['instructions'] ?? null,
    max_output_tokens: budget ?? null,
    model,
    output,
    parallel_tool_calls: true,
    previous_response_id: b['previous_response_id'] ?? null,
    reasoning: { effort: null, summary: null },
    store: b['store'] ?? true,
    temperature: b['temperature'] ?? 1,
    text: b['text'] ?? { format: { type: 'text' } },
    tool_choice: b['tool_choice'] ?? 'auto',
    tools: b['tools'] ?? [],
    top_p: b['top_p'] ?? 1,
    usage: u,
    metadata: b['metadata'] ?? {},
  });
  const final = shell(incomplete ? 'incomplete' : 'completed', [item], usage);
  if (b['stream'] !== true) {
    const json = JSON.stringify(final);
    res.writeHead(200, { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(json)) });
    res.end(json);
    return;
  }
  res.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  let seq = 0;
  const event = (type: string, data: Obj): void => {
    res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data, sequence_number: seq++ })}\n\n`);
  };
  event('response.created', { response: shell('in_progress', [], null) });
  event('response.in_progress', { response: shell('in_progress', [], null) });
  event('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', content: [] } });
  event('response.content_part.added', { item_id: msgId, output_index: 0, content_index: 0, part: { ...part, text: '' } });
  for (const piece of text.match(/\S*\s*/g)?.filter((p) => p !== '') ?? []) event('response.output_text.delta', { item_id: msgId, output_index: 0, content_index: 0, delta: piece, logprobs: [] });
  event('response.output_text.done', { item_id: msgId, output_index: 0, content_index: 0, text, logprobs: [] });
  event('response.content_part.done', { item_id: msgId, output_index: 0, content_index: 0, part });
  event('response.output_item.done', { output_index: 0, item });
  event(incomplete ? 'response.incomplete' : 'response.completed', { response: final });
  res.end();
}
