// The MCP methods over many servers. Names a client sees are `<backend>__<name>` (tools, prompts)
// and `<backend>__<uri>` (resources), as Envoy AI Gateway prefixes them (names.ts); lists fan out to every live
// server of the session and merge (a server that fails is left out, with a warning), and a call goes
// to the one server its prefix names, with the prefix removed.
import type { McpBackendConfig, McpRouteConfig, McpToolFilter } from '../config/types-mcp.js';
import type { Logger } from '../core/log.js';
import { type Caller, authorizeTool, forbidden } from './auth.js';
import { exchange, type Exchange, UpstreamError } from './backend.js';
import { INVALID_PARAMS, METHOD_NOT_FOUND, type JsonRpcId, RpcError } from './jsonrpc.js';
import { SEPARATOR, splitName } from './names.js';
import { cancellationTarget, rewriteServerMessage } from './relay.js';
import type { BackendSession, McpSession } from './session.js';

export interface CallContext {
  readonly route: McpRouteConfig;
  readonly session: McpSession;
  readonly caller: Caller;
  readonly id: JsonRpcId;
  readonly clientHeaders: Readonly<Record<string, string | string[] | undefined>>;
  readonly signal: AbortSignal;
  readonly traceparent: string | undefined;
  readonly logger: Logger;
  readonly onFailure: (backend: string, reason: string) => void;
  /** Server messages (progress, logging) while a routed request runs: streamed to the client. */
  readonly onMessage: (msg: Record<string, unknown>) => void;
  /** Rate limits of the route for one tool call; throws the 429 when a limit rejects it. */
  readonly admit: (backend: string, tool: string) => Promise<void>;
}

/** What a request came to: a result or error for the client, and labels for the records. */
export interface MethodOutcome {
  /** The whole JSON-RPC response to send (its id is the client's). */
  readonly response: Record<string, unknown>;
  readonly backend: string;
  readonly tool: string;
  readonly upstreamBytes: number;
}

export function toolSelected(f: McpToolFilter | undefined, tool: string): boolean {
  if (f === undefined) return true;
  if (f.exclude.has(tool) || f.excludeRegex.some((r) => r.test(tool))) return false;
  if (f.include !== undefined) return f.include.has(tool);
  if (f.includeRegex !== undefined) return f.includeRegex.some((r) => r.test(tool));
  return true;
}

function live(ctx: CallContext): Array<{ b: McpBackendConfig; s: BackendSession }> {
  const out: Array<{ b: McpBackendConfig; s: BackendSession }> = [];
  for (const s of ctx.session.backends) {
    const b = ctx.route.backendsByName.get(s.name);
    if (b !== undefined && !s.down) out.push({ b, s });
  }
  return out;
}

/** One exchange with one server on behalf of the session; a server that lost the session gets a fresh one. */
export async function send(ctx: CallContext, b: McpBackendConfig, s: BackendSession, message: Record<string, unknown>, stream: boolean): Promise<Exchange> {
  const opts = {
    session: s,
    protocolVersion: ctx.session.protocolVersion,
    clientHeaders: ctx.clientHeaders,
    timeoutMs: ctx.route.timeoutMs,
    signal: ctx.signal,
    traceparent: ctx.traceparent,
    onMessage: stream ? (m: Record<string, unknown>) => ctx.onMessage(rewriteServerMessage(b.name, m)) : undefined,
  };
  try {
    return await exchange(b, message, opts);
  } catch (e) {
    if (!(e instanceof UpstreamError) || e.reason !== 'session_expired') throw e;
    // The server restarted and forgot its session; the client's session stays valid with a new one.
    const fresh = await reinitialize(ctx, b, s);
    return exchange(b, message, { ...opts, session: fresh });
  }
}

