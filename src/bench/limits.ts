// `tollgate bench limits` (`npm run bench:limits`): what a rate limit adds to a request. Three
// gateways on the same fast upstream, measured in the same run: no limit (the baseline), a local
// limit, and a global limit on a real Redis (redis-server from Debian's package, started here on a
// free port). The Redis round trip itself is measured too, since a global limit's goal is to add less
// than one round trip. Two more gateways admit with a virtual key's dollar budget, in process and on
// the same Redis.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import hdr from 'hdr-histogram-js';
import { CliError, formatHelp, parseCommandArgs, parsePositiveInt } from '../cli/args.js';
import { runLoad } from './loadgen.js';
import { gatewayConfig, requestBytes } from './overhead.js';
import { measureEngine } from './limits-engine.js';
import { BIN, cpuPerRequest, cpuTicks, freePort, pinSelf, startChild, UPSTREAM_JS } from './procs.js';

const spec = {
  name: 'bench limits',
  summary: 'latency and CPU a local and a Redis-backed rate limit add, against no limit, same run',
  usage: `
Usage: tollgate bench limits [--duration SEC] [--concurrency 1,16] [--out FILE]

  --duration SEC       measured seconds per scenario (default 4, after 1 s of warm-up)
  --concurrency LIST   closed-loop connections (default 1,16)
  --out FILE           JSON results (default .bench-out/limits.json)`,
  options: {
    duration: { type: 'string' },
    concurrency: { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
} as const;

const POLICY = (scope: 'Local' | 'Global'): string => `---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: bench-limit, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: bench}]
  rateLimit:
    ${scope === 'Local' ? 'local' : 'global'}:
      rules:
        - clientSelectors: [{headers: [{name: x-workload-app, type: Exact, value: bench}]}]
          limit: {requests: 4000000000, unit: Hour}
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(spec, argv);
  if (values.help === true) {
    process.stdout.write(formatHelp(spec));
    return 0;
  }
  const durationMs = parsePositiveInt(values.duration ?? '4', '--duration', { max: 600 }) * 1000;
  const levels = (values.concurrency ?? '1,16').split(',').map((c) => parsePositiveInt(c.trim(), '--concurrency', { max: 4096 }));
  const outFile = values.out ?? '.bench-out/limits.json';
  const pinned = pinSelf();
  const work = await mkdtemp(join(tmpdir(), 'tollgate-bench-limits-'));
  const children: ChildProcess[] = [];
  try {
    const redisPort = await freePort();
    const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    children.push(redis);
    await new Promise<void>((resolve, reject) => {
      redis.once('error', () => reject(new CliError('redis-server is not installed', 'apt-get install redis-server (npm test installs it)')));
      setTimeout(resolve, 300);
    });
    const upstream = await startChild(pinned, process.execPath, [UPSTREAM_JS, '0'], /ready (\d+)/, children);
    const upPort = Number(upstream.match[1]);
    const gateways: Array<{ name: string; port: number; pid: number; request: Buffer }> = [];
    const redisFlag = ['--redis', `redis://127.0.0.1:${redisPort}/0`];
    for (const [name, extra, policy, keyed] of [
      ['none', [], '', false],
      ['local', [], POLICY('Local'), false],
      ['redis', redisFlag, POLICY('Global'), false],
      // A virtual key with a dollar budget: admission reserves the worst-case cost, settlement charges the real one.
      ['key', [], '', true],
      ['key-redis', redisFlag, '', true],
    ] as const) {
      const dir = join(work, name);
      await mkdir(dir);
      await writeFile(join(dir, 'gw.yaml'), gatewayConfig(upPort) + policy);
      const keyFlags = keyed ? await keyedFlags(work, name) : [];
      const gw = await startChild(
        pinned,
        process.execPath,
        [BIN, 'serve', '--config', join(dir, 'gw.yaml'), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--no-watch', ...extra, ...keyFlags],
        /"listen":"127\.0\.0\.1:(\d+)","admin":"127\.0\.0\.1:(\d+)"/,
        children,
      );
      const port = Number(gw.match[1]);
      const request = keyed ? await keyedRequest(port, Number(gw.match[2])) : requestBytes('json');
      gateways.push({ name, port, pid: gw.child.pid ?? 0, request });
    }
    const rtt = await redisRoundTrip(redisPort);
    const rows: Array<{ gateway: string; concurrency: number; rps: number; p50Ms: number; p99Ms: number; cpuUs: number; errors: number }> = [];
    for (const c of levels) {
      for (const g of gateways) {
        const t0 = cpuTicks([g.pid]);
        const r = await runLoad({ port: g.port, request: g.request, concurrency: c, warmupMs: 1000, durationMs });
        const t1 = cpuTicks([g.pid]);
        rows.push({ gateway: g.name, concurrency: c, rps: r.requests / r.seconds, p50Ms: r.latency.p50 / 1000, p99Ms: r.latency.p99 / 1000, cpuUs: cpuPerRequest(t0, t1, r.requests), errors: r.errors });
        process.stderr.write('.');
      }
    }
    process.stderr.write('\n');
    const lines = [
      `Redis round trip (PING, p50): ${(rtt * 1000).toFixed(1)} µs`,
      '',
      'limit      conc      req/s   p50 ms   p99 ms   CPU µs/req   added p50 µs   added CPU µs',
      '---------  ----  ---------  -------  -------  -----------  -------------  ------------',
    ];
    const comparisons = [];
    for (const row of rows) {
      const base = rows.find((b) => b.gateway === 'none' && b.concurrency === row.concurrency);
      const addedP50 = base === undefined ? 0 : (row.p50Ms - base.p50Ms) * 1000;
      const addedCpu = base === undefined ? 0 : row.cpuUs - base.cpuUs;
      if (row.gateway !== 'none') comparisons.push({ gateway: row.gateway, concurrency: row.concurrency, addedP50Us: addedP50, addedCpuUs: addedCpu, redisRoundTripUs: rtt * 1000 });
      lines.push(
        `${row.gateway.padEnd(9)}  ${String(row.concurrency).padStart(4)}  ${row.rps.toFixed(0).padStart(9)}  ${row.p50Ms.toFixed(3).padStart(7)}  ${row.p99Ms.toFixed(3).padStart(7)}  ${row.cpuUs
          .toFixed(1)
          .padStart(11)}  ${(row.gateway === 'none' ? '' : addedP50.toFixed(1)).padStart(13)}  ${(row.gateway === 'none' ? '' : addedCpu.toFixed(1)).padStart(12)}${row.errors > 0 ? `  errors=${row.errors}` : ''}`,
      );
    }
    process.stdout.write(lines.join('\n') + '\n');
    const engine = await measureEngine(work, { none: gatewayConfig(upPort), local: gatewayConfig(upPort) + POLICY('Local'), global: gatewayConfig(upPort) + POLICY('Global') }, redisPort);
    const localAdded = engine.localUs - engine.noneUs;
    process.stdout.write(
      [
        '',
        'The limit engine alone (this process, no HTTP; the run-to-run noise of the table above is tens of µs):',
        `  local limit: ${localAdded.toFixed(2)} µs of CPU per request (admit + settle; the empty loop ${engine.noneUs.toFixed(2)} µs)   goal < 5 µs: ${localAdded < 5 ? 'met' : 'MISSED'}`,
        `  Redis limit: admission p50 ${engine.redisAdmitP50Us} µs vs PING p50 ${engine.redisPingP50Us} µs on the same Redis, interleaved: one round trip + ${engine.redisAdmitP50Us - engine.redisPingP50Us} µs   goal (< one more round trip): ${engine.redisAdmitP50Us - engine.redisPingP50Us < engine.redisPingP50Us ? 'met' : 'MISSED'}`,
        '',
      ].join('\n'),
    );
    await mkdir(join(outFile, '..'), { recursive: true });
    await writeFile(outFile, JSON.stringify({ pinned, durationMs, redisRoundTripMs: rtt, rows, comparisons, engine }, null, 2));
    process.stdout.write(`\nJSON written to ${outFile}\n`);
    return 0;
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await rm(work, { recursive: true, force: true });
  }
}

const BENCH_TOKEN = 'bench-admin-token-0123456789';

/** serve flags for a gateway with virtual keys: its own state directory, a rates file, the admin token. */
async function keyedFlags(work: string, name: string): Promise<string[]> {
  const rates = join(work, `${name}-rates.yaml`);
  await writeFile(rates, 'unit: 1M\ncurrency: USD\nmodels:\n  bench-model: {input: 0.1, output: 0.4}\n');
  const token = join(work, `${name}-token`);
  await writeFile(token, BENCH_TOKEN);
  return ['--state-dir', join(work, `${name}-state`), '--rates', rates, '--admin-token-file', token];
}

/** Creates a key with a budget that never runs out here, waits until the gateway takes it, and returns the request carrying it. */
async function keyedRequest(port: number, adminPort: number): Promise<Buffer> {
  const r = await fetch(`http://127.0.0.1:${adminPort}/admin/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${BENCH_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench', workload: 'bench', budgets: [{ amount: 1_000_000_000, period: 'month' }] }),
  });
  if (r.status !== 201) throw new CliError(`creating the bench key failed: ${r.status} ${await r.text()}`);
  const key = ((await r.json()) as { key: string }).key;
  const request = Buffer.from(requestBytes('json').toString('latin1').replace('authorization: Bearer client-key', `authorization: Bearer ${key}`), 'latin1');
  const body = JSON.stringify({ model: 'bench-model', stream: false, messages: [{ role: 'user', content: 'Say something short.' }] });
  for (let i = 0; i < 100; i++) {
    const probe = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body });
    await probe.arrayBuffer();
    if (probe.status === 200) return request;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new CliError('the bench gateway never accepted its virtual key');
}

/** p50 of PING round trips on one connection, in ms. */
async function redisRoundTrip(port: number): Promise<number> {
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000, numberOfSignificantValueDigits: 3 });
  const s = net.connect(port, '127.0.0.1');
  await new Promise<void>((r) => s.once('connect', () => r()));
  for (let i = 0; i < 2000; i++) {
    const t0 = performance.now();
    await new Promise<void>((r) => {
      s.once('data', () => r());
      s.write('PING\r\n');
    });
    h.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
  }
  s.destroy();
  const p50 = h.getValueAtPercentile(50) / 1000;
  h.destroy();
  return p50;
}
