// `tollgate bench chaos` (`npm run bench:chaos`): a soak under upstream faults. The simulator injects
// resets mid-stream, stalls, 5xx, slow first bytes, malformed and truncated chunks and hangs (per
// request, `x-sim-fault`) behind a gateway that authenticates every client; closed-loop clients
// classify how each response ended. The gateway's RSS and open file descriptors are sampled
// throughout and their slopes fitted over the second half; at the end the ledger must hold one record
// per request and the descriptors must return to where they started. Then hostile clients (slow and
// vanishing readers, large and over-limit bodies; bench/chaos-abuse.ts) with RSS and the stall a
// concurrent request feels. A benchmark, not a unit test: ten minutes by default, and it prints
// numbers (exit 1 when a check fails). The clients and how their endings are classified are in
// bench/chaos-client.ts; the RSS, descriptor and ledger measurements in bench/chaos-probe.ts.
import { type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatHelp, parseCommandArgs, parsePositiveInt, UsageError } from '../cli/args.js';
import { abusePhase, BigUpstream } from './chaos-abuse.js';
import { CLIENT_KEY, FAULTS, oneRequest, type Ending } from './chaos-client.js';
import { countLedger, sample, slope, type Sample } from './chaos-probe.js';
import { localBackendYaml } from './manifests.js';
import { BIN, startChild } from './procs.js';

