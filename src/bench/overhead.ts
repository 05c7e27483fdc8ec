// `tollgate bench overhead` (`npm run bench:overhead`): what the gateway adds to a request, measured
// against the upstream reached directly, in the same run, on loopback. nginx joins as a reference
// proxy when it is installed, and a minimal Node.js proxy (node-proxy.ts: node:http + undici, parse and
// relay, nothing else) shows the floor of the platform on this machine. The load generator is pinned to one core, the proxy and the upstream
// to the other (as the issue's set-up prescribes), when `taskset` is available.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatHelp, parseCommandArgs, parsePositiveInt } from '../cli/args.js';
import { runLoad, type LoadResult } from './loadgen.js';
import { localBackendYaml } from './manifests.js';
import { formatTranslation, measureTranslation } from './translation.js';
import { BIN, cpuPerRequest, cpuTicks, freePort, NODE_PROXY_JS, pinSelf, startChild, UPSTREAM_JS } from './procs.js';

const spec = {
  name: 'bench overhead',
  summary: 'gateway vs direct-to-upstream (and nginx) on loopback: latency, throughput, CPU per request',
  usage: `
Usage: tollgate bench overhead [--duration SEC] [--concurrency 1,16,64] [--out FILE] [--no-nginx]
                               [--translation-only | --no-translation]

  --duration SEC        measured seconds per scenario (default 4, after 1 s of warm-up)
  --concurrency LIST    closed-loop connections per scenario (default 1,16,64)
  --out FILE            JSON results (default .bench-out/overhead.json)
  --no-nginx            skip the nginx reference even when nginx is installed
  --translation-only    only the provider translation cost (CPU per request and per streamed chunk,
                        per provider, vs OpenAI passthrough); --no-translation skips it`,
  options: {
    duration: { type: 'string' },
    concurrency: { type: 'string' },
    out: { type: 'string' },
    'no-nginx': { type: 'boolean' },
    'translation-only': { type: 'boolean' },
    'no-translation': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
} as const;

type Target = 'direct' | 'tollgate' | 'nginx' | 'node-min';
type Mode = 'json' | 'stream';

interface Row {
  target: Target;
  mode: Mode;
  concurrency: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  firstByteP50Ms: number;
  cpuUsPerRequest: number | undefined;
  errors: number;
}


export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(spec, argv);
  if (values.help === true) {
    process.stdout.write(formatHelp(spec));
    return 0;
  }
  const durationMs = parsePositiveInt(values.duration ?? '4', '--duration', { max: 600 }) * 1000;
  const levels = (values.concurrency ?? '1,16,64').split(',').map((c) => parsePositiveInt(c.trim(), '--concurrency', { max: 4096 }));
  const outFile = values.out ?? '.bench-out/overhead.json';
  if (values['translation-only'] === true) {
    const translation = await measureTranslation();
    process.stdout.write(formatTranslation(translation));
    await mkdir(join(outFile, '..'), { recursive: true });
    await writeFile(outFile, JSON.stringify({ translation }, null, 2));
    process.stdout.write(`\nJSON written to ${outFile}\n`);
    return 0;
  }
  const pinned = pinSelf();

  const work = await mkdtemp(join(tmpdir(), 'tollgate-bench-'));
  const children: ChildProcess[] = [];
  try {
    const upstream = await startChild(pinned, process.execPath, [UPSTREAM_JS, '0'], /ready (\d+)/, children);
    const upPort = Number(upstream.match[1]);
    await writeFile(join(work, 'gw.yaml'), gatewayConfig(upPort));
    const gw = await startChild(
      pinned,
      process.execPath,
      [BIN, 'serve', '--config', work, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--no-watch'],
      /"listen":"127\.0\.0\.1:(\d+)"/,
      children,
    );
    const gwPort = Number(gw.match[1]);
    const targets: Array<{ target: Target; port: number; pids: () => number[] }> = [
      { target: 'direct', port: upPort, pids: () => [] },
      { target: 'tollgate', port: gwPort, pids: () => [gw.child.pid ?? 0] },
    ];
    const floor = await startChild(pinned, process.execPath, [NODE_PROXY_JS, String(upPort)], /ready (\d+)/, children);
    targets.push({ target: 'node-min', port: Number(floor.match[1]), pids: () => [floor.child.pid ?? 0] });
    if (values['no-nginx'] !== true) {
      const nginx = await startNginx(pinned, work, upPort, children);
      if (nginx !== undefined) targets.push({ target: 'nginx', port: nginx.port, pids: nginx.pids });
      else process.stderr.write('note: nginx not installed; skipping the reference proxy (apt-get install nginx)\n');
    }

    const rows: Row[] = [];
    for (const mode of ['json', 'stream'] as const) {
      for (const c of levels) {
        for (const t of targets) {
          const pids = t.pids();
          const cpu0 = cpuTicks(pids);
          const r = await runLoad({ port: t.port, request: requestBytes(mode), concurrency: c, warmupMs: 1000, durationMs });
          const cpu1 = cpuTicks(pids);
          rows.push(toRow(t.target, mode, c, r, pids.length === 0 ? undefined : cpuPerRequest(cpu0, cpu1, r.requests)));
          process.stderr.write('.');
        }
      }
    }
    process.stderr.write('\n');
    const report = summarize(rows);
    process.stdout.write(report.table);
    // Provider translation: what each upstream API costs on top of OpenAI passthrough.
    const translation = values['no-translation'] === true ? undefined : await measureTranslation();
    if (translation !== undefined) process.stdout.write(`\n${formatTranslation(translation)}`);
    await mkdir(join(outFile, '..'), { recursive: true });
    await writeFile(outFile, JSON.stringify({ pinned, durationMs, rows, comparisons: report.comparisons, translation }, null, 2));
    process.stdout.write(`\nJSON written to ${outFile}\n`);
    return 0;
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await rm(work, { recursive: true, force: true });
  }
}

export function requestBytes(mode: Mode): Buffer {
  const body = JSON.stringify({ model: 'bench-model', stream: mode === 'stream', messages: [{ role: 'user', content: 'Say something short.' }] });
  return Buffer.from(
    `POST /v1/chat/completions HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\nauthorization: Bearer client-key\r\nx-workload-app: bench\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

export function gatewayConfig(upPort: number): string {
  return `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: bench, namespace: default}
spec:
  rules:
    - matches:
        - headers:
            - {type: Exact, name: x-ai-eg-model, value: bench-model}
      backendRefs: [{name: bench}]
---
${localBackendYaml('bench', upPort)}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: bench, namespace: default}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: bench}]
  type: APIKey
  apiKey: {secretRef: {name: bench-key}}
