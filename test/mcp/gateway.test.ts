// The MCP gateway end to end: official SDK servers behind it, the SDK's client in front, real sockets.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { loadConfig } from '../../src/config/index.js';
import { spawnCli, type RunningCli } from '../helpers/cli.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { btpYaml, headerSel } from '../helpers/limits.js';
import { mcpBackendYaml, startMcpServer, type TestMcpServer } from '../helpers/mcp-servers.js';

const MATH_KEY = 'math-upstream-key-0123456789abcdef';
const SESSION_KEY = randomBytes(32).toString('base64');

function route(extra = ''): string {
  return `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata:
  name: tools
  namespace: default
  annotations:
    tollgate.io/mcp-timeout: 3s
spec:
  parentRefs: [{name: gw, kind: Gateway, group: gateway.networking.k8s.io}]
  path: /mcp
  backendRefs:
    - name: files
      kind: Backend
      group: gateway.envoyproxy.io
      path: /mcp
      toolSelector:
        include: [read_file, write_file]
    - name: math
      kind: Backend
      group: gateway.envoyproxy.io
      path: /mcp
      securityPolicy:
        apiKey:
          secretRef: {name: math-key}
${extra}---
apiVersion: v1
kind: Secret
metadata: {name: math-key, namespace: default}
stringData: {apiKey: ${MATH_KEY}}
---
apiVersion: v1
kind: Secret
metadata: {name: tollgate-mcp-session, namespace: default}
stringData: {sessionKey: "${SESSION_KEY}"}
`;
}

async function connect(url: string, headers: Record<string, string> = {}): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: 'test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers } });
  await client.connect(transport);
  return { client, transport };
}

function text(r: unknown): string {
  const c = (r as { content: Array<{ type: string; text?: string }> }).content[0];
  return c?.text ?? '';
}

async function rpc(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const t = await res.text();
  let parsed: Record<string, unknown> = {};
  if (t.startsWith('{')) parsed = JSON.parse(t) as Record<string, unknown>;
  else if (t.includes('data: ')) parsed = JSON.parse(t.split('data: ').pop()!.split('\n')[0]!) as Record<string, unknown>;
  return { status: res.status, body: parsed, headers: res.headers };
}

function mathServer(): Promise<TestMcpServer> {
  return startMcpServer({
    name: 'math',
    apiKey: MATH_KEY,
    build: (s, self) => {
      s.registerTool('sum', { description: 'adds', inputSchema: { a: z.number(), b: z.number() } }, ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }));
      s.registerTool('countdown', { description: 'counts down slowly', inputSchema: { from: z.number() } }, async ({ from }, extra) => {
        for (let i = from; i > 0; i--) {
          if (extra.signal.aborted) {
            self.aborted.push('countdown');
            break;
          }
          const token = extra._meta?.progressToken;
          if (token !== undefined) await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: from - i + 1, total: from } });
          await new Promise((r) => setTimeout(r, 100));
        }
        if (extra.signal.aborted && !self.aborted.includes('countdown')) self.aborted.push('countdown');
        return { content: [{ type: 'text', text: 'liftoff' }] };
      });
    },
  });
}

function filesServer(): Promise<TestMcpServer> {
  return startMcpServer({
    name: 'files',
    build: (s) => {
      for (const t of ['read_file', 'write_file', 'delete_file']) {
        s.registerTool(t, { description: t, inputSchema: { path: z.string() } }, ({ path }) => ({ content: [{ type: 'text', text: `${t}:${path}` }] }));
      }
      s.registerPrompt('summarize', { description: 'summarize a file', argsSchema: { path: z.string() } }, ({ path }) => ({
        messages: [{ role: 'user', content: { type: 'text', text: `Summarize ${path}` } }],
      }));
      s.registerResource('readme', 'file:///readme', { mimeType: 'text/plain' }, (uri) => ({ contents: [{ uri: uri.href, text: 'hello from files' }] }));
    },
  });
}

