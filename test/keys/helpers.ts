// Real `tollgate serve` processes with virtual keys (a state store, an admin token, a rates file),
// and the clients a test needs: the admin API, the CLI, and chat requests carrying a key.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backendYaml, eventually, routeYaml, waitReady } from '../helpers/gateway.js';
import { runCli, spawnCli, type CliResult, type RunningCli } from '../helpers/cli.js';

export const TOKEN = 'test-admin-token-0123456789abcdef';

/**
 * Output costs 10 000 per million tokens (0.01 per token), input nothing: a request with
 * `max_tokens: 5` that gets 5 output tokens reserves and costs exactly 0.05, so a budget of
 * 2.50 admits exactly 50 such requests however they interleave.
 */
export const RATES = `unit: 1M
currency: USD
models:
  m: {input: 0, output: 10000}
  m-b: {input: 0, output: 10000}
`;
export const REQUEST_COST = 0.05;

export interface Served {
  readonly url: string;
  readonly admin: string;
  readonly cli: RunningCli;
  stop(): Promise<void>;
}

/** A directory with the manifests (one route to `ports`' backends in priority order) and the rates file. */
export async function workspace(ports: number[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-keys-'));
  const backends = ports.map((port, i) => backendYaml(`b${i}`, [{ port }]));
  const route = routeYaml('r', [{ backends: ports.map((_, i) => ({ name: `b${i}`, priority: i })) }]);
  await writeFile(join(dir, 'gateway.yaml'), [...backends, route].join('---\n'));
  await writeFile(join(dir, 'rates.yaml'), RATES);
  await writeFile(join(dir, 'admin-token'), TOKEN);
  return dir;
}

export async function serve(dir: string, extra: string[], env: NodeJS.ProcessEnv = {}): Promise<Served> {
  const cli = spawnCli(
    ['serve', '--config', join(dir, 'gateway.yaml'), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--rates', join(dir, 'rates.yaml'), '--admin-token-file', join(dir, 'admin-token'), ...extra],
    env,
  );
  const m = await cli.waitFor(/"msg":"tollgate serving".*?"listen":"127\.0\.0\.1:(\d+)","admin":"127\.0\.0\.1:(\d+)"/, 30_000);
  const s = {
    url: `http://127.0.0.1:${m[1]}`,
    admin: `http://127.0.0.1:${m[2]}`,
    cli,
    stop: async () => {
      if (cli.child.exitCode !== null) return;
      cli.child.kill('SIGTERM');
      await cli.exited();
    },
  };
  await waitReady(s.admin);
  return s;
}

export async function api(admin: string, method: string, path: string, body?: unknown, token: string | null = TOKEN): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`${admin}${path}`, {
    method,
    headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

export function keysCli(admin: string, args: string[]): Promise<CliResult> {
  return runCli(['keys', ...args, '--admin', admin], { env: { TOLLGATE_ADMIN_TOKEN: TOKEN } });
}

export async function createKey(admin: string, body: Record<string, unknown>): Promise<{ id: string; key: string }> {
  const r = await api(admin, 'POST', '/admin/keys', body);
  if (r.status !== 201) throw new Error(`create failed: ${r.status} ${JSON.stringify(r.json)}`);
  return { id: r.json['id'] as string, key: r.json['key'] as string };
}

export async function chatWith(
  url: string,
  key: string | undefined,
  opts: { model?: string; stream?: boolean; header?: 'authorization' | 'x-api-key' } = {},
): Promise<{ status: number; text: string; json: { error?: { code: string; message: string } } }> {
  const header = opts.header ?? 'authorization';
  const auth: Record<string, string> = key === undefined ? {} : header === 'authorization' ? { authorization: `Bearer ${key}` } : { 'x-api-key': key };
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth },
    body: JSON.stringify({
      model: opts.model ?? 'm',
      max_tokens: 5,
      messages: [{ role: 'user', content: 'hi' }],
      ...(opts.stream === true ? { stream: true, stream_options: { include_usage: true } } : {}),
    }),
  });
  const text = await r.text();
  let json: { error?: { code: string; message: string } } = {};
  try {
    json = JSON.parse(text) as typeof json;
  } catch {
    // A streamed answer is SSE, not JSON.
  }
  return { status: r.status, text, json };
}

/** The key's spend this period as the admin API reports it (from the durable journal). */
export async function spent(admin: string, id: string, path = 'keys'): Promise<number> {
  const r = await api(admin, 'GET', `/admin/${path}/${id}`);
  const budgets = r.json['budgets'] as Array<{ spent: number }> | undefined;
  return budgets?.[0]?.spent ?? 0;
}

export async function waitSpent(admin: string, id: string, amount: number, path = 'keys'): Promise<void> {
  await eventually(async () => Math.abs((await spent(admin, id, path)) - amount) < 1e-9, `spend of ${path}/${id} to reach ${amount}`, 10_000);
}

/** Fires `n` requests at once and counts the answers by status. */
export async function burst(url: string, key: string, n: number): Promise<Map<number, number>> {
  const all = await Promise.all(Array.from({ length: n }, () => chatWith(url, key)));
  const counts = new Map<number, number>();
  for (const r of all) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  return counts;
}
