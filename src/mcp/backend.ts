// One exchange with one MCP server over Streamable HTTP: POST a JSON-RPC message and read the
// answer, whether the server replies with JSON or with an SSE stream (whose other messages, such as
// progress notifications, are handed to `onMessage` as they arrive). Failures become RpcErrors that
// name the server and what went wrong, never a raw upstream body.
import type { McpBackendConfig } from '../config/types-mcp.js';
import { SseDecoder } from '../protocol/sse.js';
import { mcpHttp, type McpHttpResponse } from '../upstream/mcp-http.js';
import { BACKEND_UNAVAILABLE, RpcError } from './jsonrpc.js';
import type { BackendSession } from './session.js';

/** Largest answer read from an MCP server (a tools/list of a big server fits many times over). */
export const MAX_UPSTREAM_BYTES = 16 * 1024 * 1024;

export type UpstreamFailure = 'unavailable' | 'timeout' | 'bad_response' | 'session_expired' | 'http_error' | 'aborted';

export class UpstreamError extends RpcError {
  constructor(
    readonly backend: string,
    readonly reason: UpstreamFailure,
    message: string,
  ) {
    super(BACKEND_UNAVAILABLE, message, 200, { backend, reason });
  }
}

export interface ExchangeOptions {
  readonly session: BackendSession | undefined;
  /** Protocol version header for servers that did not say (initialize). */
  readonly protocolVersion: string | undefined;
  readonly clientHeaders: Readonly<Record<string, string | string[] | undefined>>;
  readonly timeoutMs: number;
  /** Aborted when the client goes away. */
  readonly signal: AbortSignal;
  readonly traceparent?: string | undefined;
  /** Messages on the server's stream other than the awaited response. */
  readonly onMessage?: ((msg: Record<string, unknown>) => void) | undefined;
}

export interface Exchange {
  /** The JSON-RPC response; undefined for a notification the server accepted (202). */
  readonly response: Record<string, unknown> | undefined;
  /** Mcp-Session-Id the server set (initialize). */
  readonly sessionId: string | undefined;
  readonly bytes: number;
}

export function upstreamHeaders(b: McpBackendConfig, o: Pick<ExchangeOptions, 'session' | 'protocolVersion' | 'clientHeaders' | 'traceparent'>): Record<string, string> {
  const h: Record<string, string> = {};
  for (const f of b.forwardHeaders) {
    const v = o.clientHeaders[f.from];
    if (v !== undefined) h[f.to] = typeof v === 'string' ? v : v.join(', ');
  }
  // The client's own credentials never reach the server: only configured forwards (above) and the
  // server's own key (below) are sent.
  if (b.credential?.in === 'header') h[b.credential.name] = b.credential.value.reveal();
  if (o.session?.sid !== undefined) h['mcp-session-id'] = o.session.sid;
  const pv = o.session?.pv ?? o.protocolVersion;
  if (pv !== undefined) h['mcp-protocol-version'] = pv;
  if (o.traceparent !== undefined) h['traceparent'] = o.traceparent;
  return h;
}

export function upstreamPath(b: McpBackendConfig): string {
  if (b.credential?.in !== 'query') return b.path;
  const sep = b.path.includes('?') ? '&' : '?';
  return `${b.path}${sep}${encodeURIComponent(b.credential.name)}=${encodeURIComponent(b.credential.value.reveal())}`;
}

