#!/usr/bin/env node
// `npm run scenario:seed`: the whitepaper's performance test (chapters 6 and 7), reproduced on
// one machine. Simulated 4×H100 gpt-oss-120b (tier 2) and Gemini Flash (tier 1) backends, the
// gateway on the seed scenario's manifests, a synthetic corpus, and the load harness: a
// telemetry-gated ramp to T2, then a soak at 85% of it. The report compares the run with the
// whitepaper's figures. docs/load.md explains every choice made here.
//
//   npm run scenario:seed                       # the full run: ~26 min ramp + 10 min soak
//   npm run scenario:seed -- --short            # the CI version: a miniature engine, ~60 s
//   npm run scenario:seed -- --out DIR --step-duration 60s --soak 5m
//
// Everything runs as separate processes of the built CLI (bin/tollgate.js), on free ports.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'tollgate.js');
const SEED = join(ROOT, 'examples', 'seed-scenario');
const TIER1_KEY = 'demo-tier1-key-not-for-production';
const TIER2_KEY = 'demo-tier2-key-not-for-production';

// ---- what is run ---------------------------------------------------------------------------

// The corpus: profiles B, C and D (the apps the seed scenario routes to the on-prem vLLM tier;
// T2 and T3 are that engine's boundaries), with the lengths and think times of the workload the
// simulator profile was calibrated with: CALIBRATED_PARAMS, src/workload/synth/calibrated.ts
// (imported from dist/ below, once the build is known to be there; the picker bench uses it too).

const FULL = {
  name: 'seed-scenario',
  sessions: 12000,
  thinkScale: 1,
  tier2Profile: 'h100x4-gpt-oss-120b',
  plan: {
    gap: '7.5s',
    ramp: { start: 32, step: 16, max: 320, stepDuration: '2m', settle: '45s' },
    soak: { fraction: 0.85, duration: '10m' },
    gates: { window: '30s', sustain: 3, minSamples: 30 },
    interval: '2s',
    bin: '10s',
  },
};

/**
 * The CI version: the same engine model shrunk so the knee comes in seconds. Every step-time
 * coefficient and every think time is divided by 5 (requests take ~1/5 as long), and the batch
 * holds 16 sequences instead of 160, so T2 comes at a few dozen users. The shape (a compute knee
 * with zero preemptions, a flat KV cache in the soak, millisecond overhead) is what it checks;
 * the whitepaper's numbers need the full run.
 */
const SHORT = {
  name: 'seed-scenario-short',
  sessions: 1500,
  thinkScale: 0.2,
  // The simulator's miniature engine (MINIATURE_PROFILE, src/sim/miniature.ts, imported below).
  tier2Profile: 'miniature',
  plan: {
    gap: '1.5s',
    ramp: { start: 8, step: 8, max: 96, stepDuration: '5s', settle: '1.5s' },
    soak: { fraction: 0.85, duration: '12s' },
    gates: { window: '3s', sustain: 2, minSamples: 15 },
    interval: '500ms',
    bin: '1s',
  },
};

// ---- arguments -----------------------------------------------------------------------------

