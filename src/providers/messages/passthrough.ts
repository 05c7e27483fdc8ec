// /v1/messages to a backend that speaks Anthropic Messages itself (Anthropic, Claude on Vertex AI,
// Claude on Bedrock): the body passes through (model, stream and anthropic_version moved where each
// host wants them), the response passes through with usage read on the side; Bedrock's event stream
// is re-framed as the SSE events its `chunk` frames carry.
import { CompletionText } from '../shared/completion-text.js';
import type { BackendRefConfig } from '../../config/types.js';
import type { ErrorCode } from '../../core/errors.js';
import { encodeSse, SseDecoder } from '../../protocol/sse.js';
import { claudeRequest, type ClaudeHost } from '../anthropic/request.js';
import { AnthropicUsageTracker } from '../anthropic/usage.js';
import { AwsFrames, unwrapChunk } from '../shared/aws-frames.js';
import { isRecord, parseJson, type Json } from '../shared/json.js';
import { modelFor, vertexPath } from '../shared/paths.js';
import { BEDROCK_ANTHROPIC_VERSION, type AnthropicMessagesRequest } from '../../protocol/anthropic.js';
import { UpstreamBodyError, type ClientRequest, type ResponseResult, type ResponseTranslator, type UpstreamRequest } from '../types.js';
import { anthropicErrorEvent, midStreamMessage } from './from-openai.js';

export function passthroughRequest(req: ClientRequest, ref: BackendRefConfig, host: ClaudeHost): UpstreamRequest {
  const model = modelFor(req, ref);
  if (host === 'anthropic' && model === req.body['model'] && noMutation(ref)) {
    // Nothing to change: the client's bytes go upstream as they came.
    return { method: 'POST', path: `${ref.backend.schema.prefix}/messages`, body: req.raw, model, headers: JSON_HEADERS, forcedStreamUsage: false };
  }
  const up = claudeRequest({ ...req.body } as AnthropicMessagesRequest, model, req.stream, ref, host);
  return { ...up, headers: host === 'anthropic' ? JSON_HEADERS : up.headers, forcedStreamUsage: false };
}

/**
 * Anthropic's count_tokens where Claude is served: Anthropic's own `/v1/messages/count_tokens` (the
 * body as the client sent it, but for the model name); Vertex AI's `count-tokens:rawPredict` model
 * (the Messages body with the model in it); Bedrock's CountTokens (`/model/{id}/count-tokens`, the
 * InvokeModel body, base64, under `input.invokeModel.body`).
 */
export function countTokensRequest(req: ClientRequest, ref: BackendRefConfig, host: ClaudeHost): UpstreamRequest {
  const model = modelFor(req, ref);
  switch (host) {
    case 'anthropic': {
      const body = model === req.body['model'] ? req.raw : Buffer.from(JSON.stringify({ ...req.body, model }));
      return { method: 'POST', path: `${ref.backend.schema.prefix}/messages/count_tokens`, body, model, headers: JSON_HEADERS, forcedStreamUsage: false };
    }
    case 'gcp': {
      const body = Buffer.from(JSON.stringify({ ...req.body, model }));
      return { method: 'POST', path: vertexPath(ref, 'anthropic', 'count-tokens', 'rawPredict'), body, model, headers: JSON_HEADERS, forcedStreamUsage: false };
    }
    case 'aws': {
      const { model: _m, ...rest } = req.body;
      // InvokeModel requires max_tokens; it does not change the input count.
      const invoke = { ...rest, anthropic_version: ref.backend.schema.version ?? BEDROCK_ANTHROPIC_VERSION, max_tokens: 1 };
      const body = Buffer.from(JSON.stringify({ input: { invokeModel: { body: Buffer.from(JSON.stringify(invoke)).toString('base64') } } }));
      return { method: 'POST', path: `/model/${encodeURIComponent(model)}/count-tokens`, body, model, headers: { ...JSON_HEADERS, accept: 'application/json' }, forcedStreamUsage: false };
    }
  }
}

/** A count from the backend as Anthropic's API answers it: `{"input_tokens": n}` (Bedrock says `inputTokens`). */
export function countTokensResponse(req: ClientRequest, contentType: string | undefined, host: ClaudeHost): ResponseTranslator {
  return host === 'aws' ? new BedrockCount() : passthroughResponse(req, contentType);
}

class BedrockCount implements ResponseTranslator {
  readonly buffered = true;
  readonly rewritesBody = true;
  readonly contentType = 'application/json';
  private chunks: Buffer[] = [];

  push(chunk: Buffer): null {
    this.chunks.push(chunk);
    return null;
  }

  end(): Buffer {
    const body = parseJson(Buffer.concat(this.chunks));
    this.chunks = [];
    const n = isRecord(body) ? body['inputTokens'] : undefined;
    if (typeof n !== 'number') throw new UpstreamBodyError('the CountTokens answer has no inputTokens');
    return Buffer.from(JSON.stringify({ input_tokens: n }));
  }

  result(): ResponseResult {
    return { usage: undefined, responseModel: undefined, completionText: undefined };
  }
}

// The client's own anthropic-version and anthropic-beta headers travel with its request: the API
// version is the client's choice in a passthrough.
const JSON_HEADERS = Object.freeze({ 'content-type': 'application/json' });