---
apiVersion: v1
kind: Secret
metadata: {name: bench-key, namespace: default}
stringData: {apiKey: sk-bench}
`;
}

function toRow(target: Target, mode: Mode, concurrency: number, r: LoadResult, cpu: number | undefined): Row {
  return {
    target,
    mode,
    concurrency,
    rps: r.requests / r.seconds,
    p50Ms: r.latency.p50 / 1000,
    p99Ms: r.latency.p99 / 1000,
    firstByteP50Ms: r.firstByte.p50 / 1000,
    cpuUsPerRequest: cpu,
    errors: r.errors,
  };
}

interface Comparison {
  target: Target;
  mode: Mode;
  concurrency: number;
  addedP50Ms: number;
  addedP99Ms: number;
  addedFirstByteP50Ms: number;
  throughputRatio: number;
}

function summarize(rows: Row[]): { table: string; comparisons: Comparison[] } {
  const comparisons: Comparison[] = [];
  const lines = [
    'target    mode    conc      req/s    p50 ms    p99 ms  1st-byte p50   CPU µs/req   added p50   added p99   vs direct',
    '--------  ------  ----  ---------  --------  --------  ------------  -----------  ----------  ----------  ---------',
  ];
  for (const r of rows) {
    const base = rows.find((d) => d.target === 'direct' && d.mode === r.mode && d.concurrency === r.concurrency);
    let added = '';
    if (base !== undefined && r.target !== 'direct') {
      const c: Comparison = {
        target: r.target,
        mode: r.mode,
        concurrency: r.concurrency,
        addedP50Ms: r.p50Ms - base.p50Ms,
        addedP99Ms: r.p99Ms - base.p99Ms,
        addedFirstByteP50Ms: r.firstByteP50Ms - base.firstByteP50Ms,
        throughputRatio: r.rps / base.rps,
      };
      comparisons.push(c);
      added = `${fmt(c.addedP50Ms, 3).padStart(10)}  ${fmt(c.addedP99Ms, 3).padStart(10)}  ${(c.throughputRatio * 100).toFixed(1).padStart(8)}%`;
    }
    lines.push(
      `${r.target.padEnd(8)}  ${r.mode.padEnd(6)}  ${String(r.concurrency).padStart(4)}  ${r.rps.toFixed(0).padStart(9)}  ${fmt(r.p50Ms, 3).padStart(8)}  ${fmt(r.p99Ms, 3).padStart(8)}  ${fmt(
        r.firstByteP50Ms,
        3,
      ).padStart(12)}  ${(r.cpuUsPerRequest === undefined ? '' : r.cpuUsPerRequest.toFixed(0)).padStart(11)}  ${added}${r.errors > 0 ? `  errors=${r.errors}` : ''}`,
    );
  }
  lines.push('', 'tollgate over the Node.js floor (node-min: node:http + undici, parse and relay, nothing else)');
  lines.push('mode    conc   added p50 ms   req/s ratio   CPU µs/req   CPU ratio');
  for (const t of rows) {
    if (t.target !== 'tollgate') continue;
    const f = rows.find((d) => d.target === 'node-min' && d.mode === t.mode && d.concurrency === t.concurrency);
    if (f === undefined) continue;
    const cpu = t.cpuUsPerRequest !== undefined && f.cpuUsPerRequest !== undefined && f.cpuUsPerRequest > 0 ? `${f.cpuUsPerRequest.toFixed(0).padStart(4)} → ${t.cpuUsPerRequest.toFixed(0).padStart(4)}   ${(t.cpuUsPerRequest / f.cpuUsPerRequest).toFixed(2)}x` : '';
    lines.push(`${t.mode.padEnd(6)}  ${String(t.concurrency).padStart(4)}  ${fmt(t.p50Ms - f.p50Ms, 3).padStart(13)}  ${(t.rps / f.rps).toFixed(2).padStart(12)}   ${cpu}`);
  }
  return { table: lines.join('\n') + '\n', comparisons };
}

function fmt(n: number, digits: number): string {
  return n.toFixed(digits);
}

async function startNginx(pinned: boolean, work: string, upPort: number, children: ChildProcess[]): Promise<{ port: number; pids: () => number[] } | undefined> {
  const which = spawnSync('sh', ['-c', 'command -v nginx || ls /usr/sbin/nginx'], { encoding: 'utf8' });
  const bin = which.stdout.trim().split('\n')[0];
  if (which.status !== 0 || bin === undefined || bin.length === 0) return undefined;
  const port = await freePort();
  const dir = join(work, 'nginx');
  await mkdir(dir, { recursive: true });
  const conf = `worker_processes 1;
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  # nginx closes a keep-alive connection after 1,000 requests by default (keepalive_requests), on
  # both sides; the load generator holds its connections for the whole run, like the gateway does.
  keepalive_requests 100000000;
  upstream up { server 127.0.0.1:${upPort}; keepalive 512; keepalive_requests 100000000; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer sk-bench";
      proxy_buffering off;
    }
  }
}
`;
  await writeFile(join(dir, 'nginx.conf'), conf);
  const child = pinned
    ? spawn('taskset', ['-c', '1', bin, '-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' })
    : spawn(bin, ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
  children.push(child);
  const end = Date.now() + 10_000;
  while (Date.now() < end) {
    try {
      await fetch(`http://127.0.0.1:${port}/`);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  // The master (its command line names the config) and its worker ("nginx: worker process"), which
  // does the proxying.
  const list = (args: string[]): number[] => spawnSync('pgrep', args, { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.length > 0).map(Number);
  const pids = (): number[] => {
    const masters = list(['-f', join(dir, 'nginx.conf')]);
    return [...masters, ...masters.flatMap((m) => list(['-P', String(m)]))];
  };
  return { port, pids };
}

