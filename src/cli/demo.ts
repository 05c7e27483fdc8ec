// `tollgate demo`: the seed scenario in one command. The gateway runs on the manifests in
// examples/seed-scenario (watched: edit them while it runs), and the two tiers they point at run as
// simulated backends in the same process, each requiring the API key its Secret holds.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import cluster from 'node:cluster';
import { formatDiagnostics, loadConfig } from '../config/index.js';
import type { BackendConfig } from '../config/types.js';
import { parseRates } from '../accounting/rates.js';
import { createLogger } from '../core/log.js';
import { openStateStore } from '../state/index.js';
import { ConfigError } from '../server/gateway.js';
import { SimConfigError, startSimServer, type SimServer } from '../sim/index.js';
import { CliError, formatHelp, parseCommandArgs, parseHostPort } from './args.js';
import { concurrencyFlag, serveInstance, startupError, waitForSignal } from './serve.js';

const SEED_DIR = fileURLToPath(new URL('../../examples/seed-scenario/', import.meta.url));
/** Outside the repository and kept between runs, so \`chargeback\` can read it after the demo stops. */
const DEFAULT_LEDGER = join(tmpdir(), 'tollgate-demo', 'ledger');
/** Virtual keys of the demo and the admin token that manages them (a fresh token per run). */
const STATE_DIR = join(tmpdir(), 'tollgate-demo', 'state');
const TOKEN_FILE = join(tmpdir(), 'tollgate-demo', 'admin-token');
/** `bin/tollgate.js` of this installation, whatever the demo was started through (npm, npx, node). */
const CLI_SCRIPT = fileURLToPath(new URL('../../bin/tollgate.js', import.meta.url));

const TIERS = [
  { backend: 'tier1-gemini-flash', model: 'gemini-flash', profile: 'gemini-flash', label: 'tier 1 (premium, simulated Gemini Flash)' },
  { backend: 'tier2-vllm', model: 'gpt-oss-120b', profile: 'h100x4-gpt-oss-120b', label: 'tier 2 (on-prem vLLM, simulated 4xH100 gpt-oss-120b)' },
] as const;