function noMutation(ref: BackendRefConfig): boolean {
  const a = ref.backend.bodyMutation;
  const b = ref.bodyMutation;
  return a.set.length === 0 && a.remove.length === 0 && b.set.length === 0 && b.remove.length === 0;
}

export function passthroughResponse(req: ClientRequest, contentType: string | undefined): ResponseTranslator {
  if (contentType?.startsWith('application/vnd.amazon.eventstream') === true) return new BedrockToSse();
  if (req.stream && contentType?.startsWith('text/event-stream') === true) return new SseObserver();
  return new JsonObserver();
}

/** Reads one Anthropic event for usage, model and generated text. */
class Observer {
  readonly usage = new AnthropicUsageTracker();
  model: string | undefined;
  readonly text = new CompletionText();

  event(e: Json): void {
    switch (e['type']) {
      case 'message_start':
        if (isRecord(e['message'])) {
          if (typeof e['message']['model'] === 'string') this.model = e['message']['model'];
          this.usage.add(e['message']['usage']);
        }
        return;
      case 'message_delta':
        this.usage.add(e['usage']);
        return;
      case 'content_block_start':
        if (isRecord(e['content_block']) && typeof e['content_block']['name'] === 'string') this.text.push(e['content_block']['name']);
        return;
      case 'content_block_delta': {
        const d = isRecord(e['delta']) ? e['delta'] : {};
        for (const k of ['text', 'partial_json', 'thinking']) if (typeof d[k] === 'string') this.text.push(d[k]);
        return;
      }
      default:
        return;
    }
  }

  result(): ResponseResult {
    return { usage: this.usage.usage(), responseModel: this.model, ...this.text.result() };
  }
}

class JsonObserver implements ResponseTranslator {
  private chunks: Buffer[] = [];
  private readonly o = new Observer();

  push(chunk: Buffer): Buffer {
    this.chunks.push(chunk);
    return chunk;
  }

  end(): null {
    const m = parseJson(Buffer.concat(this.chunks));
    this.chunks = [];
    if (isRecord(m)) {
      this.o.event({ type: 'message_start', message: m });
      for (const b of Array.isArray(m['content']) ? (m['content'] as unknown[]) : []) {
        if (!isRecord(b)) continue;
        if (typeof b['text'] === 'string') this.o.text.push(b['text']);
        if (typeof b['thinking'] === 'string') this.o.text.push(b['thinking']);
        if (typeof b['name'] === 'string') this.o.text.push(b['name'], JSON.stringify(b['input'] ?? {}));
      }
    }
    return null;
  }

  result(): ResponseResult {
    return this.o.result();
  }

  errorEvent(code: ErrorCode, detail: string): Buffer {
    return anthropicErrorEvent(code, midStreamMessage(detail));
  }
}

class SseObserver implements ResponseTranslator {
  private readonly sse = new SseDecoder();
  private readonly o = new Observer();

  push(chunk: Buffer): Buffer {
    for (const ev of this.sse.push(chunk)) {
      if (!ev.hasData) continue;
      const e = parseJson(ev.data);
      if (isRecord(e)) this.o.event(e);
    }
    return chunk;
  }

  end(): null {
    return null;
  }

  result(): ResponseResult {
    return this.o.result();
  }

  errorEvent(code: ErrorCode, detail: string): Buffer {
    return anthropicErrorEvent(code, midStreamMessage(detail));
  }
}

/** InvokeModelWithResponseStream → the Anthropic SSE events inside its `chunk` frames. */
class BedrockToSse implements ResponseTranslator {
  readonly contentType = 'text/event-stream';
  readonly rewritesBody = true;
  private readonly frames = new AwsFrames();
  private readonly o = new Observer();
  private stopped = false;
  private failed = false;

  push(chunk: Buffer): Buffer | null {
    let out = '';
    for (const item of this.frames.push(chunk)) {
      if (this.failed) break;
      if (item.kind === 'exception') {
        this.failed = true;
        out += anthropicErrorEvent(item.type === 'throttlingException' ? 'upstream_rate_limited' : 'upstream_status', `The backend stream failed: ${item.type}.`).toString('utf8');
        continue;
      }
      if (item.type !== 'chunk') continue;
      const e = unwrapChunk(item.payload);
      if (e === undefined || typeof e['type'] !== 'string') continue;
      this.o.event(e);
      if (e['type'] === 'message_stop') {
        this.stopped = true;
        // Bedrock's invocation metrics are not part of Anthropic's event; clients get the event as Anthropic sends it.
        delete e['amazon-bedrock-invocationMetrics'];
      }
      out += encodeSse(JSON.stringify(e), e['type']);
    }
    return out === '' ? null : Buffer.from(out, 'utf8');
  }

  end(): Buffer | null {
    if (this.stopped || this.failed) return null;
    return anthropicErrorEvent('upstream_protocol_error', 'The backend stream ended before the response was complete.');
  }

  result(): ResponseResult {
    return this.o.result();
  }

  errorEvent(code: ErrorCode, detail: string): Buffer {
    return anthropicErrorEvent(code, midStreamMessage(detail));
  }
}
