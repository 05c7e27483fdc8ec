// Bedrock Converse responses → OpenAI: the Converse JSON body, ConverseStream's event stream, and
// InvokeModel embeddings. Usage: Bedrock's inputTokens exclude prompt-cache reads and writes, so
// input = inputTokens + cacheReadInputTokens + cacheWriteInputTokens (OpenAI's prompt_tokens
// includes cached tokens); Bedrock reports no separate reasoning count.
import { makeUsage, type Usage } from '../../core/usage.js';
import type { FinishReason } from '../../protocol/openai.js';
import { awsExceptionCode, AwsFrames } from '../shared/aws-frames.js';
import { chatCompletionBody, ChatStreamWriter, completionTextOf, type ToolCallOut } from '../shared/chat-out.js';
import { answersThroughTool, foldStructured } from '../shared/structured.js';
import { embeddingsBody } from '../shared/embeddings.js';
import { mapUpstreamError } from '../shared/errors.js';
import { count, isRecord, parseJson, randomId, type Json } from '../shared/json.js';
import { UpstreamBodyError, type ClientRequest, type ErrorTranslation, type ResponseResult, type ResponseTranslator } from '../types.js';
import { isCohere } from './request.js';

export function bedrockUsage(u: unknown): Usage | undefined {
  if (!isRecord(u)) return undefined;
  const read = count(u['cacheReadInputTokens']);
  const write = count(u['cacheWriteInputTokens']);
  const input = count(u['inputTokens']) + read + write;
  const output = count(u['outputTokens']);
  return makeUsage({ input, cachedInput: read, cacheCreationInput: write, output, total: input + output });
}

export function finishFromBedrock(r: string | undefined): FinishReason {
  switch (r) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'guardrail_intervened':
    case 'content_filtered':
      return 'content_filter';
    default:
      return 'stop';
  }
}

export function bedrockResponseTranslator(req: ClientRequest, contentType: string | undefined): ResponseTranslator {
  const model = typeof req.body['model'] === 'string' ? req.body['model'] : '';
  if (req.operation === 'embeddings') return new BedrockEmbeddings(req, model);
  if (!req.stream || contentType?.includes('json') === true) return new ConverseJson(model, answersThroughTool(req.body));
  const so = req.body['stream_options'];
  return new ConverseStream(model, isRecord(so) && so['include_usage'] === true, answersThroughTool(req.body));
}

class ConverseJson implements ResponseTranslator {
  readonly contentType = 'application/json';
  readonly rewritesBody = true;
  readonly buffered = true;
  private chunks: Buffer[] = [];
  private res: ResponseResult = { usage: undefined, responseModel: undefined, completionText: undefined };

  constructor(
    private readonly model: string,
    private readonly structured: boolean,
  ) {}

  push(chunk: Buffer): null {
    this.chunks.push(chunk);
    return null;
  }

  end(): Buffer | null {
    const r = parseJson(Buffer.concat(this.chunks));
    this.chunks = [];
    if (!isRecord(r)) throw new UpstreamBodyError('the response body is not a JSON object');
    const msg = isRecord(r['output']) && isRecord(r['output']['message']) ? r['output']['message'] : {};
    let text = '';
    let reasoning = '';
    const toolCalls: ToolCallOut[] = [];
    for (const b of Array.isArray(msg['content']) ? (msg['content'] as unknown[]) : []) {
      if (!isRecord(b)) continue;
      if (typeof b['text'] === 'string') text += b['text'];
      const rc = b['reasoningContent'];
      if (isRecord(rc) && isRecord(rc['reasoningText']) && typeof rc['reasoningText']['text'] === 'string') reasoning += rc['reasoningText']['text'];
      const tu = b['toolUse'];
      if (isRecord(tu) && typeof tu['name'] === 'string') {
        toolCalls.push({ id: typeof tu['toolUseId'] === 'string' ? tu['toolUseId'] : randomId('call_'), name: tu['name'], arguments: JSON.stringify(tu['input'] ?? {}) });
      }
    }
    const usage = bedrockUsage(r['usage']);
    const all = {
      id: randomId('chatcmpl-'),
      model: this.model,
      created: Math.floor(Date.now() / 1000),
      text,
      reasoning,
      toolCalls,
      finish: finishFromBedrock(r['stopReason'] as string | undefined),
      usage,
    };
    const parts = this.structured ? foldStructured(all) : all;
    this.res = { usage, responseModel: undefined, completionText: completionTextOf(parts) };
    return Buffer.from(chatCompletionBody(parts));
  }