const spec = {
  name: 'bench chaos',
  summary: 'soak under simulator faults: every client gets a clear end, ledger complete, RSS and handles flat',
  usage: `
Usage: tollgate bench chaos [--duration SEC] [--concurrency N] [--sample SEC] [--out FILE]
                            [--slow-readers N] [--stream-mb MB] [--large-body-words N] [--write-timeout SEC]

  --duration SEC     soak length (default 600)
  --concurrency N    closed-loop clients (default 32)
  --sample SEC       RSS / descriptor sampling period (default 5)
  --slow-readers N   clients that open a large stream and never read (default 200; half as many vanish)
  --stream-mb MB     size of each of their streams (default 16)
  --large-body-words N  distinct words in the large request body (default 5000000, about 35 MB)
  --write-timeout SEC   the gateway's write timeout for this run (default 5)
  --out FILE         JSON results (default .bench-out/chaos.json)`,
  options: {
    duration: { type: 'string' },
    concurrency: { type: 'string' },
    sample: { type: 'string' },
    'slow-readers': { type: 'string' },
    'stream-mb': { type: 'string' },
    'large-body-words': { type: 'string' },
    'write-timeout': { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
} as const;

const IDLE_SETTLE_MS = 8_000;
const SETTLE_LIMIT_MS = 60_000;

function config(simPort: number, bigPort: number): string {
  return `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: chaos, namespace: default}
spec:
  rules:
    - matches: [{headers: [{type: Exact, name: x-workload-app, value: chaos}, {type: Exact, name: x-ai-eg-model, value: chaos-big}]}]
      backendRefs: [{name: big}]
    - matches: [{headers: [{type: Exact, name: x-workload-app, value: chaos}]}]
      backendRefs: [{name: sim}]
---
${localBackendYaml('big', bigPort)}
---
${localBackendYaml('sim', simPort)}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: chaos, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: chaos}]
  timeout: {http: {requestTimeout: 8s, streamIdleTimeout: 1500ms}}
---
apiVersion: v1
kind: Secret
metadata: {name: chaos-clients, namespace: default}
stringData: {chaos: ${CLIENT_KEY}}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: chaos, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  apiKeyAuth:
    credentialRefs: [{name: chaos-clients}]
    extractFrom: [{headers: [authorization]}]
`;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(spec, argv);
  if (values.help === true) {
    process.stdout.write(formatHelp(spec));
    return 0;
  }
  const durationMs = parsePositiveInt(values.duration ?? '600', '--duration', { max: 86_400 }) * 1000;
  const concurrency = parsePositiveInt(values.concurrency ?? '32', '--concurrency', { max: 4096 });
  const sampleMs = parsePositiveInt(values.sample ?? '5', '--sample', { max: 600 }) * 1000;
  if (sampleMs * 4 > durationMs) throw new UsageError('--duration must be at least four sampling periods', 'raise --duration or lower --sample');
  const slowReaders = parsePositiveInt(values['slow-readers'] ?? '200', '--slow-readers', { max: 5_000 });
  const streamMb = parsePositiveInt(values['stream-mb'] ?? '16', '--stream-mb', { max: 1_024 });
  const largeBodyWords = parsePositiveInt(values['large-body-words'] ?? '5000000', '--large-body-words', { max: 6_000_000 });
  const writeTimeoutMs = parsePositiveInt(values['write-timeout'] ?? '5', '--write-timeout', { max: 600 }) * 1000;
  const outFile = values.out ?? '.bench-out/chaos.json';
  const work = await mkdtemp(join(tmpdir(), 'tollgate-bench-chaos-'));
  const children: ChildProcess[] = [];
  const big = new BigUpstream(streamMb * 1048576);
  try {
    await big.start();
    const sim = await startChild(false, process.execPath, [BIN, 'sim', '--listen', '127.0.0.1:0', '--seed', '7'], /at http:\/\/127\.0\.0\.1:(\d+)/, children);
    const simPort = Number(sim.match[1]);
    await mkdir(join(work, 'config'));
    await writeFile(join(work, 'config', 'chaos.yaml'), config(simPort, big.port));
    const ledger = join(work, 'ledger');
    const gw = await startChild(
      false,
      process.execPath,
      [BIN, 'serve', '--config', join(work, 'config'), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--no-watch', '--ledger', ledger],
      /"listen":"127\.0\.0\.1:(\d+)","admin":"127\.0\.0\.1:(\d+)"/,
      children,
      { ...process.env, TOLLGATE_LISTENER_WRITE_TIMEOUT_MS: String(writeTimeoutMs) },
    );
    const port = Number(gw.match[1]);
    const adminPort = Number(gw.match[2]);
    const pid = gw.child.pid ?? 0;
    let agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    const endings: Record<Ending, number> = { complete: 0, error_response: 0, stream_error_event: 0, cut: 0, client_timeout: 0, unclear: 0 };
    const byFault = new Map<string, Record<Ending, number>>();
    let sent = 0;
    let rng = 0x9e3779b9;
    const pick = (): string => {
      rng = (Math.imul(rng ^ (rng >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
      const total = FAULTS.reduce((s, f) => s + f[1], 0);
      let x = rng % total;
      for (const [f, w] of FAULTS) if ((x -= w) < 0) return f;
      return '';
    };

    const examples: Array<{ fault: string; stream: boolean; ending: Ending; text: string }> = [];
    let stop = false;
    let counting = false;
    const worker = async (w: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const fault = pick();
        const stream = (i + w) % 2 === 0;
        if (counting) sent++;
        const o = await oneRequest(agent, port, fault, stream);
        if (!counting) continue;
        endings[o.ending]++;
        const f = byFault.get(fault || 'none') ?? { complete: 0, error_response: 0, stream_error_event: 0, cut: 0, client_timeout: 0, unclear: 0 };
        f[o.ending]++;
        byFault.set(fault || 'none', f);
        if ((o.ending === 'unclear' || o.ending === 'client_timeout') && examples.filter((e) => e.fault === fault && e.stream === stream).length < 2) {
          examples.push({ fault, stream, ending: o.ending, text: o.text });
        }
      }
    };
    // Warm-up with the same mix, then idle: the baseline has every pool, file and lazy module the
    // soak will use, so what stays open afterwards is what the soak leaked.
    const warm = Array.from({ length: concurrency }, (_, w) => worker(w));
    await new Promise((r) => setTimeout(r, 5_000));
    stop = true;
    await Promise.all(warm);
    agent.destroy();
    agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
    const baseline = sample(pid, 0);
    const samples: Sample[] = [baseline];
    const t0 = Date.now();
    const sampler = setInterval(() => samples.push(sample(pid, (Date.now() - t0) / 1000)), sampleMs);
    const ledgerBefore = await countLedger(ledger);
    stop = false;
    counting = true;
    const progress = setInterval(() => process.stderr.write(`\r${Math.round((Date.now() - t0) / 1000)} s, ${sent} requests`), 5_000);
    const workers = Array.from({ length: concurrency }, (_, w) => worker(w));
    await new Promise((r) => setTimeout(r, durationMs));
    stop = true;
    await Promise.all(workers);
    clearInterval(progress);
    clearInterval(sampler);
    agent.destroy();
    // Let timeouts and idle upstream connections settle, then look again: everything the soak opened
    // is closed (within a bounded wait: idle pooled connections close on their own timers).
    const idleStart = Date.now();
    let after = sample(pid, (Date.now() - t0) / 1000);
    while (after.fds > baseline.fds + 1 && Date.now() - idleStart < SETTLE_LIMIT_MS) {
      await new Promise((r) => setTimeout(r, 1_000));
      after = sample(pid, (Date.now() - t0) / 1000);
    }
    const settledMs = Date.now() - idleStart;
    // Counted before the abuse phase adds its own requests (each line is written when its request ends).
    const records = (await countLedger(ledger)) - ledgerBefore;
    process.stderr.write('\nabuse phase: slow and vanishing readers, large bodies\n');
    const abuse = await abusePhase({ port, adminPort, pid, clientKey: CLIENT_KEY, slowReaders, streamMb, largeBodyWords, writeTimeoutMs }, big);
    gw.child.kill('SIGTERM');
    await new Promise<void>((r) => gw.child.once('exit', () => r()));

    const half = samples.filter((s) => s.t >= durationMs / 2000);
    const rssSlope = slope(half.map((s) => [s.t / 60, s.rssMb]));
    const fdSlope = slope(half.map((s) => [s.t / 60, s.fds]));
    const rssFirst = half[0]?.rssMb ?? baseline.rssMb;
    const rssLast = half.at(-1)?.rssMb ?? baseline.rssMb;
    const checks = {
      everyClientGotAClearEnd: endings.client_timeout === 0 && endings.unclear === 0,
      ledgerHasEveryRequest: records === sent,
      descriptorsBackToBaseline: after.fds <= baseline.fds + 1,
      rssFlatInSecondHalf: rssLast <= rssFirst * 1.1 + 5,
      ...abuse.checks,
    };
    const lines = [
      `chaos soak: ${(durationMs / 1000).toFixed(0)} s, ${concurrency} clients, ${sent} requests (${(sent / (durationMs / 1000)).toFixed(1)}/s)`,
      '',
      'how responses ended:',
      ...Object.entries(endings).map(([k, v]) => `  ${k.padEnd(20)} ${String(v).padStart(8)}`),
      '',
      'by fault (complete / error response / SSE error event / cut / timeout / unclear):',
      ...[...byFault].sort().map(([f, e]) => `  ${f.padEnd(22)} ${[e.complete, e.error_response, e.stream_error_event, e.cut, e.client_timeout, e.unclear].map((n) => String(n).padStart(6)).join(' ')}`),
      '',
      `gateway RSS: start ${baseline.rssMb.toFixed(1)} MB, second half ${rssFirst.toFixed(1)} → ${rssLast.toFixed(1)} MB, slope ${rssSlope.toFixed(3)} MB/min`,
      `gateway fds: start ${baseline.fds} (${baseline.sockets} sockets), peak ${Math.max(...samples.map((s) => s.fds))}, slope (second half) ${fdSlope.toFixed(3)}/min, after the soak ${after.fds} (${after.sockets} sockets; waited ${(settledMs / 1000).toFixed(0)} s)`,
      `ledger records: ${records} for ${sent} requests`,
      '',
      ...abuse.lines,
      '',
      ...Object.entries(checks).map(([k, ok]) => `${ok ? 'PASS' : 'FAIL'}  ${k}`),
      ...(examples.length === 0 ? [] : ['', 'examples of unclear endings (tail of the body):', ...examples.slice(0, 8).map((e) => `  ${e.fault} stream=${e.stream}: ${JSON.stringify(e.text.slice(-160))}`)]),
    ];
    process.stderr.write('\n');
    process.stdout.write(lines.join('\n') + '\n');
    await mkdir(join(outFile, '..'), { recursive: true });
    await writeFile(outFile, JSON.stringify({ durationMs, concurrency, sent, endings, byFault: Object.fromEntries(byFault), samples, after, records, rssSlopeMbPerMin: rssSlope, fdSlopePerMin: fdSlope, abuse: abuse.json, checks, examples }, null, 2));
    process.stdout.write(`\nJSON written to ${outFile}\n`);
    return Object.values(checks).every(Boolean) ? 0 : 1;
  } finally {
    await big.close();
    for (const c of children) c.kill('SIGTERM');
    await rm(work, { recursive: true, force: true });
  }
}
