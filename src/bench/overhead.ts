// `tollgate bench overhead` (`npm run bench:overhead`): what the gateway adds to a request, measured
// against the upstream reached directly, in the same run, on loopback. nginx joins as a reference
// proxy when it is installed, and a minimal Node.js proxy (node-proxy.ts: node:http + undici, parse and
// relay, nothing else) shows the floor of the platform on this machine. The load generator is pinned to one core, the proxy and the upstream
// to the other (as the issue's set-up prescribes), when `taskset` is available.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatHelp, parseCommandArgs, parsePositiveInt, UsageError } from '../cli/args.js';
import { runLoad } from './loadgen.js';
import { formatFixedRate, formatWarmUps, measureFixedRate, measureInRounds, warmUp, type FixedRateRow, type Target, type WarmUp } from './overhead-rounds.js';
import { comparePaired, formatPaired, type PairProcesses } from './overhead-paired.js';
import { compareReport, floorReport, summarize, type Mode, type Row } from './overhead-report.js';
import { PROBE_URL, probe, startGateway, variantLabel, type GatewayVariant, type RunningGateway } from './overhead-targets.js';
import { BIN, freePort, NODE_PROXY_JS, pinSelf, startChild, stopChild, UPSTREAM_JS } from './procs.js';
import { cpuSummary, flameSvg, formatSites, heapSummary, type CpuProfile, type HeapProfile } from './profiles.js';
import { buildRef } from './ref-build.js';
import { runSlowStreams, type GatewayStarter } from './slow-streams.js';
import { formatTranslation, measureTranslation } from './translation.js';

export { gatewayConfig } from './overhead-targets.js';

