// The floor for any Node.js gateway, as a benchmark baseline: the least a proxy built on the same
// platform as Tollgate (node:http in, undici out) must do per request — read the body, parse it as
// JSON, forward it with its headers, relay the answer chunk by chunk. No routing, credentials,
// limits, accounting or metrics. `bench overhead` runs it beside the gateway so the report shows
// what the platform costs on this machine and what the gateway adds on top.
//
//   node dist/bench/node-proxy.js UPSTREAM_PORT [CONNECTIONS] [together]   → prints "ready PORT"
//
// CONNECTIONS caps the upstream pool (default 512; 0: no cap, as held streams need one each).
// `together` ends the answers that finish in one pass over the ready I/O together, right after it,
// as the gateway does without a ledger or a charge (src/core/end-of-pass.ts; at once when only one
// request is in flight): the floor with that one technique, so the report can tell what the gateway
// saves by it from what it adds.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { EndOfPass } from '../core/end-of-pass.js';

const upstreamPort = Number(process.argv[2]);
const connections = Number(process.argv[3] ?? '512');
const pool = new Pool(`http://127.0.0.1:${upstreamPort}`, connections > 0 ? { connections } : {});
const together = process.argv[4] === 'together';
const endOfPass = new EndOfPass((err) => process.stderr.write(`ending an answer failed: ${err.message}\n`));
let inflight = 0;
function end(res: http.ServerResponse): void {
  inflight--;
  if (!together || inflight === 0) res.end();
  else endOfPass.add(() => res.end());
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    try {
      JSON.parse(body.toString('utf8'));
    } catch {
      res.writeHead(400).end();
      return;
    }
    inflight++;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'connection' && k !== 'content-length') headers[k] = v;
    pool.request({ method: 'POST', path: req.url ?? '/', headers, body }).then(
      async (up) => {
        const out: Record<string, string> = {};
        for (const [k, v] of Object.entries(up.headers)) if (typeof v === 'string' && k !== 'connection' && k !== 'keep-alive' && k !== 'transfer-encoding') out[k] = v;
        res.writeHead(up.statusCode, out);
        // A whole answer waits with its end (the gateway holds a non-streamed answer whole); a stream's
        // chunks go out as they arrive, and only its end waits.
        if (together && !String(up.headers['content-type']).startsWith('text/event-stream')) res.cork();
        for await (const c of up.body) res.write(c);
        end(res);
      },
      () => {
        inflight--;
        res.writeHead(502).end();
      },
    );
  });
});
server.keepAliveTimeout = 60_000;
// The gateway's listen backlog, so a pause compares relay work, not accept-queue depth.
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => process.stdout.write(`ready ${(server.address() as AddressInfo).port}\n`));
