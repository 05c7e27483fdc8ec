// Gemini responses → OpenAI: `generateContent` JSON, `streamGenerateContent?alt=sse` chunks, and
// embeddings. Usage: promptTokenCount includes cached tokens (cachedContentTokenCount) as OpenAI's
// prompt_tokens does; candidatesTokenCount excludes thoughts, so completion = candidates + thoughts
// and reasoning = thoughts; tool-use prompt tokens count as input.
import { makeUsage, type Usage } from '../../core/usage.js';
import type { FinishReason } from '../../protocol/openai.js';
import { SseDecoder } from '../../protocol/sse.js';
import { chatCompletionBody, ChatStreamWriter, completionTextOf, type ToolCallOut } from '../shared/chat-out.js';
import { mapUpstreamError } from '../shared/errors.js';
import { count, isRecord, parseJson, randomId, type Json } from '../shared/json.js';
import { UpstreamBodyError, type ClientRequest, type ErrorTranslation, type ResponseResult, type ResponseTranslator } from '../types.js';
import { embeddingsBody } from '../shared/embeddings.js';

export function geminiUsage(u: unknown): Usage | undefined {
  if (!isRecord(u)) return undefined;
  const input = count(u['promptTokenCount']) + count(u['toolUsePromptTokenCount']);
  const thoughts = count(u['thoughtsTokenCount']);
  const output = count(u['candidatesTokenCount']) + thoughts;
  const total = count(u['totalTokenCount']);
  return makeUsage({ input, cachedInput: count(u['cachedContentTokenCount']), output, reasoning: thoughts, total: total > 0 ? total : input + output });
}

export function finishFromGemini(r: string | undefined, toolCalls: boolean): FinishReason {
  switch (r) {
    case 'MAX_TOKENS':
      return 'length';
    case 'SAFETY':
    case 'RECITATION':
    case 'BLOCKLIST':
    case 'PROHIBITED_CONTENT':
    case 'SPII':
    case 'IMAGE_SAFETY':
      return 'content_filter';
    default:
      return toolCalls ? 'tool_calls' : 'stop';
  }
}

export function geminiResponseTranslator(req: ClientRequest, host: 'gemini' | 'vertex'): ResponseTranslator {
  const model = typeof req.body['model'] === 'string' ? req.body['model'] : '';
  if (req.operation === 'embeddings') return new GeminiEmbeddings(req, model, host);
  if (!req.stream) return new GeminiJson(model);
  const so = req.body['stream_options'];
  return new GeminiStream(model, isRecord(so) && so['include_usage'] === true);
}

interface Parsed {
  text: string;
  reasoning: string;
  calls: ToolCallOut[];
}

function readParts(candidate: unknown, into: Parsed): void {
  if (!isRecord(candidate) || !isRecord(candidate['content'])) return;
  const parts = candidate['content']['parts'];
  if (!Array.isArray(parts)) return;
  for (const p of parts) {
    if (!isRecord(p)) continue;
    if (typeof p['text'] === 'string') {
      if (p['thought'] === true) into.reasoning += p['text'];
      else into.text += p['text'];
    }
    const fc = p['functionCall'];
    if (isRecord(fc) && typeof fc['name'] === 'string') {
      into.calls.push({ id: typeof fc['id'] === 'string' && fc['id'] !== '' ? fc['id'] : randomId('call_'), name: fc['name'], arguments: JSON.stringify(fc['args'] ?? {}) });
    }
  }
}

class GeminiJson implements ResponseTranslator {
  readonly contentType = 'application/json';
  readonly rewritesBody = true;
  readonly buffered = true;
  private chunks: Buffer[] = [];
  private res: ResponseResult = { usage: undefined, responseModel: undefined, completionText: undefined };

  constructor(private readonly model: string) {}

  push(chunk: Buffer): null {
    this.chunks.push(chunk);
    return null;
  }

  end(): Buffer | null {
    const r = parseJson(Buffer.concat(this.chunks));
    this.chunks = [];
    if (!isRecord(r)) throw new UpstreamBodyError('the response body is not a JSON object');
    const parsed: Parsed = { text: '', reasoning: '', calls: [] };
    const candidates = Array.isArray(r['candidates']) ? (r['candidates'] as unknown[]) : [];
    const first = candidates[0];
    readParts(first, parsed);
    let finish: FinishReason;
    if (first === undefined) finish = 'content_filter'; // promptFeedback.blockReason: the prompt was blocked
    else finish = finishFromGemini(isRecord(first) ? (first['finishReason'] as string | undefined) : undefined, parsed.calls.length > 0);
    const usage = geminiUsage(r['usageMetadata']);
    const model = typeof r['modelVersion'] === 'string' ? r['modelVersion'] : this.model;
    const parts = {
      id: typeof r['responseId'] === 'string' ? `chatcmpl-${r['responseId']}` : randomId('chatcmpl-'),
      model,
      created: Math.floor(Date.now() / 1000),
      text: parsed.text,
      reasoning: parsed.reasoning,
      toolCalls: parsed.calls,
      finish,
      usage,
    };
    this.res = { usage, responseModel: model, completionText: completionTextOf(parts) };
    return Buffer.from(chatCompletionBody(parts));
  }

  result(): ResponseResult {
    return this.res;
  }
}

class GeminiStream implements ResponseTranslator {
  readonly contentType = 'text/event-stream';
  readonly rewritesBody = true;
  private readonly sse = new SseDecoder();
  private readonly w: ChatStreamWriter;
  private usage: Usage | undefined;
  private responseModel: string | undefined;
  private finishReason: FinishReason | undefined;
  private calls = 0;

