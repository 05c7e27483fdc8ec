// GET and DELETE on an MCP endpoint: the merged stream of server-initiated messages of every server
// in the session, and the end of a session at every server.
import type { Logger } from '../core/log.js';
import type { McpMetrics } from '../telemetry/mcp-metrics.js';
import { mcpHttp } from '../upstream/mcp-http.js';
import { SseDecoder } from '../protocol/sse.js';
import { headerValue, upstreamHeaders, upstreamPath } from './backend.js';
import { rewriteServerMessage } from './relay.js';
import type { McpExchange } from './request.js';
import type { McpSession } from './session.js';

export interface StreamDeps {
  readonly logger: Logger;
  readonly metrics?: McpMetrics | undefined;
}

/** GET: every server's stream of server-initiated messages, merged; 405 when none offers one. */
export async function openStream(x: McpExchange, session: McpSession, o: StreamDeps): Promise<number> {
  const opened: Array<Promise<void>> = [];
  let open = 0;
  let headers = false;
  const write = (m: Record<string, unknown>): void => {
    if (!headers) {
      headers = true;
      x.res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-request-id': x.requestId });
    }
    x.res.write(`event: message\ndata: ${JSON.stringify(m)}\n\n`);
  };
  const starts = session.backends.map(async (s) => {
    const b = x.route.backendsByName.get(s.name);
    if (b === undefined || s.down) return;
    try {
      const res = await mcpHttp(b.endpoints, b.tls, {
        method: 'GET',
        path: upstreamPath(b),
        headers: { ...upstreamHeaders(b, { session: s, protocolVersion: session.protocolVersion, clientHeaders: x.req.headers }), accept: 'text/event-stream' },
        signal: x.abort.signal,
      });
      res.body.on('error', () => undefined);
      if (res.statusCode !== 200 || !(headerValue(res.headers['content-type']) ?? '').startsWith('text/event-stream')) {
        res.body.resume();
        return;
      }
      open++;
      opened.push(
        (async () => {
          const dec = new SseDecoder();
          try {
            for await (const chunk of res.body) {
              for (const ev of dec.push(chunk as Buffer)) {
                if (!ev.hasData || ev.data === '') continue;
                try {
                  write(rewriteServerMessage(b.name, JSON.parse(ev.data) as Record<string, unknown>));
                } catch {
                  o.logger.warn('MCP server sent a stream event that is not JSON; dropped', { backend: b.name });
                }
              }
            }
          } catch {
            // The server or the client closed the stream.
          }
        })(),
      );
    } catch (e) {
      o.metrics?.backendFailure(b.name, 'unavailable');
      o.logger.warn('MCP server stream unavailable', { route: x.route.key, backend: b.name, error: (e as Error).message });
    }
  });
  await Promise.all(starts);
  if (open === 0) {
    x.res.writeHead(405, { allow: 'POST, DELETE', 'x-request-id': x.requestId });
    x.res.end();
    return 405;
  }
  if (!headers) {
    headers = true;
    x.res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-request-id': x.requestId });
    x.res.write(': open\n\n');
  }
  await Promise.all(opened);
  if (!x.res.writableEnded) x.res.end();
  return 200;
}

/** DELETE: ends the session at every server (best effort); the sealed id itself cannot be revoked. */
export async function endSession(x: McpExchange, session: McpSession, o: StreamDeps): Promise<number> {
  await Promise.all(
    session.backends.map(async (s) => {
      const b = x.route.backendsByName.get(s.name);
      if (b === undefined || s.down || s.sid === undefined) return;
      try {
        const res = await mcpHttp(b.endpoints, b.tls, {
          method: 'DELETE',
          path: upstreamPath(b),
          headers: upstreamHeaders(b, { session: s, protocolVersion: session.protocolVersion, clientHeaders: x.req.headers }),
          signal: AbortSignal.any([x.abort.signal, AbortSignal.timeout(x.route.timeoutMs)]),
        });
        res.body.on('error', () => undefined).resume();
      } catch {
        o.metrics?.backendFailure(b.name, 'unavailable');
      }
    }),
  );
  x.res.writeHead(200, { 'x-request-id': x.requestId });
  x.res.end();
  return 200;
}
