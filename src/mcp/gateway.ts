// The MCP endpoint of an MCPRoute over Streamable HTTP (MCP 2025-03-26 … 2025-11-25): POST carries
// one JSON-RPC message and is answered with JSON, or with SSE when the server streams (progress,
// then the result); GET opens the stream of server-initiated messages of every server; DELETE ends
// the session. `initialize` fans out and seals every server's session into the client's
// Mcp-Session-Id. One record per request feeds metrics, the ledger (tool calls) and the log.
import type { IncomingHttpHeaders } from 'node:http';
import { nowMs } from '../core/clock.js';
import { startTrace } from '../core/trace-context.js';
import type { Limits } from '../limits/index.js';
import type { Logger } from '../core/log.js';
import type { McpConfig } from '../config/types-mcp.js';
import type { VirtualKeys } from '../keys/service.js';
import type { Req, Res } from '../pipeline/http.js';
import type { McpMetrics } from '../telemetry/mcp-metrics.js';
import type { McpSpanFacts } from '../telemetry/traces.js';
import { authenticate, type Caller } from './auth.js';
import { exchange, headerValue, UpstreamError } from './backend.js';
import { errorBody, INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, type JsonRpcId, parseMessage, RATE_LIMITED, RpcError } from './jsonrpc.js';
import { callMethod, type CallContext, notify } from './methods.js';
import { relayedCapabilities, relayResponse } from './relay.js';
import { headersMatch, hostMatches, hostOf, type McpExchange, readMessage, toolOf } from './request.js';
import { type McpSession, openSession, sealSession } from './session.js';
import { type McpToolCallRecord, spanFacts, toolCallRecord } from './records.js';
import { endSession, openStream } from './streams.js';

export const SUPPORTED_VERSIONS: readonly string[] = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'];
const LATEST = SUPPORTED_VERSIONS[0]!;
/** Tool calls carry no tokens: every cost a rate limit could reserve is zero. */
const NO_COST = { cost: (): number => 0 };
const KNOWN_METHODS = new Set([
  'initialize', 'ping', 'tools/list', 'tools/call', 'prompts/list', 'prompts/get', 'resources/list', 'resources/read',
  'resources/templates/list', 'resources/subscribe', 'resources/unsubscribe', 'completion/complete', 'logging/setLevel',
]);

export interface McpGatewayOptions {
  readonly logger: Logger;
  /** Rate limits (BackendTrafficPolicy) on tool calls. */
  readonly limits?: Limits | undefined;
  readonly metrics?: McpMetrics | undefined;
  readonly onToolCall?: ((r: McpToolCallRecord) => void) | undefined;
  /** Whether spans are exported now, and where they go. */
  readonly tracing?: (() => boolean) | undefined;
  readonly onSpan?: ((f: McpSpanFacts) => void) | undefined;
  readonly version?: string;
  /** The gateway's virtual keys (`tg-…`), once its state store is open; they authenticate MCP calls too. */
  readonly keys?: (() => VirtualKeys | undefined) | undefined;
}


export class McpGateway {
  /** Open GET streams of server-initiated messages: they carry no request of their own, so a drain ends them. */
  private readonly standing = new Set<McpExchange>();
  private closing = false;

  constructor(private readonly o: McpGatewayOptions) {}

  /**
   * The gateway is draining: ends every open stream of server-initiated messages now (a client
   * keeps one open for its session's life, which would hold the drain for its whole timeout) and
   * refuses new ones; clients reopen them on another replica. Tool calls in flight finish as usual.
   */
  endStreams(): void {
    this.closing = true;
    for (const x of this.standing) x.abort.abort();
  }

