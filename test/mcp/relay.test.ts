// Requests MCP servers send to the client (sampling, elicitation, roots/list, ping) through the
// gateway: official SDK servers that ask during a tool call or on their GET stream, the SDK's client
// answering, and two servers whose JSON-RPC ids collide.
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { CreateMessageRequestSchema, CreateMessageResultSchema, ElicitRequestSchema, EmptyResultSchema, ListRootsRequestSchema, ListRootsResultSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { mcpBackendYaml, startMcpServer, type TestMcpServer } from '../helpers/mcp-servers.js';

const SESSION_KEY = randomBytes(32).toString('base64');

const ROUTE = `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata:
  name: agents
  namespace: default
  annotations:
    tollgate.io/mcp-timeout: 5s
spec:
  parentRefs: [{name: gw, kind: Gateway, group: gateway.networking.k8s.io}]
  path: /mcp
  backendRefs:
    - {name: alpha, kind: Backend, group: gateway.envoyproxy.io, path: /mcp}
    - {name: beta, kind: Backend, group: gateway.envoyproxy.io, path: /mcp}
    - {name: gamma, kind: Backend, group: gateway.envoyproxy.io, path: /mcp}
---
apiVersion: v1
kind: Secret
metadata: {name: tollgate-mcp-session, namespace: default}
stringData: {sessionKey: "${SESSION_KEY}"}
`;

function text(r: unknown): string {
  const c = (r as { content: Array<{ type: string; text?: string }> }).content[0];
  return c?.text ?? '';
}

/** A server whose tools ask the client things: each answer (or the error it got) is the tool's result. */
function asker(name: string): Promise<TestMcpServer> {
  return startMcpServer({
    name,
    build: (s: McpServer) => {
      s.registerTool('ask', { description: 'samples the client model', inputSchema: { q: z.string() } }, async ({ q }, extra) => {
        try {
          const r = await extra.sendRequest({ method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: { type: 'text', text: `${name}: ${q}` } }], maxTokens: 10 } }, CreateMessageResultSchema);
          return { content: [{ type: 'text', text: r.content.type === 'text' ? r.content.text : '?' }] };
        } catch (e) {
          return { content: [{ type: 'text', text: `error: ${(e as Error).message}` }], isError: true };
        }
      });
      s.registerTool('confirm', { description: 'asks the user' }, async (extra) => {
        const r = await s.server.elicitInput({ message: `${name} wants to proceed`, requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] } }, { relatedRequestId: extra.requestId });
        return { content: [{ type: 'text', text: `${r.action}:${JSON.stringify(r.content)}` }] };
      });
      s.registerTool('ping_client', { description: 'pings the client' }, async (extra) => {
        await extra.sendRequest({ method: 'ping' }, EmptyResultSchema);
        return { content: [{ type: 'text', text: 'pong' }] };
      });
      s.registerTool('client_caps', { description: 'what the client declared' }, () => ({ content: [{ type: 'text', text: JSON.stringify(s.server.getClientCapabilities() ?? {}) }] }));
      // Not tied to a request: the SDK sends it on the session's GET stream.
      s.registerTool('roots', { description: 'lists client roots' }, async () => {
        try {
          const r = await s.server.listRoots(undefined, { timeout: 1_000 });
          return { content: [{ type: 'text', text: r.roots.map((x) => x.uri).join(',') }] };
        } catch (e) {
          return { content: [{ type: 'text', text: `error: ${(e as Error).message}` }], isError: true };
        }
      });
    },
  });
}

/** A server that asks the client for its roots before it lists its tools (a request tied to tools/list). */
function rootsLister(): Promise<TestMcpServer> {
  return startMcpServer({
    name: 'gamma',
    build: (s: McpServer) => {
      s.server.registerCapabilities({ tools: {} });
      s.server.setRequestHandler(ListToolsRequestSchema, async (_req, extra) => {
        const r = await extra.sendRequest({ method: 'roots/list' }, ListRootsResultSchema);
        return { tools: r.roots.map((x) => ({ name: `open_${x.name ?? 'root'}`, inputSchema: { type: 'object' as const } })) };
      });
    },
  });
}

