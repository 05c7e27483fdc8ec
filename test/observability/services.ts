// Real services for the observability tests, started by the tests on free loopback ports with
// their data in temp directories: Prometheus (Debian's package) and PostgreSQL (initdb + postgres,
// run as the unprivileged `postgres` user when the tests run as root, since PostgreSQL refuses
// root). Never the machine's system services. A missing program fails the test (scripts/test-env.mjs
// installs them).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, child: ChildProcess, log: () => string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}):\n${log()}`);
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not become ready in ${ms} ms:\n${log()}`);
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

// ---- Prometheus --------------------------------------------------------------------------------

export interface Target {
  readonly job: string;
  readonly url: string;
  readonly path: string;
}

export interface PromServer {
  readonly url: string;
  /** Instant query; the result vector. */
  query(promql: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  /** Resolves once every target was scraped successfully after `sinceMs` (epoch ms). */
  scrapedAfter(sinceMs: number, ms?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startPrometheus(targets: readonly Target[]): Promise<PromServer> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-prom-'));
  const port = await freePort();
  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '900ms', evaluation_interval: '1s' },
    scrape_configs: targets.map((t) => {
      const u = new URL(t.url);
      return { job_name: t.job, metrics_path: t.path, static_configs: [{ targets: [u.host] }] };
    }),
  };
  await writeFile(join(dir, 'prometheus.yml'), JSON.stringify(config));
  let log = '';
  const child = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  await waitFor('prometheus', async () => (await fetch(`${url}/-/ready`)).status === 200, child, () => log.slice(-3000));
  const api = async <T>(path: string): Promise<T> => {
    const r = (await (await fetch(`${url}${path}`)).json()) as { status: string; data: T; error?: string };
    if (r.status !== 'success') throw new Error(`prometheus ${path}: ${r.error ?? r.status}`);
    return r.data;
  };
  return {
    url,
    query: async (q) => (await api<{ result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(`/api/v1/query?query=${encodeURIComponent(q)}`)).result,
    scrapedAfter: async (sinceMs, ms = 20_000) => {
      const end = Date.now() + ms;
      for (;;) {
        const t = await api<{ activeTargets: Array<{ lastScrape: string; health: string; scrapePool: string; lastError: string }> }>('/api/v1/targets');
        const ok = t.activeTargets.length === targets.length && t.activeTargets.every((a) => a.health === 'up' && Date.parse(a.lastScrape) > sinceMs);
        if (ok) return;
        if (Date.now() > end) throw new Error(`targets not scraped after the traffic: ${JSON.stringify(t.activeTargets.map((a) => [a.scrapePool, a.health, a.lastScrape, a.lastError]))}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    close: async () => {
      await stop(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// ---- PostgreSQL --------------------------------------------------------------------------------

export interface PgServer {
  /** postgres://postgres@127.0.0.1:PORT/postgres (trust authentication on loopback). */
  readonly url: string;
  close(): Promise<void>;
}

function pgBin(name: string): string {
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) {
      const p = join(base, v, 'bin', name);
      if (existsSync(p)) return p;
    }
  }
  return name;
}

export async function startPostgres(): Promise<PgServer> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-pg-'));
  const data = join(dir, 'data');
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  // PostgreSQL refuses to run as root: use the `postgres` account the Debian package creates.
  let uid: number | undefined;
  let gid: number | undefined;
  if (asRoot) {
    const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    if (id.status !== 0) throw new Error('running as root and there is no `postgres` user to run PostgreSQL as (apt-get install postgresql creates it)');
    uid = Number(id.stdout.trim());
    gid = Number(g.stdout.trim());
    chownSync(dir, uid, gid);
    chmodSync(dir, 0o700);
  }
  const init = spawnSync(pgBin('initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'], { encoding: 'utf8', uid, gid });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.error?.message || ''}`);
  let log = '';
  const child = spawn(pgBin('postgres'), ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'full_page_writes=off'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    uid,
    gid,
  });
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  await waitFor(
    'postgres',
    async () => {
      await new Promise<void>((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve();
        });
        s.once('error', reject);
      });
      return log.includes('ready to accept connections');
    },
    child,
    () => log.slice(-3000),
  );
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    close: async () => {
      // SIGINT: PostgreSQL's "fast" shutdown.
      if (child.exitCode === null) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
          child.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
          child.kill('SIGINT');
        });
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
