// Secrets an instance makes up for itself (no MCP session key configured; the keyed digests of
// client API keys) are the same in every worker: the workers compile the same config fingerprint,
// so the instance becomes ready, and an MCP session sealed by one worker is accepted by the other.
// (Each worker once drew its own, so such an instance never became ready.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { backendYaml, routeYaml } from '../helpers/gateway.js';
import { mcpBackendYaml, startMcpServer, type TestMcpServer } from '../helpers/mcp-servers.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';
import { secretYaml, securityPolicyYaml } from '../security/helpers.js';
import { chatFresh, post, startInstance, type Instance, type Reply } from './helpers.js';

const CLIENT_KEY = 'client-key-0123456789abcdef0123456789';

const MCP_ROUTE = `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata: {name: tools, namespace: default}
spec:
  path: /mcp
  backendRefs:
    - {name: math, kind: Backend, group: gateway.envoyproxy.io, path: /mcp}
`;

/** One MCP JSON-RPC POST on a connection of its own, so consecutive calls reach both workers. */
function mcpFresh(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  return post(url, '/mcp', body, { accept: 'application/json, text/event-stream', ...headers }, false);
}

describe('an instance of two workers with made-up keys', { timeout: 90_000 }, () => {
  let up: Upstream;
  let math: TestMcpServer;
  let inst: Instance;

  beforeAll(async () => {
    up = await startUpstream(openAIBehavior({ chunks: 2 }));
    math = await startMcpServer({
      name: 'math',
      build: (s) => {
        s.registerTool('sum', { description: 'adds', inputSchema: { a: z.number(), b: z.number() } }, ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }));
      },
    });
    inst = await startInstance({
      'b.yaml': `${backendYaml('b', [{ port: up.port }])}---\n${mcpBackendYaml('math', math.port)}`,
      'r.yaml': routeYaml('r', [{ backends: [{ name: 'b' }] }]),
      's.yaml': secretYaml('client-keys', { app: CLIENT_KEY }),
      'p.yaml': securityPolicyYaml('clients', '  apiKeyAuth:\n    credentialRefs:\n      - name: client-keys\n    extractFrom:\n      - headers: [authorization]\n'),
      // No tollgate-mcp-session Secret: the instance makes the session key up.
      'mcp.yaml': MCP_ROUTE,
    });
  });

  afterAll(async () => {
    expect(await inst?.stop()).toBe(0);
    await up?.close();
    await math?.close();
  });

  it('compiles one fingerprint in every worker and is ready', async () => {
    expect(inst.cli.output()).toContain('no MCP session key is configured');
    const workers = await inst.workers();
    expect(workers).toHaveLength(2);
    const dump = (await (await fetch(`${inst.adminUrl}/config_dump`)).json()) as { fingerprint: string };
    for (const w of workers) expect(w.fingerprint).toBe(dump.fingerprint);
    expect((await fetch(`${inst.adminUrl}/readyz`)).status).toBe(200);
  });

  it('accepts a client API key and an MCP session on whichever worker a connection reaches', async () => {
    for (let i = 0; i < 6; i++) expect((await chatFresh(inst.url, {}, { authorization: `Bearer ${CLIENT_KEY}` })).status).toBe(200);
    const init = await mcpFresh(inst.url, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
    expect(init.status).toBe(200);
    const session = { 'mcp-session-id': String(init.headers['mcp-session-id']), 'mcp-protocol-version': '2025-06-18' };
    expect((await mcpFresh(inst.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, session)).status).toBe(202);
    // New connections alternate between the workers: every call must find the session.
    for (let i = 0; i < 6; i++) {
      const r = await mcpFresh(inst.url, { jsonrpc: '2.0', id: 10 + i, method: 'tools/call', params: { name: 'math__sum', arguments: { a: i, b: 1 } } }, session);
      expect(r.status).toBe(200);
      expect(r.text).toContain(`"text":"${i + 1}"`);
    }
  });
});
