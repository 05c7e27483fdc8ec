// `tollgate serve`: the gateway on a config of manifests, until SIGTERM/SIGINT.
import { detectCpuCgroup } from '../cluster/cgroup.js';
import { decideConcurrency, MAX_WORKERS, parseConcurrency, type ConcurrencyDecision, type ConcurrencyFlag } from '../cluster/concurrency.js';
import { Primary, WorkerStartError } from '../cluster/primary.js';
import { runWorker, WORKER_ENV } from '../cluster/worker.js';
import { sleep } from '../core/clock.js';
import { createLogger, type Logger, type LogLevel } from '../core/log.js';
import cluster from 'node:cluster';
import { readFile } from 'node:fs/promises';
import type { FailureMode } from '../limits/index.js';
import { redactUrl } from '../limits/redis.js';
import { ConfigError, Gateway, type GatewayOptions } from '../server/gateway.js';
import { openStateStore, StateStoreError, type StateStore } from '../state/index.js';
import { TELEMETRY_FLAGS, TELEMETRY_USAGE, TelemetryFlagError, telemetryOptions } from '../telemetry/flags.js';
import { TelemetryStartError } from '../telemetry/hub.js';
import { RESPONSES_FLAGS, RESPONSES_USAGE, responseStoreFlags } from '../ingress/responses/flags.js';
import { configureResponseStores } from '../ingress/responses/store.js';
import { CliError, formatHelp, parseCommandArgs, parseHostPort, parsePositiveInt, UsageError } from './args.js';

const spec = {
  name: 'serve',
  summary: 'run the gateway on a config of manifests',
  usage: `
Usage: tollgate serve --config PATH... [flags]

  --config, -c PATH      manifest file or directory (repeatable; env TOLLGATE_CONFIG, comma-separated)
  --listen HOST:PORT     data listener, HTTP/1.1 and h2c (default 0.0.0.0:8080)
  --admin HOST:PORT      admin listener: /healthz /readyz /config_dump /metrics (default 127.0.0.1:9901)
  --secrets-dir DIR      secrets mounted as DIR/<secret-name>/<key> (env TOLLGATE_SECRETS_DIR)
  --redis URL            Redis for global rate limits and quotas shared by every replica
                         (redis://host:6379/0, rediss:// for TLS; env TOLLGATE_REDIS_URL)
  --redis-password-file FILE  Redis password from a mounted secret (env TOLLGATE_REDIS_PASSWORD)
  --redis-ca FILE        CA bundle for rediss:// with a private CA
  --redis-prefix P       key prefix in Redis (default "tollgate:")
  --redis-timeout MS     longest a request waits on Redis (default 200)
  --rate-limit-failure-mode open|closed
                         when Redis is unreachable: let requests through (open, default) or answer
                         503 (closed); env TOLLGATE_RATE_LIMIT_FAILURE_MODE
  --budget-failure-mode closed|open
                         when the store counting virtual key budgets is unreachable: answer 503
                         (closed, default) or admit and charge the spend once it answers (open);
                         env TOLLGATE_BUDGET_FAILURE_MODE
  --concurrency N|auto   worker processes sharing the listener, limits and admin port (default auto:
                         the cgroup CPU quota rounded up, else the available CPUs; 1 = one process;
                         env TOLLGATE_CONCURRENCY)
  --state-dir DIR        virtual keys, teams and their spend in files under DIR (one instance)
  --state-db URL         the same in PostgreSQL, shared by replicas (postgres://…; env TOLLGATE_STATE_DB)
  --admin-token-file FILE  token for the key API on the admin listener (/admin/keys…; env
                         TOLLGATE_ADMIN_TOKEN); without one the key API is refused
  --drain-timeout SEC    on SIGTERM, how long running requests may finish (default 30)
  --log-level LEVEL      debug | info | warn | error (default info)
  --no-watch             do not reload when the config or secrets change
${RESPONSES_USAGE}
${TELEMETRY_USAGE}

The config and secrets are watched: a valid change is applied atomically, an invalid one is logged
and the previous config keeps serving.

More workers than the CPU quota (a Kubernetes CPU limit) is a trap: the kernel throttles the
process for the rest of each 100 ms period once the quota is spent, which adds latency to every
request and streamed chunk. \`auto\` avoids it; an explicit N above the quota starts with a warning.`,
  options: {
    config: { type: 'string', short: 'c', multiple: true },
    listen: { type: 'string' },
    admin: { type: 'string' },
    'secrets-dir': { type: 'string' },
    redis: { type: 'string' },
    'redis-password-file': { type: 'string' },
    'redis-ca': { type: 'string' },
    'redis-prefix': { type: 'string' },
    'redis-timeout': { type: 'string' },
    'rate-limit-failure-mode': { type: 'string' },
    'budget-failure-mode': { type: 'string' },
    'drain-timeout': { type: 'string' },
    'state-dir': { type: 'string' },
    'state-db': { type: 'string' },
    'admin-token-file': { type: 'string' },
    concurrency: { type: 'string' },
    'log-level': { type: 'string' },
    'no-watch': { type: 'boolean' },
    ...RESPONSES_FLAGS,
    ...TELEMETRY_FLAGS,
    help: { type: 'boolean', short: 'h' },
  },
} as const;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(spec, argv);
  if (values.help === true) {
    process.stdout.write(formatHelp(spec));
    return 0;
  }
  const configPaths = values.config ?? process.env['TOLLGATE_CONFIG']?.split(',').filter((p) => p.length > 0) ?? [];
  if (configPaths.length === 0) throw new UsageError('--config is required', 'for example: tollgate serve --config examples/seed-scenario');
  const level = parseLogLevel(values['log-level'] ?? 'info');
  const logger = createLogger({ level, base: { component: 'gateway' } });
  const concurrency = concurrencyFlag(values.concurrency ?? process.env['TOLLGATE_CONCURRENCY'] ?? 'auto');
  configureResponseStores(responseStoreFlags(values, process.env));
  const telemetry = await telemetryOptions(values, process.env).catch((err: unknown) => {
    throw startupError(err);
  });
  const options = {
    configPaths,
    secretsDir: values['secrets-dir'] ?? process.env['TOLLGATE_SECRETS_DIR'],
    listen: parseHostPort(values.listen ?? '0.0.0.0:8080', '--listen'),
    admin: parseHostPort(values.admin ?? '127.0.0.1:9901', '--admin', '127.0.0.1'),
    logger,
    drainTimeoutMs: parsePositiveInt(values['drain-timeout'] ?? '30', '--drain-timeout', { min: 0, max: 3600 }) * 1000,
    watch: values['no-watch'] !== true,
    redis: await redisOptions(values),
    rateLimitFailureMode: failureMode('--rate-limit-failure-mode', values['rate-limit-failure-mode'] ?? process.env['TOLLGATE_RATE_LIMIT_FAILURE_MODE'] ?? 'open'),
    budgetFailureMode: failureMode('--budget-failure-mode', values['budget-failure-mode'] ?? process.env['TOLLGATE_BUDGET_FAILURE_MODE'] ?? 'closed'),
    telemetry,
    adminToken: await adminToken(values['admin-token-file']),
    state: await stateStore(values['state-dir'], values['state-db'] ?? process.env['TOLLGATE_STATE_DB'], logger),
  } satisfies GatewayOptions;
  return serveInstance(concurrency, options);
}

