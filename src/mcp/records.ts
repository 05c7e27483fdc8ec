// What one MCP request leaves behind besides its answer: its span (OpenTelemetry's MCP and GenAI
// attribute names) and, for a tool call, its ledger record.
import { createHash } from 'node:crypto';
import type { TraceContext } from '../core/trace-context.js';
import type { McpSpanFacts } from '../telemetry/traces.js';
import type { Caller } from './auth.js';
import { headerValue } from './backend.js';
import type { JsonRpcId } from './jsonrpc.js';
import type { McpExchange } from './request.js';

/** One tool call, as the ledger keeps it: never the arguments unless the route says so. */
export type McpToolCallRecord = {
  readonly type: 'mcp_tool_call';
  readonly time: string;
  readonly requestId: string;
  readonly route: string;
  readonly caller: string | undefined;
  /** The virtual key that authenticated the call. */
  readonly api_key?: string;
  readonly backend: string;
  readonly tool: string;
  readonly outcome: string;
  readonly durationMs: number;
  readonly requestBytes: number;
  readonly responseBytes: number;
  readonly arguments?: unknown;
};

/** The span of one request; `tool` is the server's own name for it, '' when there is none. */
export function spanFacts(x: McpExchange, t: TraceContext, method: string, backend: string, tool: string, outcome: string, durationMs: number, id: JsonRpcId | null, pv?: string): McpSpanFacts {
  const prefixed = backend !== '' && tool !== '' ? `${backend}__${tool}` : undefined;
  const sid = headerValue(x.req.headers['mcp-session-id']);
  return {
    traceId: t.traceId,
    spanId: t.spanId,
    parentSpanId: t.parentSpanId,
    name: prefixed === undefined ? method : `${method} ${prefixed}`,
    startedAt: x.startedAt,
    durationMs,
    attributes: {
      'mcp.method.name': method,
      'mcp.protocol.version': pv ?? headerValue(x.req.headers['mcp-protocol-version']),
      // The sealed id is a bearer of the session: only a digest of it leaves the gateway.
      'mcp.session.id': sid === undefined ? undefined : createHash('sha256').update(sid).digest('hex').slice(0, 32),
      'jsonrpc.request.id': id === null ? undefined : String(id),
      'jsonrpc.protocol.version': '2.0',
      'gen_ai.operation.name': method === 'tools/call' ? 'execute_tool' : undefined,
      'gen_ai.tool.name': method === 'tools/call' ? prefixed : undefined,
      'network.transport': 'tcp',
      'network.protocol.name': 'http',
      'tollgate.route': x.route.key,
      'tollgate.backend': backend,
      'tollgate.request_id': x.requestId,
      'tollgate.outcome': outcome,
    },
    error: outcome === 'ok' ? undefined : outcome,
  };
}

/** The ledger record of a tool call: never its arguments unless the route says so. */
export function toolCallRecord(x: McpExchange, caller: Caller, backend: string, tool: string, outcome: string, durationMs: number, requestBytes: number, responseBytes: number, args: unknown): McpToolCallRecord {
  return {
    type: 'mcp_tool_call',
    time: new Date().toISOString(),
    requestId: x.requestId,
    route: x.route.key,
    caller: caller.principal,
    ...(caller.apiKey === undefined ? {} : { api_key: caller.apiKey }),
    backend,
    tool,
    outcome,
    durationMs: Math.round(durationMs * 1000) / 1000,
    requestBytes,
    responseBytes,
    ...(x.route.ledgerArguments && args !== undefined ? { arguments: args } : {}),
  };
}
