// How much CPU each process of a real-stack run used, and how busy the machine was: the picker
// bench's replicas, gateway and load harness share the machine's cores, and when those cores are
// full the latencies measure the machine as much as the pool. Read from Linux's /proc (utime and
// stime of each process, the idle time of all CPUs); elsewhere nothing is reported.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** CPU use over a run, in cores (1 = one core busy the whole time). */
export interface CpuUse {
  /** Per role, summed over its processes (e.g. the four replicas). */
  readonly roles: Readonly<Record<string, number>>;
  /** The whole machine, every process included, in cores. */
  readonly machine: number;
  readonly cores: number;
}

const TICK_S = 0.01; // USER_HZ is 100 on every Linux this runs on

/** utime + stime of a process in seconds (undefined when it is gone or there is no /proc). */
function processCpuS(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_S;
  } catch {
    return undefined;
  }
}

/** All CPUs' busy and total time in seconds (undefined without /proc). */
function machineS(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busy: (total - idle) * TICK_S, total: total * TICK_S };
  } catch {
    return undefined;
  }
}

/**
 * Samples the processes it is told about every second (a process's last sample stands for it once
 * it exits, so the load harness is counted although it ends before the run is read).
 */
export class CpuSampler {
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, number>();
  private readonly role = new Map<number, string>();
  private readonly machineAt = machineS();
  private readonly startedAt = performance.now();
  private readonly timer = setInterval(() => this.sample(), 1_000);

  constructor() {
    this.timer.unref();
  }

  add(pid: number | undefined, role: string): void {
    if (pid === undefined) return;
    this.role.set(pid, role);
    const s = processCpuS(pid);
    if (s !== undefined) {
      this.first.set(pid, s);
      this.last.set(pid, s);
    }
  }

  private sample(): void {
    for (const pid of this.role.keys()) {
      const s = processCpuS(pid);
      if (s === undefined) continue;
      if (!this.first.has(pid)) this.first.set(pid, s);
      this.last.set(pid, s);
    }
  }

  /** Stops sampling; undefined when /proc could not be read. */
  stop(): CpuUse | undefined {
    this.sample();
    clearInterval(this.timer);
    const wallS = (performance.now() - this.startedAt) / 1000;
    const m = machineS();
    if (this.machineAt === undefined || m === undefined || wallS <= 0) return undefined;
    const roles: Record<string, number> = {};
    for (const [pid, role] of this.role) {
      const used = (this.last.get(pid) ?? 0) - (this.first.get(pid) ?? 0);
      roles[role] = (roles[role] ?? 0) + used / wallS;
    }
    const cores = availableParallelism();
    // /proc/stat counts every CPU's time: its busy share of the total, in cores.
    const total = m.total - this.machineAt.total;
    return { roles, machine: total > 0 ? ((m.busy - this.machineAt.busy) / total) * cores : 0, cores };
  }
}
