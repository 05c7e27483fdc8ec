// OpenAI chat completion and embeddings responses (what every backend's translator yields) → Gemini
// GenerateContentResponse / EmbedContentResponse. Streams become `alt=sse` events, one per chunk with
// text; function calls go out whole (Gemini never streams partial arguments) in the last event, with
// finishReason and usageMetadata. candidatesTokenCount excludes thoughts, as Gemini counts them.
import type { Usage } from '../../core/usage.js';
import { encodeSse } from '../../protocol/sse.js';
import { ChatReencoder } from '../../providers/shared/reencode.js';
import { isRecord, parseJson, randomId, type Json } from '../../providers/shared/json.js';
import type { ResponseResult, ResponseTranslator } from '../../providers/types.js';

export function geminiUsageMetadata(u: Usage | undefined): Json | undefined {
  if (u === undefined) return undefined;
  const m: Json = { promptTokenCount: u.input, candidatesTokenCount: Math.max(0, u.output - u.reasoning), totalTokenCount: u.total };
  if (u.reasoning > 0) m['thoughtsTokenCount'] = u.reasoning;
  if (u.cachedInput > 0) m['cachedContentTokenCount'] = u.cachedInput;
  return m;
}

function finishReason(f: unknown): string {
  switch (f) {
    case 'length':
      return 'MAX_TOKENS';
    case 'content_filter':
      return 'SAFETY';
    default:
      return 'STOP';
  }
}

/**
 * The end of a Gemini stream that broke after it started: a bare Google error object, not an SSE
 * event, as Google ends a failed stream; Google's SDKs raise it (alone in a read, or as the unframed
 * tail of the body).
 */
export function geminiErrorEvent(code: string, message: string): Buffer {
  const [status, name] = code === 'upstream_rate_limited' ? [429, 'RESOURCE_EXHAUSTED'] : code === 'upstream_unavailable' ? [503, 'UNAVAILABLE'] : [500, 'INTERNAL'];
  return Buffer.from(JSON.stringify({ error: { code: status, message, status: name } }));
}

interface Call {
  id: string;
  name: string;
  args: string;
}

function callParts(calls: Iterable<Call>): Json[] {
  const out: Json[] = [];
  for (const c of calls) {
    const args = parseJson(c.args === '' ? '{}' : c.args);
    out.push({ functionCall: { id: c.id, name: c.name, args: isRecord(args) ? args : {} } });
  }
  return out;
}

export class ChatToGemini extends ChatReencoder {
  /** A JSON answer is checked whole before its status goes out (a broken one becomes a 502). */
  readonly buffered: boolean;
  private readonly calls = new Map<number, Call>();
  private finish: unknown;
  private readonly responseId = randomId('', 20);
  /** A wrapped answer's text, held until it is whole (it can only be unwrapped then). */
  private held = '';

  constructor(
    inner: ResponseTranslator,
    private model: string,
    stream: boolean,
    /** The answer comes wrapped in an object (schema.ts): its text goes out unwrapped, in the last event. */
    private readonly unwrap: ((text: string) => string) | undefined = undefined,
  ) {
    super(inner, stream);
    this.buffered = !stream;
  }

  protected hasFinish(): boolean {
    return this.finish !== undefined;
  }

  protected errorBytes(code: string | undefined, message: string): string {
    return geminiErrorEvent(code ?? '', message).toString('utf8');
  }

  private emit(parts: Json[], last: boolean): void {
    const candidate: Json = { content: { role: 'model', parts }, index: 0 };
    if (last) candidate['finishReason'] = finishReason(this.finish);
    const r: Json = { candidates: [candidate], modelVersion: this.model, responseId: this.responseId };
    const usage = last ? geminiUsageMetadata(this.inner.result().usage) : undefined;
    if (usage !== undefined) r['usageMetadata'] = usage;
    this.out += encodeSse(JSON.stringify(r));
  }