const spec = {
  name: 'bench overhead',
  summary: 'gateway vs direct-to-upstream (and nginx) on loopback: latency, throughput, CPU per request',
  usage: `
Usage: tollgate bench overhead [--duration SEC] [--warmup SEC] [--concurrency 1,16,64] [--modes json,stream] [--fixed-rate PCT]
                               [--compare REF [--paired N]] [--rounds N] [--cpu-prof] [--node-args=ARGS] [--no-alloc]
                               [--out FILE] [--no-nginx] [--upstream-apart]
                               [--translation-only | --no-translation]
       tollgate bench overhead --slow-streams N [--open-rate PER_SEC] [--compare REF]

  --duration SEC        measured seconds per scenario (default 4, after 1 s of warm-up)
  --warmup SEC          before each mode's scenarios, every target serves that mode for SEC at
                        the highest --concurrency (default 8; 0 skips it), so each process has
                        compiled its hot code, as a long-running one has; the CPU it took per
                        request is printed as the cold-start cost
  --concurrency LIST    closed-loop connections per scenario (default 1,16,64)
  --fixed-rate PCT      then every target at one open-loop rate, non-streamed, PCT% of the
                        slowest target's req/s at the highest --concurrency (default 80; 0 skips
                        it): CPU per request for the same work per second, without the closed
                        loop charging a slower target more for waking its client
  --modes LIST          json, stream or both (default json,stream)
  --compare REF         also run the gateways built from git REF (e.g. HEAD~1), in the same run,
                        and print current / REF ratios; REF is built once into .tmp/bench-ref/
  --paired N            with --compare, instead of the full table: only the two builds, in N pairs
                        of back-to-back windows of --duration each per scenario (which build goes
                        first alternating), each pair on freshly started and warmed-up gateways;
                        prints the median and quartiles of the pairs' ratios and a sign test
                        (docs/performance.md, "Measuring a change")
  --rounds N            split each scenario's measured time into N slices taken by the targets in
                        turn (default 1); on a shared, noisy machine 5–10 keeps the ratios fair
  --cpu-prof            profile each gateway and node-min at each --concurrency (json and stream):
                        .cpuprofile and a flame graph SVG per profile into the --out folder, and
                        the hottest functions
  --node-args=ARGS      extra node flags for the gateways, e.g. "--no-turbo-inlining" so a CPU
                        profile charges inlined functions to themselves, not to their caller
  --no-alloc            skip the allocation profile (bytes allocated per request, top sites)
  --slow-streams N      instead: N streams of one chunk a second held open at once through one
                        worker: first-chunk delay against direct and node-min, RSS and heap per
                        stream, listen-queue overflows; with --cpu-prof, a profile of each gateway
                        while its streams open
  --open-rate PER_SEC   new slow streams per second (default 250; at ~1 ms of CPU per stream
                        opened, 1,000/s saturates a core even for node-min)
  --upstream-apart      run the upstream on the load generator's core instead of beside the proxy
                        under test; a diagnostic, not the goals' set-up: it shows which part of a
                        gap is the proxy's own work and which is sharing its core with an upstream
                        that answers in one burst (see docs/performance.md, "The first chunk")
  --out FILE            JSON results (default .bench-out/overhead.json)
  --no-nginx            skip the nginx reference even when nginx is installed
  --translation-only    only the provider translation cost (CPU per request and per streamed chunk,
                        per provider, vs OpenAI passthrough); --no-translation skips it`,
  options: {
    duration: { type: 'string' },
    warmup: { type: 'string' },
    'fixed-rate': { type: 'string' },
    concurrency: { type: 'string' },
    modes: { type: 'string' },
    compare: { type: 'string' },
    rounds: { type: 'string' },
    paired: { type: 'string' },
    'node-args': { type: 'string' },
    'cpu-prof': { type: 'boolean' },
    'no-alloc': { type: 'boolean' },
    'slow-streams': { type: 'string' },
    'open-rate': { type: 'string' },
    out: { type: 'string' },
    'no-nginx': { type: 'boolean' },
    'upstream-apart': { type: 'boolean' },
    'translation-only': { type: 'boolean' },
    'no-translation': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
} as const;

const VARIANTS: readonly GatewayVariant[] = ['plain', 'full'];


export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(spec, argv);
  if (values.help === true) {
    process.stdout.write(formatHelp(spec));
    return 0;
  }
  const durationMs = parsePositiveInt(values.duration ?? '4', '--duration', { max: 600 }) * 1000;
  const rounds = parsePositiveInt(values.rounds ?? '1', '--rounds', { max: 100 });
  const warmupMs = parsePositiveInt(values.warmup ?? '8', '--warmup', { min: 0, max: 600 }) * 1000;
  const fixedPct = parsePositiveInt(values['fixed-rate'] ?? '80', '--fixed-rate', { min: 0, max: 100 });
  const levels = (values.concurrency ?? '1,16,64').split(',').map((c) => parsePositiveInt(c.trim(), '--concurrency', { max: 4096 }));
  const modes = (values.modes ?? 'json,stream').split(',').map((m) => m.trim());
  for (const m of modes) if (m !== 'json' && m !== 'stream') throw new UsageError(`--modes: "${m}" is not json or stream`, 'for example --modes json,stream');
  const outFile = values.out ?? '.bench-out/overhead.json';
  const outDir = join(outFile, '..');
  await mkdir(outDir, { recursive: true });
  if (values['translation-only'] === true) {
    const translation = await measureTranslation();
    process.stdout.write(formatTranslation(translation));
    await writeFile(outFile, JSON.stringify({ translation }, null, 2));
    process.stdout.write(`\nJSON written to ${outFile}\n`);
    return 0;
  }
  const ref = values.compare;
  const paired = values.paired === undefined ? undefined : parsePositiveInt(values.paired, '--paired', { max: 1000 });
  if (paired !== undefined && ref === undefined) throw new UsageError('--paired compares two builds and needs --compare REF', 'for example --compare HEAD~1 --paired 10');
  const refBuild = ref === undefined ? undefined : buildRef(ref);
  const slow = values['slow-streams'] === undefined ? undefined : parsePositiveInt(values['slow-streams'], '--slow-streams', { max: 30_000 });
  const pinned = pinSelf();

  const work = await mkdtemp(join(tmpdir(), 'tollgate-bench-'));
  const children: ChildProcess[] = [];
  const nodeArgs = (values['node-args'] ?? '').split(' ').filter((a) => a.length > 0);
  const builds = [{ suffix: '', bin: BIN }, ...(refBuild === undefined || ref === undefined ? [] : [{ suffix: `@${ref}`, bin: refBuild.bin }])];
  const starters = (opts: { manyFiles?: boolean; nodeArgs?: string[] } = {}): GatewayStarter[] =>
    builds.flatMap((b) =>
      VARIANTS.map((variant) => {
        const label = `${variantLabel(variant)}${b.suffix}`;
        return {
          label,
          start: (upPort: number, env: NodeJS.ProcessEnv = {}) =>
            startGateway({ label, bin: b.bin, variant, work, upstreamPort: upPort, pinned, children, ...opts, nodeArgs: [...nodeArgs, ...(opts.nodeArgs ?? [])], env }),
        };
      }),
    );
  try {
    if (slow !== undefined) {
      const openRate = parsePositiveInt(values['open-rate'] ?? '250', '--open-rate', { max: 100_000 });
      const gateways = starters({ manyFiles: true, nodeArgs: ['--expose-gc'] });
      return await runSlowStreams({ streams: slow, openRate, pinned, children, gateways, request: requestBytes('stream'), outFile, cpuProf: values['cpu-prof'] === true });
    }
    const apart = pinned && values['upstream-apart'] === true;
    const upstream = apart
      ? await startChild(false, 'taskset', ['-c', '0', process.execPath, UPSTREAM_JS, '0'], /ready (\d+)/, children)
      : await startChild(pinned, process.execPath, [UPSTREAM_JS, '0'], /ready (\d+)/, children);
    if (apart) process.stdout.write('the upstream runs on the load generator\'s core (--upstream-apart): not the set-up the goals are judged in\n');
    const upPort = Number(upstream.match[1]);
    const gatewayTarget = (gw: RunningGateway): Target => ({ target: gw.label, port: gw.port, pids: () => [gw.child.pid ?? 0], gateway: gw });
    if (paired !== undefined && ref !== undefined) {
      // Fresh gateways for every pair, started in the opposite order each time.
      const start = async (pair: number): Promise<PairProcesses> => {
        const list = pair % 2 === 0 ? starters() : starters().reverse();
        const gws: RunningGateway[] = [];
        for (const s of list) gws.push(await s.start(upPort, {}));
        return { targets: gws.map(gatewayTarget), stop: async () => void (await Promise.all(gws.map((g) => stopChild(g.child)))) };
      };
      const rows = await comparePaired({ start, current: VARIANTS.map(variantLabel), ref, modes: modes as Mode[], levels, windowMs: durationMs, pairs: paired, warmupMs, request: requestBytes });
      process.stderr.write('\n');
      process.stdout.write(formatPaired(rows, ref));
      await writeFile(outFile, JSON.stringify({ pinned, upstreamApart: apart, windowMs: durationMs, warmupMs, compare: refBuild, paired: rows }, null, 2));
      process.stdout.write(`\nJSON written to ${outFile}\n`);
      return 0;
    }
    const targets: Target[] = [{ target: 'direct', port: upPort, pids: () => [] }];
    for (const starter of starters()) targets.push(gatewayTarget(await starter.start(upPort, {})));
    // node-min gets the probe too, so the allocation report has the floor's figures beside the gateway's.
    const floorProbe = await freePort();
    const floor = await startChild(pinned, process.execPath, ['--import', PROBE_URL, NODE_PROXY_JS, String(upPort)], /ready (\d+)/, children, {
      ...process.env,
      TOLLGATE_BENCH_PROBE_PORT: String(floorProbe),
    });
    const floorGw: RunningGateway = { label: 'node-min', port: Number(floor.match[1]), probePort: floorProbe, child: floor.child };
    targets.push({ target: 'node-min', port: floorGw.port, pids: () => [floor.child.pid ?? 0] });
    const together = await startChild(pinned, process.execPath, [NODE_PROXY_JS, String(upPort), '512', 'together'], /ready (\d+)/, children);
    targets.push({ target: 'node-min+together', port: Number(together.match[1]), pids: () => [together.child.pid ?? 0] });
    if (values['no-nginx'] !== true) {
      const nginx = await startNginx(pinned, work, upPort, children);
      if (nginx !== undefined) targets.push({ target: 'nginx', port: nginx.port, pids: nginx.pids });
      else process.stderr.write('note: nginx not installed; skipping the reference proxy (apt-get install nginx)\n');
    }

    const rows: Row[] = [];
    const warmups: WarmUp[] = [];
    for (const mode of modes as Mode[]) {
      if (warmupMs > 0) warmups.push(...(await warmUp(targets, requestBytes(mode), mode, Math.max(...levels), warmupMs)));
      for (const c of levels) rows.push(...(await measureInRounds(targets, requestBytes(mode), mode, c, durationMs, rounds)));
    }
    const fixed: FixedRateRow[] = [];
    if (fixedPct > 0) {
      const top = Math.max(...levels);
      // Non-streamed only: relaying thousands of streams a second on an open loop, the generator
      // (one process, every chunk a read) falls behind before the proxies do.
      for (const mode of (modes as Mode[]).filter((m) => m === 'json')) {
        const slowest = Math.min(...rows.filter((r) => r.mode === mode && r.concurrency === top && r.cpuUsPerRequest !== undefined).map((r) => r.rps));
        if (Number.isFinite(slowest) && slowest > 0) fixed.push(...(await measureFixedRate(targets, requestBytes(mode), mode, Math.max(1, Math.floor((slowest * fixedPct) / 100)), durationMs, rounds)));
      }
    }
    process.stderr.write('\n');
    const report = summarize(rows);
    if (warmups.length > 0) process.stdout.write(formatWarmUps(warmups));
    process.stdout.write(report.table);
    const current = VARIANTS.map(variantLabel);
    const floorText = floorReport(rows, current);
    process.stdout.write(floorText.text);
    if (fixed.length > 0) process.stdout.write(`\n${formatFixedRate(fixed)}`);
    if (ref !== undefined) process.stdout.write(compareReport(rows, current, ref));
    const gws = targets.flatMap((t) => (t.gateway === undefined ? [] : [t.gateway]));
    const alloc = values['no-alloc'] === true ? undefined : await allocationProfiles([...gws, floorGw], modes as Mode[], durationMs);
    const cpu = values['cpu-prof'] === true ? await cpuProfiles([...gws, floorGw], modes as Mode[], levels, durationMs, outDir) : undefined;
    // Provider translation: what each upstream API costs on top of OpenAI passthrough.
    const translation = values['no-translation'] === true ? undefined : await measureTranslation();
    if (translation !== undefined) process.stdout.write(`\n${formatTranslation(translation)}`);
    await writeFile(outFile, JSON.stringify({ pinned, upstreamApart: apart, durationMs, warmupMs, warmups, fixedRate: fixed, compare: refBuild, rows, comparisons: report.comparisons, goals: floorText.goals, alloc, cpu, translation }, null, 2));
    process.stdout.write(`\nJSON written to ${outFile}\n`);
    return 0;
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await rm(work, { recursive: true, force: true });
  }
}

