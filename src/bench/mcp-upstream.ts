// A deliberately fast MCP server (Streamable HTTP, JSON answers) for `tollgate bench mcp`, so the
// benchmark measures the gateway, not the server. Run as its own process: `node mcp-upstream.js PORT`.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const sessions = new Set<string>();
const TOOLS = Array.from({ length: 20 }, (_, i) => ({ name: `tool_${i}`, description: `bench tool ${i}`, inputSchema: { type: 'object', properties: { q: { type: 'string' } } } }));

function reply(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (req.method === 'DELETE') {
      sessions.delete(String(req.headers['mcp-session-id']));
      reply(res, 200, undefined);
      return;
    }
    if (req.method !== 'POST') {
      reply(res, 405, undefined);
      return;
    }
    const msg = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: number | string; method?: string; params?: Record<string, unknown> };
    if (msg.method === 'initialize') {
      const sid = randomUUID();
      sessions.add(sid);
      reply(res, 200, { jsonrpc: '2.0', id: msg.id, result: { protocolVersion: msg.params?.['protocolVersion'], capabilities: { tools: {} }, serverInfo: { name: 'bench', version: '1' } } }, { 'mcp-session-id': sid });
      return;
    }
    if (!sessions.has(String(req.headers['mcp-session-id']))) {
      reply(res, 404, { jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } });
      return;
    }
    if (msg.id === undefined) {
      res.writeHead(202).end();
      return;
    }
    if (msg.method === 'tools/list') reply(res, 200, { jsonrpc: '2.0', id: msg.id, result: { tools: TOOLS } });
    else if (msg.method === 'tools/call') reply(res, 200, { jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text: `ok ${JSON.stringify(msg.params?.['arguments'] ?? {})}` }] } });
    else reply(res, 200, { jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: 'Method not found' } });
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`ready ${(server.address() as AddressInfo).port}\n`);
});
