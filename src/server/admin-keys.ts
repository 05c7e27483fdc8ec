// The key API's answer when the gateway runs without a state store: every `/admin/…` request is
// told how to turn virtual keys on.
import type { IncomingMessage, ServerResponse } from 'node:http';

export function keysDisabled(_req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
  if (path !== '/admin' && !path.startsWith('/admin/')) return Promise.resolve(false);
  const body = JSON.stringify({
    error: {
      code: 'keys_not_enabled',
      message: 'Virtual keys need a state store: start `tollgate serve` with --state-dir DIR (one instance) or --state-db postgres://… (replicas sharing keys), and an admin token (--admin-token-file FILE or TOLLGATE_ADMIN_TOKEN).',
    },
  });
  res.writeHead(404, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
  return Promise.resolve(true);
}
