// Anthropic Messages responses → OpenAI chat completions: one JSON body, an SSE stream of Anthropic
// events (Anthropic, Vertex AI), or a Bedrock event stream whose `chunk` events carry the same events.
import type { ErrorCode } from '../../core/errors.js';
import type { AnthropicStreamEvent } from '../../protocol/anthropic.js';
import { SseDecoder } from '../../protocol/sse.js';
import { awsExceptionCode, AwsFrames, unwrapChunk } from '../shared/aws-frames.js';
import { chatCompletionBody, ChatStreamWriter, completionTextOf, type ToolCallOut } from '../shared/chat-out.js';
import { answersThroughTool, foldStructured } from '../shared/structured.js';
import { mapUpstreamError } from '../shared/errors.js';
import { isRecord, parseJson, randomId, type Json } from '../shared/json.js';
import { UpstreamBodyError, type ClientRequest, type ErrorTranslation, type ResponseResult, type ResponseTranslator } from '../types.js';
import { AnthropicUsageTracker, anthropicUsage, finishFromAnthropic } from './usage.js';

export function anthropicResponseTranslator(req: ClientRequest, contentType: string | undefined, aws: boolean): ResponseTranslator {
  const model = typeof req.body['model'] === 'string' ? req.body['model'] : '';
  if (!req.stream) return new AnthropicJson(model, answersThroughTool(req.body));
  const so = req.body['stream_options'];
  const includeUsage = isRecord(so) && so['include_usage'] === true;
  return new AnthropicStream(model, includeUsage, answersThroughTool(req.body), aws || (contentType?.startsWith('application/vnd.amazon.eventstream') ?? false));
}

class AnthropicJson implements ResponseTranslator {
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
    const msg = parseJson(Buffer.concat(this.chunks));
    this.chunks = [];
    if (!isRecord(msg) || !Array.isArray(msg['content'])) throw new UpstreamBodyError('the response is not an Anthropic message');
    let text = '';
    let reasoning = '';
    const toolCalls: ToolCallOut[] = [];
    for (const b of msg['content'] as unknown[]) {
      if (!isRecord(b)) continue;
      if (b['type'] === 'text' && typeof b['text'] === 'string') text += b['text'];
      else if (b['type'] === 'thinking' && typeof b['thinking'] === 'string') reasoning += b['thinking'];
      else if (b['type'] === 'tool_use' && typeof b['name'] === 'string') {
        toolCalls.push({ id: typeof b['id'] === 'string' ? b['id'] : randomId('toolu_'), name: b['name'], arguments: JSON.stringify(b['input'] ?? {}) });
      }
    }
    const usage = anthropicUsage(msg['usage']);
    const model = typeof msg['model'] === 'string' ? msg['model'] : this.model;
    const all = {
      id: typeof msg['id'] === 'string' ? msg['id'] : randomId('msg_'),
      model,
      created: Math.floor(Date.now() / 1000),
      text,
      reasoning,
      toolCalls,
      finish: finishFromAnthropic(msg['stop_reason'] as string | null),
      usage,
    };
    const parts = this.structured ? foldStructured(all) : all;
    this.res = { usage, responseModel: model, completionText: completionTextOf(parts) };
    return Buffer.from(chatCompletionBody(parts));
  }

  result(): ResponseResult {
    return this.res;
  }
}

/** Anthropic stream events (from SSE or from Bedrock `chunk` frames) → OpenAI chunks. */
class AnthropicStream implements ResponseTranslator {
  readonly contentType = 'text/event-stream';
  readonly rewritesBody = true;
  private readonly sse = new SseDecoder();
  private readonly frames: AwsFrames | undefined;
  private readonly w: ChatStreamWriter;
  private readonly usage = new AnthropicUsageTracker();
  private responseModel: string | undefined;
  private stopped = false;

  constructor(model: string, includeUsage: boolean, structured: boolean, aws: boolean) {
    this.frames = aws ? new AwsFrames() : undefined;
    this.w = new ChatStreamWriter(randomId('chatcmpl-'), model, Math.floor(Date.now() / 1000), includeUsage, structured);
  }