const spec = {
  name: 'demo',
  summary: 'gateway + simulated tier-1/tier-2 backends + the seed scenario, one command',
  usage: `
Usage: tollgate demo [--listen HOST:PORT] [--admin HOST:PORT] [--config DIR] [--ledger DIR] [--concurrency N|auto] [--verbose]

  --listen HOST:PORT   gateway data listener (default 0.0.0.0:8080)
  --admin HOST:PORT    admin listener and live dashboard (default 127.0.0.1:9901)
  --config DIR         the scenario manifests (default: the bundled examples/seed-scenario)
  --ledger DIR         usage ledger, one line per request, for \`tollgate chargeback\`
                       (default: ${DEFAULT_LEDGER})
  --concurrency N|auto gateway worker processes (default auto: the CPU quota, else the CPUs)
  --verbose            print the gateway's JSON logs too

The simulated backends listen where the scenario's Backend manifests point (127.0.0.1:8101 and
127.0.0.1:8102). Ctrl-C stops everything (so does stopping the npm or npx that started it).`,
  options: {
    listen: { type: 'string' },
    admin: { type: 'string' },
    config: { type: 'string' },
    ledger: { type: 'string' },
    concurrency: { type: 'string' },
    verbose: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
} as const;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(spec, argv);
  if (values.help === true) {
    process.stdout.write(formatHelp(spec));
    return 0;
  }
  const configDir = resolve(values.config ?? SEED_DIR);
  const ledgerDir = resolve(values.ledger ?? DEFAULT_LEDGER);
  const listen = parseHostPort(values.listen ?? '0.0.0.0:8080', '--listen');
  const admin = parseHostPort(values.admin ?? '127.0.0.1:9901', '--admin', '127.0.0.1');
  const logger = createLogger({ level: values.verbose === true ? 'info' : 'warn', base: { component: 'gateway' } });
  const concurrency = concurrencyFlag(values.concurrency ?? 'auto');
  const ratesFile = join(configDir, 'rates.yaml');
  const rates = existsSync(ratesFile) ? parseRates(readFileSync(ratesFile, 'utf8'), ratesFile) : undefined;
  // Only the primary serves the key API (a worker re-runs this command and needs no token); the
  // token file is written once the demo serves, so a second demo that cannot start leaves it alone.
  const adminToken = cluster.isWorker ? undefined : randomBytes(24).toString('hex');
  const options = {
    configPaths: [configDir],
    listen,
    admin,
    logger,
    drainTimeoutMs: 5_000,
    telemetry: { ledgerDir, rates },
    state: await openStateStore({ dir: STATE_DIR, logger }),
    adminToken,
  };
  // A gateway worker re-runs this command: it serves, the primary runs the simulated backends.
  if (cluster.isWorker) return serveInstance(concurrency, options);
  const progress = (line: string): void => void process.stdout.write(`${line}\n`);
  progress(`Starting the Tollgate demo on ${configDir}…`);

  // The scenario is the single source of truth: backends start where its manifests point and
  // require the keys its Secrets hold, so an edited scenario still works end to end.
  const loaded = await loadConfig({ paths: [configDir], purpose: 'serve' });
  if (loaded.config === undefined) throw startupError(new ConfigError(formatDiagnostics(loaded.diagnostics)));
  const sims: SimServer[] = [];
  const rows: Array<[string, string]> = [];
  try {
    for (const tier of TIERS) {
      const backend = findBackend(loaded.config.backends, tier.backend);
      const ep = backend.endpoints[0];
      if (ep === undefined) throw new CliError(`backend ${tier.backend} has no endpoint in ${configDir}`);
      progress(`  starting the ${tier.label} on ${ep.host}:${ep.port}…`);
      // The credential is the header value the gateway injects ("Bearer <key>" for APIKey policies).
      const apiKey = backend.credential?.value.reveal().replace(/^Bearer /, '');
      const sim = await startSimServer({ host: ep.host, port: ep.port, model: tier.model, profile: tier.profile, ...(apiKey === undefined ? {} : { apiKey }) }).catch(
        (err: unknown) => {
          if ((err as { code?: unknown }).code === 'EADDRINUSE') {
            throw new CliError(`cannot start the ${tier.label}: ${ep.host}:${ep.port} is already in use`, 'another demo is probably running: stop it (Ctrl-C in its terminal) and retry');
          }
          if (err instanceof SimConfigError) throw new CliError(err.message, err.hint);
          throw err;
        },
      );
      sims.push(sim);
      rows.push([tier.label, `${sim.url}  (requires its API key)`]);
    }
    progress('  starting the gateway…');
    const code = await serveInstance(
      concurrency,
      options,
      (data, adminAddr) => {
        const host = listen.host === '0.0.0.0' || listen.host === '::' ? 'localhost' : listen.host;
        const gw = `http://${host}:${data.port}`;
        const adm = `http://${adminAddr.host}:${adminAddr.port}`;
        mkdirSync(join(tmpdir(), 'tollgate-demo'), { recursive: true });
        writeFileSync(TOKEN_FILE, adminToken ?? '', { mode: 0o600 });
        process.stdout.write(banner({ gw, admin: adm, sims: rows, configDir, ledgerDir, rates: rates === undefined ? undefined : ratesFile, tier1: sims[0]?.url ?? 'http://127.0.0.1:8101', cli: CLI_SCRIPT, tokenFile: TOKEN_FILE }));
      },
      () => Promise.race([waitForSignal(), parentGone()]).then(() => void process.stdout.write('\nstopping…\n')),
    );
    return code;
  } finally {
    await Promise.all(sims.map((s) => s.close()));
  }
}

/**
 * Resolves when the process that started the demo has gone (its parent changes). \`npm run\` and
 * \`npx\` start it through a shell that dies on a signal without passing it on: without this, a
 * demo whose npm was stopped would keep its ports until killed by hand.
 */
function parentGone(): Promise<void> {
  const parent = process.ppid;
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (process.ppid === parent) return;
      clearInterval(timer);
      resolve();
    }, 500);
    timer.unref();
  });
}

function findBackend(backends: ReadonlyMap<string, BackendConfig>, name: string): BackendConfig {
  for (const b of backends.values()) if (b.name === name) return b;
  throw new CliError(`the scenario has no AIServiceBackend named "${name}"`, 'the demo expects the backends of examples/seed-scenario');
}

interface BannerInput {
  readonly gw: string;
  readonly admin: string;
  readonly sims: ReadonlyArray<[string, string]>;
  readonly configDir: string;
  readonly ledgerDir: string;
  readonly rates: string | undefined;
  readonly tier1: string;
  /** The CLI script this demo runs from: the key commands call it for `tollgate`. */
  readonly cli: string;
  readonly tokenFile: string;
}