async function reinitialize(ctx: CallContext, b: McpBackendConfig, s: BackendSession): Promise<BackendSession> {
  const base = { clientHeaders: ctx.clientHeaders, timeoutMs: ctx.route.timeoutMs, signal: ctx.signal, traceparent: ctx.traceparent };
  const init = await exchange(
    b,
    { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: s.pv ?? ctx.session.protocolVersion, capabilities: ctx.session.clientCapabilities ?? {}, clientInfo: { name: 'tollgate', version: '1' } } },
    { ...base, session: undefined, protocolVersion: s.pv ?? ctx.session.protocolVersion },
  );
  const fresh: BackendSession = { name: s.name, sid: init.sessionId, pv: s.pv, down: false };
  await exchange(b, { jsonrpc: '2.0', method: 'notifications/initialized' }, { ...base, session: fresh, protocolVersion: fresh.pv });
  return fresh;
}

type ListKind = { method: string; field: string; rewrite: (ctx: CallContext, b: McpBackendConfig, item: Record<string, unknown>) => Record<string, unknown> | undefined };

const LISTS: Readonly<Record<string, ListKind>> = {
  'tools/list': {
    method: 'tools/list',
    field: 'tools',
    rewrite: (ctx, b, t) => {
      const name = t['name'];
      if (typeof name !== 'string' || !toolSelected(b.tools, name)) return undefined;
      if (!authorizeTool(ctx.route, ctx.caller, b.name, name).allowed) return undefined;
      return { ...t, name: `${b.name}${SEPARATOR}${name}` };
    },
  },
  'prompts/list': { method: 'prompts/list', field: 'prompts', rewrite: (_c, b, p) => (typeof p['name'] === 'string' ? { ...p, name: `${b.name}${SEPARATOR}${p['name']}` } : undefined) },
  'resources/list': { method: 'resources/list', field: 'resources', rewrite: (_c, b, r) => prefixResource(b.name, r, 'uri') },
  'resources/templates/list': { method: 'resources/templates/list', field: 'resourceTemplates', rewrite: (_c, b, r) => prefixResource(b.name, r, 'uriTemplate') },
};

function prefixResource(backend: string, r: Record<string, unknown>, field: 'uri' | 'uriTemplate'): Record<string, unknown> | undefined {
  const uri = r[field];
  if (typeof uri !== 'string') return undefined;
  const out: Record<string, unknown> = { ...r, [field]: `${backend}${SEPARATOR}${uri}` };
  if (typeof r['name'] === 'string') out['name'] = `${backend}${SEPARATOR}${r['name']}`;
  return out;
}

function encodeCursor(c: Record<string, string>): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

function decodeCursor(ctx: CallContext, text: unknown): Record<string, string> {
  if (typeof text !== 'string' || text.length > 16_384) throw new RpcError(INVALID_PARAMS, 'Invalid params: "cursor" is not a cursor this gateway issued.');
  try {
    const v = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('shape');
    const out: Record<string, string> = {};
    for (const [k, c] of Object.entries(v)) {
      if (typeof c !== 'string' || !ctx.route.backendsByName.has(k)) throw new Error('shape');
      out[k] = c;
    }
    return out;
  } catch {
    throw new RpcError(INVALID_PARAMS, 'Invalid params: "cursor" is not a cursor this gateway issued; start again without one.');
  }
}