  /** Takes the request when it is for an MCPRoute (or its OAuth metadata); false leaves it to the rest of the gateway. */
  serve(cfg: McpConfig, req: Req, res: Res, path: string, requestId: string, remoteAddress: string | undefined, done: (status: number) => void): boolean {
    const host = hostOf(req);
    for (const r of cfg.routes) {
      if (r.oauth !== undefined && r.oauth.metadataPaths.includes(path) && hostMatches(r, host)) {
        const body = JSON.stringify(r.oauth.metadata);
        const status = req.method === 'GET' || req.method === 'HEAD' ? 200 : 405;
        res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'max-age=300', 'access-control-allow-origin': '*', 'x-request-id': requestId, ...(status === 405 ? { allow: 'GET' } : {}) });
        res.end(status === 200 ? body : '');
        done(status);
        return true;
      }
    }
    const route = cfg.routes.find((r) => r.path === path && hostMatches(r, host) && headersMatch(r, req));
    if (route === undefined) return false;
    const trace = this.o.tracing?.() === true ? startTrace(req.headers['traceparent']) : undefined;
    const x: McpExchange = {
      req,
      res,
      route,
      cfg,
      requestId,
      start: nowMs(),
      abort: new AbortController(),
      remoteAddress,
      startedAt: Date.now(),
      trace,
      traceparent: trace?.traceparent ?? headerValue(req.headers['traceparent']),
    };
    res.on('close', () => {
      if (!res.writableFinished) x.abort.abort();
    });
    this.handle(x).then(
      (status) => done(status),
      (e: unknown) => {
        this.o.logger.error('MCP request failed', { requestId, err: e });
        done(this.fail(x, null, new RpcError(INTERNAL_ERROR, 'Internal error in the gateway; see its logs.', 500)));
      },
    );
    return true;
  }

  private async handle(x: McpExchange): Promise<number> {
    const method = x.req.method ?? 'GET';
    if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') {
      return this.fail(x, null, new RpcError(INVALID_REQUEST, `${method} is not part of MCP's Streamable HTTP transport; use POST, GET or DELETE.`, 405, undefined, { allow: 'GET, POST, DELETE' }));
    }
    let caller: Caller;
    try {
      caller = await authenticate(x.route, { headers: x.req.headers, rawHeaders: x.req.rawHeaders ?? [] }, this.o.keys?.());
    } catch (e) {
      return this.failRecorded(x, null, e, 'unauthenticated', '');
    }
    const pv = headerValue(x.req.headers['mcp-protocol-version']);
    if (pv !== undefined && !SUPPORTED_VERSIONS.includes(pv)) {
      return this.fail(x, null, new RpcError(INVALID_REQUEST, `Bad Request: unsupported MCP-Protocol-Version "${pv.slice(0, 40)}"; supported: ${SUPPORTED_VERSIONS.join(', ')}.`, 400));
    }
    if (method === 'POST') return this.post(x, caller);
    const session = this.session(x, caller);
    if (session instanceof RpcError) return this.fail(x, null, session);
    if (method === 'DELETE') return endSession(x, session, this.o);
    if (this.closing) return this.fail(x, null, new RpcError(INTERNAL_ERROR, 'The gateway is shutting down; open the stream again (another replica will serve it).', 503, undefined, { 'retry-after': '1' }));
    this.standing.add(x);
    try {
      return await openStream(x, session, this.o);
    } finally {
      this.standing.delete(x);
    }
  }

  private session(x: McpExchange, caller: Caller): McpSession | RpcError {
    const id = headerValue(x.req.headers['mcp-session-id']);
    if (id === undefined) return new RpcError(INVALID_REQUEST, 'Bad Request: the Mcp-Session-Id header is required; send initialize first.', 400);
    const s = openSession(x.cfg.sessionKey, id);
    // A session of another route, another caller or another key is, to this caller, no session at all.
    if (s === undefined || s.route !== x.route.key || s.principal !== caller.principal) {
      return new RpcError(-32001, 'Session not found: it expired, belongs to someone else or was issued by another gateway; initialize a new one.', 404);
    }
    return s;
  }

  private async post(x: McpExchange, caller: Caller): Promise<number> {
    const type = (headerValue(x.req.headers['content-type']) ?? '').toLowerCase();
    if (!type.startsWith('application/json')) {
      return this.fail(x, null, new RpcError(INVALID_REQUEST, 'Unsupported Media Type: an MCP message is sent as Content-Type: application/json.', 415));
    }
    let text: string;
    try {
      text = await readMessage(x.req);
    } catch (e) {
      return this.failRecorded(x, null, e, 'bad_request', '');
    }
    let parsed: ReturnType<typeof parseMessage>;
    try {
      parsed = parseMessage(text);
    } catch (e) {
      return this.failRecorded(x, null, e, 'bad_request', '');
    }
    const msg = parsed.message;
    if (msg.kind === 'request' && msg.method === 'initialize') return this.initialize(x, caller, msg.id, msg.params, text.length);
    const session = this.session(x, caller);
    if (session instanceof RpcError) return this.fail(x, msg.kind === 'request' ? msg.id : null, session);
    const ctx = this.context(x, session, caller, msg.kind === 'request' ? msg.id : 0);
    if (msg.kind === 'response') return this.relay(x, ctx, parsed.value);
    if (msg.kind === 'notification') {
      // A client notification is a per-session fact every server hears, except the cancellation of one server's request.
      await notify(ctx, parsed.value);
      x.res.writeHead(202, { 'x-request-id': x.requestId });
      x.res.end();
      return 202;
    }
    const label = KNOWN_METHODS.has(msg.method) ? msg.method : 'other';
    try {
      const out = await callMethod(ctx, msg.method, msg.params);
      const body = JSON.stringify(out.response);
      const isError = out.response['error'] !== undefined;
      const outcome = x.abort.signal.aborted ? 'client_closed' : isError ? 'error' : 'ok';
      this.send(x, body);
      this.record(x, caller, label, out.backend, out.tool, outcome, text.length, body.length, msg.method === 'tools/call' ? msg.params?.['arguments'] : undefined, undefined, msg.id);
      return 200;
    } catch (e) {
      const backend = e instanceof UpstreamError ? e.backend : '';
      const tool = msg.method === 'tools/call' && backend !== '' ? toolOf(msg.params) : '';
      const outcome = e instanceof UpstreamError ? (e.reason === 'aborted' ? 'client_closed' : e.reason) : e instanceof RpcError ? (e.httpStatus === 403 ? 'denied' : e.code === RATE_LIMITED ? 'rate_limited' : 'invalid') : 'internal_error';
      const status = this.fail(x, msg.id, e);
      this.record(x, caller, label, backend, tool, outcome, text.length, 0, undefined, msg.method === 'tools/call' ? toolOf(msg.params) : undefined, msg.id);
      return status;
    }
  }

  /** The client's answer to a server request: 202 once the server that asked has it. */
  private async relay(x: McpExchange, ctx: CallContext, message: Record<string, unknown>): Promise<number> {
    try {
      await relayResponse(ctx, message);
    } catch (e) {
      if (e instanceof UpstreamError) {
        this.o.metrics?.backendFailure(e.backend, e.reason);
        this.o.logger.warn('MCP server did not take the client\'s response to its request', { route: x.route.key, backend: e.backend, reason: e.reason });
        return this.fail(x, null, new RpcError(e.code, e.message, 502, e.data));
      }
      return this.fail(x, null, e);
    }
    x.res.writeHead(202, { 'x-request-id': x.requestId });
    x.res.end();
    return 202;
  }

  private async initialize(x: McpExchange, caller: Caller, id: JsonRpcId, params: Record<string, unknown> | undefined, size: number): Promise<number> {
    const asked = params?.['protocolVersion'];
    if (typeof asked !== 'string') return this.fail(x, id, new RpcError(INVALID_PARAMS, 'Invalid params: initialize needs "protocolVersion" (a string).'));
    const version = SUPPORTED_VERSIONS.includes(asked) ? asked : LATEST;
    const headers = x.req.headers;
    const clientCapabilities = relayedCapabilities(params);
    const results = await Promise.all(
      x.route.backends.map(async (b) => {
        try {
          const ex = await exchange(b, { jsonrpc: '2.0', id, method: 'initialize', params: { ...params, protocolVersion: version, capabilities: clientCapabilities } }, {
            session: undefined,
            protocolVersion: version,
            clientHeaders: headers,
            timeoutMs: x.route.timeoutMs,
            signal: x.abort.signal,
            traceparent: x.traceparent,
          });
          const result = ex.response?.['result'] as Record<string, unknown> | undefined;
          if (result === undefined) throw new UpstreamError(b.name, 'bad_response', `MCP server "${b.name}" refused initialize.`);
          const pv = typeof result['protocolVersion'] === 'string' ? result['protocolVersion'] : version;
          return { s: { name: b.name, sid: ex.sessionId, pv, down: false }, result, error: undefined };
        } catch (e) {
          const reason = e instanceof UpstreamError ? e.reason : 'unavailable';
          this.o.metrics?.backendFailure(b.name, reason);
          this.o.logger.warn('MCP server unavailable for a new session; its tools are left out', { route: x.route.key, backend: b.name, reason, error: (e as Error).message });
          return { s: { name: b.name, sid: undefined, pv: undefined, down: true }, result: undefined, error: (e as Error).message };
        }
      }),
    );
    if (results.every((r) => r.s.down)) {
      this.o.metrics?.session('unavailable');
      const why = results.map((r) => r.error ?? '').join(' ');
      return this.failRecorded(x, id, new RpcError(-32010, `No MCP server behind this endpoint answered initialize. ${why}`), 'unavailable', '');
    }
    const caps: Record<string, unknown> = {};
    for (const r of results) {
      const c = r.result?.['capabilities'] as Record<string, unknown> | undefined;
      if (c === undefined) continue;
      if (c['tools'] !== undefined) caps['tools'] = { listChanged: true };
      if (c['prompts'] !== undefined) caps['prompts'] = { listChanged: true };
      if (c['resources'] !== undefined) {
        const prev = (caps['resources'] ?? {}) as Record<string, unknown>;
        caps['resources'] = { listChanged: true, subscribe: prev['subscribe'] === true || (c['resources'] as Record<string, unknown>)['subscribe'] === true };
      }
      if (c['logging'] !== undefined) caps['logging'] = {};
      if (c['completions'] !== undefined) caps['completions'] = {};
    }
    const session: McpSession = { route: x.route.key, protocolVersion: version, principal: caller.principal, backends: results.map((r) => r.s), clientCapabilities, issuedAt: Math.floor(Date.now() / 1000) };
    const sid = sealSession(x.cfg.sessionKey, session);
    const body = JSON.stringify({ jsonrpc: '2.0', id, result: { protocolVersion: version, capabilities: caps, serverInfo: { name: 'tollgate', version: this.o.version ?? '0' } } });
    this.send(x, body, { 'mcp-session-id': sid });
    this.o.metrics?.session(results.some((r) => r.s.down) ? 'partial' : 'ok');
    this.record(x, caller, 'initialize', '', '', 'ok', size, body.length, undefined, undefined, id);
    return 200;
  }

  private context(x: McpExchange, session: McpSession, caller: Caller, id: JsonRpcId): CallContext {
    let sse = false;
    return {
      route: x.route,
      session,
      caller,
      id,
      clientHeaders: x.req.headers,
      signal: x.abort.signal,
      traceparent: x.traceparent,
      logger: this.o.logger,
      onFailure: (backend, reason) => this.o.metrics?.backendFailure(backend, reason),
      admit: (backend, tool) => this.admit(x, caller, backend, tool),
      onMessage: (m) => {
        if (x.res.writableEnded) return;
        if (!sse) {
          sse = true;
          x.res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-request-id': x.requestId });
        }
        x.res.write(`event: message\ndata: ${JSON.stringify(m)}\n\n`);
      },
    };
  }

  private async admit(x: McpExchange, caller: Caller, backend: string, tool: string): Promise<void> {
    const limits = this.o.limits;
    if (limits === undefined || x.route.rateLimits.length === 0) return;
    // What selectors can key on: the tool, its server and the authenticated caller (never a credential).
    const headers: IncomingHttpHeaders = { ...x.req.headers, 'x-ai-eg-mcp-backend': backend, 'x-ai-eg-mcp-tool': tool };
    delete headers['x-ai-eg-mcp-caller'];
    if (caller.principal !== undefined) headers['x-ai-eg-mcp-caller'] = caller.principal;
    const a = limits.rate.admit({ rateLimits: x.route.rateLimits, timeouts: { requestMs: 0 } }, x.route.key, { headers, method: 'POST', path: x.route.path, clientAddress: x.remoteAddress }, x.requestId, NO_COST);
    const r = a instanceof Promise ? await a : a;
    if (!r.ok) throw new RpcError(RATE_LIMITED, r.error.message, r.error.status, undefined, r.error.headers ?? {});
  }


  private send(x: McpExchange, body: string, extra: Record<string, string> = {}): void {
    if (x.res.writableEnded) return;
    if (x.res.headersSent) {
      // The answer joins the stream of progress messages that is already open.
      x.res.end(`event: message\ndata: ${body}\n\n`);
      return;
    }
    x.res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': x.requestId, ...extra });
    x.res.end(body);
  }

  private fail(x: McpExchange, id: JsonRpcId | null, e: unknown): number {
    const err = e instanceof RpcError ? e : new RpcError(INTERNAL_ERROR, 'Internal error in the gateway; see its logs.', 500);
    if (!(e instanceof RpcError)) this.o.logger.error('MCP request failed', { requestId: x.requestId, err: e });
    const body = errorBody(id, err.code, err.message, err.data);
    if (x.res.writableEnded) return err.httpStatus;
    if (x.res.headersSent) {
      x.res.end(`event: message\ndata: ${body}\n\n`);
      return 200;
    }
    x.res.writeHead(err.httpStatus, { 'content-type': 'application/json', 'x-request-id': x.requestId, ...err.headers });
    x.res.end(body);
    return err.httpStatus;
  }

  private failRecorded(x: McpExchange, id: JsonRpcId | null, e: unknown, outcome: string, method: string): number {
    const status = this.fail(x, id, e);
    const durationMs = nowMs() - x.start;
    this.o.metrics?.observe({ method: method === '' ? 'http' : method, backend: '', tool: '', outcome, seconds: durationMs / 1000 });
    this.span(x, method === '' ? 'http' : method, '', '', outcome, durationMs, id);
    return status;
  }

  private span(x: McpExchange, method: string, backend: string, tool: string, outcome: string, durationMs: number, id: JsonRpcId | null, pv?: string): void {
    if (x.trace !== undefined && this.o.onSpan !== undefined) this.o.onSpan(spanFacts(x, x.trace, method, backend, tool, outcome, durationMs, id, pv));
  }

  private record(x: McpExchange, caller: Caller, method: string, backend: string, tool: string, outcome: string, reqBytes: number, resBytes: number, args?: unknown, unownedTool?: string, id?: JsonRpcId): void {
    const durationMs = nowMs() - x.start;
    this.o.metrics?.observe({ method, backend, tool, outcome, seconds: durationMs / 1000 });
    this.span(x, method, backend, tool !== '' ? tool : (unownedTool ?? ''), outcome, durationMs, id ?? null);
    if (method === 'tools/call') this.o.onToolCall?.(toolCallRecord(x, caller, backend, tool !== '' ? tool : (unownedTool ?? ''), outcome, durationMs, reqBytes, resBytes, args));
  }
}

