// The CPU quota of this process's cgroup, found the way the kernel describes it rather than at a
// fixed path: /proc/self/cgroup names the cgroup, /proc/self/mountinfo says where its hierarchy is
// mounted (containers mount a sub-tree at /sys/fs/cgroup, so the two must be joined). The parsers
// are pure functions of file contents; `detectCpuQuota` composes them over a file reader.
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';

export interface CgroupEntry {
  readonly hierarchy: string;
  /** v1 controllers of this hierarchy (`cpu`, `cpuacct`, `name=systemd`); empty for the v2 line. */
  readonly controllers: readonly string[];
  readonly path: string;
}

export interface CgroupMount {
  /** Path inside the hierarchy that is mounted (not `/` inside many containers). */
  readonly root: string;
  readonly mountPoint: string;
  readonly fsType: string;
  readonly superOptions: readonly string[];
}

export interface CpuQuota {
  /** Cores the quota allows (quota / period), the smallest along the cgroup's ancestors. */
  readonly cores: number;
  readonly version: 'v1' | 'v2';
  /** Where it was read, for the start-up log line (`cgroup v2 /sys/fs/cgroup/cpu.max = 150000 100000`). */
  readonly source: string;
}

export interface CgroupCpu {
  readonly version: 'v1' | 'v2';
  /** The cgroup's directory under its mount point. */
  readonly dir: string;
  /** The hierarchy's mount point; ancestors above it are not visible. */
  readonly mountPoint: string;
  readonly quota: CpuQuota | undefined;
}

export interface CpuStat {
  readonly periods: number;
  readonly throttledPeriods: number;
  readonly throttledSeconds: number;
}

/** `/proc/self/cgroup`: `hierarchy-id:controller,list:/path` per line. */
export function parseProcCgroup(text: string): CgroupEntry[] {
  const out: CgroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const a = line.indexOf(':');
    const b = line.indexOf(':', a + 1);
    if (a < 0 || b < 0) continue;
    const list = line.slice(a + 1, b);
    out.push({ hierarchy: line.slice(0, a), controllers: list === '' ? [] : list.split(','), path: line.slice(b + 1) });
  }
  return out;
}

/** `/proc/self/mountinfo` lines of cgroup and cgroup2 file systems (see proc(5) for the layout). */
export function parseMountInfo(text: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const fsType = right[0] ?? '';
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    out.push({
      root: unescapeMount(left[3] ?? '/'),
      mountPoint: unescapeMount(left[4] ?? ''),
      fsType,
      superOptions: (right[2] ?? '').split(','),
    });
  }
  return out;
}

/** cgroup v2 `cpu.max`: `max 100000` (no quota) or `QUOTA PERIOD` in microseconds. */
export function parseCpuMax(text: string): number | undefined {
  const [quota, period] = text.trim().split(/\s+/);
  if (quota === undefined || quota === 'max') return undefined;
  return ratio(Number(quota), Number(period ?? '100000'));
}

/** cgroup v1 `cpu.cfs_quota_us` (-1 for none) and `cpu.cfs_period_us`. */
export function parseCfsQuota(quotaText: string, periodText: string): number | undefined {
  return ratio(Number(quotaText.trim()), Number(periodText.trim()));
}

/** `cpu.stat`: v1 reports throttled_time in nanoseconds, v2 throttled_usec in microseconds. */
export function parseCpuStat(text: string): CpuStat {
  const f = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k !== undefined && v !== undefined) f.set(k, Number(v));
  }
  const seconds = f.has('throttled_usec') ? (f.get('throttled_usec') ?? 0) / 1e6 : (f.get('throttled_time') ?? 0) / 1e9;
  return { periods: f.get('nr_periods') ?? 0, throttledPeriods: f.get('nr_throttled') ?? 0, throttledSeconds: seconds };
}

/** Where this process's cpu cgroup lives, from the two /proc files; undefined outside any cgroup. */
export function locateCpuCgroup(procCgroup: string, mountInfo: string): { version: 'v1' | 'v2'; dir: string; mountPoint: string } | undefined {
  const entries = parseProcCgroup(procCgroup);
  const mounts = parseMountInfo(mountInfo);
  // A v1 cpu controller takes precedence: on hybrid hosts the v2 hierarchy then has no cpu controller.
  const v1 = entries.find((e) => e.controllers.includes('cpu'));
  if (v1 !== undefined) {
    const m = mounts.find((x) => x.fsType === 'cgroup' && x.superOptions.includes('cpu'));
    if (m !== undefined) return { version: 'v1', dir: join(m, v1.path), mountPoint: m.mountPoint };
  }
  const v2 = entries.find((e) => e.hierarchy === '0' && e.controllers.length === 0);
  const m2 = mounts.find((x) => x.fsType === 'cgroup2');
  if (v2 !== undefined && m2 !== undefined) return { version: 'v2', dir: join(m2, v2.path), mountPoint: m2.mountPoint };
  return undefined;
}

export type ReadText = (path: string) => string | undefined;

export const readTextFile: ReadText = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

/** The cpu cgroup and its effective quota: the tightest limit from the cgroup up to the mount point. */
export function detectCpuCgroup(read: ReadText = readTextFile): CgroupCpu | undefined {
  const procCgroup = read('/proc/self/cgroup');
  const mountInfo = read('/proc/self/mountinfo');
  if (procCgroup === undefined || mountInfo === undefined) return undefined;
  const where = locateCpuCgroup(procCgroup, mountInfo);
  if (where === undefined) return undefined;
  let best: CpuQuota | undefined;
  for (let dir = where.dir; ; dir = posix.dirname(dir)) {
    const q = quotaAt(where.version, dir, read);
    if (q !== undefined && (best === undefined || q.cores < best.cores)) best = q;
    if (dir === where.mountPoint || dir === '/' || !dir.startsWith(where.mountPoint)) break;
  }
  return { ...where, quota: best };
}

export function cpuStatPath(cg: { dir: string }): string {
  return posix.join(cg.dir, 'cpu.stat');
}

function quotaAt(version: 'v1' | 'v2', dir: string, read: ReadText): CpuQuota | undefined {
  if (version === 'v2') {
    const file = posix.join(dir, 'cpu.max');
    const text = read(file);
    const cores = text === undefined ? undefined : parseCpuMax(text);
    return cores === undefined ? undefined : { cores, version, source: `cgroup v2 ${file} = ${(text ?? '').trim()}` };
  }
  const qFile = posix.join(dir, 'cpu.cfs_quota_us');
  const q = read(qFile);
  const p = read(posix.join(dir, 'cpu.cfs_period_us'));
  const cores = q === undefined || p === undefined ? undefined : parseCfsQuota(q, p);
  return cores === undefined ? undefined : { cores, version, source: `cgroup v1 ${qFile} = ${(q ?? '').trim()} per ${(p ?? '').trim()} us` };
}

/** The cgroup path relative to what is mounted: inside a container the mount's root is the cgroup itself. */
function join(m: CgroupMount, path: string): string {
  let rel = path;
  if (m.root !== '/' && (path === m.root || path.startsWith(m.root + '/'))) rel = path.slice(m.root.length);
  return rel === '' || rel === '/' ? m.mountPoint : posix.join(m.mountPoint, rel);
}

function ratio(quota: number, period: number): number | undefined {
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) return undefined;
  return quota / period;
}

/** mountinfo escapes space, tab, newline and backslash as octal (`\040`). */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}
