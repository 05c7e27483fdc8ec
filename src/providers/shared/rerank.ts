// Rerank answers (Cohere's v2 API, served by Cohere and by vLLM): small JSON passed through, with
// usage read once complete: `meta.billed_units` (Cohere's input and output tokens) or `usage`
// (vLLM reports the tokens it scored as `total_tokens`).
import { makeUsage, type Usage } from '../../core/usage.js';
import type { ResponseResult, ResponseTranslator } from '../types.js';
import { isRecord, parseJson } from './json.js';

function n(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0;
}

/** Usage of a rerank answer: Cohere's billed units, else an OpenAI-style `usage` (vLLM). */
export function rerankUsage(body: unknown): Usage | undefined {
  if (!isRecord(body)) return undefined;
  const meta = body['meta'];
  const billed = isRecord(meta) ? meta['billed_units'] : undefined;
  if (isRecord(billed) && (typeof billed['input_tokens'] === 'number' || typeof billed['output_tokens'] === 'number')) {
    return makeUsage({ input: n(billed['input_tokens']), output: n(billed['output_tokens']) });
  }
  const u = body['usage'];
  if (isRecord(u) && u['prompt_tokens'] === undefined && typeof u['total_tokens'] === 'number') return makeUsage({ input: n(u['total_tokens']) });
  if (!isRecord(u)) return undefined;
  return makeUsage({ input: n(u['prompt_tokens']), output: n(u['completion_tokens']) });
}

/** Rerank answers are small JSON: passed through, read once complete. */
export class RerankObserver implements ResponseTranslator {
  private chunks: Buffer[] = [];
  private parsed: ResponseResult = { usage: undefined, responseModel: undefined, completionText: undefined };

  push(chunk: Buffer): Buffer {
    this.chunks.push(chunk);
    return chunk;
  }

  end(): null {
    const body = parseJson(Buffer.concat(this.chunks));
    this.chunks = [];
    const model = isRecord(body) ? body['model'] : undefined;
    this.parsed = { usage: rerankUsage(body), responseModel: typeof model === 'string' ? model : undefined, completionText: undefined };
    return null;
  }

  result(): ResponseResult {
    return this.parsed;
  }
}

