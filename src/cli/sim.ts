// `tollgate sim`: serve one or more simulated vLLM backends, replay recorded exchanges, record new
// ones through a proxy, or explore a profile offline (`tollgate sim ramp`, `tollgate sim profile`).
// The offline subcommands are in sim-ramp.ts, the provider-native simulators in sim-provider.ts and
// the helpers every mode shares in sim-common.ts.
import { CliError, formatHelp, parseCommandArgs, parseHostPort, parsePositiveInt, UsageError } from './args.js';
import { isEncodingName, type EncodingName } from '../tokenizer/index.js';
import { BUILTIN_PROFILES, CassetteError, loadCassettes, SimConfigError, startRecordProxy, startReplayServer, startSimServer } from '../sim/index.js';
import { isProviderApi, PROVIDER_APIS } from '../sim/providers/index.js';
import { apiKeyFrom, loadProfile, templateOverhead, waitForSignal } from './sim-common.js';
import { printProfile, runRamp } from './sim-ramp.js';
import { runProviderSim } from './sim-provider.js';

const spec = {
  name: 'sim',
  summary: 'vLLM-faithful simulated LLM backend(s): continuous batching, paged KV cache, vLLM metrics, faults, replay',
  usage: `
Usage:
  tollgate sim [--listen HOST:PORT]... [--replicas N] [--profile NAME|FILE] [--set FIELD=VALUE]...
               [--model NAME] [--api-key KEY | --api-key-file FILE] [--seed N] [--encoding ENC]
               [--template-overhead M,N,R] [--count-tools] [--fault SPEC[@RATE]]...
               [--show-hidden-metrics] [--dcgm-listen HOST:PORT]
  tollgate sim --replay PATH... [--replay-timing original|profile|none] [--listen HOST:PORT] [--api-key KEY]
  tollgate sim --record DIR --upstream URL [--listen HOST:PORT]
  tollgate sim ramp [--profile NAME|FILE] [--users N,N,...] [--think-s S] [--duration-s S] [--seed N] [--json]
  tollgate sim profile [NAME|FILE]        print a profile as JSON (a starting point for your own)

Serving:
  --listen HOST:PORT     where to listen (default 127.0.0.1:8000); repeat for several replicas
  --replicas N           N replicas on consecutive ports from the (first) --listen port
  --api API              the wire API: openai (default; vLLM's OpenAI-compatible server) or a
                         provider-native simulator: gemini, vertex, anthropic, bedrock, azure
                         (see "Provider-native simulators" below)
  --profile NAME|FILE    ${Object.keys(BUILTIN_PROFILES).join(', ')} (default fast), or a .json/.yaml profile
  --set FIELD=VALUE      override one profile field, e.g. --set scheduler.maxNumSeqs=1024 (repeatable)
  --model NAME           served model name (default: the profile's)
  --api-key KEY          require this key on /v1/* (Authorization: Bearer, api-key or x-api-key);
                         also TOLLGATE_SIM_API_KEY; --api-key-file reads it from a file
  --seed N               randomness seed (output lengths, text, fault rolls); default 0
  --encoding ENC         count prompt tokens with o200k_base, o200k_harmony or cl100k_base instead of
                         the profile's (to produce token drift for the audit)
  --template-overhead M,N,R  chat-template tokens per message, per name and per reply (another
                         tokenizer "version"; default the encoding's, as the gateway counts)
  --count-tools          count the tools JSON as prompt tokens, as a chat template would
  --fault SPEC[@RATE]    inject faults into a fraction of requests, e.g. status=503@0.01,
                         stall-after=20:3000@0.005 (same specs as the x-sim-fault header)
  --show-hidden-metrics  also serve vLLM's deprecated names (gpu_cache_usage_perc, time_per_output_token_seconds)
  --dcgm-listen H:P      serve DCGM exporter metrics at http://H:P/metrics (also always at /_sim/dcgm)

Per request: x-sim-output-tokens: N (exact output length), x-sim-fault: SPEC (see docs/simulator.md).
Endpoints: /v1/chat/completions /v1/completions /v1/embeddings /v1/models /health /metrics /tokenize
/detokenize /version /reset_prefix_cache /_sim/requests/<x-request-id> /_sim/stats /_sim/dcgm

Provider-native simulators (--api gemini|vertex|anthropic|bedrock|azure): each serves the provider's
real wire format, streamed and not, and checks credentials as the provider does. --api-key is the
key it requires (gemini x-goog-api-key, anthropic x-api-key, azure api-key; vertex and azure also
take it as a static bearer token; bedrock as a Bedrock API key). More:
  --ttft-ms N / --itl-ms N      stream pacing: before the first event / between events (default 0)
  --access-key-id ID --secret-access-key KEY --region R
                                bedrock: the SigV4 key pair and region requests must be signed with
                                (also AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION)
  --service-account FILE        vertex: a service-account key JSON whose JWT assertions POST /token
                                exchanges for access tokens; --project P --location L pin the path
  --azure-client-id ID --azure-client-secret S
                                azure: Entra ID app credentials for POST /{tenant}/oauth2/v2.0/token
  --deployment NAME             azure: a deployment that exists (repeatable; default any)
  --replay PATH                 serve golden exchanges (JSON fixtures in the provider's wire format,
                                e.g. test/providers/fixtures) instead of generating answers
Per request: x-sim-output-tokens: N, x-sim-error: STATUS (the provider's own error), x-sim-fault:
truncate|midstream-error. See docs/providers.md.

Replay and record:
  --replay PATH          go-vcr cassettes (files or directories) to answer from; repeatable
  --replay-timing T      original (recorded pacing), profile (the cost model's), none (default original)
  --record DIR           proxy to --upstream and write each exchange to DIR as a cassette
  --upstream URL         the real server to record, e.g. https://api.openai.com
`,
  options: {
    help: { type: 'boolean', short: 'h' },
    listen: { type: 'string', multiple: true },
    replicas: { type: 'string' },
    api: { type: 'string' },
    profile: { type: 'string' },
    set: { type: 'string', multiple: true },
    model: { type: 'string' },
    'template-overhead': { type: 'string' },
    'api-key': { type: 'string' },
    'api-key-file': { type: 'string' },
    seed: { type: 'string' },
    encoding: { type: 'string' },
    'count-tools': { type: 'boolean' },
    fault: { type: 'string', multiple: true },
    'show-hidden-metrics': { type: 'boolean' },
    'dcgm-listen': { type: 'string' },
    replay: { type: 'string', multiple: true },
    'replay-timing': { type: 'string' },
    record: { type: 'string' },
    upstream: { type: 'string' },
    'ttft-ms': { type: 'string' },
    'itl-ms': { type: 'string' },
    'access-key-id': { type: 'string' },
    'secret-access-key': { type: 'string' },
    region: { type: 'string' },
    'service-account': { type: 'string' },
    project: { type: 'string' },
    location: { type: 'string' },
    'azure-client-id': { type: 'string' },
    'azure-client-secret': { type: 'string' },
    deployment: { type: 'string', multiple: true },
  },
  allowPositionals: true,
} as const;

