// `tollgate unroll`: real agent datasets → pre-serialised replay corpus.
import { CorpusError } from '../workload/manifest.js';
import { parseDist } from '../workload/random.js';
import { FORMAT_DEFAULTS, FORMATS, type UnrollFormat } from '../workload/unroll/formats.js';
import { runUnroll } from '../workload/unroll/run.js';
import { DEFAULT_MODEL } from '../workload/writer.js';
import { CliError, formatHelp, parseCommandArgs, parsePositiveInt, UsageError } from './args.js';
import { parseLayout, parseMaxTokensField } from './synth.js';
import { printCorpusSummary } from './workload-common.js';

const spec = {
  name: 'unroll',
  summary: 'unroll agent datasets into a pre-serialised replay corpus',
  usage: `
Usage: tollgate unroll --format F --in FILE... --out DIR [--profile P] [--app NAME] [flags]

  --format F            ${FORMATS.join(' | ')}
  --in FILE|DIR         input file (.jsonl, .json, .parquet, optionally .gz) or folder; repeat the
                        flag or list more files after it
  --out DIR             corpus directory; other streams already in it are kept
  --profile P           profile label for the harness (default per format: ${FORMATS.map((f) => `${f} ${FORMAT_DEFAULTS[f].profile}`).join(', ')})
  --app NAME            x-workload-app value (default per format, e.g. toolbench-agent,
                        terminal-bench-ci, swe-rebench-ide, coderforge-ide, omniact-ui)
  --stream NAME         stream (folder) name in the corpus (default: the app)
  --function-role R     legacy {"role":"function"} messages become user (default, keeps the
                        bytes) or tool (with a generated tool_call_id on the preceding assistant)
  --think DIST          think time for sources without timestamps: const:MS, exp:MEAN,
                        lognormal:MEDIAN:SIGMA[:MIN:MAX], pareto:XM:ALPHA[:MAX] (ms; default per format)
  --seed N              seed for sampled think times and synthetic screens/blocks (default 1)
  --max-sessions N      stop after N sessions
  --strict              stop at the first bad record (default: count, report and skip them)
  --model NAME          model in every body (default ${DEFAULT_MODEL})
  --layout delta|full   as for synth (default delta)
  --no-stream           bodies without stream: true
  --max-tokens-field F  max_tokens (default) or max_completion_tokens
  --exact-length        add vLLM's min_tokens and ignore_eos
  --part-mb N           new part file after N MB (default 256)
  --omniact-root DIR    OmniACT dataset folder the split file's paths are relative to
                        (default: the split file's folder)
  --screen-tokens N     OmniACT screen size when no OCR file is found (default 1100)
  --block-tokens N      Mooncake hash block size in tokens (default 512)
  --atif-ms-per-token N ATIF: generation time removed from step gaps per output token (default 20)
  --replace             overwrite the stream if it exists
  --quiet               no progress or summary on stderr
`,
  allowPositionals: true,
  options: {
    format: { type: 'string' },
    in: { type: 'string', multiple: true },
    out: { type: 'string' },
    profile: { type: 'string' },
    app: { type: 'string' },
    stream: { type: 'string' },
    'function-role': { type: 'string' },
    think: { type: 'string' },
    seed: { type: 'string' },
    'max-sessions': { type: 'string' },
    strict: { type: 'boolean' },
    model: { type: 'string' },
    layout: { type: 'string' },
    'no-stream': { type: 'boolean' },
    'max-tokens-field': { type: 'string' },
    'exact-length': { type: 'boolean' },
    'part-mb': { type: 'string' },
    'omniact-root': { type: 'string' },
    'screen-tokens': { type: 'string' },
    'block-tokens': { type: 'string' },
    'atif-ms-per-token': { type: 'string' },
    replace: { type: 'boolean' },
    quiet: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
} as const;

const NAME = /^[A-Za-z0-9._-]{1,64}$/;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(spec, argv);
  if (values.help === true) {
    process.stdout.write(formatHelp(spec));
    return 0;
  }
  const format = values.format as UnrollFormat | undefined;
  if (format === undefined) throw new UsageError('--format is required', `one of ${FORMATS.join(', ')}`);
  if (!FORMATS.includes(format)) throw new UsageError(`--format: "${format}" is not one of ${FORMATS.join(', ')}`);
  const inputs = [...(values.in ?? []), ...positionals];
  if (inputs.length === 0) throw new UsageError('--in FILE is required', 'for example: tollgate unroll --format toolbench --in G1_answer.json --out corpus/');
  if (values.out === undefined) throw new UsageError('--out DIR is required');
  const defaults = FORMAT_DEFAULTS[format];
  const app = values.app ?? defaults.app;
  const profile = values.profile ?? defaults.profile;
  const streamName = values.stream ?? app;
  for (const [flag, v] of [['--app', app], ['--profile', profile], ['--stream', streamName]] as const) {
    if (!NAME.test(v)) throw new UsageError(`${flag}: "${v}" must be 1–64 characters of A–Z a–z 0–9 . _ -`);
  }
  const functionRole = values['function-role'] ?? 'user';
  if (functionRole !== 'user' && functionRole !== 'tool') throw new UsageError(`--function-role: "${functionRole}" is not user or tool`);
  let think = defaults.think;
  if (values.think !== undefined) {
    const d = parseDist(values.think);
    if (typeof d === 'string') throw new UsageError(`--think: ${d}`);
    think = d;
  }
  const num = (v: string | undefined, flag: string, dflt: number, min = 1): number => (v === undefined ? dflt : parsePositiveInt(v, flag, { min }));
  const quiet = values.quiet === true;
  const started = Date.now();
  try {
    const result = await runUnroll({
      format,
      inputs,
      out: values.out,
      profile,
      app,
      streamName,
      model: values.model ?? DEFAULT_MODEL,
      layout: parseLayout(values.layout),
      stream: values['no-stream'] !== true,
      functionRole,
      think,
      seed: num(values.seed, '--seed', 1, 0),
      ...(values['max-sessions'] === undefined ? {} : { maxSessions: parsePositiveInt(values['max-sessions'], '--max-sessions') }),
      strict: values.strict === true,
      replace: values.replace === true,
      partBytes: num(values['part-mb'], '--part-mb', 256) * 1024 * 1024,
      maxTokensField: parseMaxTokensField(values['max-tokens-field']),
      exactLength: values['exact-length'] === true,
      ...(values['omniact-root'] === undefined ? {} : { omniactRoot: values['omniact-root'] }),
      screenTokens: num(values['screen-tokens'], '--screen-tokens', 1100),
      blockTokens: num(values['block-tokens'], '--block-tokens', 512),
      atifMsPerToken: num(values['atif-ms-per-token'], '--atif-ms-per-token', 20, 0),
      ...(quiet ? {} : { progress: (line: string) => process.stderr.write(line + '\n') }),
    });
    if (!quiet) {
      printCorpusSummary(values.out, result.manifest, Date.now() - started);
      const bad = result.record.bad_records;
      if (bad.count > 0) {
        process.stderr.write(`${bad.count} bad record(s) skipped (all listed in ${values.out}/${streamName}/bad-records.jsonl):\n`);
        for (const e of bad.examples.slice(0, 10)) process.stderr.write(`  ${e.at}: ${e.reason}\n`);
      }
      const repairs = Object.entries(bad.repairs);
      if (repairs.length > 0) process.stderr.write(`repairs: ${repairs.map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
    }
    return 0;
  } catch (err) {
    if (err instanceof CorpusError) throw new CliError(err.message, err.hint);
    throw err;
  }
}

