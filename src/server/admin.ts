// The admin listener (default 127.0.0.1:9901): health, readiness, the effective config with secrets
// redacted, and Prometheus metrics. Separate from the data port so it can stay private.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { withEnvoyNames } from '../telemetry/rate-limit-metrics.js';

export interface AdminSource {
  ready(): { ready: boolean; reason: string };
  configDump(): unknown;
  metrics(): Promise<{ contentType: string; text: string }>;
  dashboard(): string | Promise<string>;
  /** The key API (`/admin/…`): true when it answered the request. */
  keys?: (req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean>;
}

export interface AdminServer {
  readonly address: { host: string; port: number };
  close(): Promise<void>;
}

export async function startAdmin(host: string, port: number, src: AdminSource): Promise<AdminServer> {
  const server = http.createServer((req, res) => {
    route(src, req, res).catch(() => {
      if (!res.headersSent) send(res, 500, 'application/json', JSON.stringify({ error: 'internal error' }));
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  return {
    address: { host, port: addr.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function route(src: AdminSource, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
  if (src.keys !== undefined && (await src.keys(req, res, path))) return;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, 'application/json', JSON.stringify({ error: 'the admin endpoints are read-only; use GET' }), { allow: 'GET' });
    return;
  }
  switch (path) {
    case '/healthz':
      send(res, 200, 'application/json', '{"status":"ok"}');
      return;
    case '/readyz': {
      const r = src.ready();
      send(res, r.ready ? 200 : 503, 'application/json', JSON.stringify({ status: r.ready ? 'ready' : 'not ready', reason: r.reason }));
      return;
    }
    case '/config_dump':
      send(res, 200, 'application/json', JSON.stringify(src.configDump(), null, 2));
      return;
    case '/metrics':
    case '/stats/prometheus': {
      const m = await src.metrics();
      send(res, 200, m.contentType, path === '/metrics' ? m.text : withEnvoyNames(m.text));
      return;
    }
    case '/':
      send(res, 200, 'text/html; charset=utf-8', await src.dashboard());
      return;
    default:
      send(
        res,
        404,
        'application/json',
        JSON.stringify({ error: `no admin endpoint at ${path}`, endpoints: ['/healthz', '/readyz', '/config_dump', '/metrics', '/stats/prometheus', '/', '/admin/keys', '/admin/teams', '/admin/orgs'] }),
      );
  }
}

function send(res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...extra });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