  result(): ResponseResult {
    return this.res;
  }
}

class ConverseStream implements ResponseTranslator {
  readonly contentType = 'text/event-stream';
  readonly rewritesBody = true;
  private readonly frames = new AwsFrames();
  private readonly w: ChatStreamWriter;
  private usage: Usage | undefined;
  private stopped = false;

  constructor(model: string, includeUsage: boolean, structured: boolean) {
    this.w = new ChatStreamWriter(randomId('chatcmpl-'), model, Math.floor(Date.now() / 1000), includeUsage, structured);
  }

  push(chunk: Buffer): Buffer | null {
    for (const item of this.frames.push(chunk)) {
      if (this.w.closed) break;
      if (item.kind === 'exception') {
        this.w.error(awsExceptionCode(item.type), `The backend stream failed: ${item.type}.`);
        continue;
      }
      this.onEvent(item.type, item.payload);
    }
    return this.w.take();
  }

  private onEvent(type: string, p: Json): void {
    const index = typeof p['contentBlockIndex'] === 'number' ? p['contentBlockIndex'] : 0;
    switch (type) {
      case 'messageStart':
        this.w.start();
        return;
      case 'contentBlockStart': {
        const tu = isRecord(p['start']) ? p['start']['toolUse'] : undefined;
        if (isRecord(tu) && typeof tu['name'] === 'string') this.w.toolStart(index, typeof tu['toolUseId'] === 'string' ? tu['toolUseId'] : randomId('call_'), tu['name']);
        return;
      }
      case 'contentBlockDelta': {
        const d = isRecord(p['delta']) ? p['delta'] : {};
        if (typeof d['text'] === 'string') this.w.content(d['text']);
        if (isRecord(d['toolUse']) && typeof d['toolUse']['input'] === 'string') this.w.toolArgs(index, d['toolUse']['input']);
        if (isRecord(d['reasoningContent']) && typeof d['reasoningContent']['text'] === 'string') this.w.reasoning(d['reasoningContent']['text']);
        return;
      }
      case 'messageStop':
        this.stopped = true;
        this.w.finish(finishFromBedrock(p['stopReason'] as string | undefined));
        return;
      case 'metadata':
        this.usage = bedrockUsage(p['usage']);
        this.w.close(this.usage);
        return;
      default:
        return;
    }
  }

  end(): Buffer | null {
    if (!this.w.closed) {
      if (this.stopped) this.w.close(this.usage);
      else this.w.error('upstream_protocol_error', 'The backend stream ended before the response was complete.');
    }
    return this.w.take();
  }

  result(): ResponseResult {
    return { usage: this.usage, responseModel: undefined, ...this.w.completion() };
  }
}

class BedrockEmbeddings implements ResponseTranslator {
  readonly contentType = 'application/json';
  readonly rewritesBody = true;
  readonly buffered = true;
  private chunks: Buffer[] = [];
  private usage: Usage | undefined;

  constructor(
    private readonly req: ClientRequest,
    private readonly model: string,
  ) {}

  push(chunk: Buffer): null {
    this.chunks.push(chunk);
    return null;
  }

  end(): Buffer | null {
    const r = parseJson(Buffer.concat(this.chunks));
    this.chunks = [];
    if (!isRecord(r)) throw new UpstreamBodyError('the response body is not a JSON object');
    let vectors: number[][];
    if (isCohere(this.model)) {
      const e = r['embeddings'];
      vectors = Array.isArray(e) ? (e as number[][]) : isRecord(e) && Array.isArray(e['float']) ? (e['float'] as number[][]) : [];
      this.usage = undefined;
    } else {
      vectors = [Array.isArray(r['embedding']) ? (r['embedding'] as number[]) : []];
      const n = count(r['inputTextTokenCount']);
      this.usage = makeUsage({ input: n, total: n });
    }
    return Buffer.from(embeddingsBody(vectors, this.model, this.usage, this.req.body as Json));
  }

  result(): ResponseResult {
    return { usage: this.usage, responseModel: undefined, completionText: undefined };
  }
}

/** Bedrock errors: `{"message": …}` (the type is in x-amzn-errortype, which the status mirrors). */
export function translateBedrockError(status: number, _contentType: string | undefined, body: Buffer, backendName: string): ErrorTranslation {
  const j = parseJson(body);
  let message: string | undefined;
  if (isRecord(j)) message = typeof j['message'] === 'string' ? j['message'] : typeof j['Message'] === 'string' ? j['Message'] : undefined;
  return mapUpstreamError(status, { message, overloaded: status === 503 }, backendName);
}