/**
 * Runs `options` as one process or as a primary with workers, until SIGTERM/SIGINT. In a worker
 * process (forked by the primary, which re-runs the same command) it runs that worker.
 */
export async function serveInstance(
  concurrency: ConcurrencyFlag,
  options: GatewayOptions & { admin: { host: string; port: number }; drainTimeoutMs: number },
  onServing: (data: { host: string; port: number }, admin: { host: string; port: number }) => void = () => undefined,
  /** Resolves when the instance should drain and stop (default: SIGTERM or SIGINT). */
  stopWhen: () => Promise<unknown> = waitForSignal,
): Promise<number> {
  const logger = options.logger;
  if (cluster.isWorker) {
    try {
      return await runWorker({ ...options, logger: logger.child({ worker: Number(process.env[WORKER_ENV.index] ?? '0') }) });
    } catch (err) {
      throw startupError(err);
    } finally {
      // The IPC channel would keep this process alive after the gateway stopped. Disconnecting
      // through the cluster API keeps the exit code (a bare disconnect makes the worker exit 0).
      if (process.connected) cluster.worker?.disconnect();
    }
  }
  const cgroup = detectCpuCgroup();
  const decision = decideConcurrency(concurrency, cgroup);
  logConcurrency(logger, decision);
  let server: Gateway | Primary;
  try {
    if (decision.workers === 1) {
      server = await Gateway.start(options);
    } else {
      server = await Primary.start({
        ...options,
        watch: options.watch !== false,
        workers: decision.workers,
        cgroup,
        currency: options.telemetry?.rates?.currency,
        sharedCounters: options.redis !== undefined,
      });
    }
  } catch (err) {
    throw startupError(err);
  }
  const d = server.dataAddress;
  const a = server.adminAddress;
  // Announce when ready (token encodings loaded, every worker serving), so what follows the line —
  // the demo's banner, a script waiting for it — meets a ready gateway. A readiness that stays out
  // (an unreachable Redis) does not hold the line up: it says why instead.
  const readiness = await untilReady(server, READY_ANNOUNCE_WAIT_MS);
  const notReady = readiness.ready ? {} : { notReady: readiness.reason };
  logger.info('tollgate serving', { listen: `${d.host}:${d.port}`, admin: `${a.host}:${a.port}`, workers: decision.workers, ...notReady });
  onServing(d, a);
  await stopWhen();
  logger.info('shutting down');
  await server.shutdown();
  logger.info('stopped');
  return 0;
}