  protected onChunk(c: Json): void {
    if (typeof c['model'] === 'string') this.model = c['model'];
    const choice = Array.isArray(c['choices']) ? (c['choices'] as unknown[])[0] : undefined;
    if (!isRecord(choice)) return;
    const d = isRecord(choice['delta']) ? choice['delta'] : {};
    const parts: Json[] = [];
    const reasoning = typeof d['reasoning_content'] === 'string' ? d['reasoning_content'] : typeof d['reasoning'] === 'string' ? d['reasoning'] : '';
    if (reasoning !== '') parts.push({ text: reasoning, thought: true });
    if (typeof d['content'] === 'string' && d['content'] !== '') {
      if (this.unwrap !== undefined) this.held += d['content'];
      else parts.push({ text: d['content'] });
    }
    for (const tc of Array.isArray(d['tool_calls']) ? (d['tool_calls'] as unknown[]) : []) {
      if (!isRecord(tc)) continue;
      const idx = typeof tc['index'] === 'number' ? tc['index'] : 0;
      const fn = isRecord(tc['function']) ? tc['function'] : {};
      let call = this.calls.get(idx);
      if (call === undefined) {
        call = { id: typeof tc['id'] === 'string' ? tc['id'] : randomId('call_'), name: '', args: '' };
        this.calls.set(idx, call);
      }
      if (typeof fn['name'] === 'string') call.name += fn['name'];
      if (typeof fn['arguments'] === 'string') call.args += fn['arguments'];
    }
    if (parts.length > 0) this.emit(parts, false);
    if (typeof choice['finish_reason'] === 'string') this.finish = choice['finish_reason'];
  }

  protected complete(): void {
    if (this.finished) return;
    this.finished = true;
    const text: Json[] = this.held === '' || this.unwrap === undefined ? [] : [{ text: this.unwrap(this.held) }];
    this.emit([...text, ...callParts(this.calls.values())], true);
  }

  protected jsonBody(): Buffer | null {
    const r = parseJson(Buffer.concat(this.json));
    if (!isRecord(r)) return this.json.length === 0 ? null : Buffer.concat(this.json);
    if (typeof r['model'] === 'string') this.model = r['model'];
    const first: unknown = Array.isArray(r['choices']) ? (r['choices'] as unknown[])[0] : undefined;
    const choice = isRecord(first) ? first : {};
    const m = isRecord(choice['message']) ? choice['message'] : {};
    const parts: Json[] = [];
    const reasoning = typeof m['reasoning_content'] === 'string' ? m['reasoning_content'] : typeof m['reasoning'] === 'string' ? m['reasoning'] : '';
    if (reasoning !== '') parts.push({ text: reasoning, thought: true });
    if (typeof m['content'] === 'string' && m['content'] !== '') parts.push({ text: this.unwrap === undefined ? m['content'] : this.unwrap(m['content']) });
    const calls: Call[] = [];
    for (const tc of Array.isArray(m['tool_calls']) ? (m['tool_calls'] as unknown[]) : []) {
      if (!isRecord(tc) || !isRecord(tc['function'])) continue;
      const fn = tc['function'];
      calls.push({ id: typeof tc['id'] === 'string' ? tc['id'] : randomId('call_'), name: typeof fn['name'] === 'string' ? fn['name'] : '', args: typeof fn['arguments'] === 'string' ? fn['arguments'] : '{}' });
    }
    parts.push(...callParts(calls));
    this.finish = choice['finish_reason'];
    const out: Json = {
      candidates: [{ content: { role: 'model', parts }, finishReason: finishReason(this.finish), index: 0 }],
      modelVersion: this.model,
      responseId: this.responseId,
    };
    const usage = geminiUsageMetadata(this.inner.result().usage);
    if (usage !== undefined) out['usageMetadata'] = usage;
    return Buffer.from(JSON.stringify(out));
  }
}

/** OpenAI embeddings → EmbedContentResponse (one) or BatchEmbedContentsResponse. */
export class EmbeddingsToGemini implements ResponseTranslator {
  readonly rewritesBody = true;
  readonly buffered = true;
  readonly contentType = 'application/json';
  private readonly chunks: Buffer[] = [];

  constructor(
    private readonly inner: ResponseTranslator,
    private readonly batch: boolean,
  ) {}

  push(chunk: Buffer): null {
    const b = this.inner.push(chunk);
    if (b !== null) this.chunks.push(b);
    return null;
  }

  end(): Buffer {
    const tail = this.inner.end();
    if (tail !== null) this.chunks.push(tail);
    const r = parseJson(Buffer.concat(this.chunks));
    const data = isRecord(r) && Array.isArray(r['data']) ? (r['data'] as unknown[]) : [];
    const embeddings = data.map((d) => ({ values: isRecord(d) && Array.isArray(d['embedding']) ? d['embedding'] : [] }));
    return Buffer.from(JSON.stringify(this.batch ? { embeddings } : { embedding: embeddings[0] ?? { values: [] } }));
  }

  result(): ResponseResult {
    return this.inner.result();
  }
}