function usage(code) {
  process.stdout.write(`Usage: npm run scenario:seed [-- --short] [--out DIR] [--sessions N] [--step-duration T] [--soak T] [--quiet]

  --short             the CI version (~60 s): a miniature engine, same mechanisms
  --out DIR           where the corpus, configs, logs and results go (default .bench-out/<name>)
  --sessions N        corpus size (default ${FULL.sessions}; --short ${SHORT.sessions})
  --step-duration T   ramp step length (default ${FULL.plan.ramp.stepDuration}; --short ${SHORT.plan.ramp.stepDuration})
  --soak T            soak length (default ${FULL.plan.soak.duration}; --short ${SHORT.plan.soak.duration})
  --quiet             no live view
`);
  process.exit(code);
}

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const value = (name) => {
  const i = argv.indexOf(name);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) {
    process.stderr.write(`scenario:seed: ${name} needs a value\n`);
    usage(2);
  }
  return v;
};
if (flag('--help') || flag('-h')) usage(0);
for (const a of argv) if (a.startsWith('--') && !['--short', '--out', '--sessions', '--step-duration', '--soak', '--quiet'].includes(a)) {
  process.stderr.write(`scenario:seed: unknown flag ${a}\n`);
  usage(2);
}
const cfg = flag('--short') ? SHORT : FULL;
const out = resolve(value('--out') ?? join(ROOT, '.bench-out', cfg.name));
const sessions = Number(value('--sessions') ?? cfg.sessions);
const stepDuration = value('--step-duration') ?? cfg.plan.ramp.stepDuration;
const soakDuration = value('--soak') ?? cfg.plan.soak.duration;
// The built CLI, and the corpus parameters and miniature engine it was built with (a build older
// than them lacks the files).
if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js')) || !existsSync(join(ROOT, 'dist', 'workload', 'synth', 'calibrated.js')) || !existsSync(join(ROOT, 'dist', 'sim', 'miniature.js'))) {
  process.stderr.write('scenario:seed: the CLI is not built; run `npm run build` first\n');
  process.exit(2);
}
const { CALIBRATED_PARAMS: PARAMS } = await import('../dist/workload/synth/calibrated.js');
const { MINIATURE_PROFILE } = await import('../dist/sim/miniature.js');

// ---- helpers -------------------------------------------------------------------------------

const children = [];
function log(line) {
  process.stdout.write(`${line}\n`);
}

function run(args, what) {
  log(`$ tollgate ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [BIN, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status})`);
}

function start(args, name) {
  log(`$ tollgate ${args.join(' ')} &`);
  const fd = openSync(join(out, 'logs', `${name}.log`), 'w');
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', fd, fd] });
  child.name = name;
  children.push(child);
  child.on('exit', (code, signal) => {
    if (!stopping) process.stderr.write(`scenario:seed: ${name} exited (${code ?? signal}); see ${join(out, 'logs', `${name}.log`)}\n`);
  });
  return child;
}

let stopping = false;
async function stopAll() {
  stopping = true;
  await Promise.all(
    children.map(
      (c) =>
        new Promise((r) => {
          if (c.exitCode !== null || c.signalCode !== null) return r();
          c.once('exit', () => r());
          c.kill('SIGTERM');
          setTimeout(() => {
            if (c.exitCode === null) c.kill('SIGKILL');
          }, 5000).unref();
        }),
    ),
  );
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolvePort(port));
    });
  });
}

