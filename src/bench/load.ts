// `tollgate bench load` (`npm run bench:load`): is the load harness ever the bottleneck? Against a
// deliberately fast upstream in a child process:
//   1. open-loop small non-streamed requests at rising arrival rates: achieved RPS and schedule lag,
//      against a baseline measured in the same run: a raw-socket closed-loop generator (the
//      upstream's ceiling on this machine);
//   2. thousands of concurrent streams (one SSE chunk per stream every tick): streams held, chunks
//      per second, schedule lag.
// Goal: ≥ 5,000 requests/s or ≥ 5,000 concurrent streams with p99 schedule lag < 5 ms.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatHelp, parseCommandArgs, parsePositiveInt, UsageError } from '../cli/args.js';
import { DEFAULT_PLAN } from '../load/plan/defaults.js';
import type { Plan } from '../load/plan/types.js';
import { runLoad } from '../load/run.js';
import type { Results } from '../load/results/types.js';
import { runLoad as rawLoad } from './loadgen.js';

const spec = {
  name: 'bench load',
  summary: 'the load harness against a fast upstream: open-loop RPS and concurrent streams, with schedule lag',
  usage: `
Usage: tollgate bench load [--rates R,R,...] [--streams N] [--duration SEC] [--workers N] [--no-pin]

  --rates R,...     open-loop arrival rates of small non-streamed requests (default 1000,2500,5000,7000)
  --streams N       concurrent streams to hold (default 5000; 0 skips the streaming test)
  --tick-ms MS      the upstream's interval between a stream's chunks (default 200)
  --duration SEC    seconds per measurement (default 8)
  --workers N       harness worker threads (default: the harness's own default)
  --no-pin          do not pin the upstream to its own core with taskset

Goal: >= 5000 requests/s, or >= 5000 concurrent streams, with p99 schedule lag < 5 ms. Exit 1 when
neither is met.`,
  options: {
    rates: { type: 'string' },
    streams: { type: 'string' },
    'tick-ms': { type: 'string' },
    duration: { type: 'string' },
    workers: { type: 'string' },
    'no-pin': { type: 'boolean' },
    child: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
} as const;

const BIN = fileURLToPath(new URL('../../bin/tollgate.js', import.meta.url));
/** Words in each streamed answer: ~2 tokens each, so ~80 tokens, ~16 s at one chunk per 200 ms. */
const STREAM_WORDS = 40;

// ---- the fast upstream (child process) -----------------------------------------------------

function upstreamChild(tickMs: number): void {
  const json = Buffer.from(JSON.stringify({ id: 'b', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 9, completion_tokens: 1, total_tokens: 10 } }));
  const chunk = Buffer.from(`data: {"id":"b","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":" tok"},"finish_reason":null}]}\n\n`);
  const role = Buffer.from(`data: {"id":"b","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n`);
  const streams = new Set<{ res: http.ServerResponse; left: number; n: number }>();
  // One ticker for every stream, as an inference engine emits one token per step for the batch.
  setInterval(() => {
    for (const s of streams) {
      if (s.res.destroyed) {
        streams.delete(s);
        continue;
      }
      if (s.left > 0) {
        s.res.write(chunk);
        s.left--;
        continue;
      }
      streams.delete(s);
      s.res.end(`data: {"id":"b","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":${s.n},"total_tokens":${9 + s.n}}}\n\ndata: [DONE]\n\n`);
    }
  }, tickMs);
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = Buffer.concat(parts).toString('latin1');
      if (!body.includes('"stream":true')) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': json.length });
        res.end(json);
        return;
      }
      const n = Number(/"max_tokens":(\d+)/.exec(body)?.[1] ?? '20');
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(role);
      res.write(chunk);
      streams.add({ res, left: n - 1, n });
    });
  });
  server.keepAliveTimeout = 120_000;
  server.maxConnections = 100_000;
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`));
}

function startUpstream(tickMs: number, pin: boolean): Promise<{ child: ChildProcess; port: number }> {
  const args = [BIN, 'bench', 'load', '--child', 'upstream', '--tick-ms', String(tickMs)];
  const child = pin ? spawn('taskset', ['-c', '1', process.execPath, ...args], { stdio: ['ignore', 'pipe', 'inherit'] }) : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (c: Buffer) => {
      buf += c.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve({ child, port: (JSON.parse(buf.slice(0, nl)) as { port: number }).port });
    });
    child.on('exit', (code) => reject(new Error(`the upstream exited early (code ${code ?? 'null'})`)));
  });
}

// ---- corpora ---------------------------------------------------------------------------------

function makeCorpus(dir: string, sessions: number, stream: boolean, outputWords: number): void {
  const lines: string[] = [];
  const answer = Array.from({ length: outputWords }, (_, i) => `w${i}`).join(' ');
  for (let i = 0; i < sessions; i++) lines.push(JSON.stringify({ messages: [{ role: 'user', content: `ping ${i}` }, { role: 'assistant', content: answer }] }));
  const input = join(dir, `in-${stream ? 's' : 'n'}.jsonl`);
  writeFileSync(input, `${lines.join('\n')}\n`);
  const out = join(dir, stream ? 'stream' : 'small');
  const r = spawnSync(process.execPath, [BIN, 'unroll', '--format', 'openai', '--in', input, '--out', out, '--profile', 'X', '--app', 'bench', '--quiet', ...(stream ? [] : ['--no-stream'])], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`could not build the bench corpus: ${r.stderr}`);
}

function plan(over: Partial<Plan>): Plan {
  return {
    ...DEFAULT_PLAN,
    name: 'bench',
    gates: { ...DEFAULT_PLAN.gates, list: [] },
    harness: { ...DEFAULT_PLAN.harness, max_lag_ms: 5, bin_s: 1 },
    request: { ...DEFAULT_PLAN.request, timeout_s: 60, idle_timeout_s: 30 },
    slo: { ttft_s: undefined, tpot_s: undefined, e2e_s: undefined, error_rate: DEFAULT_PLAN.slo.error_rate },
    ...over,
  };
}

interface Row {
  readonly offered: string;
  readonly achieved: number;
  readonly errors: number;
  readonly lagP50: number | null;
  readonly lagP99: number | null;
  readonly lagMax: number | null;
  readonly cpuPct: number;
  readonly extra: string;
}

async function measure(corpus: string, target: string, p: Plan, workers: number | undefined): Promise<{ r: Results; cpuPct: number; seconds: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await runLoad({ corpus, target, plan: p, noProbe: true, ...(workers === undefined ? {} : { workers }) });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { r, cpuPct: ((cpu.user + cpu.system) / 1e6 / seconds) * 100, seconds };
}

function msOf(seconds: number | null | undefined): number | null {
  return seconds === null || seconds === undefined ? null : seconds * 1000;
}

function ms(x: number | null): string {
  return x === null ? '–' : x.toFixed(2);
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(spec, argv);
  if (values.help === true) {
    process.stdout.write(formatHelp(spec));
    return 0;
  }
  const tickMs = values['tick-ms'] === undefined ? 200 : parsePositiveInt(values['tick-ms'], '--tick-ms', { max: 10_000 });
  if (values.child === 'upstream') {
    upstreamChild(tickMs);
    await new Promise(() => undefined);
    return 0;
  }
  const rates = (values.rates ?? '1000,2500,5000,7000').split(',').map((x) => {
    const n = Number(x);
    if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--rates: "${x}" is not a positive number`);
    return n;
  });
  const streams = values.streams === undefined ? 5000 : parsePositiveInt(values.streams, '--streams', { min: 0 });
  const duration = values.duration === undefined ? 8 : parsePositiveInt(values.duration, '--duration', { max: 3600 });
  const workers = values.workers === undefined ? undefined : parsePositiveInt(values.workers, '--workers', { min: 0, max: 64 });
  const pin = values['no-pin'] !== true && availableParallelism() >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;

  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-load-'));
  const { child, port } = await startUpstream(tickMs, pin);
  const target = `http://127.0.0.1:${port}`;
  const out = (s: string): void => {
    process.stdout.write(s);
  };
  try {
    out(`bench load: ${availableParallelism()} cores, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}; upstream ${pin ? 'pinned to core 1' : 'unpinned'}\n`);
    makeCorpus(dir, 4000, false, 2);
    if (streams > 0) makeCorpus(dir, Math.max(4000, streams * 2), true, STREAM_WORDS);

    // Baseline: the upstream's ceiling with a minimal raw-socket closed-loop client.
    const body = '{"model":"m","messages":[{"role":"user","content":"ping"}],"max_tokens":2}';
    const raw = await rawLoad({ port, request: Buffer.from(`POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nx-workload-app: bench\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`), concurrency: 64, warmupMs: 1000, durationMs: duration * 1000 });
    const ceiling = raw.requests / raw.seconds;
    out(`\nbaseline: raw-socket closed-loop client, 64 connections: ${ceiling.toFixed(0)} requests/s (the upstream's ceiling here), p99 ${(raw.latency.p99 / 1000).toFixed(2)} ms\n`);

    // 1. Open-loop small non-streamed requests.
    const rows: Row[] = [];
    for (const rate of rates) {
      // A short warm-up step (connections, JIT), then the measured step at the same rate.
      const p = plan({ mode: 'rate', phases: [{ kind: 'steady', name: 'warmup', level: rate, duration_s: 2 }, { kind: 'steady', name: 'measure', level: rate, duration_s: duration }], profiles: { X: { arrival: { kind: 'exponential' }, gap_s: undefined } } });
      const { r, cpuPct } = await measure(join(dir, 'small'), target, p, workers);
      const st = r.steps[1];
      rows.push({ offered: `${rate}/s`, achieved: st?.summary.rps ?? 0, errors: st?.summary.errors ?? 0, lagP50: msOf(st?.lag.p50), lagP99: msOf(st?.lag.p99), lagMax: msOf(st?.lag.max), cpuPct, extra: `e2e p50 ${ms((st?.summary.e2e.p50 ?? 0) * 1000)} ms, ${((st?.summary.rps ?? 0) / ceiling * 100).toFixed(0)}% of ceiling` });
    }
    out('\n1. open-loop arrivals (Poisson) of small non-streamed requests\n');
    out('offered      achieved rps   errors   lag p50 ms   lag p99 ms   lag max ms   harness CPU   notes\n');
    for (const x of rows) out(`${x.offered.padEnd(12)} ${x.achieved.toFixed(0).padStart(12)}   ${String(x.errors).padStart(6)}   ${ms(x.lagP50).padStart(10)}   ${ms(x.lagP99).padStart(10)}   ${ms(x.lagMax).padStart(10)}   ${`${x.cpuPct.toFixed(0)}%`.padStart(11)}   ${x.extra}\n`);
    const rpsOk = rows.some((x) => x.achieved >= 5000 && x.lagP99 !== null && x.lagP99 < 5);

    // 2. Concurrent streams.
    let streamsOk = false;
    if (streams > 0) {
      // Users arrive over the first seconds (a ramp, not a thundering herd) and hold long streams
      // with a 2 s pause between them: ~90% of users are mid-stream at any time, and hundreds of
      // sessions start every second (the scheduled events whose lag is measured). The first phase
      // warms up past the first round of streams; the second is measured.
      const users = Math.ceil(streams / 0.88);
      const p = plan({ mode: 'users', defaultGap_s: 2, phases: [{ kind: 'steady', name: 'warmup', level: users, duration_s: 40 }, { kind: 'steady', name: 'measure', level: users, duration_s: duration }], profiles: { X: { arrival: { kind: 'exponential' }, gap_s: undefined } } });
      const { r, cpuPct } = await measure(join(dir, 'stream'), target, p, workers);
      const st = r.steps[1];
      const bins = r.raw.bins.filter((b) => st !== undefined && b.t >= st.start && b.t + r.raw.bin_s <= st.end);
      const held = bins.length === 0 ? 0 : bins.reduce((a, b) => a + b.inflight, 0) / bins.length;
      const minHeld = bins.length === 0 ? 0 : Math.min(...bins.map((b) => b.inflight));
      const tokens = bins.reduce((a, b) => a + b.output_tokens, 0) / Math.max(1, bins.length * r.raw.bin_s);
      const perStream = st?.summary.mean_output_tokens ?? 0;
      const lagP99 = msOf(st?.lag.p99);
      out(`\n2. concurrent streams: ${users} users, ${perStream.toFixed(0)}-token streams (a chunk every ${tickMs} ms: ${((perStream * tickMs) / 1000).toFixed(0)} s each), 2 s between sessions; 40 s warm-up, ${duration} s measured\n`);
      out(`   streams held: mean ${held.toFixed(0)}, min ${minHeld.toFixed(0)}; ${st?.summary.requests ?? 0} streams started and completed, ${st?.summary.errors ?? 0} errors; ~${tokens.toFixed(0)} tokens/s in completed streams\n`);
      out(`   schedule lag p50 ${ms(msOf(st?.lag.p50))} ms, p99 ${ms(lagP99)} ms, max ${ms(msOf(st?.lag.max))} ms; TTFT p99 ${ms((st?.summary.ttft.p99 ?? 0) * 1000)} ms; ITL p99 ${ms((st?.summary.itl.p99 ?? 0) * 1000)} ms (tick ${tickMs} ms); harness CPU ${cpuPct.toFixed(0)}%\n`);
      streamsOk = held >= streams && lagP99 !== null && lagP99 < 5;
    }
    out(`\ngoal (>= 5000 rps or >= 5000 concurrent streams, p99 lag < 5 ms): ${rpsOk || streamsOk ? 'met' : 'NOT met'} (rps: ${rpsOk ? 'met' : 'not met'}, streams: ${streams === 0 ? 'skipped' : streamsOk ? 'met' : 'not met'})\n`);
    return rpsOk || streamsOk ? 0 : 1;
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
