// `tollgate bench sim` (`npm run bench:sim`): can the simulator hold thousands of concurrent streams
// on one core without becoming the bottleneck? The simulator runs in a child process (pinned to one
// core when taskset exists); the client, in this process, opens N streaming requests and counts the
// tokens that arrive. Reported: step-loop jitter (lateness of each step's timer), server CPU, and
// CPU per streamed token against a baseline measured in the same run: the naive design, one
// setInterval per stream writing a chunk per tick.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Agent, createServer, request, type ClientRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { formatHelp, parseCommandArgs, parsePositiveInt, UsageError } from '../cli/args.js';
import { nowMs } from '../core/clock.js';
import { JitterStats } from '../sim/engine/loop.js';
import { startSimServer } from '../sim/index.js';

const spec = {
  name: 'bench sim',
  summary: 'concurrent streams on one core: step-loop jitter and CPU per token, against a per-stream-timer baseline',
  usage: `
Usage: tollgate bench sim [--streams N] [--step-ms MS] [--duration SEC] [--no-baseline]

  --streams N      concurrent streaming requests (default 2000)
  --step-ms MS     engine step time, i.e. the inter-token latency (default 30)
  --duration SEC   measured window once every stream is open (default 10)
  --no-baseline    skip the naive per-stream-timer server
  --no-pin         do not pin server and client to separate cores with taskset
  --out FILE       JSON results (default .bench-out/sim.json)
  --priority       run the server at nice -10 (needs root): on a shared machine, measures the
                   simulator rather than its neighbours' share of the core

Goal: >= 2000 concurrent streams with p99 step-loop jitter under 1 ms. Exit 1 when missed.`,
  options: {
    streams: { type: 'string' },
    'step-ms': { type: 'string' },
    duration: { type: 'string' },
    'no-baseline': { type: 'boolean' },
    'no-pin': { type: 'boolean' },
    out: { type: 'string' },
    priority: { type: 'boolean' },
    child: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
} as const;

const BIN = fileURLToPath(new URL('../../bin/tollgate.js', import.meta.url));

interface ServerStats {
  cpuMs: number;
  jitter: { steps: number; p50: number; p90: number; p99: number; max: number; mean: number; overruns: number };
}

// ---- child: the simulator, or the naive baseline ---------------------------------------------

async function childSim(stepMs: number): Promise<void> {
  const sim = await startSimServer({
    profile: {
      extends: 'h100x4-gpt-oss-120b',
      scheduler: { maxNumSeqs: 100_000, maxNumBatchedTokens: 1_000_000, longPrefillTokenThreshold: 0, maxWaiting: 100_000 },
      cost: { fixedMs: stepMs, prefillTokenMs: 0, decodeSeqMs: 0, contextTokenMs: 0 },
      latency: { frontendMs: 0 },
    } as never,
  });
  process.stdout.write(`${JSON.stringify({ port: sim.port })}\n`);
}

function childNaive(stepMs: number): void {
  const jitter = new JitterStats();
  const chunk = `data: ${JSON.stringify({ id: 'chatcmpl-naive', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { content: ' word' }, logprobs: null, finish_reason: null }] })}\n\n`;
  const server = createServer((req, res) => {
    if (req.url === '/_sim/stats') {
      const cpu = process.cpuUsage();
      res.end(JSON.stringify({ process: { cpuUserMs: cpu.user / 1000, cpuSystemMs: cpu.system / 1000 }, stepJitterMs: jitter.summary() }));
      return;
    }
    if (req.url === '/_sim/stats/reset') {
      jitter.reset();
      res.end('{}');
      return;
    }
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let due = nowMs() + stepMs;
    const t = setInterval(() => {
      jitter.record(Math.max(0, nowMs() - due));
      due += stepMs;
      res.write(chunk);
    }, stepMs);
    res.on('close', () => clearInterval(t));
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`));
}

// ---- parent --------------------------------------------------------------------------------

function hasTaskset(): boolean {
  return spawnSync('taskset', ['-c', '0', 'true']).status === 0;
}

function startChild(kind: 'sim' | 'naive', stepMs: number, pin: boolean, priority: boolean): Promise<{ child: ChildProcess; port: number }> {
  const cmd = [...(priority ? ['nice', '-n', '-10'] : []), ...(pin ? ['taskset', '-c', '1'] : []), process.execPath, BIN, 'bench', 'sim', '--child', kind, '--step-ms', String(stepMs)];
  const child = spawn(cmd[0] as string, cmd.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (c: Buffer) => {
      buf += c.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve({ child, port: (JSON.parse(buf.slice(0, nl)) as { port: number }).port });
    });
    child.on('exit', (code) => reject(new Error(`the ${kind} server exited early (code ${code ?? 'null'})`)));
  });
}

async function getJson<T>(port: number, path: string, method = 'GET'): Promise<T> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  return (await r.json()) as T;
}

async function stats(port: number): Promise<ServerStats> {
  const s = await getJson<{ process: { cpuUserMs: number; cpuSystemMs: number }; stepJitterMs: ServerStats['jitter'] }>(port, '/_sim/stats');
  return { cpuMs: s.process.cpuUserMs + s.process.cpuSystemMs, jitter: s.stepJitterMs };
}

interface Measured {
  streams: number;
  tokensPerSec: number;
  cpuPercent: number;
  cpuUsPerToken: number;
  jitter: ServerStats['jitter'];
  failed: number;
}

async function drive(port: number, streams: number, windowMs: number): Promise<Measured> {
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  const body = JSON.stringify({ model: 'gpt-oss-120b', messages: [{ role: 'user', content: 'stream for a long time' }], stream: true });
  let events = 0;
  let open = 0;
  let failed = 0;
  const reqs: ClientRequest[] = [];
  const one = (): void => {
    const req = request(
      { host: '127.0.0.1', port, path: '/v1/chat/completions', method: 'POST', agent, headers: { 'content-type': 'application/json', 'x-sim-output-tokens': '1000000' } },
      (res) => {
        open++;
        let last = 0;
        res.on('data', (c: Buffer) => {
          // Count event boundaries ("\n\n") without parsing, carrying a trailing newline across chunks.
          let i = c.indexOf(10);
          while (i !== -1) {
            if ((i > 0 ? c[i - 1] : last) === 10) events++;
            i = c.indexOf(10, i + 1);
          }
          last = c[c.length - 1] ?? 0;
        });
        res.on('error', () => undefined);
      },
    );
    req.on('error', () => failed++);
    req.end(body);
    reqs.push(req);
  };
  // Open in waves so the accept queue keeps up.
  for (let i = 0; i < streams; i += 100) {
    for (let j = i; j < Math.min(streams, i + 100); j++) one();
    await new Promise((r) => setTimeout(r, 40));
  }
  for (let i = 0; i < 200 && open + failed < streams; i++) await new Promise((r) => setTimeout(r, 25));
  await new Promise((r) => setTimeout(r, 1500)); // settle
  await getJson(port, '/_sim/stats/reset', 'POST').catch(() => undefined);
  const s0 = await stats(port);
  const e0 = events;
  const t0 = nowMs();
  await new Promise((r) => setTimeout(r, windowMs));
  const s1 = await stats(port);
  const dt = nowMs() - t0;
  const tokens = events - e0;
  for (const r of reqs) r.destroy();
  agent.destroy();
  const cpuMs = s1.cpuMs - s0.cpuMs;
  return { streams: open, tokensPerSec: (tokens / dt) * 1000, cpuPercent: (cpuMs / dt) * 100, cpuUsPerToken: tokens === 0 ? 0 : (cpuMs * 1000) / tokens, jitter: s1.jitter, failed };
}

function row(name: string, m: Measured): string {
  const j = m.jitter;
  return `  ${name.padEnd(26)} ${String(m.streams).padStart(7)} ${Math.round(m.tokensPerSec).toLocaleString('en-US').padStart(10)}   ${j.p50.toFixed(2)} / ${j.p99.toFixed(2)} / ${j.max.toFixed(2)} ms${''.padEnd(4)}${m.cpuPercent.toFixed(0).padStart(5)}%   ${m.cpuUsPerToken.toFixed(2).padStart(8)}`;
}

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parseCommandArgs(spec, argv);
  if (v.help === true) {
    process.stdout.write(formatHelp(spec));
    return 0;
  }
  const stepMs = parsePositiveInt(v['step-ms'] ?? '30', '--step-ms', { max: 10_000 });
  if (v.child !== undefined) {
    if (v.child === 'sim') await childSim(stepMs);
    else if (v.child === 'naive') childNaive(stepMs);
    else throw new UsageError(`--child: unknown "${v.child}"`);
    // Exit through process.exit on SIGTERM so --cpu-prof and friends get to write their files.
    process.on('SIGTERM', () => process.exit(0));
    await new Promise<never>(() => undefined); // serve until killed
  }
  const streams = parsePositiveInt(v.streams ?? '2000', '--streams', { max: 50_000 });
  const windowMs = parsePositiveInt(v.duration ?? '10', '--duration', { max: 3600 }) * 1000;
  const pin = v['no-pin'] !== true && hasTaskset();
  process.stdout.write(
    `tollgate bench sim: ${streams} concurrent streams, one token per stream every ${stepMs} ms, ${windowMs / 1000} s window; ` +
      `server ${pin ? 'pinned to core 1, client on core 0' : 'unpinned'}${v.priority === true ? ' at nice -10' : ''}; load average ${loadavg()[0]?.toFixed(2) ?? '?'}\n\n` +
      `  ${'server'.padEnd(26)} ${'streams'.padStart(7)} ${'tokens/s'.padStart(10)}   timer lateness p50 / p99 / max   CPU    µs/token\n`,
  );
  if (pin) spawnSync('taskset', ['-a', '-pc', '0', String(process.pid)], { stdio: 'ignore' });
  const results: Record<string, Measured> = {};
  const kinds: Array<'sim' | 'naive'> = v['no-baseline'] === true ? ['sim'] : ['sim', 'naive'];
  for (const kind of kinds) {
    const { child, port } = await startChild(kind, stepMs, pin, v.priority === true);
    try {
      const m = await drive(port, streams, windowMs);
      results[kind] = m;
      process.stdout.write(`${row(kind === 'sim' ? 'tollgate sim (step loop)' : 'naive (timer per stream)', m)}\n`);
    } finally {
      child.kill('SIGTERM');
    }
  }
  const sim = results['sim'];
  const naive = results['naive'];
  if (sim === undefined) return 1;
  if (naive !== undefined && naive.cpuUsPerToken > 0) {
    process.stdout.write(`\n  CPU per token, sim / naive: ${(sim.cpuUsPerToken / naive.cpuUsPerToken).toFixed(2)}x; p99 lateness, sim / naive: ${(sim.jitter.p99 / Math.max(naive.jitter.p99, 1e-9)).toFixed(2)}x\n`);
  }
  const expected = (sim.streams * 1000) / stepMs;
  const ok = sim.streams >= Math.min(streams, 2000) && sim.jitter.p99 < 1 && sim.failed === 0;
  const outFile = v.out ?? '.bench-out/sim.json';
  await mkdir(dirname(outFile), { recursive: true });
  await writeFile(outFile, `${JSON.stringify({ streams, stepMs, windowMs, pinned: pin, priority: v.priority === true, loadavg: loadavg(), results, pass: ok }, null, 2)}\n`);
  process.stdout.write(
    `\n  delivered ${((sim.tokensPerSec / expected) * 100).toFixed(1)}% of the tokens the schedule calls for; ${sim.jitter.overruns} resyncs\n` +
      `  ${ok ? 'PASS' : 'MISS'}: >= 2000 concurrent streams with p99 step-loop jitter < 1 ms (got ${sim.streams} streams, p99 ${sim.jitter.p99.toFixed(3)} ms)\n`,
  );
  process.stdout.write(`  results in ${outFile}\n`);
  return ok ? 0 : 1;
}