async function allocationProfiles(gws: readonly RunningGateway[], modes: readonly Mode[], durationMs: number): Promise<unknown[]> {
  const out: unknown[] = [];
  process.stdout.write('\nallocation per request at c=16 (V8 sampling heap profiler, collected objects included)\n');
  const passes = [
    { key: 'allocated', start: '/heap/start', what: 'KiB allocated', kib: true, sites: 12 },
    { key: 'outlived', start: '/heap/start-outliving', what: 'B outlived the young generation', kib: false, sites: 6 },
  ] as const;
  for (const mode of modes) {
    for (const gw of gws) {
      await runLoad({ port: gw.port, request: requestBytes(mode), concurrency: 16, warmupMs: 500, durationMs: 500 });
      const row: Record<string, unknown> = { target: gw.label, mode };
      for (const pass of passes) {
        await probe(gw, 'POST', pass.start);
        const r = await runLoad({ port: gw.port, request: requestBytes(mode), concurrency: 16, warmupMs: 0, durationMs: Math.min(durationMs, 3000) });
        const profile = await probe<HeapProfile & Partial<GcCounts>>(gw, 'POST', '/heap/stop');
        const s = heapSummary(profile, r.requests, pass.sites);
        const gc = gcCounts(profile);
        row[pass.key] = { requests: r.requests, ...s, ...gc };
        const amount = pass.kib ? (s.bytesPerRequest / 1024).toFixed(1) : s.bytesPerRequest.toFixed(0);
        // A full collection frees young objects too, and the sampler counts those as outliving.
        const collected = gc === undefined ? '' : ` (${gc.scavenges} scavenges${gc.fullCollections > 0 ? `; ${gc.fullCollections} full collections, whose young garbage it includes` : ''})`;
        process.stdout.write(formatSites(`${gw.label} ${mode}: ${amount} ${pass.what} per request${collected}; top sites (share, bytes/request):`, 'B', s.sites));
      }
      out.push(row);
    }
  }
  return out;
}

