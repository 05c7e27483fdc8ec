// A `tollgate serve --concurrency N` instance as a real process tree, and requests that each open a
// new connection so the primary spreads them over the workers (round robin).
import http from 'node:http';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { ROOT, spawnCli, type RunningCli } from '../helpers/cli.js';

export interface Instance {
  readonly cli: RunningCli;
  readonly url: string;
  readonly adminUrl: string;
  readonly dir: string;
  write(name: string, content: string): Promise<void>;
  workers(): Promise<Array<{ worker: number; pid: number | null; state: string; generation: number | null; fingerprint: string | null }>>;
  metrics(): Promise<string>;
  stop(): Promise<number | null>;
}

/** `launch`: run `command prefix… serve …` instead of `node bin/tollgate.js serve …` (e.g. in a cgroup). */
export async function startInstance(
  manifests: Record<string, string>,
  args: string[] = ['--concurrency', '2'],
  env: NodeJS.ProcessEnv = {},
  launch?: { command: string; prefix: string[] },
): Promise<Instance> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-cluster-'));
  for (const [name, content] of Object.entries(manifests)) await writeFile(join(dir, name), content);
  const serveArgs = ['serve', '--config', dir, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--drain-timeout', '10', ...args];
  const cli = launch === undefined ? spawnCli(serveArgs, env) : spawnCommand(launch.command, [...launch.prefix, ...serveArgs], env);
  const m = await cli.waitFor(/"msg":"tollgate serving".*?"listen":"127\.0\.0\.1:(\d+)","admin":"127\.0\.0\.1:(\d+)"/, 30_000);
  const url = `http://127.0.0.1:${m[1]}`;
  const adminUrl = `http://127.0.0.1:${m[2]}`;
  return {
    cli,
    url,
    adminUrl,
    dir,
    write: async (name, content) => {
      const tmp = join(dir, `.${name}.tmp`);
      await writeFile(tmp, content);
      await rename(tmp, join(dir, name));
    },
    workers: async () => ((await (await fetch(`${adminUrl}/config_dump`)).json()) as { workers: Awaited<ReturnType<Instance['workers']>> }).workers,
    metrics: async () => (await fetch(`${adminUrl}/stats/prometheus`)).text(),
    stop: async () => {
      if (cli.child.exitCode === null) cli.child.kill('SIGTERM');
      const code = await cli.exited();
      await rm(dir, { recursive: true, force: true });
      return code;
    },
  };
}

export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
}

/** One POST of JSON and its whole answer; `agent: false` gives it a connection of its own. */
export function post(url: string, path: string, body: unknown, headers: Record<string, string>, agent: http.Agent | false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}${path}`, { method: 'POST', agent, headers: { 'content-type': 'application/json', ...(agent === false ? { connection: 'close' } : {}), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** One chat request on a connection of its own (no keep-alive), so requests reach every worker. */
export function chatFresh(url: string, body: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<Reply> {
  return post(url, '/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'hi' }], ...body }, headers, false);
}

export async function waitUntil(fn: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await Promise.resolve().then(fn).catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for: ${what}`);
}

/** Like spawnCli, for a command other than the tollgate binary. */
function spawnCommand(command: string, args: string[], env: NodeJS.ProcessEnv): RunningCli {
  const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return {
    child,
    output: () => out,
    waitFor: async (re, timeoutMs = 20_000) => {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const m = out.match(re);
        if (m !== null) return m;
        if (Date.now() > end || child.exitCode !== null) throw new Error(`no ${String(re)} in output:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    exited: () => exit,
  };
}
