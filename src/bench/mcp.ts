// `tollgate bench mcp` (`npm run bench:mcp`): what the MCP gateway adds, against calling the MCP
// server directly, in the same run: latency per tool call, per new session (initialize plus the
// initialized notification; with one and with two servers behind the route), and the CPU of sealing
// and opening a session id (AES-256-GCM, no key stretching).
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSecretKey } from 'node:crypto';
import { Pool } from 'undici';
import { CliError, formatHelp, parseCommandArgs, parsePositiveInt } from '../cli/args.js';
import { openSession, sealSession, type McpSession } from '../mcp/session.js';
import { BIN, startChild } from './procs.js';

const MCP_UPSTREAM_JS = fileURLToPath(new URL('./mcp-upstream.js', import.meta.url));

const spec = {
  name: 'bench mcp',
  summary: 'latency the MCP gateway adds per tool call and per new session, against the server directly, same run',
  usage: `
Usage: tollgate bench mcp [--duration SEC] [--out FILE]

  --duration SEC   measured seconds per scenario (default 3, after a short warm-up)
  --out FILE       JSON results (default .bench-out/mcp.json)`,
  options: {
    duration: { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
} as const;

function config(ports: readonly number[]): string {
  const backends = ports.map((p, i) => `apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: Backend\nmetadata: {name: s${i}, namespace: default}\nspec:\n  endpoints: [{ip: {address: 127.0.0.1, port: ${p}}}]\n`).join('---\n');
  return `${backends}---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata: {name: one, namespace: default}
spec:
  path: /mcp
  backendRefs: [{name: s0}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata: {name: two, namespace: default}
spec:
  path: /mcp2
  backendRefs: [{name: s0}, {name: s1}]
---
apiVersion: v1
kind: Secret
metadata: {name: tollgate-mcp-session, namespace: default}
stringData: {sessionKey: "${randomBytes(32).toString('base64')}"}
`;
}

interface Client {
  post(path: string, body: unknown, sid?: string): Promise<{ status: number; sid: string | undefined; text: string }>;
}

function client(port: number): { c: Client; close: () => Promise<void> } {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 1, keepAliveTimeout: 60_000 });
  return {
    c: {
      async post(path, body, sid) {
        const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' };
        if (sid !== undefined) headers['mcp-session-id'] = sid;
        const r = await pool.request({ method: 'POST', path, headers, body: JSON.stringify(body) });
        const text = await r.body.text();
        const s = r.headers['mcp-session-id'];
        return { status: r.statusCode, sid: typeof s === 'string' ? s : undefined, text };
      },
    },
    close: () => pool.close(),
  };
}

const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } };
const INITIALIZED = { jsonrpc: '2.0', method: 'notifications/initialized' };

async function newSession(c: Client, path: string): Promise<string> {
  const r = await c.post(path, INIT);
  if (r.status !== 200 || r.sid === undefined) throw new CliError(`initialize on ${path} answered HTTP ${r.status}: ${r.text.slice(0, 200)}`);
  await c.post(path, INITIALIZED, r.sid);
  return r.sid;
}

/** Sequential operations for `seconds`; latencies in ms. */
async function measure(seconds: number, op: () => Promise<void>): Promise<number[]> {
  const warm = Date.now() + 300;
  while (Date.now() < warm) await op();
  const out: number[] = [];
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    const t = process.hrtime.bigint();
    await op();
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return out;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}

