// POST /v1/responses to a backend that runs the Responses API itself (OpenAI, Azure OpenAI's v1 API,
// vLLM): the body passes through (model override and body mutations applied), the answer passes
// through with usage, model and the finished Response read on the side.
import type { BackendRefConfig } from '../../config/types.js';
import type { ErrorCode } from '../../core/errors.js';
import { makeUsage, type Usage } from '../../core/usage.js';
import { SseDecoder } from '../../protocol/sse.js';
import { midStreamMessage } from '../../providers/messages/from-openai.js';
import { translateOpenAIRequest } from '../../providers/openai/request.js';
import { count, isRecord, parseJson, type Json } from '../../providers/shared/json.js';
import { modelFor } from '../../providers/shared/paths.js';
import type { ClientRequest, ResponseResult, ResponseTranslator, UpstreamRequest } from '../../providers/types.js';
import { recordFinished, responsesErrorEvent } from './shape.js';

export function nativeResponsesRequest(req: ClientRequest, ref: BackendRefConfig): UpstreamRequest {
  const up = translateOpenAIRequest(req, ref);
  if (ref.backend.schema.name !== 'AzureOpenAI') return up;
  // Azure serves the Responses API on its v1 surface, with the deployment as the model.
  const body = { ...(parseJson(up.body) as Json), model: modelFor(req, ref) };
  return { ...up, path: '/openai/v1/responses', body: Buffer.from(JSON.stringify(body)), model: modelFor(req, ref) };
}

export function usageFromResponses(u: unknown): Usage | undefined {
  if (!isRecord(u)) return undefined;
  const inDetails = isRecord(u['input_tokens_details']) ? u['input_tokens_details'] : {};
  const outDetails = isRecord(u['output_tokens_details']) ? u['output_tokens_details'] : {};
  const total = count(u['total_tokens']);
  return makeUsage({
    input: count(u['input_tokens']),
    cachedInput: count(inDetails['cached_tokens']),
    output: count(u['output_tokens']),
    reasoning: count(outDetails['reasoning_tokens']),
    ...(total > 0 ? { total } : {}),
  });
}

/** Observes a Responses API answer as it passes through. */
export class ResponsesObserver implements ResponseTranslator {
  private readonly sse = new SseDecoder();
  private readonly chunks: Buffer[] = [];
  private readonly text: string[] = [];
  private usage: Usage | undefined;
  private model: string | undefined;
  private seq = 0;

  constructor(private readonly req: ClientRequest) {}

  push(chunk: Buffer): Buffer {
    if (!this.req.stream) {
      this.chunks.push(chunk);
      return chunk;
    }
    for (const ev of this.sse.push(chunk)) {
      if (!ev.hasData) continue;
      const e = parseJson(ev.data);
      if (!isRecord(e)) continue;
      if (typeof e['sequence_number'] === 'number') this.seq = e['sequence_number'] + 1;
      if (typeof e['delta'] === 'string') this.text.push(e['delta']);
      if (isRecord(e['response'])) this.response(e['response'], e['type'] === 'response.completed' || e['type'] === 'response.incomplete');
    }
    return chunk;
  }

  end(): null {
    if (!this.req.stream) {
      const r = parseJson(Buffer.concat(this.chunks));
      if (isRecord(r)) {
        this.response(r, true);
        for (const item of Array.isArray(r['output']) ? (r['output'] as unknown[]) : []) {
          if (!isRecord(item)) continue;
          if (typeof item['arguments'] === 'string') this.text.push(typeof item['name'] === 'string' ? item['name'] : '', item['arguments']);
          for (const p of Array.isArray(item['content']) ? (item['content'] as unknown[]) : []) if (isRecord(p) && typeof p['text'] === 'string') this.text.push(p['text']);
        }
      }
    }
    return null;
  }

  private response(r: Json, final: boolean): void {
    if (typeof r['model'] === 'string') this.model = r['model'];
    this.usage = usageFromResponses(r['usage']) ?? this.usage;
    if (final && typeof r['id'] === 'string') recordFinished(this.req, r);
  }

  result(): ResponseResult {
    return { usage: this.usage, responseModel: this.model, completionText: this.text.join('') };
  }

  errorEvent(code: ErrorCode, detail: string): Buffer {
    return responsesErrorEvent(code, midStreamMessage(detail), this.seq);
  }
}