describe('MCP gateway: aggregation, sessions, credentials, streaming', () => {
  let files: TestMcpServer;
  let math: TestMcpServer;
  let gw: TestGateway;
  let replica: RunningCli;
  let replicaUrl: string;

  beforeAll(async () => {
    files = await filesServer();
    math = await mathServer();
    const manifests = { 'mcp.yaml': route(), 'backends.yaml': `${mcpBackendYaml('files', files.port)}---\n${mcpBackendYaml('math', math.port)}` };
    gw = await startGateway(manifests, { watch: false });
    // A second replica in its own process (the built CLI), on the same manifests and session key.
    replica = spawnCli(['serve', '--config', gw.dir, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--no-watch']);
    replicaUrl = `http://127.0.0.1:${(await replica.waitFor(/"listen":"127\.0\.0\.1:(\d+)"/))[1]}`;
  });
  afterAll(async () => {
    replica?.child.kill('SIGTERM');
    await replica?.exited();
    await gw?.close();
    await files?.close();
    await math?.close();
  });

  it('merges tools with backend prefixes after the tool selector, and routes calls', async () => {
    const { client } = await connect(gw.url, { authorization: 'Bearer client-secret-never-forwarded' });
    const names = (await client.listTools()).tools.map((t) => t.name).sort();
    expect(names).toEqual(['files__read_file', 'files__write_file', 'math__countdown', 'math__sum']);
    expect(text(await client.callTool({ name: 'math__sum', arguments: { a: 2, b: 3 } }))).toBe('5');
    expect(text(await client.callTool({ name: 'files__read_file', arguments: { path: '/a' } }))).toBe('read_file:/a');
    await expect(client.callTool({ name: 'files__delete_file', arguments: { path: '/a' } })).rejects.toThrow(/Unknown tool/);
    await expect(client.callTool({ name: 'nobody__tool', arguments: {} })).rejects.toThrow(/Unknown tool/);
    const prompts = await client.listPrompts();
    expect(prompts.prompts.map((p) => p.name)).toEqual(['files__summarize']);
    const p = await client.getPrompt({ name: 'files__summarize', arguments: { path: 'x.md' } });
    expect(JSON.stringify(p.messages)).toContain('Summarize x.md');
    const res = await client.listResources();
    expect(res.resources.map((r) => r.uri)).toEqual(['files__file:///readme']);
    const read = await client.readResource({ uri: 'files__file:///readme' });
    expect(read.contents[0]).toMatchObject({ uri: 'files__file:///readme', text: 'hello from files' });
    // The upstream key is injected; the client's credential reaches no server.
    expect(math.seenAuth.every((a) => a === `Bearer ${MATH_KEY}`)).toBe(true);
    expect([...files.seenAuth, ...math.seenAuth].some((a) => a.includes('client-secret'))).toBe(false);
    await client.close();
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    expect(metrics).toContain('tollgate_mcp_requests_total{method="tools/call",backend="math",tool="sum",outcome="ok"} 1');
    expect(metrics).toContain('tollgate_mcp_request_duration_seconds_bucket');
    const dump = await (await fetch(`${gw.adminUrl}/config_dump`)).text();
    expect(dump).toContain('"key": "default/tools"');
    expect(dump).not.toContain(MATH_KEY);
    expect(dump).not.toContain(SESSION_KEY);
  });

  it('serves one session from two gateway processes that share the session key', async () => {
    const { client, transport } = await connect(gw.url);
    const sid = transport.sessionId!;
    expect(sid.length).toBeGreaterThan(20);
    const r = await rpc(replicaUrl, { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'math__sum', arguments: { a: 40, b: 2 } } }, { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' });
    expect(r.status).toBe(200);
    expect(JSON.stringify(r.body)).toContain('"42"');
    // A forged id is no session at all.
    const bad = await rpc(replicaUrl, { jsonrpc: '2.0', id: 8, method: 'tools/list' }, { 'mcp-session-id': `${sid.slice(0, -4)}AAAA` });
    expect(bad.status).toBe(404);
    await client.close();
  });

  it('passes server notifications through the GET stream, and DELETE ends the session everywhere', async () => {
    const gets = math.gets;
    const { client, transport } = await connect(gw.url);
    let changed = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed++;
    });
    // Tools registered after connect make the SDK server announce a list change on its stream.
    // The client opens its GET stream after initialize; the gateway opens one at each server.
    await expect.poll(() => math.gets).toBeGreaterThan(gets);
    const server = math.servers[math.servers.length - 1]!;
    let n = 0;
    // Until the server's stream is attached, its announcement has nowhere to go: add tools until one arrives.
    await expect
      .poll(() => {
        server.registerTool(`late_${n++}`, { description: 'added later' }, () => ({ content: [{ type: 'text', text: 'late' }] }));
        return changed;
      }, { timeout: 5_000 })
      .toBeGreaterThan(0);
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('math__late_0');
    const sid = transport.sessionId!;
    await transport.terminateSession();
    const after = await rpc(gw.url, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'math__sum', arguments: { a: 1, b: 1 } } }, { 'mcp-session-id': sid });
    // The sealed id still opens, but the server ended its session: the gateway re-initializes it.
    expect(JSON.stringify(after.body)).toContain('"2"');
    await client.close();
  });

  it('streams progress from a tool (SSE) and survives a client that disconnects mid-stream', async () => {
    const { client, transport } = await connect(gw.url);
    const progress: number[] = [];
    const r = await client.callTool({ name: 'math__countdown', arguments: { from: 3 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
    expect(text(r)).toBe('liftoff');
    expect(progress).toEqual([1, 2, 3]);
    const ac = new AbortController();
    const res = await fetch(`${gw.url}/mcp`, {
      method: 'POST',
      signal: ac.signal,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': transport.sessionId! },
      body: JSON.stringify({ jsonrpc: '2.0', id: 99, method: 'tools/call', params: { name: 'math__countdown', arguments: { from: 30 }, _meta: { progressToken: 'p1' } } }),
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toContain('notifications/progress');
    ac.abort();
    // The server's request is cancelled (the gateway dropped the upstream request), and everyone else is served.
    await expect.poll(() => math.aborted.length, { timeout: 5_000 }).toBeGreaterThan(0);
    expect(text(await client.callTool({ name: 'math__sum', arguments: { a: 1, b: 1 } }))).toBe('2');
    await client.close();
  });

  it('answers bad input with JSON-RPC errors', async () => {
    const { client, transport } = await connect(gw.url);
    const h = { 'mcp-session-id': transport.sessionId! };
    const malformed = await rpc(gw.url, '{"jsonrpc": "2.0", "id": 1, "method": ', h);
    expect(malformed.status).toBe(400);
    expect(malformed.body['error']).toMatchObject({ code: -32700 });
    const notRpc = await rpc(gw.url, { id: 1, method: 'tools/list' }, h);
    expect(notRpc.body['error']).toMatchObject({ code: -32600 });
    const unknown = await rpc(gw.url, { jsonrpc: '2.0', id: 2, method: 'tools/frobnicate' }, h);
    expect(unknown.body['error']).toMatchObject({ code: -32601 });
    const big = await rpc(gw.url, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'math__sum', arguments: { pad: 'x'.repeat(5 * 1024 * 1024) } } }, h);
    expect(big.status).toBe(413);
    expect(String((big.body['error'] as { message: string }).message)).toMatch(/too large/);
    const noSession = await rpc(gw.url, { jsonrpc: '2.0', id: 4, method: 'tools/list' });
    expect(noSession.status).toBe(400);
    const badVersion = await rpc(gw.url, { jsonrpc: '2.0', id: 5, method: 'tools/list' }, { ...h, 'mcp-protocol-version': '1999-01-01' });
    expect(badVersion.status).toBe(400);
    await client.close();
  });

  it('keeps serving when a backend dies mid-session: its tools fail clearly, the others work', async () => {
    const { client } = await connect(gw.url);
    await files.close();
    await expect(client.callTool({ name: 'files__read_file', arguments: { path: '/a' } })).rejects.toThrow(/MCP server "files" is unavailable/);
    const names = (await client.listTools()).tools.map((t) => t.name).sort();
    expect(names).toEqual(['math__countdown', 'math__sum']);
    expect(text(await client.callTool({ name: 'math__sum', arguments: { a: 5, b: 5 } }))).toBe('10');
    expect(gw.logs.some((l) => l.includes('MCP server left out of a list') && l.includes('"backend":"files"'))).toBe(true);
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/tollgate_mcp_backend_failures_total\{backend="files",reason="unavailable"\} \d/);
    await client.close();
  });
});

describe('MCP gateway: servers that answer garbage or hang', () => {
  let garbage: Server;
  let hang: Server;
  let math: TestMcpServer;
  let gw: TestGateway;
  beforeAll(async () => {
    math = await mathServer();
    let n = 0;
    garbage = createServer((req, res) => {
      req.resume();
      // Initialize looks fine; everything after is not JSON-RPC.
      if (n++ === 0) {
        res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'g1' });
        res.end('{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"g","version":"1"}}}');
        return;
      }
      if (req.method === 'POST' && req.headers['content-length'] !== undefined && Number(req.headers['content-length']) > 0) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('<html>surprise</html>');
        return;
      }
      res.writeHead(202).end();
    });
    hang = createServer((req) => {
      req.resume();
    });
    await new Promise<void>((r) => garbage.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
    const gp = (garbage.address() as AddressInfo).port;
    const hp = (hang.address() as AddressInfo).port;
    const yaml = `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata: {name: odd, namespace: default, annotations: {tollgate.io/mcp-timeout: 1s}}
spec:
  backendRefs:
    - {name: garbage, path: /mcp}
    - {name: math, securityPolicy: {apiKey: {inline: ${MATH_KEY}}}}
    - {name: hang}
`;
    gw = await startGateway({ 'r.yaml': yaml, 'b.yaml': `${mcpBackendYaml('garbage', gp)}---\n${mcpBackendYaml('math', math.port)}---\n${mcpBackendYaml('hang', hp)}` }, { watch: false });
  });
  afterAll(async () => {
    await gw?.close();
    await math?.close();
    garbage?.closeAllConnections();
    hang?.closeAllConnections();
    garbage?.close();
    hang?.close();
  });

  it('leaves out a hanging server within the timeout and turns garbage into a JSON-RPC error', async () => {
    const { client } = await connect(gw.url);
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names.sort()).toEqual(['math__countdown', 'math__sum']);
    await expect(client.callTool({ name: 'garbage__anything', arguments: {} })).rejects.toThrow(/content type|invalid JSON|not the JSON-RPC/);
    await expect(client.callTool({ name: 'hang__anything', arguments: {} })).rejects.toThrow(/"hang" was unavailable when this session started|did not answer/);
    expect(text(await client.callTool({ name: 'math__sum', arguments: { a: 1, b: 2 } }))).toBe('3');
    await client.close();
  });
});

