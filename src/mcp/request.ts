// The HTTP side of an MCP request: which route it is for (path, host, headers), and its body.
import type { McpConfig, McpRouteConfig } from '../config/types-mcp.js';
import type { TraceContext } from '../core/trace-context.js';
import type { Req, Res } from '../pipeline/http.js';
import { headerValue } from './backend.js';
import { INVALID_REQUEST, RpcError } from './jsonrpc.js';

/** Largest JSON-RPC message a client may POST. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/** One HTTP request on an MCP endpoint, as the handlers share it. */
export interface McpExchange {
  readonly req: Req & { rawHeaders?: string[] };
  readonly res: Res;
  readonly route: McpRouteConfig;
  readonly cfg: McpConfig;
  readonly requestId: string;
  readonly start: number;
  readonly abort: AbortController;
  readonly remoteAddress: string | undefined;
  readonly startedAt: number;
  readonly trace: TraceContext | undefined;
  /** What MCP servers receive: the gateway's span as parent when tracing, else the client's header. */
  readonly traceparent: string | undefined;
}

export function toolOf(params: Record<string, unknown> | undefined): string {
  const n = params?.['name'];
  if (typeof n !== 'string') return '';
  const i = n.indexOf('__');
  return i < 0 ? n.slice(0, 200) : n.slice(i + 2, i + 202);
}

export function readMessage(req: Req): Promise<string> {
  const declared = Number(headerValue(req.headers['content-length']) ?? '0');
  const tooLarge = (): RpcError => new RpcError(INVALID_REQUEST, `Request too large: an MCP message may be at most ${MAX_MESSAGE_BYTES} bytes.`, 413, undefined, { connection: 'close' });
  if (declared > MAX_MESSAGE_BYTES) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      n += c.length;
      if (n > MAX_MESSAGE_BYTES) {
        done = true;
        req.pause();
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks, n).toString('utf8'));
    });
    req.on('error', () => {
      if (!done) reject(new RpcError(INVALID_REQUEST, 'The request body could not be read.', 400));
      done = true;
    });
  });
}

export function hostOf(req: Req): string {
  const h = headerValue(req.headers[':authority']) ?? headerValue(req.headers['host']) ?? '';
  const lower = h.toLowerCase();
  if (lower.startsWith('[')) return lower.slice(0, lower.indexOf(']') + 1);
  const i = lower.lastIndexOf(':');
  return i < 0 ? lower : lower.slice(0, i);
}

export function hostMatches(r: McpRouteConfig, host: string): boolean {
  if (r.hostnames === undefined) return true;
  return r.hostnames.exact.has(host) || r.hostnames.suffixes.some((s) => host.endsWith(s) && host.length > s.length);
}

export function headersMatch(r: McpRouteConfig, req: Req): boolean {
  for (const h of r.headers) {
    const v = headerValue(req.headers[h.name]);
    if (v === undefined) return false;
    if (h.exact !== undefined ? v !== h.exact : !(h.regex?.test(v) ?? false)) return false;
  }
  return true;
}
