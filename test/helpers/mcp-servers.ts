// Real MCP servers (the official TypeScript SDK, Streamable HTTP, one session per client) on port 0.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

export interface TestMcpServer {
  readonly port: number;
  readonly url: string;
  /** Authorization headers the server received (to prove the client's never arrive). */
  readonly seenAuth: string[];
  /** Tool calls whose client went away before they finished. */
  readonly aborted: string[];
  /** GET streams opened (server-initiated messages). */
  gets: number;
  /** The SDK server of each session, newest last. */
  readonly servers: McpServer[];
  close(): Promise<void>;
}

export async function startMcpServer(opts: { name: string; apiKey?: string; path?: string; build: (s: McpServer, t: TestMcpServer) => void }): Promise<TestMcpServer> {
  const path = opts.path ?? '/mcp';
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const seenAuth: string[] = [];
  const aborted: string[] = [];
  const servers: McpServer[] = [];
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!req.url?.startsWith(path)) {
      res.writeHead(404).end();
      return;
    }
    seenAuth.push(req.headers.authorization ?? '');
    if (req.method === 'GET') self.gets++;
    if (opts.apiKey !== undefined && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"bad key"}');
      return;
    }
    const sid = req.headers['mcp-session-id'];
    if (typeof sid === 'string') {
      const t = transports.get(sid);
      if (t === undefined) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}}');
        return;
      }
      await t.handleRequest(req, res);
      return;
    }
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        transports.set(id, transport);
      },
    });
    const server = new McpServer({ name: opts.name, version: '1.0.0' }, { capabilities: { logging: {} } });
    opts.build(server, self);
    servers.push(server);
    await server.connect(transport);
    await transport.handleRequest(req, res);
  };
  const http: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as AddressInfo).port;
  const self: TestMcpServer = {
    port,
    url: `http://127.0.0.1:${port}${path}`,
    seenAuth,
    aborted,
    gets: 0,
    servers,
    close: async () => {
      for (const t of transports.values()) await t.close().catch(() => undefined);
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
  return self;
}

export function mcpBackendYaml(name: string, port: number): string {
  return `apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata:
  name: ${name}
  namespace: default
spec:
  endpoints:
    - ip:
        address: 127.0.0.1
        port: ${port}
`;
}
