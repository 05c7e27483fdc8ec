// Audio transcription and translation (OpenAI's /v1/audio/transcriptions and /translations), to
// OpenAI-schema backends. The request is a multipart upload: the read-ahead goes upstream as the
// body's head (with the route's model override written into the `model` field) and the pipeline
// streams the rest after it. Answers pass through unchanged; usage is read on the side where the
// backend reports tokens: a JSON body's `usage` or the `transcript.text.done` event of a stream.
// Duration-billed models (whisper-1: `usage: {type: "duration", seconds}`) report no tokens, so the
// transcript text is what the gateway counts.
import type { BackendRefConfig } from '../../config/types.js';
import { makeUsage, type Usage } from '../../core/usage.js';
import { SseDecoder } from '../../protocol/sse.js';
import type { ClientRequest, ResponseResult, ResponseTranslator, UpstreamRequest, Upload } from '../types.js';
import { count, isRecord, parseJson } from './json.js';

/** JSON answers larger than this (verbose_json of hours of audio) pass through unread. */
const MAX_OBSERVED_BYTES = 4 * 1024 * 1024;

export function isUploadOperation(req: ClientRequest): req is ClientRequest & { upload: Upload } {
  return req.upload !== undefined;
}

/** The upstream request for an upload, at `path`: the read-ahead with the route's model in it. */
export function uploadRequest(req: ClientRequest & { upload: Upload }, ref: BackendRefConfig, path: string): UpstreamRequest {
  const u = req.upload;
  const sent = req.body['model'];
  const override = ref.modelNameOverride;
  let body = req.raw;
  if (override !== undefined && override !== sent && u.model !== undefined) {
    body = Buffer.concat([req.raw.subarray(0, u.model.start), Buffer.from(override, 'utf8'), req.raw.subarray(u.model.end)]);
  }
  const headers: Record<string, string> = { 'content-type': u.contentType };
  // The client's length, corrected by the rewrite; without one the upload goes on chunked.
  if (u.declaredLength !== undefined) headers['content-length'] = String(u.declaredLength - req.raw.length + body.length);
  const model = override ?? sent;
  return { method: 'POST', path, body, model: typeof model === 'string' ? model : undefined, headers, forcedStreamUsage: false };
}

export function transcriptionUsage(u: unknown): Usage | undefined {
  if (!isRecord(u) || u['type'] === 'duration') return undefined;
  if (typeof u['input_tokens'] !== 'number' && typeof u['output_tokens'] !== 'number') return undefined;
  const input = count(u['input_tokens']);
  const output = count(u['output_tokens']);
  return makeUsage({ input, output, total: typeof u['total_tokens'] === 'number' ? count(u['total_tokens']) : input + output });
}

const NONE: ResponseResult = { usage: undefined, responseModel: undefined, completionText: undefined };

/** JSON and verbose_json answers: passed through, usage and text read once complete. */
export class TranscriptionJson implements ResponseTranslator {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private parsed: ResponseResult = NONE;

  push(chunk: Buffer): Buffer {
    this.bytes += chunk.length;
    if (this.bytes <= MAX_OBSERVED_BYTES) this.chunks.push(chunk);
    else this.chunks = [];
    return chunk;
  }

  end(): null {
    if (this.bytes <= MAX_OBSERVED_BYTES) {
      const body = parseJson(Buffer.concat(this.chunks));
      if (isRecord(body)) {
        const text = body['text'];
        this.parsed = { usage: transcriptionUsage(body['usage']), responseModel: undefined, completionText: typeof text === 'string' ? text : undefined };
      }
    }
    this.chunks = [];
    return null;
  }

  result(): ResponseResult {
    return this.parsed;
  }
}

/** `stream=true`: transcript events pass through; the text and the usage of `transcript.text.done` are read. */
export class TranscriptionStream implements ResponseTranslator {
  private readonly sse = new SseDecoder();
  private text = '';
  private usage: Usage | undefined;
  private completed = false;

  push(chunk: Buffer): Buffer {
    for (const e of this.sse.push(chunk)) {
      const data = parseJson(e.data);
      if (!isRecord(data)) continue;
      if (data['type'] === 'transcript.text.delta' && typeof data['delta'] === 'string') this.text += data['delta'];
      else if (data['type'] === 'transcript.text.done') {
        this.completed = true;
        if (typeof data['text'] === 'string') this.text = data['text'];
        this.usage = transcriptionUsage(data['usage']);
      }
    }
    return chunk;
  }

  end(): null {
    return null;
  }

  result(): ResponseResult {
    return { usage: this.completed ? this.usage : undefined, responseModel: undefined, completionText: this.text };
  }
}

/** Text, SRT and VTT answers: the body is the transcript itself. */
export class TranscriptionText implements ResponseTranslator {
  private chunks: Buffer[] = [];
  private bytes = 0;

  push(chunk: Buffer): Buffer {
    this.bytes += chunk.length;
    if (this.bytes <= MAX_OBSERVED_BYTES) this.chunks.push(chunk);
    return chunk;
  }

  end(): null {
    return null;
  }

  result(): ResponseResult {
    return { usage: undefined, responseModel: undefined, completionText: this.bytes <= MAX_OBSERVED_BYTES ? Buffer.concat(this.chunks).toString('utf8') : undefined };
  }
}

export function transcriptionTranslator(contentType: string | undefined): ResponseTranslator {
  if (contentType?.startsWith('text/event-stream') === true) return new TranscriptionStream();
  if (contentType?.startsWith('application/json') === true) return new TranscriptionJson();
  return new TranscriptionText();
}
