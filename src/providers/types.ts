// What a provider is: pure translators between the client's API and one upstream API. The pipeline
// calls them; they do no I/O and record nothing. Usage is a value they return.
import type { Readable } from 'node:stream';
import type { BackendRefConfig } from '../config/types.js';
import type { ErrorCode } from '../core/errors.js';
import type { Operation } from '../core/outcome.js';
import type { Usage } from '../core/usage.js';

export interface ClientRequest {
  readonly operation: Operation;
  /** The client's method, where an operation has more than one (files: GET, POST, DELETE); POST otherwise. */
  readonly method?: string | undefined;
  /** The request path after the API version prefix, e.g. `/chat/completions`. */
  readonly subpath: string;
  /** Query string including `?`, or "". */
  readonly query: string;
  /** The parsed JSON body. Translators must not mutate it (it may be reused by a retry). */
  readonly body: Readonly<Record<string, unknown>>;
  /** The exact bytes the client sent, forwarded unchanged when no change is needed. */
  readonly raw: Buffer;
  readonly stream: boolean;
  /** A multipart upload: `raw` is the part read ahead, and the rest may still be arriving. */
  readonly upload?: Upload | undefined;
}

/** A multipart/form-data upload (audio transcription) whose tail streams from the client to the backend. */
export interface Upload {
  /** The client's content type, boundary included. */
  readonly contentType: string;
  /** The client's declared body length, when it sent one (chunked uploads have none). */
  readonly declaredLength: number | undefined;
  /** Where the `model` field's value sits in the read-ahead, so a route's model override can replace it. */
  readonly model: { readonly start: number; readonly end: number } | undefined;
  /** The rest of the form, still arriving; undefined when the read-ahead holds all of it. */
  readonly rest: Readable | undefined;
  /** The rest began flowing to a backend: it cannot be sent twice, so the request is not retried. */
  sent: boolean;
}

export interface UpstreamRequest {
  readonly method: 'POST' | 'GET' | 'DELETE';
  readonly path: string;
  readonly body: Buffer;
  /** Model name sent upstream (after modelNameOverride), if the body carries one. */
  readonly model: string | undefined;
  /** Extra headers the upstream API needs (content-type, API version…). */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * The gateway asked the upstream for streamed usage the client did not ask for (accounting needs
   * it); the response translator then removes the usage-only chunk from what the client sees.
   */
  readonly forcedStreamUsage: boolean;
}

export interface ResponseResult {
  readonly usage: Usage | undefined;
  readonly responseModel: string | undefined;
  /**
   * The generated text (content, reasoning, tool-call names and arguments) as the client received it,
   * for the gateway's own token count; undefined when the response carries none (embeddings).
   */
  readonly completionText: string | undefined;
  /** Generated characters past what was kept in completionText (long responses), counted at ≈4 per token. */
  readonly completionOverflowChars?: number;
}

/**
 * The upstream body is malformed or incomplete (not JSON, a stream cut before its end). Thrown by a
 * translator's `end()`; the pipeline answers 502 when nothing was sent yet, else ends the stream with
 * an error event, never a response that looks complete.
 */
export class UpstreamBodyError extends Error {
  constructor(readonly detail: string) {
    super(detail);
    this.name = 'UpstreamBodyError';
  }
}

/** Turns upstream response bytes into client bytes, observing usage on the way. One per response. */
export interface ResponseTranslator {
  /** Bytes to send to the client for this upstream chunk (the same buffer when unchanged), or null. */
  push(chunk: Buffer): Buffer | null;
  /** Bytes to send when the upstream body ended, or null. Throws UpstreamBodyError on a broken body. */
  end(): Buffer | null;
  /**
   * The translator holds the whole body and `end()` returns it (non-streamed JSON): the pipeline then
   * sends the status line only after `end()`, so a malformed body becomes a 502, not a broken 200.
   */
  readonly buffered?: boolean | undefined;
  result(): ResponseResult;
  /** The content type the client gets when it differs from the upstream's (translated APIs). */
  readonly contentType?: string | undefined;
  /** True when the body differs from the upstream's, so its content-length must not be copied. */
  readonly rewritesBody?: boolean | undefined;
  /**
   * The last bytes of a stream that broke after it started, in the client's API (an Anthropic
   * `error` event for /v1/messages); without it the pipeline writes OpenAI's error event.
   */
  errorEvent?(code: ErrorCode, message: string): Buffer;
}

/** An upstream error as the client will see it: written by us or sanitized from the upstream's. */
export interface ErrorTranslation {
  readonly status: number;
  readonly code: ErrorCode;
  readonly message: string;
  readonly param: string | null;
}

/** How a successful response is read, decided before it starts. */
export interface ResponseReading {
  /** Drop the usage-only stream chunk: the gateway asked for it, the client did not. */
  readonly suppressUsageChunk: boolean;
  /**
   * Keep the completion text even when the backend reports usage: the drift audit sampled the
   * request, or traces capture content. Without the backend's usage the text is kept regardless.
   */
  readonly keepText: boolean;
}

export interface Provider {
  readonly name: string;
  translateRequest(req: ClientRequest, ref: BackendRefConfig): UpstreamRequest;
  /** For a successful (2xx) upstream response. */
  responseTranslator(req: ClientRequest, contentType: string | undefined, reading: ResponseReading): ResponseTranslator;
  /** For a non-2xx upstream response whose (bounded) body the gateway read. */
  translateError(status: number, contentType: string | undefined, body: Buffer, backendName: string): ErrorTranslation;
}
