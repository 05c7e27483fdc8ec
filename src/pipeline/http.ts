// The slice of Node's HTTP/1.1 and HTTP/2 compatibility request/response objects the pipeline
// uses, so one code path serves both protocols.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

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
  destroy(err?: Error): unknown;
  on(event: 'drain' | 'close' | 'finish', fn: () => void): unknown;
  once(event: 'drain' | 'close' | 'finish', fn: () => void): unknown;
}

export function headerString(v: string | string[] | undefined): string | undefined {
  return v === undefined ? undefined : typeof v === 'string' ? v : v.join(', ');
}
