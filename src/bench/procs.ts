// Process plumbing shared by the benchmarks: starting pinned children, free ports, CPU time from
// /proc. Benchmarks measure other processes, so these read the OS directly.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/tollgate.js', import.meta.url));
export const UPSTREAM_JS = fileURLToPath(new URL('./fast-upstream.js', import.meta.url));
export const NODE_PROXY_JS = fileURLToPath(new URL('./node-proxy.js', import.meta.url));

export function hasTaskset(): boolean {
  return spawnSync('taskset', ['-c', '1', 'true'], { stdio: 'ignore' }).status === 0;
}

export async function startChild(
  pinned: boolean,
  cmd: string,
  args: string[],
  ready: RegExp,
  children: ChildProcess[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
  const child = pinned ? spawn('taskset', ['-c', '1', cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env }) : spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  children.push(child);
  let out = '';
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${cmd} did not start: ${out}`)), 15_000);
    const on = (d: Buffer): void => {
      out += d.toString();
      const m = out.match(ready);
      if (m !== null) {
        clearTimeout(t);
        resolve(m);
      }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.on('exit', (code) => reject(new Error(`${cmd} exited with ${code}: ${out}`)));
  });
  return { child, match };
}

/** Kills a child and resolves once it is gone (at once if it already is). */
export async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGKILL');
  await exited;
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export function cpuTicks(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
    } catch {
      // process gone
    }
  }
  return total;
}

export function clockTicks(): number {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
}

/** Pins this process to core 0 (the load generator's) when taskset exists; children go to core 1. */
export function pinSelf(): boolean {
  const pinned = hasTaskset();
  if (pinned) spawnSync('taskset', ['-a', '-pc', '0', String(process.pid)], { stdio: 'ignore' });
  else process.stderr.write('note: taskset not found; processes are not pinned to cores\n');
  return pinned;
}

/** CPU microseconds per request spent by `pids` between two tick readings. */
export function cpuPerRequest(ticksBefore: number, ticksAfter: number, requests: number): number {
  return ((ticksAfter - ticksBefore) * 1e6) / clockTicks() / Math.max(1, requests);
}