export async function exchange(b: McpBackendConfig, message: Record<string, unknown>, o: ExchangeOptions): Promise<Exchange> {
  const deadline = AbortSignal.timeout(o.timeoutMs);
  const signal = AbortSignal.any([deadline, o.signal]);
  const fail = (e: unknown): never => {
    if (e instanceof UpstreamError) throw e;
    if (o.signal.aborted) throw new UpstreamError(b.name, 'aborted', `The client went away before MCP server "${b.name}" answered.`);
    if (deadline.aborted) throw new UpstreamError(b.name, 'timeout', `MCP server "${b.name}" did not answer within ${o.timeoutMs} ms.`);
    throw new UpstreamError(b.name, 'unavailable', `MCP server "${b.name}" is unavailable (${describe(e)}).`);
  };
  let res: McpHttpResponse;
  try {
    res = await mcpHttp(b.endpoints, b.tls, {
      method: 'POST',
      path: upstreamPath(b),
      headers: { ...upstreamHeaders(b, o), 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify(message),
      signal,
    });
  } catch (e) {
    return fail(e);
  }
  const sessionId = headerValue(res.headers['mcp-session-id']);
  // Destroying a body that was not read to the end makes undici emit an abort error: expected here.
  res.body.on('error', () => undefined);
  try {
    if (res.statusCode === 404 && o.session?.sid !== undefined) {
      throw new UpstreamError(b.name, 'session_expired', `MCP server "${b.name}" no longer knows this session (it restarted or expired it); re-initialize.`);
    }
    if (res.statusCode === 202) return { response: undefined, sessionId, bytes: 0 };
    if (res.statusCode < 200 || res.statusCode >= 300) {
      throw new UpstreamError(b.name, 'http_error', `MCP server "${b.name}" answered HTTP ${res.statusCode}.`);
    }
    const type = (headerValue(res.headers['content-type']) ?? '').toLowerCase();
    const id = message['id'];
    if (type.startsWith('text/event-stream')) return await readStream(b, res, id, o, sessionId);
    if (!type.startsWith('application/json')) throw new UpstreamError(b.name, 'bad_response', `MCP server "${b.name}" answered with content type "${type.slice(0, 80)}", not JSON or SSE.`);
    const text = await readLimited(b, res);
    const v = parseJson(b, text);
    if (id !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v) || (v as Record<string, unknown>)['id'] !== id)) {
      throw new UpstreamError(b.name, 'bad_response', `MCP server "${b.name}" answered with something that is not the JSON-RPC response to this request.`);
    }
    return { response: v as Record<string, unknown>, sessionId, bytes: text.length };
  } catch (e) {
    res.body.destroy();
    return fail(e);
  } finally {
    // Nothing more is read; let undici reuse or close the connection.
    if (!res.body.destroyed) res.body.resume();
  }
}

async function readStream(b: McpBackendConfig, res: McpHttpResponse, id: unknown, o: ExchangeOptions, sessionId: string | undefined): Promise<Exchange> {
  const dec = new SseDecoder();
  let bytes = 0;
  for await (const chunk of res.body) {
    const buf = chunk as Buffer;
    bytes += buf.length;
    if (bytes > MAX_UPSTREAM_BYTES) throw new UpstreamError(b.name, 'bad_response', `MCP server "${b.name}" sent more than ${MAX_UPSTREAM_BYTES} bytes.`);
    for (const ev of dec.push(buf)) {
      if (!ev.hasData || (ev.event !== undefined && ev.event !== 'message') || ev.data === '') continue;
      const v = parseJson(b, ev.data);
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UpstreamError(b.name, 'bad_response', `MCP server "${b.name}" sent an event that is not a JSON-RPC message.`);
      const m = v as Record<string, unknown>;
      if (m['id'] === id && m['method'] === undefined) {
        res.body.destroy();
        return { response: m, sessionId, bytes };
      }
      o.onMessage?.(m);
    }
  }
  throw new UpstreamError(b.name, 'bad_response', `MCP server "${b.name}" ended its stream without answering.`);
}

async function readLimited(b: McpBackendConfig, res: McpHttpResponse): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res.body) {
    n += (c as Buffer).length;
    if (n > MAX_UPSTREAM_BYTES) throw new UpstreamError(b.name, 'bad_response', `MCP server "${b.name}" sent more than ${MAX_UPSTREAM_BYTES} bytes.`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks, n).toString('utf8');
}

function parseJson(b: McpBackendConfig, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new UpstreamError(b.name, 'bad_response', `MCP server "${b.name}" answered with invalid JSON.`);
  }
}

export function headerValue(v: string | string[] | undefined): string | undefined {
  return v === undefined ? undefined : typeof v === 'string' ? v : v[0];
}

function describe(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection reset';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return 'connect timeout';
  return typeof code === 'string' ? code : 'request failed';
}
