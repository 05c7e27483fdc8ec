// JSON-RPC 2.0 as MCP uses it (one message per POST since protocol 2025-06-18): parse and classify
// a message, and build error responses. Codes -32000..-32099 are the gateway's own.
export type JsonRpcId = string | number;

export interface RpcRequest {
  readonly kind: 'request';
  readonly id: JsonRpcId;
  readonly method: string;
  readonly params: Record<string, unknown> | undefined;
}
export interface RpcNotification {
  readonly kind: 'notification';
  readonly method: string;
  readonly params: Record<string, unknown> | undefined;
}
export interface RpcResponse {
  readonly kind: 'response';
  readonly id: JsonRpcId | null;
}
export type RpcMessage = RpcRequest | RpcNotification | RpcResponse;

export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;
/** The MCP server that owns the target is down, timed out or answered something that is not MCP. */
export const BACKEND_UNAVAILABLE = -32010;
/** The caller may not use this tool. */
export const FORBIDDEN = -32003;
/** Too many calls: a rate limit applies. */
export const RATE_LIMITED = -32029;

export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly httpStatus = 200,
    readonly data?: Readonly<Record<string, unknown>>,
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A JSON-RPC message from text, or an RpcError that says exactly what is wrong with it. */
export function parseMessage(text: string): { message: RpcMessage; value: Record<string, unknown> } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new RpcError(PARSE_ERROR, `Parse error: the body is not JSON (${(e as Error).message}).`, 400);
  }
  if (Array.isArray(v)) throw new RpcError(INVALID_REQUEST, 'Invalid Request: JSON-RPC batches are not supported; send one message per POST.', 400);
  return { message: classify(v), value: v as Record<string, unknown> };
}

export function classify(v: unknown): RpcMessage {
  if (!isRecord(v)) throw new RpcError(INVALID_REQUEST, 'Invalid Request: a JSON-RPC message is a JSON object.', 400);
  if (v['jsonrpc'] !== '2.0') throw new RpcError(INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0".', 400);
  const id = v['id'];
  const method = v['method'];
  const params = v['params'];
  if (params !== undefined && !isRecord(params)) throw new RpcError(INVALID_REQUEST, 'Invalid Request: "params" must be an object.', 400);
  if (method === undefined) {
    if (!('result' in v) && !('error' in v)) throw new RpcError(INVALID_REQUEST, 'Invalid Request: a message needs "method" (request or notification) or "result"/"error" (response).', 400);
    if (id !== null && typeof id !== 'string' && typeof id !== 'number') throw new RpcError(INVALID_REQUEST, 'Invalid Request: a response "id" is a string or number.', 400);
    return { kind: 'response', id };
  }
  if (typeof method !== 'string' || method.length === 0 || method.length > 256) throw new RpcError(INVALID_REQUEST, 'Invalid Request: "method" must be a non-empty string.', 400);
  if (id === undefined) return { kind: 'notification', method, params };
  if (typeof id !== 'string' && typeof id !== 'number') throw new RpcError(INVALID_REQUEST, 'Invalid Request: "id" must be a string or a number (MCP forbids null).', 400);
  return { kind: 'request', id, method, params };
}

export function errorBody(id: JsonRpcId | null, code: number, message: string, data?: Readonly<Record<string, unknown>>): string {
  return JSON.stringify({ jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } });
}

export function resultBody(id: JsonRpcId, result: unknown): string {
  return JSON.stringify({ jsonrpc: '2.0', id, result });
}
