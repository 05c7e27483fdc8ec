// `tollgate verify`: the whitepaper's functional suite (and more) against any live gateway, over HTTP.
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { formatReport, textHeader, textResult, textSummary, type ReportFormat } from '../verify/report.js';
import { ALL_CHECKS, checksFor, runVerify } from '../verify/runner.js';
import { SEED, type Tier } from '../verify/scenario.js';
import { CliError, formatHelp, parseCommandArgs, parsePositiveInt, UsageError } from './args.js';

const spec = {
  name: 'verify',
  summary: 'functional validation of a live gateway (rate limit, zero trust, identity routing, …); fails loudly',
  usage: `
Usage: tollgate verify [--gateway URL] [--admin URL] [--suite seed|full] [--format text|json|junit]
                       [--out FILE] [--backend tier1=URL] [--backend tier2=URL] [--config DIR]
                       [--skip ID,...] [--only ID,...] [--timeout SEC] [--list]

  --gateway URL        the gateway's data listener (default http://127.0.0.1:8080, the demo's)
  --admin URL          its admin listener (default http://127.0.0.1:9901)
  --suite S            seed: the whitepaper's three test cases (default)
                       full: seed + credential smuggling, spoofed x-ai-eg-model, streaming with
                       usage, token metrics per model, malformed/oversize/unknown requests, client
                       disconnect mid-stream, config reload while streaming, admin endpoints
  --format F           text (default), json or junit
  --out FILE           write the report in --format to FILE; stdout then shows the text report
  --backend T=URL      the simulated backend of tier1 / tier2 (default the demo's: tier1=${SEED.tiers.tier1.demoUrl},
                       tier2=${SEED.tiers.tier2.demoUrl}); verify asks it what reached it
  --config DIR         the directory the gateway watches (needed by reload-while-streaming, which
                       adds and removes one manifest there)
  --skip IDS           skip these checks (comma-separated ids; --list shows them)
  --only IDS           run only these checks (the preflight always runs)
  --timeout SEC        per request: no complete response (for streams: no byte) in time fails (default 15)
  --list               list the checks of --suite and exit

The gateway must serve the seed scenario (examples/seed-scenario), and verify must be its only client
while it runs: the rate-limit and metric checks count exactly. Exit code 0 when every check passed,
1 when one failed or could not run, 2 on bad usage.`,
  options: {
    gateway: { type: 'string' },
    admin: { type: 'string' },
    suite: { type: 'string' },
    format: { type: 'string' },
    out: { type: 'string' },
    backend: { type: 'string', multiple: true },
    config: { type: 'string' },
    skip: { type: 'string', multiple: true },
    only: { type: 'string', multiple: true },
    timeout: { type: 'string' },
    list: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
} as const;

function baseUrl(value: string, flag: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new UsageError(`${flag}: "${value}" is not a URL`, `for example ${flag} http://127.0.0.1:8080`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`${flag}: "${value}" must be an http:// or https:// URL`);
  if (u.search !== '' || u.hash !== '') throw new UsageError(`${flag}: "${value}" must not have a query or fragment`);
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

function ids(values: readonly string[] | undefined, flag: string): Set<string> {
  const known = new Set(['preflight', ...ALL_CHECKS.map((c) => c.id)]);
  const out = new Set<string>();
  for (const v of values ?? []) {
    for (const id of v.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) {
      if (!known.has(id)) throw new UsageError(`${flag}: no check "${id}"`, `the checks are: ${[...known].join(', ')}`);
      if (id === 'preflight') throw new UsageError(`${flag}: the preflight always runs`);
      out.add(id);
    }
  }
  return out;
}

function backends(values: readonly string[] | undefined): Record<Tier, string> {
  const out: Record<Tier, string> = { tier1: SEED.tiers.tier1.demoUrl, tier2: SEED.tiers.tier2.demoUrl };
  for (const v of values ?? []) {
    const m = /^(tier1|tier2)=(.+)$/.exec(v);
    if (m === null) throw new UsageError(`--backend: "${v}" is not tier1=URL or tier2=URL`);
    out[m[1] as Tier] = baseUrl(m[2] ?? '', `--backend ${m[1] ?? ''}`);
  }
  return out;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(spec, argv);
  if (values.help === true) {
    process.stdout.write(formatHelp(spec));
    return 0;
  }
  const suite = values.suite ?? 'seed';
  if (suite !== 'seed' && suite !== 'full') throw new UsageError(`--suite: "${suite}" is not seed or full`);
  const format = values.format ?? 'text';
  if (format !== 'text' && format !== 'json' && format !== 'junit') throw new UsageError(`--format: "${format}" is not text, json or junit`);
  if (values.list === true) {
    for (const c of checksFor(suite)) process.stdout.write(`${c.id.padEnd(24)} ${c.suite.padEnd(5)} ${c.title}  (${c.source})\n`);
    return 0;
  }
  const skip = ids(values.skip, '--skip');
  const only = ids(values.only, '--only');
  const selected = checksFor(suite).filter((c) => (only.size === 0 || only.has(c.id)) && !skip.has(c.id));
  const configDir = values.config === undefined ? undefined : resolve(values.config);
  if (configDir !== undefined) {
    const st = await stat(configDir).catch(() => undefined);
    if (st?.isDirectory() !== true) throw new UsageError(`--config: ${configDir} is not a directory`, 'give the directory the gateway watches (its --config)');
  }
  const needsDir = selected.filter((c) => c.needsConfigDir === true);
  if (configDir === undefined && needsDir.length > 0) {
    throw new UsageError(
      `${needsDir.map((c) => c.id).join(', ')} needs the gateway's watched config directory`,
      `pass --config DIR (for \`tollgate demo --config DIR\` the same DIR), or --skip ${needsDir.map((c) => c.id).join(',')}`,
    );
  }
  const opts = {
    gateway: baseUrl(values.gateway ?? 'http://127.0.0.1:8080', '--gateway'),
    admin: baseUrl(values.admin ?? 'http://127.0.0.1:9901', '--admin'),
    backends: backends(values.backend),
    configDir,
    timeoutMs: parsePositiveInt(values.timeout ?? '15', '--timeout', { max: 3600 }) * 1000,
    suite,
    skip,
    only,
  } as const;

  // Text on stdout streams as checks finish, unless stdout is reserved for json/junit.
  const textLive = format === 'text' || values.out !== undefined;
  if (textLive) process.stdout.write(textHeader(suite, opts.gateway, opts.admin));
  const report = await runVerify(
    opts,
    (r) => {
      if (textLive) process.stdout.write(textResult(r));
    },
    (line) => process.stderr.write(`${line}\n`),
  );
  if (textLive) process.stdout.write(textSummary(report));
  const fmt: ReportFormat = format;
  if (values.out !== undefined) await writeReport(values.out, formatReport(report, fmt));
  else if (fmt !== 'text') process.stdout.write(formatReport(report, fmt));
  return report.ok ? 0 : 1;
}

async function writeReport(file: string, text: string): Promise<void> {
  try {
    await mkdir(dirname(resolve(file)), { recursive: true });
    await writeFile(file, text);
  } catch (err) {
    throw new CliError(`cannot write the report to ${file}: ${(err as Error).message}`);
  }
}
