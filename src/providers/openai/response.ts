// OpenAI-schema responses: bytes pass through unchanged; usage and the answering model are read on
// the side. The only rewrite is dropping the usage-only stream chunk the gateway itself asked for.
import type { ErrorCode } from '../../core/errors.js';
import { RerankObserver } from '../shared/rerank.js';
import { transcriptionTranslator } from '../shared/transcription.js';
import { UpstreamBodyError, type ClientRequest, type ErrorTranslation, type ResponseReading, type ResponseResult, type ResponseTranslator } from '../types.js';
import { collectText, usageFrom } from './fields.js';
import { SseTranslator } from './stream.js';

export { usageFrom } from './fields.js';

/** Non-streamed bodies larger than this pass through without usage extraction (estimated instead). */
const MAX_OBSERVED_JSON_BYTES = 16 * 1024 * 1024;
/** Chat and completion answers are held whole (to be checked) up to this size. */
const MAX_HELD_JSON_BYTES = 64 * 1024 * 1024;

export function openAIResponseTranslator(
  req: ClientRequest,
  contentType: string | undefined,
  reading: ResponseReading,
): ResponseTranslator {
  if (req.operation === 'transcriptions' || req.operation === 'translations') return transcriptionTranslator(contentType);
  if (contentType !== undefined && contentType.startsWith('text/event-stream')) return new SseTranslator(reading.suppressUsageChunk, reading.keepText);
  if (req.operation === 'rerank') return new RerankObserver();
  // Audio and other binary answers stream through untouched: there is no usage in them to read.
  if (contentType !== undefined && !contentType.startsWith('application/json')) return PASS_THROUGH;
  // A chat or completion answer is small and must be well-formed to be billed: hold it and check it.
  // Embeddings can be tens of MB of floats: they stream through, observed on the side.
  if (req.operation === 'chat' || req.operation === 'completions') return new HeldJson(reading.keepText);
  return new JsonObserver(reading.keepText);
}

/** Non-streamed chat/completions: the body goes out whole once it parsed (a broken one is a 502). */
class HeldJson implements ResponseTranslator {
  readonly buffered = true;
  private chunks: Buffer[] = [];
  private bytes = 0;
  private parsed: ResponseResult = { usage: undefined, responseModel: undefined, completionText: undefined };

  constructor(private readonly keepText: boolean) {}

  push(chunk: Buffer): null {
    this.bytes += chunk.length;
    if (this.bytes > MAX_HELD_JSON_BYTES) throw new UpstreamBodyError(`the response is larger than ${MAX_HELD_JSON_BYTES >> 20} MiB`);
    this.chunks.push(chunk);
    return null;
  }

  end(): Buffer {
    const body = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
    this.chunks = [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new UpstreamBodyError(body.length === 0 ? 'the response body is empty' : 'the response body is not valid JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UpstreamBodyError('the response body is not a JSON object');
    this.parsed = resultFromBody(parsed, this.keepText);
    return body;
  }

  result(): ResponseResult {
    return this.parsed;
  }
}

/** The answer's usage and model; its text only when asked to keep it, or when there is no usage to bill (the gateway counts it). */
function resultFromBody(body: { model?: unknown; usage?: unknown; choices?: unknown }, keepText: boolean): ResponseResult {
  const usage = usageFrom(body.usage);
  let completionText: string | undefined;
  if ((keepText || usage === undefined) && Array.isArray(body.choices)) {
    const pieces: string[] = [];
    for (const c of body.choices as unknown[]) collectText(c, 'message', pieces);
    completionText = pieces.join('');
  }
  return { usage, responseModel: typeof body.model === 'string' ? body.model : undefined, completionText };
}

const NO_RESULT: ResponseResult = { usage: undefined, responseModel: undefined, completionText: undefined };

const PASS_THROUGH: ResponseTranslator = {
  push: (chunk) => chunk,
  end: () => null,
  result: () => NO_RESULT,
};

/** Embeddings (and anything else non-streamed): bytes pass through, usage read on the side. */
class JsonObserver implements ResponseTranslator {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private parsed: ResponseResult = { usage: undefined, responseModel: undefined, completionText: undefined };

  constructor(private readonly keepText: boolean) {}

  push(chunk: Buffer): Buffer {
    if (this.bytes <= MAX_OBSERVED_JSON_BYTES) {
      this.bytes += chunk.length;
      if (this.bytes <= MAX_OBSERVED_JSON_BYTES) this.chunks.push(chunk);
      else this.chunks = [];
    }
    return chunk;
  }

  end(): null {
    if (this.chunks.length > 0) {
      try {
        const text = this.chunks.length === 1 ? (this.chunks[0] as Buffer).toString('utf8') : Buffer.concat(this.chunks).toString('utf8');
        this.parsed = resultFromBody(JSON.parse(text) as Record<string, unknown>, this.keepText);
      } catch {
        // Not JSON: the client gets the bytes as they were; usage falls back to the gateway's count.
      }
      this.chunks = [];
    }
    return null;
  }

  result(): ResponseResult {
    return this.parsed;
  }
}

const MAX_MESSAGE = 1_000;

/** Upstream errors in OpenAI shape, sanitized: our message for auth and server failures. */
export function translateOpenAIError(status: number, contentType: string | undefined, body: Buffer, backendName: string): ErrorTranslation {
  if (status === 401 || status === 403) {
    return err(502, 'upstream_auth_failed', `The backend "${backendName}" rejected the gateway's credential (HTTP ${status}); an operator must fix its BackendSecurityPolicy or secret.`);
  }
  if (status >= 500) {
    return err(status === 503 || status === 504 ? status : 502, 'upstream_status', `The backend "${backendName}" failed with HTTP ${status}.`);
  }
  let message: string | undefined;
  let param: string | null = null;
  if (contentType?.includes('json') === true) {
    try {
      const parsed = JSON.parse(body.toString('utf8')) as { error?: unknown; message?: unknown; param?: unknown };
      const e = typeof parsed.error === 'object' && parsed.error !== null ? (parsed.error as Record<string, unknown>) : (parsed as Record<string, unknown>);
      if (typeof e['message'] === 'string') message = e['message'].slice(0, MAX_MESSAGE);
      if (typeof e['param'] === 'string') param = e['param'].slice(0, 200);
    } catch {
      // not JSON after all; fall through to a generic message
    }
  }
  if (status === 429) {
    return err(429, 'upstream_rate_limited', message ?? `The backend "${backendName}" is rate limiting requests.`, param);
  }
  return err(
    status,
    'upstream_rejected',
    message ?? `The backend "${backendName}" rejected the request with HTTP ${status}.`,
    param,
  );
}

function err(status: number, code: ErrorCode, message: string, param: string | null = null): ErrorTranslation {
  return { status, code, message, param };
}