function banner(b: BannerInput): string {
  const { gw, admin } = b;
  const rows: Array<[string, string]> = [
    ['gateway (OpenAI API, HTTP/1.1 + h2c)', gw],
    ['admin (/metrics /config_dump /readyz)', admin],
    ['dashboard (live traffic, limits, tokens)', `${admin}/`],
    ...b.sims,
    ['scenario manifests (watched; edit them live)', b.configDir],
    ['usage ledger (for tollgate chargeback)', b.ledgerDir],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const table = rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
  const body = (app: string, extra = ''): string =>
    `curl -s ${gw}/v1/chat/completions -H 'content-type: application/json' -H 'x-workload-app: ${app}'${extra} \\\n    -d '{"model":"gpt-oss-120b","messages":[{"role":"user","content":"Say hello"}]}'`;
  const status = (app: string): string => body(app).replace('curl -s ', "curl -s -o /dev/null -w '%{http_code} %header{x-tollgate-backend}\\n' ");
  const keyed = (out: string): string =>
    `curl -s ${out}${gw}/v1/chat/completions -H "authorization: Bearer $KEY" -H 'content-type: application/json' \\\n      -d '{"model":"gpt-oss-120b","max_tokens":40,"messages":[{"role":"user","content":"Say hello"}]}'`;
  return `
Tollgate demo is running.

${table}

Seed test case 3, identity routing (same body, three identities; the status and the backend that answered):
  ${status('terminal-bench-ci')}     # 200 tier2-vllm
  ${status('toolbench-agent')}     # 200 tier1-gemini-flash
  ${status('unknown-guest')}       # 404: no rule for this identity

Seed test case 2, zero trust (the rogue token is stripped; the tier-1 key is injected):
  ${body('toolbench-agent', " -H 'authorization: Bearer malicious-token' -H 'x-request-id: zero-trust-1'")}
  curl -s ${b.tier1}/_sim/requests/zero-trust-1     # what the backend received
  curl -s -w '\\n%{http_code}\\n' ${b.tier1}/v1/chat/completions -H 'content-type: application/json' -d '{"model":"gemini-flash","messages":[{"role":"user","content":"hi"}]}'   # bypass: rejected

Seed test case 1, local rate limiting (swe-rebench-ide, 2 requests per minute: 200 200 429 429 429 429):
  for i in 1 2 3 4 5 6; do ${status('swe-rebench-ide')}; done
  curl -s ${admin}/stats/prometheus | grep http_local_rate_limit_rate_limited

Virtual keys: a key for terminal-bench-ci with a budget of a hundredth of a cent a day, in the currency of
${b.rates ?? 'the rates file'}; watch it run out (200 while the budget lasts, then 429 budget_exceeded):
  alias tollgate="node ${b.cli}"     # this checkout's CLI (or: npx tollgate)
  export TOLLGATE_ADMIN_TOKEN=$(cat ${b.tokenFile})     # the admin token of this run
  KEY=$(tollgate keys create --admin ${admin} --name demo-agent --workload terminal-bench-ci --budget 0.0001/1d --format json | node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8")).key')
  for i in $(seq 1 8); do ${keyed('-o /dev/null -w \'%{http_code}\\n\' ')}; done
  ${keyed('')}; echo     # the refusal names the budget, its period and when it resets
  tollgate keys show $(echo "$KEY" | cut -c4-15) --admin ${admin}     # spend against the budget (the id is the part after tg-)
  # max_tokens matters: admission reserves the worst case (the prompt plus max_tokens of output)

Streaming:
  curl -sN ${gw}/v1/chat/completions -H 'content-type: application/json' -H 'x-workload-app: terminal-bench-ci' \\
    -d '{"model":"gpt-oss-120b","stream":true,"messages":[{"role":"user","content":"Tell me a story"}],"max_tokens":40}'

Then every tool against it (README, "Walk-through"):
  tollgate synth --sessions 300 --profiles toolbench,terminal-bench,omniact,coderforge --out corpus/   # not swe-rebench: test case 1 limits it
  tollgate load --workload corpus/ --target ${gw} --users 8 --duration 60s --out run/
  tollgate report run/
  tollgate chargeback --ledger ${b.ledgerDir}${b.rates === undefined ? ' --rates rates.yaml' : ` --rates ${b.rates}`}

Press Ctrl-C to stop (or: kill -INT ${process.pid}).
`;
}