/** What the probe adds to an outliving profile: the collections that ran in its window. */
interface GcCounts {
  readonly scavenges: number;
  readonly fullCollections: number;
}

function gcCounts(p: Partial<GcCounts>): GcCounts | undefined {
  return p.scavenges === undefined || p.fullCollections === undefined ? undefined : { scavenges: p.scavenges, fullCollections: p.fullCollections };
}

/** A CPU profile of each gateway at each concurrency: .cpuprofile, flame graph SVG and the hottest functions. */
async function cpuProfiles(gws: readonly RunningGateway[], modes: readonly Mode[], levels: readonly number[], durationMs: number, outDir: string): Promise<unknown[]> {
  const out: unknown[] = [];
  process.stdout.write('\nCPU profiles (self time; µs per request at the profile\'s sampling rate; at c=1 the time a core spends waking per request is in (idle) and (program))\n');
  for (const mode of modes) {
    for (const c of levels) {
      for (const gw of gws) {
        await runLoad({ port: gw.port, request: requestBytes(mode), concurrency: c, warmupMs: 500, durationMs: 500 });
        await probe(gw, 'POST', '/cpu/start');
        const r = await runLoad({ port: gw.port, request: requestBytes(mode), concurrency: c, warmupMs: 0, durationMs });
        const profile = await probe<CpuProfile>(gw, 'POST', '/cpu/stop');
        const name = `${gw.label.replace(/[^a-z0-9+.-]+/gi, '_')}-${mode}-c${c}`;
        await writeFile(join(outDir, `${name}.cpuprofile`), JSON.stringify(profile));
        await writeFile(join(outDir, `${name}.svg`), flameSvg(profile, `${gw.label}, ${mode}, c=${c}, ${r.requests} requests`));
        const s = cpuSummary(profile, r.requests);
        out.push({ target: gw.label, mode, concurrency: c, requests: r.requests, files: [`${name}.cpuprofile`, `${name}.svg`], sites: s.sites });
        process.stdout.write(formatSites(`${gw.label} ${mode} c=${c} (${join(outDir, `${name}.svg`)}):`, 'µs', s.sites));
      }
    }
  }
  return out;
}

