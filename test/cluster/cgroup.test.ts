// The CPU quota parsers and the concurrency decision, on the file layouts of cgroup v1 and v2 hosts
// and containers (contents as the kernel writes them).
import { describe, expect, it } from 'vitest';
import { detectCpuCgroup, locateCpuCgroup, parseCfsQuota, parseCpuMax, parseCpuStat, parseMountInfo, parseProcCgroup } from '../../src/cluster/cgroup.js';
import { decideConcurrency, parseConcurrency } from '../../src/cluster/concurrency.js';

const V1_CGROUP = `12:pids:/kubepods/burstable/pod1/c0ffee
4:cpu,cpuacct:/kubepods/burstable/pod1/c0ffee
3:memory:/kubepods/burstable/pod1/c0ffee
1:name=systemd:/kubepods/burstable/pod1/c0ffee
0::/
`;
// A container sees only its own sub-tree: the mount's root is the cgroup path itself.
const V1_MOUNTS = `1290 1289 0:61 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755
1296 1290 0:29 /kubepods/burstable/pod1/c0ffee /sys/fs/cgroup/cpu,cpuacct ro,nosuid,nodev,noexec,relatime master:11 - cgroup cgroup rw,cpu,cpuacct
1297 1290 0:30 /kubepods/burstable/pod1/c0ffee /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime master:12 - cgroup cgroup rw,memory
`;
const V2_CGROUP = '0::/system.slice/tollgate.service\n';
const V2_MOUNTS = `25 30 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
30 1 252:1 / / rw,relatime shared:1 - ext4 /dev/root rw
`;

function files(map: Record<string, string>): (p: string) => string | undefined {
  return (p) => map[p];
}

describe('cgroup parsers', () => {
  it('reads /proc/self/cgroup lines, v1 controller lists and the v2 line', () => {
    const e = parseProcCgroup(V1_CGROUP);
    expect(e[1]).toEqual({ hierarchy: '4', controllers: ['cpu', 'cpuacct'], path: '/kubepods/burstable/pod1/c0ffee' });
    expect(e[4]).toEqual({ hierarchy: '0', controllers: [], path: '/' });
  });

  it('keeps only cgroup mounts and unescapes their paths', () => {
    const m = parseMountInfo(V1_MOUNTS + '40 31 0:37 / /mnt/with\\040space rw - cgroup cgroup rw,name=x\n');
    expect(m.map((x) => x.mountPoint)).toEqual(['/sys/fs/cgroup/cpu,cpuacct', '/sys/fs/cgroup/memory', '/mnt/with space']);
    expect(m[0]?.superOptions).toContain('cpu');
  });

  it('parses cpu.max, cfs quota/period and cpu.stat of both versions', () => {
    expect(parseCpuMax('max 100000\n')).toBeUndefined();
    expect(parseCpuMax('150000 100000\n')).toBe(1.5);
    expect(parseCfsQuota('-1\n', '100000\n')).toBeUndefined();
    expect(parseCfsQuota('200000\n', '100000\n')).toBe(2);
    expect(parseCpuStat('nr_periods 10\nnr_throttled 4\nthrottled_time 2500000000\n')).toEqual({ periods: 10, throttledPeriods: 4, throttledSeconds: 2.5 });
    expect(parseCpuStat('usage_usec 9\nuser_usec 5\nsystem_usec 4\nnr_periods 7\nnr_throttled 3\nthrottled_usec 1500000\n')).toEqual({
      periods: 7,
      throttledPeriods: 3,
      throttledSeconds: 1.5,
    });
  });

  it('joins the cgroup path onto a container mount whose root is the cgroup itself (v1)', () => {
    expect(locateCpuCgroup(V1_CGROUP, V1_MOUNTS)).toEqual({ version: 'v1', dir: '/sys/fs/cgroup/cpu,cpuacct', mountPoint: '/sys/fs/cgroup/cpu,cpuacct' });
    const q = detectCpuCgroup(
      files({
        '/proc/self/cgroup': V1_CGROUP,
        '/proc/self/mountinfo': V1_MOUNTS,
        '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '400000\n',
        '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
      }),
    );
    expect(q?.quota?.cores).toBe(4);
    expect(q?.quota?.source).toContain('cpu.cfs_quota_us = 400000');
  });

  it('finds the tightest quota among a v1 host cgroup and its ancestors', () => {
    const q = detectCpuCgroup(
      files({
        '/proc/self/cgroup': '2:cpu:/bench/gw\n',
        '/proc/self/mountinfo': '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n',
        '/sys/fs/cgroup/cpu/bench/gw/cpu.cfs_quota_us': '-1',
        '/sys/fs/cgroup/cpu/bench/gw/cpu.cfs_period_us': '100000',
        '/sys/fs/cgroup/cpu/bench/cpu.cfs_quota_us': '50000',
        '/sys/fs/cgroup/cpu/bench/cpu.cfs_period_us': '100000',
        '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1',
        '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000',
      }),
    );
    expect(q).toMatchObject({ version: 'v1', dir: '/sys/fs/cgroup/cpu/bench/gw', quota: { cores: 0.5 } });
  });

  it('reads cpu.max on a unified (v2) host, and reports no quota for "max"', () => {
    const base = { '/proc/self/cgroup': V2_CGROUP, '/proc/self/mountinfo': V2_MOUNTS };
    const limited = detectCpuCgroup(files({ ...base, '/sys/fs/cgroup/system.slice/tollgate.service/cpu.max': '250000 100000\n' }));
    expect(limited).toMatchObject({ version: 'v2', dir: '/sys/fs/cgroup/system.slice/tollgate.service', quota: { cores: 2.5 } });
    const none = detectCpuCgroup(files({ ...base, '/sys/fs/cgroup/system.slice/tollgate.service/cpu.max': 'max 100000\n', '/sys/fs/cgroup/cpu.max': 'max 100000' }));
    expect(none?.quota).toBeUndefined();
    expect(detectCpuCgroup(files({}))).toBeUndefined();
  });
});

describe('concurrency decision', () => {
  const quota = (cores: number) => ({ version: 'v1' as const, dir: '/x', mountPoint: '/x', quota: { cores, version: 'v1' as const, source: 'test' } });

  it('auto follows the quota rounded up, never above the CPUs; else the CPUs', () => {
    expect(decideConcurrency('auto', quota(1.5), 8).workers).toBe(2);
    expect(decideConcurrency('auto', quota(0.5), 8).workers).toBe(1);
    expect(decideConcurrency('auto', quota(16), 4)).toMatchObject({ workers: 4, source: expect.stringContaining('capped at 4') });
    expect(decideConcurrency('auto', undefined, 3)).toMatchObject({ workers: 3, quotaCores: undefined });
  });

  it('an explicit N above the quota starts but warns about CFS throttling', () => {
    const d = decideConcurrency(4, quota(1), 8);
    expect(d.workers).toBe(4);
    expect(d.warning).toMatch(/CFS/);
    expect(decideConcurrency(1, quota(1), 8).warning).toBeUndefined();
  });

  it('parses the flag', () => {
    expect(parseConcurrency('auto')).toBe('auto');
    expect(parseConcurrency('3')).toBe(3);
    for (const bad of ['0', '-1', '1.5', 'all', '']) expect(parseConcurrency(bad)).toBeUndefined();
  });
});
