// Gemini requests to Gemini backends (the Gemini API, Gemini on Vertex AI): the body passes through
// to the same method on the backend's path (model override and body mutations applied), the answer
// passes through with usageMetadata, model and text read on the side.
import type { BackendRefConfig } from '../../config/types.js';
import type { ErrorCode } from '../../core/errors.js';
import type { Usage } from '../../core/usage.js';
import { SseDecoder } from '../../protocol/sse.js';
import { geminiUsage } from '../../providers/gemini/response.js';
import { midStreamMessage } from '../../providers/messages/from-openai.js';
import { isRecord, parseJson, type Json } from '../../providers/shared/json.js';
import { applyBodyMutations, vertexPath } from '../../providers/shared/paths.js';
import type { ClientRequest, ResponseResult, ResponseTranslator, UpstreamRequest } from '../../providers/types.js';
import { geminiErrorEvent } from './from-chat.js';
import { geminiTarget } from './target.js';

const JSON_HEADERS = Object.freeze({ 'content-type': 'application/json' });

export function nativeGeminiRequest(req: ClientRequest, ref: BackendRefConfig): UpstreamRequest {
  const t = geminiTarget(req.subpath);
  const model = ref.modelNameOverride ?? t.model;
  const path =
    ref.backend.schema.name === 'GCPVertexAI'
      ? vertexPath(ref, 'google', model, t.method, ref.backend.schema.version ?? 'v1')
      : `/${ref.backend.schema.version ?? 'v1beta'}/models/${encodeURIComponent(model)}:${t.method}`;
  const body = applyBodyMutations({ ...req.body }, ref);
  return { method: 'POST', path: req.stream ? `${path}?alt=sse` : path, body: Buffer.from(JSON.stringify(body)), model, headers: JSON_HEADERS, forcedStreamUsage: false };
}

/** Reads usage, model and text from Gemini responses as they pass through. */
export class GeminiObserver implements ResponseTranslator {
  private readonly sse = new SseDecoder();
  private readonly chunks: Buffer[] = [];
  private readonly text: string[] = [];
  private usage: Usage | undefined;
  private model: string | undefined;

  constructor(private readonly stream: boolean) {}

  push(chunk: Buffer): Buffer {
    if (!this.stream) {
      this.chunks.push(chunk);
      return chunk;
    }
    for (const ev of this.sse.push(chunk)) {
      if (!ev.hasData) continue;
      const r = parseJson(ev.data);
      if (isRecord(r)) this.read(r);
    }
    return chunk;
  }

  end(): null {
    if (!this.stream) {
      const r = parseJson(Buffer.concat(this.chunks));
      if (isRecord(r)) this.read(r);
    }
    return null;
  }

  private read(r: Json): void {
    if (typeof r['modelVersion'] === 'string') this.model = r['modelVersion'];
    this.usage = geminiUsage(r['usageMetadata']) ?? this.usage;
    const c = Array.isArray(r['candidates']) ? (r['candidates'] as unknown[])[0] : undefined;
    const content = isRecord(c) && isRecord(c['content']) ? c['content'] : {};
    for (const p of Array.isArray(content['parts']) ? (content['parts'] as unknown[]) : []) {
      if (!isRecord(p)) continue;
      if (typeof p['text'] === 'string') this.text.push(p['text']);
      const fc = p['functionCall'];
      if (isRecord(fc)) this.text.push(typeof fc['name'] === 'string' ? fc['name'] : '', JSON.stringify(fc['args'] ?? {}));
    }
  }

  result(): ResponseResult {
    return { usage: this.usage, responseModel: this.model, completionText: this.text.length === 0 ? undefined : this.text.join('') };
  }

  errorEvent(code: ErrorCode, detail: string): Buffer {
    return geminiErrorEvent(code, midStreamMessage(detail));
  }
}
