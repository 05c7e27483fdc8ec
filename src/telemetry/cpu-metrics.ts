// CPU capacity and throttling of the process's cgroup on the admin listener: how many workers run,
// the quota they run under, and cpu.stat's throttling counters read at each scrape, so CFS
// throttling shows up as it happens instead of as unexplained latency.
import { Counter, Gauge, type Registry } from 'prom-client';
import { cpuStatPath, parseCpuStat, readTextFile, type CgroupCpu } from '../cluster/cgroup.js';

export function registerCpuMetrics(registry: Registry, cgroup: CgroupCpu | undefined, workers: () => number): void {
  const registers = [registry];
  new Gauge({
    name: 'tollgate_workers',
    help: 'Worker processes serving requests (1 without --concurrency).',
    registers,
    collect() {
      this.set(workers());
    },
  });
  // NaN without a quota: "no limit" must not read as a number of cores.
  new Gauge({ name: 'tollgate_cpu_quota_cores', help: 'CPU quota of the cgroup in cores (quota / period); NaN without a quota.', registers }).set(cgroup?.quota?.cores ?? NaN);
  if (cgroup === undefined) return;
  const statFile = cpuStatPath(cgroup);
  if (readTextFile(statFile) === undefined) return;
  const read = (): ReturnType<typeof parseCpuStat> => parseCpuStat(readTextFile(statFile) ?? '');
  new Counter({
    name: 'tollgate_cpu_throttled_periods_total',
    help: "CFS periods in which the cgroup's CPU quota ran out and its threads were stopped (cpu.stat nr_throttled).",
    registers,
    collect() {
      this.reset();
      this.inc(read().throttledPeriods);
    },
  });
  new Counter({
    name: 'tollgate_cpu_throttled_seconds_total',
    help: "Time the cgroup's threads were stopped by CFS throttling (cpu.stat throttled_time / throttled_usec).",
    registers,
    collect() {
      this.reset();
      this.inc(read().throttledSeconds);
    },
  });
  new Counter({
    name: 'tollgate_cpu_periods_total',
    help: 'CFS enforcement periods elapsed for the cgroup (cpu.stat nr_periods).',
    registers,
    collect() {
      this.reset();
      this.inc(read().periods);
    },
  });
}
