// `bench overhead --slow-streams N`: N long-lived streams (one chunk a second, like a slow model
// generating) held open at once through one gateway worker. Streams are opened at a steady rate,
// so the later ones measure how fast a gateway already relaying thousands of streams answers a new
// one. Reported per target: the first-chunk delay (p50, p99) against the same streams opened
// directly at the upstream and through node-min (the platform floor), the gateway's RSS and heap
// growth per open stream, each proxy's CPU per stream opened (relaying the streams already open
// included), and the listen-queue overflows the kernel counted meanwhile.
//
// Every target gets a fresh upstream and is started just before its turn and stopped after it:
// a target's closed streams (connections the upstream still holds, sockets still closing) must not
// cost the next one descriptors or CPU on the core they share.
import type { ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import hdr from 'hdr-histogram-js';
import { canRaiseFileLimit, fileLimit, probe, type RunningGateway } from './overhead-targets.js';
import { cpuPerRequest, cpuTicks, NODE_PROXY_JS, startChild, stopChild, UPSTREAM_JS } from './procs.js';
import { cpuSummary, flameSvg, formatSites, type CpuProfile } from './profiles.js';

export interface SlowStreamsOptions {
  readonly port: number;
  readonly streams: number;
  /** New streams per second. */
  readonly openRate: number;
  readonly request: Buffer;
}

export interface SlowStreamsResult {
  readonly opened: number;
  readonly failed: number;
  /** Why streams failed: an HTTP status ("429"), "closed" before the first chunk, or a socket error code. */
  readonly failures: Record<string, number>;
  /** Microseconds from request sent to the first body byte. */
  readonly firstChunk: { p50: number; p99: number; max: number };
}

const HEADER_END = Buffer.from('\r\n\r\n');

/**
 * Opens the streams at `openRate` per second and resolves, with the first-chunk delays, once every
 * stream has its first chunk (or failed); `hold` then keeps them open until `release()` closes them.
 */
export async function openSlowStreams(opts: SlowStreamsOptions): Promise<{ result: SlowStreamsResult; release: () => Promise<void> }> {
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
  const sockets: net.Socket[] = [];
  let failed = 0;
  const failures: Record<string, number> = {};
  const firsts: Array<Promise<void>> = [];
  const t0 = performance.now();
  for (let i = 0; i < opts.streams; i++) {
    const due = t0 + (i * 1000) / opts.openRate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    firsts.push(
      new Promise<void>((resolve) => {
        const s = net.connect(opts.port, '127.0.0.1');
        sockets.push(s);
        let sentAt = 0;
        let head: Buffer | null = null;
        let done = false;
        const finish = (failure?: string): void => {
          if (done) return;
          done = true;
          if (failure !== undefined) {
            failed++;
            failures[failure] = (failures[failure] ?? 0) + 1;
          }
          resolve();
        };
        s.on('connect', () => {
          sentAt = performance.now();
          s.write(opts.request);
        });
        s.on('data', (d: Buffer) => {
          if (done) return;
          head = head === null ? d : Buffer.concat([head, d]);
          const end = head.indexOf(HEADER_END);
          if (end === -1 || head.length <= end + 4) return;
          if (head[9] !== 0x32) return finish(head.toString('latin1', 9, 12));
          h.recordValue(Math.max(1, Math.round((performance.now() - sentAt) * 1000)));
          head = null;
          finish();
        });
        s.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? 'error'));
        s.on('close', () => finish('closed'));
      }),
    );
  }
  await Promise.all(firsts);
  const result: SlowStreamsResult = {
    opened: opts.streams - failed,
    failed,
    failures,
    firstChunk: { p50: h.getValueAtPercentile(50), p99: h.getValueAtPercentile(99), max: h.maxValue },
  };
  h.destroy();
  const release = async (): Promise<void> => {
    await Promise.all(
      sockets.map(
        (s) =>
          new Promise<void>((r) => {
            if (s.destroyed) return r();
            s.once('close', () => r());
            s.destroy();
          }),
      ),
    );
  };
  return { result, release };
}

/** Resident set size of a process, bytes (from /proc). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m === null ? 0 : Number(m[1]) * 1024;
}

/** A gateway build and variant to measure, started on demand against a given upstream. */
export interface GatewayStarter {
  readonly label: string;
  readonly start: (upstreamPort: number, env: NodeJS.ProcessEnv) => Promise<RunningGateway>;
}

