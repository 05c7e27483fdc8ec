// The processes the routes benchmark runs (the gateway, the echo upstream) and what it reads about
// them: the gateway's reload log lines (when each generation went live and how long building it
// took) and /proc (RSS, CPU), sampled on a timer.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface Child {
  readonly child: ChildProcess;
  readonly match: RegExpMatchArray;
  /** Everything the process wrote so far (stdout + stderr). */
  output(): string;
}

/** A child process that did not come up: a user-facing failure (its output says why). */
export class StartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartError';
  }
}

export function hasTaskset(): boolean {
  return spawnSync('taskset', ['-c', '1', 'true'], { stdio: 'ignore' }).status === 0;
}

export function startChild(cmd: string, args: string[], ready: RegExp, opts: { pinCore?: number; onLine?: (line: string) => void } = {}): Promise<Child> {
  const child =
    opts.pinCore === undefined
      ? spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('taskset', ['-c', String(opts.pinCore), cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let partial = '';
  const onData = (d: Buffer): void => {
    const text = d.toString();
    // Keep the head for error messages; the tail is consumed line by line.
    if (out.length < 64_000) out += text;
    if (opts.onLine === undefined) return;
    partial += text;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) opts.onLine(l);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new StartError(`${args[0] ?? cmd} did not start within 60 s; its output:\n${out}`)), 60_000);
    const check = (): void => {
      const m = out.match(ready);
      if (m === null) return;
      clearTimeout(t);
      child.stdout?.off('data', check);
      child.stderr?.off('data', check);
      resolve({ child, match: m, output: () => out });
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(t);
      reject(new StartError(`${args[0] ?? cmd} exited with ${String(code)}; its output:\n${out}`));
    });
  });
}

/** One "config loaded/reloaded" log line of the gateway. */
export interface ReloadEvent {
  /** Epoch ms (the log line's time). */
  readonly at: number;
  readonly generation: number;
  readonly routes: number;
  /** Building and swapping in the generation, as the gateway measured it. */
  readonly buildMs: number;
}

export function parseReloadLine(line: string): ReloadEvent | undefined {
  if (!line.includes('"config ')) return undefined;
  let rec: { msg?: unknown; time?: unknown; generation?: unknown; routes?: unknown; ms?: unknown };
  try {
    rec = JSON.parse(line) as typeof rec;
  } catch {
    return undefined;
  }
  if (rec.msg !== 'config reloaded' && rec.msg !== 'config loaded') return undefined;
  if (typeof rec.time !== 'string' || typeof rec.generation !== 'number') return undefined;
  return { at: Date.parse(rec.time), generation: rec.generation, routes: Number(rec.routes ?? 0), buildMs: Number(rec.ms ?? 0) };
}

export interface ProcSample {
  /** ms since the sampler started. */
  readonly t: number;
  readonly rssBytes: number;
  /** CPU use over the last interval, in % of one core. */
  readonly cpuPct: number;
  /** Routes configured (as the benchmark knows it) at that moment. */
  readonly routes: number;
  readonly phase: string;
}

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number(r.stdout?.trim());
    ticksPerSecond = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return ticksPerSecond;
}

/** CPU seconds (user + system) a process used so far; undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicks(); // utime, stime (stat fields 14, 15)
  } catch {
    return undefined;
  }
}

export function rssBytes(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** Samples a process's RSS and CPU every `everyMs`, labelled with what the benchmark is doing. */
export class Sampler {
  readonly samples: ProcSample[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly t0 = Date.now();
  private lastCpu: number;
  private lastAt = Date.now();
  routes = 0;
  phase = 'start';

  constructor(
    private readonly pid: number,
    everyMs = 250,
  ) {
    this.lastCpu = cpuSeconds(pid) ?? 0;
    this.timer = setInterval(() => this.take(), everyMs);
    this.timer.unref();
  }

  take(): ProcSample | undefined {
    const now = Date.now();
    const cpu = cpuSeconds(this.pid);
    const rss = rssBytes(this.pid);
    if (cpu === undefined || rss === undefined) return undefined;
    const dt = (now - this.lastAt) / 1000;
    const s: ProcSample = { t: now - this.t0, rssBytes: rss, cpuPct: dt > 0 ? ((cpu - this.lastCpu) / dt) * 100 : 0, routes: this.routes, phase: this.phase };
    this.lastCpu = cpu;
    this.lastAt = now;
    this.samples.push(s);
    return s;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
