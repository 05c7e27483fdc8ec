// How many workers `serve` runs: `--concurrency N|auto`. `auto` follows the cgroup CPU quota rounded
// up, else the CPUs the process may run on, and never more than those CPUs. More workers than the
// quota is the CFS throttling trap: every worker gets a slice of each 100 ms period, the quota runs
// out early in the period, and all of them stall until the next one, which shows up as latency added
// to every request and to every streamed chunk rather than as lower throughput.
import { availableParallelism } from 'node:os';
import type { CgroupCpu } from './cgroup.js';

export type ConcurrencyFlag = 'auto' | number;

export const MAX_WORKERS = 256;

/** `auto` or a worker count; undefined when the text is neither. */
export function parseConcurrency(value: string): ConcurrencyFlag | undefined {
  if (value === 'auto') return 'auto';
  const n = Number(value);
  return /^\d+$/.test(value) && n >= 1 && n <= MAX_WORKERS ? n : undefined;
}

export interface ConcurrencyDecision {
  readonly workers: number;
  /** Why this many, for the start-up log line. */
  readonly source: string;
  readonly quotaCores: number | undefined;
  readonly cpus: number;
  /** Set when an explicit N exceeds the CPU quota. */
  readonly warning: string | undefined;
}

export function decideConcurrency(flag: ConcurrencyFlag, cgroup: CgroupCpu | undefined, cpus: number = availableParallelism()): ConcurrencyDecision {
  const quota = cgroup?.quota;
  const quotaCores = quota?.cores;
  if (flag === 'auto') {
    if (quota !== undefined) {
      const rounded = Math.max(1, Math.ceil(quota.cores - 1e-9));
      const workers = Math.min(rounded, cpus);
      const capped = workers < rounded ? `, capped at ${cpus} available CPUs` : '';
      return { workers, source: `auto: CPU quota ${fmt(quota.cores)} cores (${quota.source})${capped}`, quotaCores, cpus, warning: undefined };
    }
    const where = cgroup === undefined ? 'no cpu cgroup found' : `no CPU quota on cgroup ${cgroup.version} ${cgroup.dir}`;
    return { workers: cpus, source: `auto: ${where}; os.availableParallelism() = ${cpus}`, quotaCores, cpus, warning: undefined };
  }
  const warning =
    quotaCores !== undefined && flag > Math.ceil(quotaCores - 1e-9)
      ? `--concurrency ${flag} exceeds the CPU quota of ${fmt(quotaCores)} cores (${quota?.source ?? ''}): the Linux CFS scheduler will throttle ` +
        'the workers once the quota is used up in each period, adding latency to every request and streamed chunk; use --concurrency auto or at most the quota'
      : undefined;
  return { workers: flag, source: `--concurrency ${flag}`, quotaCores, cpus, warning };
}

function fmt(n: number): string {
  return String(Math.round(n * 1000) / 1000);
}