export interface SlowStreamsRun {
  readonly streams: number;
  readonly openRate: number;
  readonly pinned: boolean;
  readonly children: ChildProcess[];
  readonly gateways: readonly GatewayStarter[];
  readonly request: Buffer;
  readonly outFile: string;
  /** Profile each gateway while its streams open (.cpuprofile and flame graph into the out folder). */
  readonly cpuProf: boolean;
}

interface Started {
  readonly port: number;
  readonly pid: number | undefined;
  readonly gateway?: RunningGateway;
  readonly child?: ChildProcess;
}

/**
 * Connections the kernel refused to queue because a listen backlog was full (ListenOverflows in
 * /proc/net/netstat). The counter covers every listener in this network namespace.
 */
async function listenOverflows(): Promise<number | undefined> {
  const text = await readFile('/proc/net/netstat', 'utf8').catch(() => '');
  const lines = text.split('\n');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = (lines[i] as string).split(' ');
    const at = names.indexOf('ListenOverflows');
    if (at !== -1) return Number((lines[i + 1] as string).split(' ')[at]);
  }
  return undefined;
}

export async function runSlowStreams(run: SlowStreamsRun): Promise<number> {
  let n = run.streams;
  // A proxy holds two descriptors per stream (client and upstream side).
  const maxStreams = Math.floor((fileLimit() - 500) / 2);
  if (!canRaiseFileLimit() && n > maxStreams) {
    process.stderr.write(`note: the open-files limit (${fileLimit()}) cannot be raised here (prlimit is not permitted); measuring ${maxStreams} streams instead of ${n}\n`);
    n = maxStreams;
  }
  // Every stream must still be open when the last one gets its first chunk.
  const seconds = Math.ceil(n / run.openRate) + 20;
  const raise = canRaiseFileLimit() ? ['--nofile=65536:65536', process.execPath] : [];
  // The per-address connection rate guards against connection churn, and this load generator opens
  // every stream from one address on purpose. Raising the rate to the open rate is not enough: after
  // a pause the worker accepts the connections the kernel queued meanwhile all at once, more than
  // the burst allows, so the guard is off here (as for any trusted source of many connections).
  const env: NodeJS.ProcessEnv = { TOLLGATE_LISTENER_CONNECTIONS_PER_SECOND: '0' };
  const targets: Array<{ label: string; start: (upPort: number) => Promise<Started> }> = [
    { label: 'direct', start: (upPort) => Promise.resolve({ port: upPort, pid: undefined }) },
    {
      label: 'node-min',
      start: async (upPort) => {
        // No connection cap: every held stream needs its own upstream connection.
        const floor = await startChild(run.pinned, process.execPath, [NODE_PROXY_JS, String(upPort), '0'], /ready (\d+)/, run.children);
        return { port: Number(floor.match[1]), pid: floor.child.pid, child: floor.child };
      },
    },
    ...run.gateways.map((g) => ({
      label: g.label,
      start: async (upPort: number): Promise<Started> => {
        const gw = await g.start(upPort, env);
        return { port: gw.port, pid: gw.child.pid, gateway: gw, child: gw.child };
      },
    })),
  ];
  const outDir = join(run.outFile, '..');
  const results: Array<Record<string, unknown>> = [];
  process.stdout.write(`${n} streams, one chunk a second, opened at ${run.openRate}/s, each through one worker; load average ${loadavg()[0]?.toFixed(1)} at the start\n`);
  process.stdout.write('target                         opened  failed  1st chunk p50 ms  p99 ms  added p99 ms  RSS MB (idle → held)  heap KiB/stream  CPU µs/stream  listen overflows\n');
  let directP99 = 0;
  for (const t of targets) {
    const upstream = await startChild(run.pinned, raise.length > 0 ? 'prlimit' : process.execPath, [...raise, UPSTREAM_JS, '0', `slow:${seconds}`], /ready (\d+)/, run.children);
    const target = await t.start(Number(upstream.match[1]));
    // A few streams first, so start-up work (compilation, encodings loaded on first use) is not
    // charged to the measured ones.
    const warm = await openSlowStreams({ port: target.port, streams: 20, openRate: 100, request: run.request });
    await warm.release();
    const gw = target.gateway;
    const before = gw === undefined ? undefined : await probe<NodeJS.MemoryUsage>(gw, 'GET', '/memory');
    const rss0 = target.pid === undefined ? 0 : await rssBytes(target.pid);
    const overflows0 = await listenOverflows();
    if (run.cpuProf && gw !== undefined) await probe(gw, 'POST', '/cpu/start');
    const pids = target.pid === undefined ? [] : [target.pid];
    const ticks0 = cpuTicks(pids);
    const { result, release } = await openSlowStreams({ port: target.port, streams: n, openRate: run.openRate, request: run.request });
    const cpuUs = pids.length === 0 ? undefined : cpuPerRequest(ticks0, cpuTicks(pids), n);
    const overflows = overflows0 === undefined ? undefined : ((await listenOverflows()) ?? overflows0) - overflows0;
    const profile = run.cpuProf && gw !== undefined ? await probe<CpuProfile>(gw, 'POST', '/cpu/stop') : undefined;
    const held = gw === undefined ? undefined : await probe<NodeJS.MemoryUsage>(gw, 'GET', '/memory');
    const rss1 = target.pid === undefined ? 0 : await rssBytes(target.pid);
    const load = loadavg()[0] ?? 0;
    await release();
    await stopChild(target.child);
    await stopChild(upstream.child);
    const p99 = result.firstChunk.p99 / 1000;
    if (t.label === 'direct') directP99 = p99;
    const heapPerStream = before === undefined || held === undefined ? undefined : (held.heapUsed - before.heapUsed) / Math.max(1, result.opened) / 1024;
    results.push({ target: t.label, ...result, rssIdle: rss0, rssHeld: rss1, heapKiBPerStream: heapPerStream, cpuUsPerStream: cpuUs, addedP99Ms: p99 - directP99, listenOverflows: overflows, loadAverage: load });
    if (result.failed > 0) process.stderr.write(`${t.label}: failed streams by reason: ${JSON.stringify(result.failures)}\n`);
    process.stdout.write(
      `${t.label.padEnd(29)}  ${String(result.opened).padStart(6)}  ${String(result.failed).padStart(6)}  ${(result.firstChunk.p50 / 1000).toFixed(3).padStart(16)}  ${p99.toFixed(3).padStart(6)}  ${(t.label === 'direct' ? '' : (p99 - directP99).toFixed(3)).padStart(12)}  ${(target.pid === undefined ? '' : `${(rss0 / 1e6).toFixed(0)} → ${(rss1 / 1e6).toFixed(0)}`).padStart(20)}  ${(heapPerStream === undefined ? '' : heapPerStream.toFixed(1)).padStart(15)}  ${(cpuUs === undefined ? '' : cpuUs.toFixed(0)).padStart(13)}  ${String(overflows ?? '?').padStart(16)}   (load ${load.toFixed(1)})\n`,
    );
    if (profile !== undefined) {
      const name = `${t.label.replace(/[^a-z0-9+.-]+/gi, '_')}-slow-streams`;
      await writeFile(join(outDir, `${name}.cpuprofile`), JSON.stringify(profile));
      await writeFile(join(outDir, `${name}.svg`), flameSvg(profile, `${t.label}, ${n} slow streams opened at ${run.openRate}/s`));
      process.stdout.write(formatSites(`${t.label} while the streams opened (${join(outDir, `${name}.svg`)}; µs per stream opened, idle included):`, 'µs', cpuSummary(profile, n).sites));
    }
    // Let the closed streams' sockets finish closing before the next target.
    await new Promise((r) => setTimeout(r, 2000));
  }
  process.stdout.write('\ngoals: RSS < 1 GB with the streams held, added first-chunk p99 < 5 ms\n');
  for (const r of results) {
    if (r['target'] === 'direct' || r['target'] === 'node-min') continue;
    const rssOk = (r['rssHeld'] as number) < 1e9;
    const added = r['addedP99Ms'] as number;
    // Targets take turns: a baseline measured in a busier moment than the target says nothing.
    const p99 = (r['failed'] as number) > 0 || added >= 5 ? 'NOT MET' : added < 0 && directP99 > 5 ? `not comparable (direct's p99 was ${directP99.toFixed(0)} ms: the machine was busier during its turn)` : 'met';
    process.stdout.write(`  ${String(r['target']).padEnd(29)} RSS ${rssOk ? 'met' : 'NOT MET'}, first-chunk p99 ${p99}\n`);
  }
  if (results.some((r) => (r['listenOverflows'] as number | undefined) !== undefined && (r['listenOverflows'] as number) > 0)) {
    process.stdout.write('listen overflows: the kernel dropped handshakes because a listen queue was full (the count covers every listener in this network namespace, other jobs\' too)\n');
  }
  await writeFile(run.outFile.replace(/\.json$/, '') + '-slow-streams.json', JSON.stringify({ streams: n, openRate: run.openRate, results }, null, 2));
  return 0;
}