  push(chunk: Buffer): Buffer | null {
    if (this.frames !== undefined) {
      for (const item of this.frames.push(chunk)) {
        if (item.kind === 'exception') {
          this.w.error(awsExceptionCode(item.type), `The backend stream failed: ${item.type}.`);
          continue;
        }
        if (item.type !== 'chunk') continue;
        const ev = unwrapChunk(item.payload);
        if (ev !== undefined) this.onEvent(ev);
      }
    } else {
      for (const ev of this.sse.push(chunk)) {
        if (!ev.hasData) continue;
        const data = parseJson(ev.data);
        if (isRecord(data)) this.onEvent(data);
      }
    }
    return this.w.take();
  }

  private onEvent(e: Json): void {
    if (this.w.closed) return;
    const ev = e as unknown as AnthropicStreamEvent;
    switch (ev.type) {
      case 'message_start':
        if (typeof ev.message.model === 'string') {
          this.responseModel = ev.message.model;
          this.w.setModel(ev.message.model);
        }
        this.usage.add(ev.message.usage);
        this.w.start();
        return;
      case 'content_block_start': {
        const b = ev.content_block;
        if (b.type === 'tool_use') {
          this.w.toolStart(ev.index, b.id, b.name);
          // Some hosts send the whole input at the start instead of as deltas.
          if (isRecord(b.input) && Object.keys(b.input).length > 0) this.w.toolArgs(ev.index, JSON.stringify(b.input));
        } else if (b.type === 'text') this.w.content(b.text);
        else if (b.type === 'thinking') this.w.reasoning(b.thinking);
        return;
      }
      case 'content_block_delta': {
        const d = ev.delta;
        if (d.type === 'text_delta') this.w.content(d.text);
        else if (d.type === 'input_json_delta') this.w.toolArgs(ev.index, d.partial_json);
        else if (d.type === 'thinking_delta') this.w.reasoning(d.thinking);
        return;
      }
      case 'message_delta':
        this.usage.add(ev.usage);
        if (ev.delta.stop_reason !== null) this.w.finish(finishFromAnthropic(ev.delta.stop_reason));
        return;
      case 'message_stop':
        this.stopped = true;
        this.w.finish('stop');
        this.w.close(this.usage.usage());
        return;
      case 'error': {
        const t = isRecord(ev.error) ? ev.error : { type: 'api_error', message: '' };
        this.w.error(streamErrorCode(String(t.type)), `The backend stream failed: ${String(t.type)}.`);
        return;
      }
      case 'content_block_stop':
      case 'ping':
        return;
    }
  }

  end(): Buffer | null {
    if (!this.stopped && !this.w.closed) {
      this.w.error('upstream_protocol_error', 'The backend stream ended before the response was complete.');
    }
    return this.w.take();
  }

  result(): ResponseResult {
    return { usage: this.usage.usage(), responseModel: this.responseModel, ...this.w.completion() };
  }
}

function streamErrorCode(type: string): ErrorCode {
  switch (type) {
    case 'overloaded_error':
      return 'upstream_unavailable';
    case 'rate_limit_error':
      return 'upstream_rate_limited';
    case 'invalid_request_error':
      return 'upstream_rejected';
    default:
      return 'upstream_status';
  }
}

/** Anthropic error bodies (`{"type":"error","error":{"type","message"}}`), also Bedrock's `{"message"}`. */
export function translateAnthropicError(status: number, _contentType: string | undefined, body: Buffer, backendName: string): ErrorTranslation {
  const j = parseJson(body);
  let message: string | undefined;
  let type: string | undefined;
  if (isRecord(j)) {
    const e = isRecord(j['error']) ? j['error'] : j;
    if (typeof e['message'] === 'string') message = e['message'];
    if (typeof e['type'] === 'string') type = e['type'];
    else if (typeof j['Message'] === 'string') message = j['Message'];
  }
  return mapUpstreamError(status, { message, overloaded: type === 'overloaded_error' }, backendName);
}
