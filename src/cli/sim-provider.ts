// `tollgate sim --api gemini|vertex|anthropic|bedrock|azure`: starting the provider-native
// simulators (or their golden-fixture replay) from the sim command's flags. It is separate from
// sim.ts because these simulators take a different set of flags (pacing and each provider's
// credentials) and refuse the engine flags that only the OpenAI-compatible simulator understands.
import { readFile } from 'node:fs/promises';
import { CliError, parseHostPort, parsePositiveInt, UsageError } from './args.js';
import { startProviderSim, type ProviderApi, type ProviderSimOptions, type ProviderSimServer } from '../sim/providers/index.js';
import { loadFixtures, startNativeReplay } from '../sim/providers/replay.js';
import { waitForSignal } from './sim-common.js';

export async function runProviderSim(api: ProviderApi, v: Record<string, unknown>, apiKey: string | undefined): Promise<number> {
  const str = (k: string): string | undefined => (typeof v[k] === 'string' ? (v[k]) : undefined);
  for (const k of ['record', 'upstream', 'replicas', 'fault', 'dcgm-listen', 'profile', 'set', 'model', 'encoding', 'template-overhead', 'count-tools', 'show-hidden-metrics']) {
    if (v[k] !== undefined) {
      throw new UsageError(
        `--${k} works with --api openai only`,
        'the provider-native simulators model wire formats and credentials, not the engine; pace their streams with --ttft-ms and --itl-ms',
      );
    }
  }
  const listens = ((v['listen'] as string[] | undefined) ?? ['127.0.0.1:8000']).map((l) => parseHostPort(l, '--listen', '127.0.0.1'));
  const ms = (k: string): number | undefined => (str(k) === undefined ? undefined : parsePositiveInt(str(k) as string, `--${k}`, { min: 0, max: 600_000 }));
  let serviceAccountJson: string | undefined;
  const saFile = str('service-account');
  if (saFile !== undefined) {
    try {
      serviceAccountJson = await readFile(saFile, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read --service-account ${saFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  const env = process.env;
  const opts: ProviderSimOptions = {
    ...(apiKey === undefined ? {} : { apiKey }),
    ...(str('seed') === undefined ? {} : { seed: parsePositiveInt(str('seed') as string, '--seed', { min: 0 }) }),
    ...(ms('ttft-ms') === undefined ? {} : { ttftMs: ms('ttft-ms') }),
    ...(ms('itl-ms') === undefined ? {} : { itlMs: ms('itl-ms') }),
    accessKeyId: str('access-key-id') ?? env['AWS_ACCESS_KEY_ID'],
    secretAccessKey: str('secret-access-key') ?? env['AWS_SECRET_ACCESS_KEY'],
    region: str('region') ?? env['AWS_REGION'] ?? 'us-east-1',
    ...(serviceAccountJson === undefined ? {} : { serviceAccountJson }),
    ...(str('project') === undefined ? {} : { project: str('project') }),
    ...(str('location') === undefined ? {} : { location: str('location') }),
    ...(str('azure-client-id') === undefined ? {} : { azureClientId: str('azure-client-id') }),
    ...(str('azure-client-secret') === undefined ? {} : { azureClientSecret: str('azure-client-secret') }),
    ...(v['deployment'] === undefined ? {} : { deployments: v['deployment'] as string[] }),
  };
  const replay = v['replay'] as string[] | undefined;
  const fixtures =
    replay === undefined
      ? undefined
      : await loadFixtures(replay).catch((err: unknown) => {
          throw new CliError(err instanceof Error ? err.message : String(err), 'give golden fixture files (.json) or directories of them, e.g. test/providers/fixtures');
        });
  if (fixtures !== undefined && fixtures.length === 0) throw new CliError(`no fixtures found in ${(replay ?? []).join(', ')}`);
  const servers: ProviderSimServer[] = [];
  try {
    for (const l of listens) {
      const start = fixtures === undefined ? startProviderSim(api, { ...opts, host: l.host, port: l.port }) : startNativeReplay(fixtures, { api, host: l.host, port: l.port });
      servers.push(
        await start.catch((err: unknown) => {
          const code = (err as { code?: string }).code;
          throw new CliError(`cannot start the ${api} simulator on ${l.host}:${l.port}: ${code ?? (err instanceof Error ? err.message : String(err))}`, code === 'EADDRINUSE' ? 'pick another port, or 0 for a free one' : undefined);
        }),
      );
    }
  } catch (err) {
    await Promise.all(servers.map((s) => s.close()));
    throw err;
  }
  for (const s of servers) {
    const what = fixtures === undefined ? `the ${api} API` : `${fixtures.length} ${api} golden exchanges (replay)`;
    process.stdout.write(`tollgate sim: serving ${what} at ${s.url}${apiKey === undefined || fixtures !== undefined ? '' : ' (credential required)'}\n`);
  }
  await waitForSignal();
  await Promise.all(servers.map((s) => s.close()));
  return 0;
}