describe('MCP gateway: OAuth resource server and authorization over tools', () => {
  let math: TestMcpServer;
  let gw: TestGateway;
  let sign: (claims: Record<string, unknown>) => Promise<string>;
  let signingKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  const resource = 'http://mcp.test/mcp';
  beforeAll(async () => {
    math = await mathServer();
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    signingKey = privateKey;
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    sign = (claims) => new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer('https://auth.test').setAudience(resource).setSubject('alice').setExpirationTime('5m').sign(privateKey);
    const yaml = `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata: {name: secure, namespace: default}
spec:
  backendRefs:
    - {name: math, securityPolicy: {apiKey: {inline: ${MATH_KEY}}}}
  securityPolicy:
    oauth:
      issuer: https://auth.test
      jwks:
        localJWKS:
          inline: '${JSON.stringify({ keys: [jwk] })}'
      protectedResourceMetadata:
        resource: ${resource}
        scopesSupported: [sum, countdown]
    authorization:
      defaultAction: Deny
      rules:
        - source: {jwt: {scopes: [sum]}}
          target: {tools: [{backend: math, tool: sum}]}
`;
    // Two sum calls a minute per caller; countdown unlimited.
    const btp = btpYaml('tool-limits', 'secure', 'Local', [{ selectors: headerSel('x-ai-eg-mcp-tool', 'Exact', 'sum') + headerSel('x-ai-eg-mcp-caller', 'Distinct'), requests: 2, unit: 'Minute' }]);
    gw = await startGateway({ 'r.yaml': yaml, 'b.yaml': mcpBackendYaml('math', math.port), 'btp.yaml': btp }, { watch: false });
  });
  afterAll(async () => {
    await gw?.close();
    await math?.close();
  });

  it('answers 401 with WWW-Authenticate pointing at RFC 9728 metadata', async () => {
    const r = await rpc(gw.url, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe('Bearer resource_metadata="http://mcp.test/.well-known/oauth-protected-resource/mcp", scope="sum countdown"');
    const meta = (await (await fetch(`${gw.url}/.well-known/oauth-protected-resource/mcp`)).json()) as Record<string, unknown>;
    expect(meta).toMatchObject({ resource, authorization_servers: ['https://auth.test'], scopes_supported: ['sum', 'countdown'] });
    const wrongAudience = await new SignJWT({ scope: 'sum' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer('https://auth.test').setAudience('https://elsewhere').setExpirationTime('5m').sign((await generateKeyPair('RS256')).privateKey);
    const r2 = await rpc(gw.url, { jsonrpc: '2.0', id: 1, method: 'ping' }, { authorization: `Bearer ${wrongAudience}` });
    expect(r2.status).toBe(401);
    expect(r2.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('shows and allows only the tools the token’s scopes grant', async () => {
    const withSum = await connect(gw.url, { authorization: `Bearer ${await sign({ scope: 'sum' })}` });
    expect((await withSum.client.listTools()).tools.map((t) => t.name)).toEqual(['math__sum']);
    expect(text(await withSum.client.callTool({ name: 'math__sum', arguments: { a: 2, b: 2 } }))).toBe('4');
    await expect(withSum.client.callTool({ name: 'math__countdown', arguments: { from: 1 } })).rejects.toThrow();
    await withSum.client.close();
  });

  it('rate-limits tool calls per tool and per caller through a BackendTrafficPolicy', async () => {
    const alice = await sign({ scope: 'sum' });
    const bob = await new SignJWT({ scope: 'sum' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer('https://auth.test').setAudience(resource).setSubject('bob').setExpirationTime('5m').sign(signingKey);
    const a = await connect(gw.url, { authorization: `Bearer ${alice}` });
    const call = (sid: string, token: string) =>
      rpc(gw.url, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'math__sum', arguments: { a: 1, b: 1 } } }, { authorization: `Bearer ${token}`, 'mcp-session-id': sid });
    // alice used one call in the previous test.
    expect((await call(a.transport.sessionId!, alice)).status).toBe(200);
    const limited = await call(a.transport.sessionId!, alice);
    expect(limited.status).toBe(429);
    expect(limited.body['error']).toMatchObject({ code: -32029 });
    expect(limited.headers.get('retry-after')).not.toBeNull();
    const b = await connect(gw.url, { authorization: `Bearer ${bob}` });
    expect((await call(b.transport.sessionId!, bob)).status).toBe(200);
    await a.client.close();
    await b.client.close();
  });

  it('hides tools from tokens without the scope and answers 403 with the scope to ask for', async () => {

    const none = await connect(gw.url, { authorization: `Bearer ${await sign({ scope: 'other' })}` });
    expect((await none.client.listTools()).tools).toEqual([]);
    const r = await rpc(gw.url, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'math__sum', arguments: { a: 1, b: 1 } } }, {
      authorization: `Bearer ${await sign({ scope: 'other' })}`,
      'mcp-session-id': none.transport.sessionId!,
    });
    expect(r.status).toBe(403);
    expect(r.headers.get('www-authenticate')).toContain('error="insufficient_scope", scope="sum"');
    await none.client.close();
  });
});

describe('MCP compat examples', () => {
  it('validate unchanged, with MCPRoute no longer ignored', async () => {
    for (const f of ['mcp_example.yaml', 'mcp_oauth_example.yaml', 'mcp_oauth_keycloak.yaml', 'openai-github.yaml']) {
      const r = await loadConfig({ paths: [`test/fixtures/compat/envoy-ai-gateway/examples/mcp/${f}`], purpose: 'validate' });
      expect(r.diagnostics.filter((d) => d.severity === 'error'), f).toEqual([]);
      expect(r.config?.ignored.some((i) => i.kind === 'MCPRoute'), f).toBe(false);
      expect(r.config?.mcp?.routes.length, f).toBe(1);
    }
  });
});

describe('MCP gateway: drain', () => {
  it('ends open streams of server-initiated messages when it drains, instead of waiting out the drain timeout', async () => {
    const math = await mathServer();
    const files = await filesServer();
    const gw = await startGateway({ 'mcp.yaml': route(), 'backends.yaml': `${mcpBackendYaml('files', files.port)}---\n${mcpBackendYaml('math', math.port)}` }, { watch: false });
    // The drain timeout is longer than this test may run: only ending the stream lets the process exit in time.
    const served = spawnCli(['serve', '--config', gw.dir, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--no-watch', '--drain-timeout', '600']);
    try {
      const url = `http://127.0.0.1:${(await served.waitFor(/"listen":"127\.0\.0\.1:(\d+)"/))[1]}`;
      // By hand rather than with the SDK client, which opens the session's one GET stream itself.
      const init = await rpc(url, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'drain', version: '1' } } });
      const session = { 'mcp-session-id': init.headers.get('mcp-session-id') ?? '', 'mcp-protocol-version': '2025-06-18' };
      expect((await rpc(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, session)).status).toBe(202);
      const stream = await fetch(`${url}/mcp`, { headers: { accept: 'text/event-stream', ...session } });
      expect(stream.status).toBe(200);
      expect(stream.headers.get('content-type')).toContain('text/event-stream');
      served.child.kill('SIGTERM');
      // The stream ends cleanly (a client reopens it elsewhere), and the gateway exits 0.
      await stream.text();
      expect(await served.exited()).toBe(0);
    } finally {
      served.child.kill('SIGKILL');
      await gw.close();
      await math.close();
      await files.close();
    }
  });
});
