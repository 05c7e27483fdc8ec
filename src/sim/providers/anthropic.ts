// `tollgate sim --api anthropic`: Anthropic's Messages API (POST /v1/messages, streamed and not,
// POST /v1/messages/count_tokens, GET /v1/models), with its authentication (`x-api-key`, 401
// authentication_error), its required `anthropic-version` header and its error envelope.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ClaudeError, checkClaudeBody, claudeErrorBody, claudeErrorType, claudeEvents, claudeInputCount, claudeMessage, claudeReply, sseEvent } from './claude.js';
import { BodyTooLarge, controls, header, paced, parseJsonBody, readBody, sendJson } from './http.js';
import { splitUrl, startProviderServer, type ProviderSimOptions, type ProviderSimServer, type SimContext } from './server.js';

function fail(res: ServerResponse, status: number, type: string, message: string, requestId: string): void {
  sendJson(res, status, claudeErrorBody(type, message, requestId), { 'request-id': requestId, ...(status === 429 || status === 529 ? { 'retry-after': '1' } : {}) });
}

function sameSecret(a: string, b: string): boolean {
  let d = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) d |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  return d === 0;
}

async function handle(ctx: SimContext, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  const { path } = splitUrl(req);
  // Anthropic takes the API key in x-api-key, or as a bearer token (what current SDKs send).
  const key = header(req, 'x-api-key') ?? /^Bearer\s+(\S+)$/i.exec(header(req, 'authorization') ?? '')?.[1];
  if (key === undefined || key === '') {
    req.resume();
    return fail(res, 401, 'authentication_error', 'x-api-key header is required', requestId);
  }
  if (ctx.opts.apiKey !== undefined && !sameSecret(key, ctx.opts.apiKey)) {
    req.resume();
    return fail(res, 401, 'authentication_error', 'invalid x-api-key', requestId);
  }
  if (path === '/v1/models' && req.method === 'GET') {
    sendJson(res, 200, { data: [{ type: 'model', id: 'claude-sim-1', display_name: 'Claude (simulated)', created_at: '2025-01-01T00:00:00Z' }], has_more: false, first_id: 'claude-sim-1', last_id: 'claude-sim-1' });
    return;
  }
  if (req.method !== 'POST' || (path !== '/v1/messages' && path !== '/v1/messages/count_tokens')) {
    req.resume();
    return fail(res, 404, 'not_found_error', 'Not Found', requestId);
  }
  let raw: Buffer;
  try {
    raw = await readBody(req);
  } catch (err) {
    if (err instanceof BodyTooLarge) return fail(res, 413, 'request_too_large', 'Request exceeds the maximum allowed number of bytes.', requestId);
    throw err;
  }
  const body = parseJsonBody(raw);
  ctx.seen.add(req, body);
  if (header(req, 'anthropic-version') === undefined) return fail(res, 400, 'invalid_request_error', 'anthropic-version: header is required', requestId);
  const c = controls(req);
  if (c.errorStatus !== undefined) return fail(res, c.errorStatus, claudeErrorType(c.errorStatus), injectedMessage(c.errorStatus), requestId);
  if (path === '/v1/messages/count_tokens') {
    if (typeof body !== 'object' || body === null) return fail(res, 400, 'invalid_request_error', 'The request body must be a JSON object.', requestId);
    sendJson(res, 200, { input_tokens: claudeInputCount(ctx.engine, body) });
    return;
  }
  let checked;
  try {
    checked = checkClaudeBody(body, 'anthropic');
  } catch (err) {
    if (err instanceof ClaudeError) return fail(res, err.status, err.type, err.message, requestId);
    throw err;
  }
  await respondClaude(ctx, req, res, requestId, checked.body, checked.model ?? '', checked.stream);
}

export function injectedMessage(status: number): string {
  switch (status) {
    case 429:
      return 'Number of request tokens has exceeded your per-minute rate limit';
    case 529:
      return 'Overloaded';
    case 401:
      return 'invalid x-api-key';
    default:
      return `Injected error ${status} (x-sim-error)`;
  }
}

/** The answer, as JSON or SSE, with the stream faults a test may ask for. */
export async function respondClaude(ctx: SimContext, req: IncomingMessage, res: ServerResponse, requestId: string, body: Record<string, unknown>, model: string, stream: boolean): Promise<void> {
  const c = controls(req);
  const reply = claudeReply(ctx.engine, body, c.outputTokens);
  if (!stream) {
    sendJson(res, 200, claudeMessage(ctx.engine, reply, model), { 'request-id': requestId });
    return;
  }
  const events = claudeEvents(ctx.engine, reply, model).map((e) => sseEvent(e));
  if (c.fault === 'truncate') events.splice(Math.max(2, events.length - 3));
  if (c.fault === 'midstream-error') {
    events.splice(Math.max(3, events.length - 3));
    events.push(sseEvent({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } as { type: string }));
  }
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': requestId });
  await paced(res, events, ctx.opts.ttftMs ?? 0, ctx.opts.itlMs ?? 0);
  res.end();
}

export function startAnthropicSim(opts: ProviderSimOptions = {}): Promise<ProviderSimServer> {
  return startProviderServer('anthropic', handle, opts);
}
