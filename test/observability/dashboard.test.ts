// The admin dashboard in a real browser (Debian's Chromium, driven by playwright-core): it renders
// the serving config and the accounting state, and its live tables show the same token numbers the
// ledger holds, updating without a reload as traffic flows; MCP tool calls (the official SDK on both
// sides) appear by server, tool and outcome.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLedger } from '../../src/accounting/ledger/reader.js';
import { startSimServer, type SimServerHandle } from '../../src/sim/index.js';
import { backendYaml, routeYaml } from '../helpers/gateway.js';
import { mcpBackendYaml, startMcpServer, type TestMcpServer } from '../helpers/mcp-servers.js';
import { CHAT, postJson, startObsGateway, type ObsGateway } from './helpers.js';

let sim: SimServerHandle;
let mcp: TestMcpServer;
let gw: ObsGateway;
let browser: Browser;
let ledgerDir: string;

beforeAll(async () => {
  sim = await startSimServer({ profile: 'fast', model: 'gpt-4o-mini', seed: 9 });
  mcp = await startMcpServer({
    name: 'tools',
    build: (s) => {
      s.registerTool('echo', { description: 'echoes' }, () => ({ content: [{ type: 'text', text: 'echo' }] }));
    },
  });
  ledgerDir = await mkdtemp(join(tmpdir(), 'tollgate-dash-'));
  gw = await startObsGateway(
    {
      'b.yaml': backendYaml('sim', [{ port: sim.port }]),
      'r.yaml': routeYaml('r', [{ matches: [{ 'x-workload-app': 'research-bot' }], backends: [{ name: 'sim' }] }]),
      'mcp.yaml': `${MCP_ROUTE}---\n${mcpBackendYaml('tools', mcp.port)}---\n${mcpBackendYaml('gone', await closedPort())}`,
    },
    { ledgerDir, auditSampleRate: 1 },
  );
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await gw?.close();
  await sim?.close();
  await mcp?.close();
  await rm(ledgerDir, { recursive: true, force: true });
});

const MCP_ROUTE = `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata: {name: agents, namespace: default}
spec:
  parentRefs: [{name: gw, kind: Gateway, group: gateway.networking.k8s.io}]
  path: /mcp
  backendRefs:
    - {name: tools, kind: Backend, group: gateway.envoyproxy.io, path: /mcp}
    - {name: gone, kind: Backend, group: gateway.envoyproxy.io, path: /mcp}
---
apiVersion: v1
kind: Secret
metadata: {name: tollgate-mcp-session, namespace: default}
stringData: {sessionKey: "${randomBytes(32).toString('base64')}"}
`;

/** A port nothing listens on: an MCP server that is down. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function traffic(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await postJson(gw.url + CHAT, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `dashboard request ${i}` }], max_tokens: 6 }, { 'x-workload-app': 'research-bot' });
    expect(r.status).toBe(200);
  }
  await gw.settled();
}

describe('admin dashboard', () => {
  it('shows live token totals that match the ledger, and updates as traffic flows', async () => {
    await traffic(3);
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(gw.adminUrl + '/');
    await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
    expect(await page.textContent('h1')).toBe('Tollgate');
    // Server-rendered: routes and where usage goes.
    expect(await page.textContent('body')).toContain('x-workload-app = research-bot');
    expect(await page.textContent('body')).toContain(ledgerDir);

    const ledgerTotals = async (): Promise<{ input: number; output: number; requests: number }> => {
      const t = { input: 0, output: 0, requests: 0 };
      for await (const r of readLedger(ledgerDir)) {
        t.input += r.usage.input;
        t.output += r.usage.output;
        t.requests++;
      }
      return t;
    };
    const row = async (): Promise<string[]> => page.$$eval('#tokens-by-model tr:first-child td', (tds) => tds.map((td) => td.textContent ?? ''));
    let want = await ledgerTotals();
    let cells = await row();
    expect(cells[0]).toBe('gpt-4o-mini');
    expect(cells[1]).toBe(String(want.requests));
    expect(cells[2]).toBe(want.input.toLocaleString('en-US'));
    expect(cells[4]).toBe(want.output.toLocaleString('en-US'));
    const workload = await page.$$eval('#tokens-by-workload tr:first-child td', (tds) => tds.map((td) => td.textContent ?? ''));
    expect(workload[0]).toBe('research-bot');
    expect(await page.textContent('#stat-requests')).toBe('3');
    expect(await page.textContent('#drift')).toContain('gpt-4o-mini');
    expect(await page.textContent('#pools')).toContain('default/sim');

    // More traffic: the page follows without a reload.
    await traffic(4);
    want = await ledgerTotals();
    await page.waitForFunction(`document.querySelector('#stat-requests')?.textContent === '7'`, undefined, { timeout: 15_000 });
    cells = await row();
    expect(cells[1]).toBe('7');
    expect(cells[2]).toBe(want.input.toLocaleString('en-US'));
    expect(Number(String(await page.textContent('#stat-tokens')).replace(/,/g, ''))).toBe(want.input + want.output);
    await page.screenshot({ path: process.env['TOLLGATE_DASHBOARD_SCREENSHOT'] ?? join(ledgerDir, 'dashboard.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);

  it('shows MCP tool calls by server, tool and outcome, and the servers that failed', async () => {
    const client = new Client({ name: 'dash', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
    for (let i = 0; i < 2; i++) await client.callTool({ name: 'tools__echo', arguments: {} });
    await expect(client.callTool({ name: 'gone__anything', arguments: {} })).rejects.toThrow(/unavailable/);
    await client.close();
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(gw.adminUrl + '/');
    await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
    const rows = await page.$$eval('#mcp-tool-calls tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    expect(rows).toEqual([
      ['gone', 'anything', 'unavailable', '1'],
      ['tools', 'echo', 'ok', '2'],
    ]);
    expect(await page.textContent('#stat-mcp-calls')).toBe('3');
    expect(await page.textContent('#stat-mcp-sessions')).toBe('1');
    const failures = await page.$$eval('#mcp-failures tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    expect(failures).toEqual([['gone', 'unavailable', '1']]);
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);
});
