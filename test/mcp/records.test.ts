// What the MCP gateway records per request: ledger and access log lines per tool call (no arguments),
// and spans with the MCP semantic conventions, exported to a real OTLP/HTTP endpoint.
import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { traceOptionsFromEnv } from '../../src/telemetry/traces.js';
import { eventually } from '../helpers/gateway.js';
import { mcpBackendYaml, startMcpServer, type TestMcpServer } from '../helpers/mcp-servers.js';
import { type ObsGateway, startObsGateway } from '../observability/helpers.js';

interface Span {
  name: string;
  traceId: string;
  parentSpanId?: string;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
}

describe('MCP gateway records', () => {
  let server: TestMcpServer;
  let gw: ObsGateway;
  let collector: http.Server;
  let work: string;
  const spans: Span[] = [];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'tollgate-mcp-rec-'));
    server = await startMcpServer({
      name: 'notes',
      build: (s) => s.registerTool('add_note', { description: 'adds a note', inputSchema: { text: z.string() } }, ({ text }) => ({ content: [{ type: 'text', text: `saved ${text.length}` }] })),
    });
    collector = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Span[] }> }> };
        for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    const traces = traceOptionsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`, OTEL_BSP_SCHEDULE_DELAY: '50' });
    const route = `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata: {name: notes, namespace: default}
spec:
  backendRefs: [{name: notes}]
`;
    gw = await startObsGateway({ 'r.yaml': route, 'b.yaml': mcpBackendYaml('notes', server.port) }, { ledgerDir: join(work, 'ledger'), ledgerFsyncMs: 0, accessLog: { file: join(work, 'access.log') }, traces });
  });
  afterAll(async () => {
    await gw?.close();
    await server?.close();
    collector?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('writes one ledger and access log line per tool call, without arguments, and a span per request', async () => {
    const client = new Client({ name: 'rec', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), { requestInit: { headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } } }));
    await client.callTool({ name: 'notes__add_note', arguments: { text: 'secret plans' } });
    await client.close();

    const files = await readdir(join(work, 'ledger'));
    const lines = (await Promise.all(files.map((f) => readFile(join(work, 'ledger', f), 'utf8')))).join('').split('\n').filter((l) => l.includes('mcp_tool_call'));
    expect(lines).toHaveLength(1);
    const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(rec).toMatchObject({ type: 'mcp_tool_call', route: 'default/notes', backend: 'notes', tool: 'add_note', outcome: 'ok' });
    expect(rec['requestBytes']).toBeGreaterThan(0);
    expect(rec['responseBytes']).toBeGreaterThan(0);
    expect(lines[0]).not.toContain('secret plans');
    await eventually(async () => (await readFile(join(work, 'access.log'), 'utf8')).includes('"tool":"add_note"'), 'the access log line');

    await eventually(() => spans.some((s) => s.name === 'tools/call notes__add_note'), 'the tools/call span');
    const span = spans.find((s) => s.name === 'tools/call notes__add_note')!;
    const attrs = Object.fromEntries(span.attributes.map((a) => [a.key, Object.values(a.value)[0]]));
    expect(span.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(span.parentSpanId).toBe('00f067aa0ba902b7');
    expect(attrs).toMatchObject({ 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'notes__add_note', 'gen_ai.operation.name': 'execute_tool', 'jsonrpc.request.id': expect.any(String) });
    expect(String(attrs['mcp.session.id'])).toMatch(/^[0-9a-f]{32}$/);
    expect(spans.some((s) => s.name === 'initialize')).toBe(true);
  });
});