async function list(ctx: CallContext, kind: ListKind, params: Record<string, unknown> | undefined): Promise<MethodOutcome> {
  const cursor = params?.['cursor'];
  const cursors = cursor === undefined ? undefined : decodeCursor(ctx, cursor);
  const targets = live(ctx).filter(({ b }) => cursors === undefined || cursors[b.name] !== undefined);
  let bytes = 0;
  const pages = await Promise.all(
    targets.map(async ({ b, s }) => {
      const c = cursors?.[b.name];
      try {
        const ex = await send(ctx, b, s, { jsonrpc: '2.0', id: ctx.id, method: kind.method, params: c === undefined ? {} : { cursor: c } }, true);
        bytes += ex.bytes;
        const r = ex.response;
        if (r === undefined || r['error'] !== undefined || typeof r['result'] !== 'object' || r['result'] === null) {
          // A server without this capability answers "method not found": nothing to merge, not a failure.
          const code = (r?.['error'] as { code?: unknown } | undefined)?.code;
          if (code !== METHOD_NOT_FOUND) ctx.logger.warn('MCP server left out of a list: it answered an error', { route: ctx.route.key, backend: b.name, method: kind.method });
          return undefined;
        }
        return { b, result: r['result'] as Record<string, unknown> };
      } catch (e) {
        if (e instanceof UpstreamError) {
          ctx.onFailure(b.name, e.reason);
          ctx.logger.warn('MCP server left out of a list', { route: ctx.route.key, backend: b.name, method: kind.method, reason: e.reason, error: e.message });
          return undefined;
        }
        throw e;
      }
    }),
  );
  const items: Record<string, unknown>[] = [];
  const next: Record<string, string> = {};
  for (const p of pages) {
    if (p === undefined) continue;
    const arr = p.result[kind.field];
    if (Array.isArray(arr)) {
      for (const it of arr) {
        if (typeof it !== 'object' || it === null) continue;
        const x = kind.rewrite(ctx, p.b, it as Record<string, unknown>);
        if (x !== undefined) items.push(x);
      }
    }
    const nc = p.result['nextCursor'];
    if (typeof nc === 'string' && nc !== '') next[p.b.name] = nc;
  }
  const result: Record<string, unknown> = { [kind.field]: items };
  if (Object.keys(next).length > 0) result['nextCursor'] = encodeCursor(next);
  return { response: { jsonrpc: '2.0', id: ctx.id, result }, backend: '', tool: '', upstreamBytes: bytes };
}

/** Finds the live server a prefixed name belongs to, or the JSON-RPC error a client should see. */
function target(ctx: CallContext, prefixed: unknown, what: string): { b: McpBackendConfig; s: BackendSession; rest: string } {
  if (typeof prefixed !== 'string' || prefixed === '') throw new RpcError(INVALID_PARAMS, `Invalid params: "${what}" must be a non-empty string.`);
  const parts = splitName(prefixed);
  const b = parts === undefined ? undefined : ctx.route.backendsByName.get(parts.backend);
  if (parts === undefined || b === undefined) {
    throw new RpcError(INVALID_PARAMS, `Unknown ${what} "${prefixed.slice(0, 200)}": names here are <server>__<name>; list them to see what exists.`);
  }
  const s = ctx.session.backends.find((x) => x.name === b.name);
  if (s === undefined || s.down) {
    throw new UpstreamError(b.name, 'unavailable', `MCP server "${b.name}" was unavailable when this session started, so "${prefixed.slice(0, 200)}" cannot be reached; re-initialize to try it again.`);
  }
  return { b, s, rest: parts.rest };
}

async function routed(ctx: CallContext, b: McpBackendConfig, s: BackendSession, method: string, params: Record<string, unknown>, tool: string, rewrite?: (r: Record<string, unknown>) => Record<string, unknown>): Promise<MethodOutcome> {
  let ex: Exchange;
  try {
    ex = await send(ctx, b, s, { jsonrpc: '2.0', id: ctx.id, method, params }, true);
  } catch (e) {
    // MCP: a dropped connection is not a cancellation, so tell the server the client has gone.
    if (e instanceof UpstreamError && e.reason === 'aborted') cancelUpstream(ctx, b, s);
    throw e;
  }
  const r = ex.response ?? { jsonrpc: '2.0', id: ctx.id, result: {} };
  return { response: rewrite === undefined ? r : rewrite(r), backend: b.name, tool, upstreamBytes: ex.bytes };
}

function cancelUpstream(ctx: CallContext, b: McpBackendConfig, s: BackendSession): void {
  const message = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: ctx.id, reason: 'the client disconnected' } };
  exchange(b, message, {
    session: s,
    protocolVersion: ctx.session.protocolVersion,
    clientHeaders: ctx.clientHeaders,
    timeoutMs: ctx.route.timeoutMs,
    signal: new AbortController().signal,
    traceparent: ctx.traceparent,
  }).catch(() => undefined);
}

