// The slice of Node's HTTP/1.1 and HTTP/2 compatibility request/response objects the pipeline
// uses, so one code path serves both protocols.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { ClientCredentialStrip } from '../credentials/client.js';

export interface Req {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly httpVersion: string;
  on(event: 'data', fn: (chunk: Buffer) => void): unknown;
  on(event: 'end' | 'close' | 'aborted', fn: () => void): unknown;
  on(event: 'error', fn: (err: Error) => void): unknown;
  removeAllListeners(event?: string): unknown;
  pause(): unknown;
  resume(): unknown;
  destroy(err?: Error): unknown;
  readonly complete?: boolean;
}

export interface Res {
  writeHead(status: number, headers?: OutgoingHttpHeaders): unknown;
  write(chunk: Buffer | string): boolean;
  end(): unknown;
  end(chunk: Buffer | string): unknown;
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
  readonly writableFinished: boolean;
  /** HTTP/1.1 only (undefined on the HTTP/2 compatibility response). */
  readonly writableNeedDrain?: boolean;
  destroy(err?: Error): unknown;
  /** Holds writes until end() (both Node response types have it; optional for test doubles). */
  cork?(): void;
  /** Sends `100 Continue` (both Node response types have it; optional for test doubles). */
  writeContinue?(): void;
  on(event: 'drain' | 'close' | 'finish', fn: () => void): unknown;
  once(event: 'drain' | 'close' | 'finish', fn: () => void): unknown;
}

/** Per-request limits the listener sets (defaults and TOLLGATE_LISTENER_* overrides). */
export interface RequestLimits {
  /** A response whose client stops reading is cut after its buffer stayed full this long; 0 never. */
  readonly writeTimeoutMs: number;
  readonly jsonMaxDepth: number;
  readonly jsonMaxValues: number;
  /** How far into a multipart upload the gateway reads to find its `model` field. */
  readonly uploadLookaheadBytes: number;
  /** Client credential headers and query parameters that never reach an upstream. */
  readonly strip: ClientCredentialStrip;
}

export function headerString(v: string | string[] | undefined): string | undefined {
  return v === undefined ? undefined : typeof v === 'string' ? v : v.join(', ');
}