export function requestBytes(mode: Mode): Buffer {
  const body = JSON.stringify({ model: 'bench-model', stream: mode === 'stream', messages: [{ role: 'user', content: 'Say something short.' }] });
  return Buffer.from(
    `POST /v1/chat/completions HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\nauthorization: Bearer client-key\r\nx-workload-app: bench\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

async function startNginx(pinned: boolean, work: string, upPort: number, children: ChildProcess[]): Promise<{ port: number; pids: () => number[] } | undefined> {
  const which = spawnSync('sh', ['-c', 'command -v nginx || ls /usr/sbin/nginx'], { encoding: 'utf8' });
  const bin = which.stdout.trim().split('\n')[0];
  if (which.status !== 0 || bin === undefined || bin.length === 0) return undefined;
  const port = await freePort();
  const dir = join(work, 'nginx');
  await mkdir(dir, { recursive: true });
  const conf = `worker_processes 1;
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  # nginx closes a keep-alive connection after 1,000 requests by default (keepalive_requests), on
  # both sides; the load generator holds its connections for the whole run, like the gateway does.
  keepalive_requests 100000000;
  upstream up { server 127.0.0.1:${upPort}; keepalive 512; keepalive_requests 100000000; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer sk-bench";
      proxy_buffering off;
    }
  }
}
`;
  await writeFile(join(dir, 'nginx.conf'), conf);
  const child = pinned
    ? spawn('taskset', ['-c', '1', bin, '-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' })
    : spawn(bin, ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
  children.push(child);
  const end = Date.now() + 10_000;
  while (Date.now() < end) {
    try {
      await fetch(`http://127.0.0.1:${port}/`);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  // The master (its command line names the config) and its worker ("nginx: worker process"), which
  // does the proxying.
  const list = (args: string[]): number[] => spawnSync('pgrep', args, { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.length > 0).map(Number);
  const pids = (): number[] => {
    const masters = list(['-f', join(dir, 'nginx.conf')]);
    return [...masters, ...masters.flatMap((m) => list(['-P', String(m)]))];
  };
  return { port, pids };
}