  constructor(model: string, includeUsage: boolean) {
    this.w = new ChatStreamWriter(randomId('chatcmpl-'), model, Math.floor(Date.now() / 1000), includeUsage);
  }

  push(chunk: Buffer): Buffer | null {
    for (const ev of this.sse.push(chunk)) {
      if (!ev.hasData || this.w.closed) continue;
      const r = parseJson(ev.data);
      if (!isRecord(r)) continue;
      if (isRecord(r['error'])) {
        const status = typeof r['error']['status'] === 'string' ? r['error']['status'] : 'error';
        this.w.error(status === 'RESOURCE_EXHAUSTED' ? 'upstream_rate_limited' : status === 'UNAVAILABLE' ? 'upstream_unavailable' : 'upstream_status', `The backend stream failed: ${status}.`);
        continue;
      }
      if (this.responseModel === undefined && typeof r['modelVersion'] === 'string') {
        this.responseModel = r['modelVersion'];
        this.w.setModel(r['modelVersion']);
      }
      this.w.start();
      const u = geminiUsage(r['usageMetadata']);
      if (u !== undefined) this.usage = u;
      const candidates = Array.isArray(r['candidates']) ? (r['candidates'] as unknown[]) : [];
      const c = candidates[0];
      if (c === undefined) {
        if (isRecord(r['promptFeedback']) && r['promptFeedback']['blockReason'] !== undefined) this.finishReason = 'content_filter';
        continue;
      }
      const parsed: Parsed = { text: '', reasoning: '', calls: [] };
      readParts(c, parsed);
      this.w.reasoning(parsed.reasoning);
      this.w.content(parsed.text);
      // Gemini streams each function call whole: one chunk with id and name, one with the arguments.
      for (const call of parsed.calls) {
        const key = this.calls++;
        this.w.toolStart(key, call.id, call.name);
        this.w.toolArgs(key, call.arguments);
      }
      if (isRecord(c) && typeof c['finishReason'] === 'string') this.finishReason = finishFromGemini(c['finishReason'], this.calls > 0);
    }
    return this.w.take();
  }

  end(): Buffer | null {
    if (!this.w.closed) {
      if (this.finishReason === undefined) {
        this.w.error('upstream_protocol_error', 'The backend stream ended before the response was complete.');
      } else {
        this.w.finish(this.finishReason);
        this.w.close(this.usage);
      }
    }
    return this.w.take();
  }

  result(): ResponseResult {
    return { usage: this.usage, responseModel: this.responseModel, ...this.w.completion() };
  }
}

/** batchEmbedContents (no usage reported) or Vertex `:predict` (token_count per instance). */
class GeminiEmbeddings implements ResponseTranslator {
  readonly contentType = 'application/json';
  readonly rewritesBody = true;
  readonly buffered = true;
  private chunks: Buffer[] = [];
  private usage: Usage | undefined;

  constructor(
    private readonly req: ClientRequest,
    private readonly model: string,
    private readonly host: 'gemini' | 'vertex',
  ) {}

  push(chunk: Buffer): null {
    this.chunks.push(chunk);
    return null;
  }

  end(): Buffer | null {
    const r = parseJson(Buffer.concat(this.chunks));
    this.chunks = [];
    if (!isRecord(r)) throw new UpstreamBodyError('the response body is not a JSON object');
    const vectors: number[][] = [];
    let tokens: number | undefined;
    if (this.host === 'gemini') {
      for (const e of Array.isArray(r['embeddings']) ? (r['embeddings'] as unknown[]) : []) vectors.push(isRecord(e) && Array.isArray(e['values']) ? (e['values'] as number[]) : []);
    } else {
      tokens = 0;
      for (const p of Array.isArray(r['predictions']) ? (r['predictions'] as unknown[]) : []) {
        const e = isRecord(p) && isRecord(p['embeddings']) ? p['embeddings'] : {};
        vectors.push(Array.isArray(e['values']) ? (e['values'] as number[]) : []);
        tokens += isRecord(e['statistics']) ? count(e['statistics']['token_count']) : 0;
      }
    }
    this.usage = tokens === undefined ? undefined : makeUsage({ input: tokens, total: tokens });
    return Buffer.from(embeddingsBody(vectors, this.model, this.usage, this.req.body as Json));
  }

  result(): ResponseResult {
    return { usage: this.usage, responseModel: undefined, completionText: undefined };
  }
}

/** Google's error envelope `{"error":{"code","message","status","details"}}`. */
export function translateGeminiError(status: number, _contentType: string | undefined, body: Buffer, backendName: string): ErrorTranslation {
  let j = parseJson(body);
  // streamGenerateContent without alt=sse answers errors as a one-element array.
  if (Array.isArray(j)) j = j[0];
  let message: string | undefined;
  let authFailure = false;
  if (isRecord(j) && isRecord(j['error'])) {
    const e = j['error'];
    if (typeof e['message'] === 'string') message = e['message'];
    const details = Array.isArray(e['details']) ? (e['details'] as unknown[]) : [];
    authFailure = details.some((d) => isRecord(d) && (d['reason'] === 'API_KEY_INVALID' || d['reason'] === 'API_KEY_SERVICE_BLOCKED'));
  }
  return mapUpstreamError(status, { message, authFailure }, backendName);
}