const READY_ANNOUNCE_WAIT_MS = 10_000;

async function untilReady(server: { readiness(): { ready: boolean; reason: string } }, ms: number): Promise<{ ready: boolean; reason: string }> {
  const end = Date.now() + ms;
  let r = server.readiness();
  while (!r.ready && Date.now() < end) {
    await sleep(50);
    r = server.readiness();
  }
  return r;
}

export function startupError(err: unknown): Error {
  if (err instanceof ConfigError) {
    process.stderr.write(err.report);
    return new CliError('the configuration is invalid; nothing was started', 'fix the problems above (`tollgate validate --config …` checks without starting)');
  }
  if (err instanceof TelemetryFlagError) return new UsageError(err.message, err.hint);
  if (err instanceof TelemetryStartError) return new CliError(err.message, err.hint);
  if (err instanceof WorkerStartError) return new CliError(err.message);
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'EADDRINUSE') {
    return new CliError(`cannot listen: address ${(e as { address?: string }).address ?? ''}:${(e as { port?: number }).port ?? ''} is already in use`, 'stop the other process or pick another port with --listen / --admin');
  }
  if (e.code === 'EACCES') return new CliError(`cannot listen: permission denied (${e.message})`, 'ports below 1024 need privileges; pick another port');
  return e instanceof Error ? e : new Error(String(err));
}

export function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals): void => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(sig);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

async function redisOptions(values: {
  redis?: string | undefined;
  'redis-password-file'?: string | undefined;
  'redis-ca'?: string | undefined;
  'redis-prefix'?: string | undefined;
  'redis-timeout'?: string | undefined;
}): Promise<GatewayOptions['redis']> {
  const url = values.redis ?? process.env['TOLLGATE_REDIS_URL'];
  if (url === undefined || url === '') return undefined;
  if (!/^rediss?:\/\//.test(url)) throw new UsageError(`--redis: "${redactUrl(url)}" is not a redis:// or rediss:// URL`, 'for example --redis redis://127.0.0.1:6379/0');
  let password = process.env['TOLLGATE_REDIS_PASSWORD'];
  const file = values['redis-password-file'];
  if (file !== undefined) {
    try {
      password = (await readFile(file, 'utf8')).trim();
    } catch (err) {
      throw new CliError(`cannot read --redis-password-file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  return {
    url,
    password,
    caFile: values['redis-ca'],
    prefix: values['redis-prefix'] ?? 'tollgate:',
    timeoutMs: parsePositiveInt(values['redis-timeout'] ?? '200', '--redis-timeout', { min: 10, max: 60_000 }),
  };
}

async function adminToken(file: string | undefined): Promise<string | undefined> {
  if (file === undefined) return nonEmpty(process.env['TOLLGATE_ADMIN_TOKEN']);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read --admin-token-file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const token = text.trim();
  if (token.length < 16) throw new UsageError(`--admin-token-file ${file}: the token must be at least 16 characters`, 'e.g. openssl rand -hex 32 > admin-token');
  return token;
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s.trim() === '' ? undefined : s.trim();
}

async function stateStore(dir: string | undefined, db: string | undefined, logger: Logger): Promise<StateStore | undefined> {
  if (dir === undefined && db === undefined) return undefined;
  try {
    return await openStateStore({ ...(dir === undefined ? {} : { dir }), ...(db === undefined ? {} : { db }), logger });
  } catch (err) {
    if (err instanceof StateStoreError) throw new CliError(err.message, err.hint);
    throw err;
  }
}

export function concurrencyFlag(v: string): ConcurrencyFlag {
  const c = parseConcurrency(v);
  if (c === undefined) {
    throw new UsageError(`--concurrency: "${v}" is not auto or a whole number from 1 to ${MAX_WORKERS}`, 'for example --concurrency auto (follows the CPU quota) or --concurrency 2');
  }
  return c;
}

/** The one start-up line saying how many workers and why, and the throttling warning when N exceeds the quota. */
export function logConcurrency(logger: Logger, d: ConcurrencyDecision): void {
  logger.info('concurrency', { workers: d.workers, source: d.source, cpuQuotaCores: d.quotaCores ?? null, cpus: d.cpus });
  if (d.warning !== undefined) logger.warn(d.warning, { workers: d.workers, cpuQuotaCores: d.quotaCores });
}

function failureMode(flag: string, v: string): FailureMode {
  if (v === 'open' || v === 'closed') return v;
  throw new UsageError(`${flag}: "${v}" is not open or closed`);
}

function parseLogLevel(v: string): LogLevel {
  if (v === 'debug' || v === 'info' || v === 'warn' || v === 'error') return v;
  throw new UsageError(`--log-level: "${v}" is not one of debug, info, warn, error`);
}