async function waitHttp(url, what, ms = 30_000) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await r.body?.cancel();
      if (r.status < 500) return;
    } catch {
      // not up yet
    }
    if (Date.now() > end) throw new Error(`${what} did not come up at ${url}; see ${join(out, 'logs')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// ---- the run -------------------------------------------------------------------------------

async function main() {
  mkdirSync(join(out, 'logs'), { recursive: true });
  log(`scenario:seed (${cfg === SHORT ? 'short' : 'full'}) → ${out}\n`);

  // 1. The corpus, reused when the same parameters made it already.
  const paramsFile = join(out, 'synth-params.json');
  writeFileSync(paramsFile, `${JSON.stringify(PARAMS, null, 2)}\n`);
  const key = createHash('sha256').update(JSON.stringify([PARAMS, sessions, cfg.thinkScale])).digest('hex').slice(0, 12);
  const corpus = join(out, `corpus-${key}`);
  if (!existsSync(join(corpus, 'manifest.json'))) {
    for (const d of readdirSync(out)) if (d.startsWith('corpus-')) rmSync(join(out, d), { recursive: true, force: true });
    run(['synth', '--sessions', String(sessions), '--profiles', 'B,C,D', '--params', paramsFile, '--think-scale', String(cfg.thinkScale), '--out', corpus, '--quiet'], 'synth');
  } else log(`(reusing the corpus in ${corpus})`);

  // 2. The gateway's config: the seed scenario on free ports, without its rate-limit policy
  //    (seed test case 1's 2 requests/minute for swe-rebench-ide would shed the load test).
  const [p1, p2, pg, pa] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const config = join(out, 'gateway-config');
  rmSync(config, { recursive: true, force: true });
  mkdirSync(config, { recursive: true });
  for (const f of readdirSync(SEED)) {
    if (!f.endsWith('.yaml') || f === 'traffic.yaml') continue;
    if (f === 'backends.yaml') writeFileSync(join(config, f), readFileSync(join(SEED, f), 'utf8').replace('port: 8101', `port: ${p1}`).replace('port: 8102', `port: ${p2}`));
    else copyFileSync(join(SEED, f), join(config, f));
  }

  // 3. Backends and gateway, each its own process.
  let tier2Profile = cfg.tier2Profile === 'miniature' ? MINIATURE_PROFILE : cfg.tier2Profile;
  if (typeof tier2Profile !== 'string') {
    const f = join(out, 'tier2-profile.json');
    writeFileSync(f, `${JSON.stringify(tier2Profile, null, 2)}\n`);
    tier2Profile = f;
  }
  start(['sim', '--listen', `127.0.0.1:${p1}`, '--profile', 'gemini-flash', '--model', 'gemini-flash', '--api-key', TIER1_KEY, '--seed', '1'], 'tier1-sim');
  start(['sim', '--listen', `127.0.0.1:${p2}`, '--profile', tier2Profile, '--model', 'gpt-oss-120b', '--api-key', TIER2_KEY, '--seed', '2'], 'tier2-sim');
  start(['serve', '--config', config, '--listen', `127.0.0.1:${pg}`, '--admin', `127.0.0.1:${pa}`, '--log-level', 'warn', '--no-watch'], 'gateway');
  await waitHttp(`http://127.0.0.1:${p1}/health`, 'the tier-1 simulator');
  await waitHttp(`http://127.0.0.1:${p2}/health`, 'the tier-2 simulator');
  await waitHttp(`http://127.0.0.1:${pa}/readyz`, 'the gateway');

  // 4. The plan, and the harness.
  const p = cfg.plan;
  const plan = `# The seed scenario's load plan (written by scripts/scenario-seed.mjs)
name: ${cfg.name}
mode: users
seed: 1
session_gap: ${p.gap}        # users pause between sessions as between turns (the corpus's think time)
phases:
  - {kind: ramp, start: ${p.ramp.start}, step: ${p.ramp.step}, max: ${p.ramp.max}, step_duration: ${stepDuration}, settle: ${p.ramp.settle}}
  - {kind: soak, fraction: ${p.soak.fraction}, duration: ${soakDuration}}
gates:
  window: ${p.gates.window}
  sustain: ${p.gates.sustain}
  min_samples: ${p.gates.minSamples}
  t2: {factor: 3.0, source: client}
  t3: {max_rate: 0.05}
  error_rate: {max: 0.05}
slo: {ttft: 2s, tpot: 0.1s}
telemetry:
  interval: ${p.interval}
  targets:
    - {name: gateway, url: http://127.0.0.1:${pa}/metrics}
    - {name: vllm-tier2, url: http://127.0.0.1:${p2}/metrics}
    - {name: dcgm-tier2, url: http://127.0.0.1:${p2}/_sim/dcgm}
harness: {bin: ${p.bin}}
${cfg === FULL ? 'reference: whitepaper   # compare with the whitepaper\'s chapter-7 figures' : '# (no whitepaper comparison: a miniature engine reproduces the shape, not the numbers)'}
`;
  const planFile = join(out, 'plan.yaml');
  writeFileSync(planFile, plan);
  const results = join(out, 'results');
  const loadArgs = ['load', '--workload', corpus, '--target', `http://127.0.0.1:${pg}`, '--plan', planFile, '--out', results, ...(flag('--quiet') ? ['--quiet'] : [])];
  log(`$ tollgate ${loadArgs.join(' ')}`);
  const code = await new Promise((r) => {
    const c = spawn(process.execPath, [BIN, ...loadArgs], { stdio: ['ignore', 'inherit', 'inherit'] });
    process.on('SIGINT', () => c.kill('SIGINT'));
    c.on('exit', (code) => r(code ?? 1));
  });
  log(`\nreport: ${join(results, 'report.html')}`);
  return code;
}

main().then(
  async (code) => {
    await stopAll();
    process.exit(code);
  },
  async (err) => {
    process.stderr.write(`scenario:seed: ${err instanceof Error ? err.message : String(err)}\n`);
    await stopAll();
    process.exit(1);
  },
);