function prefixContents(backend: string): (r: Record<string, unknown>) => Record<string, unknown> {
  return (r) => {
    const res = r['result'] as { contents?: unknown } | undefined;
    if (res === undefined || !Array.isArray(res.contents)) return r;
    const contents = res.contents.map((c: unknown) =>
      typeof c === 'object' && c !== null && typeof (c as Record<string, unknown>)['uri'] === 'string' ? { ...c, uri: `${backend}${SEPARATOR}${(c as Record<string, string>)['uri']}` } : c,
    );
    return { ...r, result: { ...res, contents } };
  };
}

export async function callMethod(ctx: CallContext, method: string, params: Record<string, unknown> | undefined): Promise<MethodOutcome> {
  const p = params ?? {};
  const kind = LISTS[method];
  if (kind !== undefined) return list(ctx, kind, params);
  switch (method) {
    case 'ping':
      return { response: { jsonrpc: '2.0', id: ctx.id, result: {} }, backend: '', tool: '', upstreamBytes: 0 };
    case 'tools/call': {
      const t = target(ctx, p['name'], 'tool');
      if (!toolSelected(t.b.tools, t.rest)) {
        throw new RpcError(INVALID_PARAMS, `Unknown tool "${String(p['name']).slice(0, 200)}": this gateway does not expose it (tools/list shows what it does).`);
      }
      const d = authorizeTool(ctx.route, ctx.caller, t.b.name, t.rest);
      if (!d.allowed) throw forbidden(ctx.route, String(p['name']), d);
      await ctx.admit(t.b.name, t.rest);
      return routed(ctx, t.b, t.s, method, { ...p, name: t.rest }, t.rest);
    }
    case 'prompts/get': {
      const t = target(ctx, p['name'], 'prompt');
      return routed(ctx, t.b, t.s, method, { ...p, name: t.rest }, '');
    }
    case 'resources/read':
    case 'resources/subscribe':
    case 'resources/unsubscribe': {
      const t = target(ctx, p['uri'], 'resource');
      return routed(ctx, t.b, t.s, method, { ...p, uri: t.rest }, '', method === 'resources/read' ? prefixContents(t.b.name) : undefined);
    }
    case 'completion/complete': {
      const ref = p['ref'] as Record<string, unknown> | undefined;
      const field = ref?.['type'] === 'ref/resource' ? 'uri' : 'name';
      const t = target(ctx, ref?.[field], field === 'uri' ? 'resource' : 'prompt');
      return routed(ctx, t.b, t.s, method, { ...p, ref: { ...ref, [field]: t.rest } }, '');
    }
    case 'logging/setLevel': {
      await Promise.all(live(ctx).map(({ b, s }) => send(ctx, b, s, { jsonrpc: '2.0', id: ctx.id, method, params: p }, false).catch(() => undefined)));
      return { response: { jsonrpc: '2.0', id: ctx.id, result: {} }, backend: '', tool: '', upstreamBytes: 0 };
    }
    default:
      throw new RpcError(METHOD_NOT_FOUND, `Method not found: "${method.slice(0, 100)}" is not an MCP method this gateway serves.`);
  }
}

/**
 * A client notification goes to every live server of the session (they are per-session facts),
 * except the cancellation of a server's own request, which only that server hears, with its own id.
 */
export async function notify(ctx: CallContext, message: Record<string, unknown>): Promise<void> {
  const only = cancellationTarget(ctx.route, message);
  const targets = only === undefined ? live(ctx) : live(ctx).filter(({ b }) => b.name === only.backend);
  await Promise.all(
    targets.map(({ b, s }) =>
      send(ctx, b, s, only?.message ?? message, false).catch((e: unknown) => {
        if (e instanceof UpstreamError) ctx.onFailure(b.name, e.reason);
      }),
    ),
  );
}