export async function run(argv: string[]): Promise<number> {
  if (argv[0] === 'ramp') return runRamp(argv.slice(1));
  if (argv[0] === 'profile' || argv[0] === 'profiles') return printProfile(argv.slice(1));
  const { values: v, positionals } = parseCommandArgs(spec, argv);
  if (v.help === true) {
    process.stdout.write(formatHelp(spec));
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`, 'subcommands are ramp and profile; see `tollgate sim --help`');
  const api = v.api ?? 'openai';
  if (api !== 'openai') {
    if (isProviderApi(api)) return runProviderSim(api, v, await apiKeyFrom(v));
    throw new UsageError(`--api: unknown API "${api}"`, `one of openai, ${PROVIDER_APIS.join(', ')}`);
  }
  const listens = (v.listen ?? ['127.0.0.1:8000']).map((l) => parseHostPort(l, '--listen', '127.0.0.1'));
  const replicas = v.replicas === undefined ? 1 : parsePositiveInt(v.replicas, '--replicas', { max: 256 });
  if (replicas > 1) {
    if (listens.length > 1) throw new UsageError('give either several --listen or --replicas, not both');
    const first = listens[0] as { host: string; port: number };
    for (let i = 1; i < replicas; i++) listens.push({ host: first.host, port: first.port === 0 ? 0 : first.port + i });
  }
  const apiKey = await apiKeyFrom(v);
  const closers: Array<() => Promise<void>> = [];
  const lines: string[] = [];
  try {
    if (v.record !== undefined || v.upstream !== undefined) {
      if (v.record === undefined || v.upstream === undefined) throw new UsageError('--record DIR and --upstream URL go together');
      const l = listens[0] as { host: string; port: number };
      const proxy = await startRecordProxy({ upstream: v.upstream, dir: v.record, host: l.host, port: l.port, onRecorded: (f) => process.stdout.write(`recorded ${f}\n`) }).catch((err: unknown) => {
        throw new CliError(err instanceof Error ? err.message : String(err));
      });
      closers.push(() => proxy.close());
      lines.push(`recording ${v.upstream} through ${proxy.url} into ${v.record}`);
    } else if (v.replay !== undefined) {
      const timing = v['replay-timing'] ?? 'original';
      if (timing !== 'original' && timing !== 'profile' && timing !== 'none') throw new UsageError(`--replay-timing: "${timing}" must be original, profile or none`);
      const interactions = await loadCassettes(v.replay).catch((err: unknown) => {
        if (err instanceof CassetteError) throw new CliError(err.message, 'give go-vcr cassette files (.yaml) or directories of them');
        throw err;
      });
      if (interactions.length === 0) throw new CliError(`no cassettes found in ${v.replay.join(', ')}`);
      const profile = await loadProfile(v.profile, v.set ?? []);
      for (const l of listens) {
        const s = await startReplayServer({ interactions, timing, profile, host: l.host, port: l.port, ...(apiKey === undefined ? {} : { apiKey }) });
        closers.push(() => s.close());
        lines.push(`replaying ${interactions.length} recorded exchanges (${timing} timing) at ${s.url}`);
      }
    } else {
      let encoding: EncodingName | undefined;
      if (v.encoding !== undefined) {
        if (!isEncodingName(v.encoding)) throw new UsageError(`--encoding: unknown encoding "${v.encoding}"`, 'one of o200k_base, o200k_harmony, cl100k_base');
        encoding = v.encoding;
      }
      const dcgm = v['dcgm-listen'] === undefined ? undefined : parseHostPort(v['dcgm-listen'], '--dcgm-listen', '127.0.0.1');
      const profile = await loadProfile(v.profile, v.set ?? []);
      const template = templateOverhead(v['template-overhead']);
      for (const [i, l] of listens.entries()) {
        const s = await startSimServer({
          host: l.host,
          port: l.port,
          seed: v.seed === undefined ? i : parsePositiveInt(v.seed, '--seed', { min: 0 }) + i,
          profile,
          ...(template === undefined ? {} : { template }),
          ...(v.model === undefined ? {} : { model: v.model }),
          ...(apiKey === undefined ? {} : { apiKey }),
          ...(encoding === undefined ? {} : { encoding }),
          ...(v['count-tools'] === true ? { countTools: true } : {}),
          ...(v.fault === undefined ? {} : { faults: v.fault }),
          ...(v['show-hidden-metrics'] === true ? { showHiddenMetrics: true } : {}),
          ...(dcgm === undefined || i > 0 ? {} : { dcgmPort: dcgm.port }),
        }).catch((err: unknown) => {
          if (err instanceof SimConfigError) throw new CliError(err.message, err.hint);
          throw err;
        });
        closers.push(() => s.close());
        lines.push(`serving ${s.model} (profile ${s.profile.name}) at ${s.url}${apiKey === undefined ? '' : ' (API key required)'}${s.dcgmUrl === undefined ? '' : `; DCGM metrics at ${s.dcgmUrl}/metrics`}`);
      }
    }
  } catch (err) {
    await Promise.all(closers.map((c) => c()));
    throw err;
  }
  process.stdout.write(`tollgate sim: ${lines.join('\ntollgate sim: ')}\n`);
  await waitForSignal();
  await Promise.all(closers.map((c) => c()));
  return 0;
}
