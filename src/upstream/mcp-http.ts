// HTTP to MCP servers (undici's home folder holds every upstream connection). One pool per
// server origin and TLS setting, kept across config reloads; the MCP gateway decides deadlines.
import { rootCertificates } from 'node:tls';
import { type Dispatcher, Pool } from 'undici';
import type { Endpoint, UpstreamTls } from '../config/types.js';

export interface McpHttpRequest {
  readonly method: 'POST' | 'GET' | 'DELETE';
  /** Path and query on the server. */
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string | undefined;
  readonly signal: AbortSignal;
}

export type McpHttpResponse = Dispatcher.ResponseData;

const pools = new Map<string, Pool>();

function poolFor(ep: Endpoint, tls: UpstreamTls | undefined): Pool {
  const host = ep.host.includes(':') ? `[${ep.host}]` : ep.host;
  const origin = `${tls === undefined ? 'http' : 'https'}://${host}:${ep.port}`;
  const key = `${origin}|${tls?.servername ?? ''}|${tls?.insecureSkipVerify === true ? 1 : 0}|${tls?.ca?.length ?? 0}`;
  let pool = pools.get(key);
  if (pool === undefined) {
    pool = new Pool(origin, {
      connect: {
        timeout: 10_000,
        ...(tls === undefined
          ? {}
          : { servername: tls.servername ?? (ep.kind === 'fqdn' ? ep.host : undefined), ca: tls.ca ?? [...rootCertificates], rejectUnauthorized: !tls.insecureSkipVerify }),
      },
      // Tool calls and server-sent streams can run long; callers set deadlines with their signal.
      headersTimeout: 0,
      bodyTimeout: 0,
      keepAliveTimeout: 4_000,
    });
    pools.set(key, pool);
  }
  return pool;
}

let rotation = 0;

/** One request to an MCP server, on one of its endpoints (round robin). */
export function mcpHttp(endpoints: readonly Endpoint[], tls: UpstreamTls | undefined, req: McpHttpRequest): Promise<McpHttpResponse> {
  const ep = endpoints[rotation++ % endpoints.length]!;
  return poolFor(ep, tls).request({ method: req.method, path: req.path, headers: req.headers, body: req.body, signal: req.signal });
}

/** Closes every MCP server connection (gateway shutdown, tests). */
export async function closeMcpPools(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((p) => p.destroy().catch(() => undefined)));
}
