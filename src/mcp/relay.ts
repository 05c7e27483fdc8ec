// Requests an MCP server sends to the client (sampling, elicitation, roots/list, ping) and the
// client's answers. Streamable HTTP carries a server request on one of the server's SSE streams and
// the client's response back as a POST; with many servers behind one session, two servers may use
// the same JSON-RPC id, so the id the client sees names the server (`<backend>__<id as JSON>`, the
// same prefixing as tool names) and the response goes back to that server with its own id.
import type { McpRouteConfig } from '../config/types-mcp.js';
import { exchange } from './backend.js';
import { INVALID_REQUEST, type JsonRpcId, RpcError } from './jsonrpc.js';
import type { CallContext } from './methods.js';
import { SEPARATOR, splitName } from './names.js';

/** Client capabilities that servers act on; the rest of what a client declares stays with the gateway. */
const RELAYED_CAPABILITIES = ['roots', 'sampling', 'elicitation'] as const;
/** A declared capability is carried in the sealed session id, which must stay within header limits. */
const MAX_CAPABILITY_CHARS = 512;

export function clientId(backend: string, id: JsonRpcId): string {
  return `${backend}${SEPARATOR}${JSON.stringify(id)}`;
}

/** The server and its own id behind an id the gateway gave the client, or undefined when it is not one. */
export function serverId(route: McpRouteConfig, id: unknown): { backend: string; id: JsonRpcId } | undefined {
  if (typeof id !== 'string') return undefined;
  const parts = splitName(id);
  if (parts === undefined || !route.backendsByName.has(parts.backend)) return undefined;
  try {
    const v = JSON.parse(parts.rest) as unknown;
    return typeof v === 'string' || typeof v === 'number' ? { backend: parts.backend, id: v } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A server message on its way to the client: requests (and the server's cancellation of them) get
 * the client-side id, and resource URIs the server's prefix, so the client can act on them.
 */
export function rewriteServerMessage(backend: string, m: Record<string, unknown>): Record<string, unknown> {
  const id = m['id'];
  if (typeof m['method'] === 'string' && (typeof id === 'string' || typeof id === 'number')) return { ...m, id: clientId(backend, id) };
  if (m['method'] === 'notifications/cancelled') {
    const p = m['params'] as Record<string, unknown> | undefined;
    const rid = p?.['requestId'];
    if (typeof rid === 'string' || typeof rid === 'number') return { ...m, params: { ...p, requestId: clientId(backend, rid) } };
  }
  if (m['method'] === 'notifications/resources/updated') {
    const p = m['params'] as Record<string, unknown> | undefined;
    if (p !== undefined && typeof p['uri'] === 'string') return { ...m, params: { ...p, uri: `${backend}${SEPARATOR}${p['uri']}` } };
  }
  return m;
}

/** What of the client's initialize capabilities the servers are told, so a server never asks for what the client cannot do. */
export function relayedCapabilities(params: Record<string, unknown> | undefined): Record<string, unknown> {
  const declared = params?.['capabilities'];
  const out: Record<string, unknown> = {};
  if (typeof declared !== 'object' || declared === null) return out;
  for (const k of RELAYED_CAPABILITIES) {
    const v = (declared as Record<string, unknown>)[k];
    if (typeof v !== 'object' || v === null) continue;
    // Sub-flags (roots.listChanged, elicitation.url …) matter to servers; an oversized object is cut to "declared".
    out[k] = JSON.stringify(v).length <= MAX_CAPABILITY_CHARS ? v : {};
  }
  return out;
}

/**
 * The client's response to a server request, delivered to the server that asked. Throws the error
 * the client should get (HTTP 400) when the id is not one this gateway handed out for this session.
 */
export async function relayResponse(ctx: CallContext, message: Record<string, unknown>): Promise<void> {
  const target = serverId(ctx.route, message['id']);
  const s = target === undefined ? undefined : ctx.session.backends.find((b) => b.name === target.backend && !b.down);
  const b = target === undefined ? undefined : ctx.route.backendsByName.get(target.backend);
  if (target === undefined || s === undefined || b === undefined) {
    throw new RpcError(INVALID_REQUEST, 'Invalid Request: this response answers no request an MCP server of this session sent (its id is not one the gateway issued).', 400);
  }
  await exchange(b, { ...message, id: target.id }, {
    session: s,
    protocolVersion: ctx.session.protocolVersion,
    clientHeaders: ctx.clientHeaders,
    timeoutMs: ctx.route.timeoutMs,
    signal: ctx.signal,
    traceparent: ctx.traceparent,
  });
}

/** A client cancelling a server's request goes to that server alone, with the server's id; undefined for any other notification. */
export function cancellationTarget(route: McpRouteConfig, message: Record<string, unknown>): { backend: string; message: Record<string, unknown> } | undefined {
  if (message['method'] !== 'notifications/cancelled') return undefined;
  const p = message['params'] as Record<string, unknown> | undefined;
  const target = serverId(route, p?.['requestId']);
  if (target === undefined) return undefined;
  return { backend: target.backend, message: { ...message, params: { ...p, requestId: target.id } } };
}