function crypto(): { sealUs: number; openUs: number } {
  const key = createSecretKey(randomBytes(32));
  const s: McpSession = { route: 'default/mcp', protocolVersion: '2025-06-18', principal: 'key:client-a', issuedAt: 1, backends: [0, 1, 2].map((i) => ({ name: `server-${i}`, sid: randomBytes(18).toString('hex'), pv: '2025-06-18', down: false })) };
  const n = 20_000;
  let id = '';
  let t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) id = sealSession(key, s);
  const sealUs = Number(process.hrtime.bigint() - t) / 1e3 / n;
  t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) openSession(key, id);
  const openUs = Number(process.hrtime.bigint() - t) / 1e3 / n;
  return { sealUs, openUs };
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(spec, argv);
  if (values.help === true) {
    process.stdout.write(formatHelp(spec));
    return 0;
  }
  const seconds = values.duration === undefined ? 3 : parsePositiveInt(values.duration, '--duration');
  const outFile = values.out ?? '.bench-out/mcp.json';
  const children: ChildProcess[] = [];
  const work = await mkdtemp(join(tmpdir(), 'tollgate-bench-mcp-'));
  try {
    const ups = [await startChild(false, process.execPath, [MCP_UPSTREAM_JS, '0'], /ready (\d+)/, children), await startChild(false, process.execPath, [MCP_UPSTREAM_JS, '0'], /ready (\d+)/, children)];
    const ports = ups.map((u) => Number(u.match[1]));
    await writeFile(join(work, 'mcp.yaml'), config(ports));
    const gw = await startChild(false, process.execPath, [BIN, 'serve', '--config', work, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--no-watch'], /"listen":"127\.0\.0\.1:(\d+)"/, children);
    const direct = client(ports[0]!);
    const viaGw = client(Number(gw.match[1]));
    const call = (i: number): unknown => ({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'tool_3', arguments: { q: 'hello' } } });
    const gwCall = (i: number): unknown => ({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 's0__tool_3', arguments: { q: 'hello' } } });

    const dSid = await newSession(direct.c, '/mcp');
    const gSid = await newSession(viaGw.c, '/mcp');
    let i = 0;
    const results = {
      toolCall: {
        direct: await measure(seconds, async () => void (await direct.c.post('/mcp', call(++i), dSid))),
        gateway: await measure(seconds, async () => void (await viaGw.c.post('/mcp', gwCall(++i), gSid))),
      },
      session: {
        direct: await measure(seconds, async () => void (await newSession(direct.c, '/mcp'))),
        gateway: await measure(seconds, async () => void (await newSession(viaGw.c, '/mcp'))),
        gatewayTwoServers: await measure(seconds, async () => void (await newSession(viaGw.c, '/mcp2'))),
      },
    };
    await direct.close();
    await viaGw.close();
    const c = crypto();
    const row = (name: string, xs: number[], base?: number[]): string => {
      const p50 = pct(xs, 50);
      const added = base === undefined ? '' : `  added p50 ${(p50 - pct(base, 50)).toFixed(3)} ms (${(p50 / pct(base, 50)).toFixed(2)}x)`;
      return `  ${name.padEnd(30)} n=${String(xs.length).padStart(6)}  p50 ${p50.toFixed(3)} ms  p99 ${pct(xs, 99).toFixed(3)} ms${added}`;
    };
    process.stdout.write(
      [
        'tool call (tools/call, JSON answer):',
        row('direct to the MCP server', results.toolCall.direct),
        row('through the gateway', results.toolCall.gateway, results.toolCall.direct),
        'new session (initialize + notifications/initialized):',
        row('direct to the MCP server', results.session.direct),
        row('through the gateway, 1 server', results.session.gateway, results.session.direct),
        row('through the gateway, 2 servers', results.session.gatewayTwoServers, results.session.direct),
        `session id crypto (AES-256-GCM, 3 servers inside): seal ${c.sealUs.toFixed(1)} µs, open ${c.openUs.toFixed(1)} µs`,
        '',
      ].join('\n'),
    );
    const summary = (xs: number[]): { n: number; p50: number; p99: number } => ({ n: xs.length, p50: pct(xs, 50), p99: pct(xs, 99) });
    await mkdir(dirname(outFile), { recursive: true });
    await writeFile(
      outFile,
      JSON.stringify(
        {
          toolCall: { direct: summary(results.toolCall.direct), gateway: summary(results.toolCall.gateway) },
          session: { direct: summary(results.session.direct), gateway: summary(results.session.gateway), gatewayTwoServers: summary(results.session.gatewayTwoServers) },
          sessionCrypto: c,
        },
        null,
        2,
      ),
    );
    return 0;
  } finally {
    for (const ch of children) ch.kill('SIGTERM');
    await rm(work, { recursive: true, force: true });
  }
}
