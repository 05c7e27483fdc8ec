// The skeleton every "chat completion answer, re-encoded as another API's answer" translator shares
// (Anthropic Messages, the Responses API, Gemini): it wraps the backend's own translator (which yields
// OpenAI chat bytes and the exact native usage), holds a non-streamed answer whole, and reads a
// streamed one chunk by chunk: `[DONE]` completes it, an OpenAI error event ends it with the API's
// own error event, and a stream that stops before its finish reason ends with an error too. Each API
// supplies the hooks: what a chunk writes, how the stream completes, the whole JSON answer, and its
// error event.
import type { ErrorCode } from '../../core/errors.js';
import { SseDecoder } from '../../protocol/sse.js';
import type { ResponseResult, ResponseTranslator } from '../types.js';
import { isRecord, parseJson, type Json } from './json.js';

/** The message of a stream that broke after it started (same words as the OpenAI error event). */
export function midStreamMessage(detail: string): string {
  return `The backend stream failed after it started (${detail}); the response is incomplete.`;
}

export abstract class ChatReencoder implements ResponseTranslator {
  readonly rewritesBody = true;
  readonly contentType: string;
  /** Bytes for the client, taken after each upstream chunk. */
  protected out = '';
  /** The stream ended (completed or failed): later chunks are ignored. */
  protected finished = false;
  /** A non-streamed answer's bytes, for `jsonBody()`. */
  protected readonly json: Buffer[] = [];
  private readonly sse = new SseDecoder();

  protected constructor(
    protected readonly inner: ResponseTranslator,
    protected readonly stream: boolean,
  ) {
    this.contentType = stream ? 'text/event-stream' : 'application/json';
  }

  /** One parsed chat completion chunk of the stream. */
  protected abstract onChunk(chunk: Json): void;
  /** The stream's end once its finish reason came (also on `[DONE]`). */
  protected abstract complete(): void;
  /** Whether the finish reason came, so the stream may complete without `[DONE]`. */
  protected abstract hasFinish(): boolean;
  /** The whole non-streamed answer, from the held chat completion. */
  protected abstract jsonBody(): Buffer | null;
  /** The API's error event; `code` is the OpenAI error's, when it had one. */
  protected abstract errorBytes(code: string | undefined, message: string): string;

  push(chunk: Buffer): Buffer | null {
    const b = this.inner.push(chunk);
    if (b !== null) this.feed(b);
    return this.take();
  }

  end(): Buffer | null {
    const b = this.inner.end();
    if (b !== null) this.feed(b);
    if (!this.stream) return this.jsonBody();
    if (!this.finished) {
      if (this.hasFinish()) this.complete();
      else this.streamError('upstream_protocol_error', 'The backend stream ended before the response was complete.');
    }
    return this.take();
  }

  result(): ResponseResult {
    return this.inner.result();
  }

  errorEvent(code: ErrorCode, detail: string): Buffer {
    return Buffer.from(this.errorBytes(code, midStreamMessage(detail)), 'utf8');
  }

  protected streamError(code: string | undefined, message: string): void {
    this.finished = true;
    this.out += this.errorBytes(code, message);
  }

  protected take(): Buffer | null {
    if (this.out === '') return null;
    const b = Buffer.from(this.out, 'utf8');
    this.out = '';
    return b;
  }

  private feed(b: Buffer): void {
    if (!this.stream) {
      this.json.push(b);
      return;
    }
    for (const ev of this.sse.push(b)) {
      if (!ev.hasData || this.finished) continue;
      if (ev.data === '[DONE]') {
        this.complete();
        continue;
      }
      const c = parseJson(ev.data);
      if (!isRecord(c)) continue;
      if (isRecord(c['error'])) {
        const e = c['error'];
        this.streamError(typeof e['code'] === 'string' ? e['code'] : undefined, typeof e['message'] === 'string' ? e['message'] : 'The backend stream failed.');
        continue;
      }
      this.onChunk(c);
    }
  }
}
