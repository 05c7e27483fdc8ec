// `tollgate load`: replay a corpus against a gateway with a telemetry-gated ramp and a soak; write
// results.json and report.html.
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDuration } from '../load/plan/fields.js';
import { DEFAULT_PLAN, DEFAULT_PLAN_YAML } from '../load/plan/defaults.js';
import { applyOverrides } from '../load/plan/overrides.js';
import { loadPlanFile, PlanError } from '../load/plan/parse.js';
import { createLiveView } from '../load/live.js';
import { writeRunOutput, summaryText } from '../load/output.js';
import { LoadError, runLoad } from '../load/run.js';
import { CorpusError } from '../workload/manifest.js';
import { parseShard } from '../workload/reader.js';
import { CliError, formatHelp, parseCommandArgs, parsePositiveInt, UsageError } from './args.js';

const spec = {
  name: 'load',
  summary: 'replay a corpus: session arrivals, think times, telemetry-gated ramp (T2/T3), soak, HTML report',
  usage: `
Usage: tollgate load --workload DIR --target URL --out DIR [--plan FILE] [flags]

  --workload DIR          the corpus to replay (tollgate synth / tollgate unroll)
  --target URL            the gateway or any OpenAI-compatible server, e.g. http://127.0.0.1:8080
  --out DIR               where results.json and report.html are written
  --plan FILE             load plan, YAML or JSON (default: ramp 20 users at a time every 2 min,
                          T2/T3 gates, soak at 85% of T2 for 10 min; see --print-plan)

Plan overrides:
  --users N | --rate R    one steady phase of N users, or R sessions/s (replaces the plan's phases)
  --duration TIME         with --users/--rate: how long (default 60s); otherwise a cap on the run
  --ramp START:STEP:MAX   ramp levels             --step-duration TIME   ramp step length
  --soak TIME             soak length (0: none)   --soak-fraction F      of the T2 level (0.85)
  --mode users|rate       --mix A=0.2,D=0.8      --seed N              --slo-ttft TIME
  --telemetry [NAME=]URL  scrape a Prometheus endpoint (gateway admin /metrics, vLLM or simulator
                          /metrics, DCGM exporter); repeatable
  --prometheus URL[#SEL]  query a Prometheus server instead, e.g. http://prom:9090#{job="vllm"}
  --scrape-interval TIME  telemetry and gate evaluation interval (default 2s)
  --header 'Name: value'  add a header to every request (repeatable; values never printed)
  --reference whitepaper  compare with the whitepaper's chapter-7 figures in the report
  --max-error-rate F      fail the run when more than F of its requests fail (default 0.05, or 5%)

Harness:
  --workers N             worker threads driving the load (default: cores − 1, at least 1; 0: main thread)
  --shard i/n             run shard i of n: a disjoint 1/n of the sessions and of the load
                          (merge with \`tollgate report --merge DIR…\`)
  --start-at TIME         ISO time or epoch seconds at which to start (shards of one run share it)
  --quiet                 no live view          --no-report   results.json only
  --print-plan            print the default plan as YAML and exit

Durations: seconds or 250ms, 90s, 5m, 1h. Exit 0 when the run completed (finding T2 is a result,
not a failure), 1 when it aborted (T3 or another abort gate), failed (more errors than
--max-error-rate, or the harness failed) or was interrupted.`,
  options: {
    workload: { type: 'string' },
    target: { type: 'string' },
    out: { type: 'string' },
    plan: { type: 'string' },
    users: { type: 'string' },
    rate: { type: 'string' },
    duration: { type: 'string' },
    ramp: { type: 'string' },
    'step-duration': { type: 'string' },
    soak: { type: 'string' },
    'soak-fraction': { type: 'string' },
    mode: { type: 'string' },
    mix: { type: 'string' },
    seed: { type: 'string' },
    'slo-ttft': { type: 'string' },
    'max-error-rate': { type: 'string' },
    telemetry: { type: 'string', multiple: true },
    prometheus: { type: 'string', multiple: true },
    'scrape-interval': { type: 'string' },
    header: { type: 'string', multiple: true, short: 'H' },
    reference: { type: 'string' },
    workers: { type: 'string' },
    shard: { type: 'string' },
    'start-at': { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
    'no-report': { type: 'boolean' },
    'print-plan': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
} as const;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(spec, argv);
  if (values.help === true) {
    process.stdout.write(formatHelp(spec));
    return 0;
  }
  if (values['print-plan'] === true) {
    process.stdout.write(DEFAULT_PLAN_YAML);
    return 0;
  }
  for (const f of ['workload', 'target', 'out'] as const) {
    if (values[f] === undefined) throw new UsageError(`--${f} is required`, 'tollgate load --workload DIR --target URL --out DIR [--plan FILE]');
  }
  const target = values.target as string;
  if (!/^https?:\/\/[^/]/.test(target)) throw new UsageError(`--target: "${target}" is not an http(s) URL`, 'for example --target http://127.0.0.1:8080');
  let plan;
  try {
    const base = values.plan === undefined ? DEFAULT_PLAN : loadPlanFile(values.plan);
    plan = applyOverrides(base, {
      mode: values.mode,
      users: values.users,
      rate: values.rate,
      duration: values.duration,
      ramp: values.ramp,
      stepDuration: values['step-duration'],
      soak: values.soak,
      soakFraction: values['soak-fraction'],
      mix: values.mix,
      seed: values.seed,
      telemetry: values.telemetry,
      prometheus: values.prometheus,
      headers: values.header,
      reference: values.reference,
      sloTtft: values['slo-ttft'],
      maxErrorRate: values['max-error-rate'],
      interval: values['scrape-interval'],
    });
  } catch (err) {
    if (err instanceof PlanError) throw new UsageError(err.message, 'see `tollgate load --print-plan` and docs/load.md');
    throw err;
  }
  let shard;
  if (values.shard !== undefined) {
    const s = parseShard(values.shard);
    if (typeof s === 'string') throw new UsageError(`--shard: ${s}`);
    shard = s;
  }
  const workers = values.workers === undefined ? undefined : parsePositiveInt(values.workers, '--workers', { min: 0, max: 64 });
  const startAt = values['start-at'] === undefined ? undefined : parseStartAt(values['start-at']);
  const out = resolve(values.out as string);
  try {
    mkdirSync(out, { recursive: true });
  } catch (err) {
    throw new CliError(`--out ${out}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const live = createLiveView(values.quiet === true ? 'quiet' : process.stderr.isTTY ? 'tty' : 'plain');
  const ac = new AbortController();
  const onSignal = (): void => {
    live.line('stopping (Ctrl-C again to force)…');
    process.off('SIGINT', onSignal);
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let results;
  try {
    results = await runLoad({
      corpus: resolve(values.workload as string),
      target,
      plan,
      ...(shard === undefined ? {} : { shard }),
      ...(workers === undefined ? {} : { workers }),
      ...(startAt === undefined ? {} : { startAt }),
      live,
      signal: ac.signal,
      command: ['tollgate', 'load', ...argv],
    });
  } catch (err) {
    if (err instanceof LoadError || err instanceof CorpusError) throw new CliError(err.message, err.hint);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const files = writeRunOutput(results, out, values['no-report'] !== true);
  process.stdout.write(summaryText(results, files));
  return results.status.state === 'completed' ? 0 : 1;
}

function parseStartAt(v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) {
    const n = Number(v);
    return n > 1e12 ? n : n * 1000;
  }
  const rel = /^\+(.+)$/.exec(v);
  if (rel !== null) {
    const d = parseDuration(rel[1]);
    if (d !== undefined) return Date.now() + d * 1000;
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new UsageError(`--start-at: "${v}" is not a time`, 'an ISO time (2026-07-01T12:00:00Z), epoch seconds, or +30s from now');
  return t;
}
