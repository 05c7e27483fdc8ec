// `tollgate demo`: the seed scenario in one command. The gateway runs on the manifests in
// examples/seed-scenario (watched: edit them while it runs), and the two tiers they point at run as
// simulated backends in the same process, each requiring the API key its Secret holds.
import { fileURLToPath } from 'node:url';
import cluster from 'node:cluster';
import { formatDiagnostics, loadConfig } from '../config/index.js';
import type { BackendConfig } from '../config/types.js';
import { createLogger } from '../core/log.js';
import { ConfigError } from '../server/gateway.js';
import { startSimServer, type SimServer } from '../sim/index.js';
import { CliError, formatHelp, parseCommandArgs, parseHostPort } from './args.js';
import { concurrencyFlag, serveInstance, startupError } from './serve.js';

const SEED_DIR = fileURLToPath(new URL('../../examples/seed-scenario/', import.meta.url));

const TIERS = [
  { backend: 'tier1-gemini-flash', model: 'gemini-flash', profile: 'gemini-flash', label: 'tier 1 (premium, simulated Gemini Flash)' },
  { backend: 'tier2-vllm', model: 'gpt-oss-120b', profile: 'h100x4-gpt-oss-120b', label: 'tier 2 (on-prem vLLM, simulated 4xH100 gpt-oss-120b)' },
] as const;

const spec = {
  name: 'demo',
  summary: 'gateway + simulated tier-1/tier-2 backends + the seed scenario, one command',
  usage: `
Usage: tollgate demo [--listen HOST:PORT] [--admin HOST:PORT] [--config DIR] [--concurrency N|auto]

  --listen HOST:PORT   gateway data listener (default 0.0.0.0:8080)
  --admin HOST:PORT    admin listener (default 127.0.0.1:9901)
  --config DIR         the scenario manifests (default: the bundled examples/seed-scenario)
  --concurrency N|auto gateway worker processes (default auto: the CPU quota, else the CPUs)
  --verbose            print the gateway's JSON logs too

The simulated backends listen where the scenario's Backend manifests point (127.0.0.1:8101 and
127.0.0.1:8102). Ctrl-C stops everything.`,
  options: {
    listen: { type: 'string' },
    admin: { type: 'string' },
    config: { type: 'string' },
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
  const configDir = values.config ?? SEED_DIR;
  const listen = parseHostPort(values.listen ?? '0.0.0.0:8080', '--listen');
  const admin = parseHostPort(values.admin ?? '127.0.0.1:9901', '--admin', '127.0.0.1');
  const logger = createLogger({ level: values.verbose === true ? 'info' : 'warn', base: { component: 'gateway' } });
  const concurrency = concurrencyFlag(values.concurrency ?? 'auto');
  const options = { configPaths: [configDir], listen, admin, logger, drainTimeoutMs: 5_000 };
  // A gateway worker re-runs this command: it serves, the primary runs the simulated backends.
  if (cluster.isWorker) return serveInstance(concurrency, options);

  // The scenario is the single source of truth: backends start where its manifests point and
  // require the keys its Secrets hold, so an edited scenario still works end to end.
  const loaded = await loadConfig({ paths: [configDir], purpose: 'serve' });
  if (loaded.config === undefined) throw startupError(new ConfigError(formatDiagnostics(loaded.diagnostics)));
  const sims: SimServer[] = [];
  const started: string[] = [];
  try {
    for (const tier of TIERS) {
      const backend = findBackend(loaded.config.backends, tier.backend);
      const ep = backend.endpoints[0];
      if (ep === undefined) throw new CliError(`backend ${tier.backend} has no endpoint in ${configDir}`);
      // The credential is the header value the gateway injects ("Bearer <key>" for APIKey policies).
      const apiKey = backend.credential?.value.reveal().replace(/^Bearer /, '');
      const sim = await startSimServer({ host: ep.host, port: ep.port, model: tier.model, profile: tier.profile, ...(apiKey === undefined ? {} : { apiKey }) }).catch(
        (err: unknown) => {
          throw (err as NodeJS.ErrnoException).code === 'EADDRINUSE'
            ? new CliError(`cannot start the ${tier.label} backend: ${ep.host}:${ep.port} is already in use`, 'stop whatever listens there (an earlier demo?) and retry')
            : err;
        },
      );
      sims.push(sim);
      started.push(`  ${tier.label.padEnd(52)} ${sim.url}  (requires its API key)`);
    }
    return await serveInstance(concurrency, options, (data, adminAddr) => {
      const host = listen.host === '0.0.0.0' || listen.host === '::' ? 'localhost' : listen.host;
      const gw = `http://${host}:${data.port}`;
      const adm = `http://${adminAddr.host}:${adminAddr.port}`;
      process.stdout.write(banner(gw, adm, started, configDir, sims[0]?.url ?? 'http://127.0.0.1:8101'));
    });
  } finally {
    await Promise.all(sims.map((s) => s.close()));
  }
}

function findBackend(backends: ReadonlyMap<string, BackendConfig>, name: string): BackendConfig {
  for (const b of backends.values()) if (b.name === name) return b;
  throw new CliError(`the scenario has no AIServiceBackend named "${name}"`, 'the demo expects the backends of examples/seed-scenario');
}

function banner(gw: string, admin: string, sims: string[], configDir: string, tier1: string): string {
  const body = (app: string, extra = ''): string =>
    `curl -s ${gw}/v1/chat/completions -H 'content-type: application/json' -H 'x-workload-app: ${app}'${extra} \\\n    -d '{"model":"gpt-oss-120b","messages":[{"role":"user","content":"Say hello"}]}'`;
  return `
Tollgate demo is running.

  gateway (OpenAI API, HTTP/1.1 + h2c)                  ${gw}
  admin (/metrics /config_dump /readyz)                  ${admin}
${sims.join('\n')}
  scenario manifests (watched; edit them live)           ${configDir}

Seed test case 1, local rate limiting (swe-rebench-ide, 2 requests per minute):
  for i in 1 2 3 4 5 6; do ${body('swe-rebench-ide').replace("curl -s ", "curl -s -o /dev/null -w '%{http_code}\\n' ")}; done
  curl -s ${admin}/stats/prometheus | grep http_local_rate_limit_rate_limited

Seed test case 2, zero trust (the rogue token is stripped; the tier-1 key is injected):
  ${body('toolbench-agent', " -H 'authorization: Bearer malicious-token' -H 'x-request-id: zero-trust-1'")}
  curl -s ${tier1}/_sim/requests/zero-trust-1     # what the backend received
  curl -s -w '\\n%{http_code}\\n' ${tier1}/v1/chat/completions -H 'content-type: application/json' -d '{"model":"gemini-flash","messages":[{"role":"user","content":"hi"}]}'   # bypass: rejected

Seed test case 3, identity routing (same body, three identities):
  ${body('swe-rebench-ide')}     # tier 2
  ${body('toolbench-agent')}     # tier 1
  ${body('unknown-guest')}       # 404

Streaming:
  curl -sN ${gw}/v1/chat/completions -H 'content-type: application/json' -H 'x-workload-app: terminal-bench-ci' \\
    -d '{"model":"gpt-oss-120b","stream":true,"messages":[{"role":"user","content":"Tell me a story"}],"max_tokens":40}'

Press Ctrl-C to stop.
`;
}