describe('MCP gateway: server-to-client requests', () => {
  let alpha: TestMcpServer;
  let beta: TestMcpServer;
  let gamma: TestMcpServer;
  let gw: TestGateway;

  beforeAll(async () => {
    alpha = await asker('alpha');
    beta = await asker('beta');
    gamma = await rootsLister();
    const backends = [mcpBackendYaml('alpha', alpha.port), mcpBackendYaml('beta', beta.port), mcpBackendYaml('gamma', gamma.port)].join('---\n');
    gw = await startGateway({ 'mcp.yaml': ROUTE, 'backends.yaml': backends }, { watch: false });
  });
  afterAll(async () => {
    await gw?.close();
    await alpha?.close();
    await beta?.close();
    await gamma?.close();
  });

  async function connect(capabilities: Record<string, unknown>): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
    const client = new Client({ name: 'agent', version: '1.0.0' }, { capabilities });
    const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`));
    await client.connect(transport);
    return { client, transport };
  }

  it('relays sampling from two servers whose request ids collide, each answer to the server that asked', async () => {
    const { client } = await connect({ sampling: {}, elicitation: { form: {} } });
    const seenIds: unknown[] = [];
    client.setRequestHandler(CreateMessageRequestSchema, (req, extra) => {
      seenIds.push(extra.requestId);
      const c = req.params.messages[0]?.content;
      const asked = c !== undefined && !Array.isArray(c) && c.type === 'text' ? c.text : '';
      return { role: 'assistant', model: 'client-model', content: { type: 'text', text: `answer to ${asked}` } };
    });
    const [a, b] = await Promise.all([client.callTool({ name: 'alpha__ask', arguments: { q: 'one' } }), client.callTool({ name: 'beta__ask', arguments: { q: 'two' } })]);
    expect(text(a)).toBe('answer to alpha: one');
    expect(text(b)).toBe('answer to beta: two');
    // Both servers numbered their first request 0; the client saw two distinct ids naming the server.
    expect(seenIds.map(String).sort()).toEqual(['alpha__0', 'beta__0']);
    // Servers were told exactly what the client declared, nothing more.
    expect(JSON.parse(text(await client.callTool({ name: 'beta__client_caps', arguments: {} })))).toEqual({ sampling: {}, elicitation: { form: {} } });
    await client.close();
  });

  it('relays elicitation and ping during a tool call', async () => {
    const { client } = await connect({ elicitation: { form: {} } });
    client.setRequestHandler(ElicitRequestSchema, (req) => ({ action: 'accept', content: { ok: req.params.message.startsWith('beta') } }));
    expect(text(await client.callTool({ name: 'beta__confirm', arguments: {} }))).toBe('accept:{"ok":true}');
    expect(text(await client.callTool({ name: 'alpha__ping_client', arguments: {} }))).toBe('pong');
    await client.close();
  });

  it('relays roots/list sent on the GET stream', async () => {
    const gets = alpha.gets;
    const { client } = await connect({ roots: { listChanged: true } });
    client.setRequestHandler(ListRootsRequestSchema, () => ({ roots: [{ uri: 'file:///work', name: 'work' }] }));
    await expect.poll(() => alpha.gets).toBeGreaterThan(gets);
    // Until the server has attached the GET stream, its request has nowhere to go: ask until it arrives.
    await expect.poll(async () => text(await client.callTool({ name: 'alpha__roots', arguments: {} })), { timeout: 10_000 }).toBe('file:///work');
    await client.close();
  });

  it('relays a server request made while the server answers tools/list', async () => {
    const { client } = await connect({ roots: {} });
    client.setRequestHandler(ListRootsRequestSchema, () => ({ roots: [{ uri: 'file:///src', name: 'src' }] }));
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('gamma__open_src');
    await client.close();
  });

  it('gives a client without sampling a clear error from the server, not a hang', async () => {
    const { client } = await connect({});
    expect(JSON.parse(text(await client.callTool({ name: 'alpha__client_caps', arguments: {} })))).toEqual({});
    const r = await client.callTool({ name: 'alpha__ask', arguments: { q: 'x' } });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/^error: .*Method not found/);
    await client.close();
  });

  it('refuses a response whose id no server of the session issued', async () => {
    const { client, transport } = await connect({ sampling: {} });
    const res = await fetch(`${gw.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': transport.sessionId!, 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'nobody__0', result: {} }),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('answers no request an MCP server of this session sent');
    await client.close();
  });
});
