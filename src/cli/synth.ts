// `tollgate synth`: a high-cardinality synthetic corpus in the five profiles of the whitepaper.
import { readFileSync } from 'node:fs';
import { LAYOUTS, type Layout } from '../workload/envelope.js';
import { CorpusError } from '../workload/manifest.js';
import { DEFAULT_PROFILES, DEFAULT_SESSIONS } from '../workload/synth/profiles.js';
import { runSynth, type SynthSelection } from '../workload/synth/run.js';
import { DEFAULT_MODEL } from '../workload/writer.js';
import { CliError, formatHelp, parseCommandArgs, parsePositiveInt, UsageError } from './args.js';
import { printCorpusSummary } from './workload-common.js';

const spec = {
  name: 'synth',
  summary: 'generate a high-cardinality synthetic replay corpus (five enterprise profiles)',
  usage: `
Usage: tollgate synth --out DIR [--sessions N] [--seed N] [--profiles LIST] [flags]

  --out DIR             corpus directory (created; manifest.json + one folder per profile)
  --sessions N          total sessions, split over the profiles in proportion to their
                        defaults (default ${DEFAULT_SESSIONS}: ${DEFAULT_PROFILES.map((p) => `${p.name} ${p.sessions}`).join(', ')})
  --seed N              seed; the same seed and flags give byte-identical files (default 1)
  --profiles LIST       comma-separated profile names or letters, each optionally =COUNT:
                        ${DEFAULT_PROFILES.map((p) => `${p.name} (${p.profile}, app ${p.app})`).join(',\n                        ')}
                        e.g. --profiles A,D  or  --profiles toolbench=100,omniact=50
  --params FILE         JSON overrides of profile parameters, e.g.
                        {"swe-rebench": {"turns": {"kind": "lognormal", "median": 30, "sigma": 0.5}}}
  --model NAME          model in every body (default ${DEFAULT_MODEL})
  --layout delta|full   delta (default): a turn stores only bytes not in its previous turn;
                        full: every line holds its whole body
  --no-stream           bodies without stream: true
  --think-scale F       multiply every think time by F (default 1)
  --max-tokens-field F  max_tokens (default) or max_completion_tokens
  --exact-length        add vLLM's min_tokens and ignore_eos so outputs have the expected length
  --part-mb N           start a new part file after N MB (default 256)
  --replace             overwrite streams that already exist in DIR
  --threads N           worker threads, one profile each at a time (default: the machine's
                        cores); the files are the same for any N
  --quiet               no progress or summary on stderr
`,
  options: {
    out: { type: 'string' },
    sessions: { type: 'string' },
    seed: { type: 'string' },
    profiles: { type: 'string' },
    params: { type: 'string' },
    model: { type: 'string' },
    layout: { type: 'string' },
    'no-stream': { type: 'boolean' },
    'think-scale': { type: 'string' },
    'max-tokens-field': { type: 'string' },
    'exact-length': { type: 'boolean' },
    'part-mb': { type: 'string' },
    replace: { type: 'boolean' },
    threads: { type: 'string' },
    quiet: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
} as const;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(spec, argv);
  if (values.help === true) {
    process.stdout.write(formatHelp(spec));
    return 0;
  }
  if (values.out === undefined) throw new UsageError('--out DIR is required', 'for example: tollgate synth --sessions 20000 --out corpus/');
  const layout = parseLayout(values.layout);
  const maxTokensField = parseMaxTokensField(values['max-tokens-field']);
  const thinkScale = values['think-scale'] === undefined ? 1 : Number(values['think-scale']);
  if (!Number.isFinite(thinkScale) || thinkScale < 0) throw new UsageError(`--think-scale: "${values['think-scale'] ?? ''}" must be a non-negative number`);
  let overrides: unknown;
  if (values.params !== undefined) {
    try {
      overrides = JSON.parse(readFileSync(values.params, 'utf8'));
    } catch (err) {
      throw new CliError(`--params ${values.params}: ${err instanceof Error ? err.message : String(err)}`, 'the file must be JSON: {"<profile>": {"<field>": …}}');
    }
  }
  const quiet = values.quiet === true;
  const started = Date.now();
  try {
    const manifest = await runSynth({
      out: values.out,
      ...(values.sessions === undefined ? {} : { sessions: parsePositiveInt(values.sessions, '--sessions') }),
      ...(values.threads === undefined ? {} : { threads: parsePositiveInt(values.threads, '--threads', { max: 64 }) }),
      seed: values.seed === undefined ? 1 : parsePositiveInt(values.seed, '--seed', { min: 0, max: 0xffffffff }),
      ...(values.profiles === undefined ? {} : { selection: parseSelection(values.profiles) }),
      overrides,
      model: values.model ?? DEFAULT_MODEL,
      layout,
      stream: values['no-stream'] !== true,
      thinkScale,
      partBytes: values['part-mb'] === undefined ? 256 * 1024 * 1024 : parsePositiveInt(values['part-mb'], '--part-mb') * 1024 * 1024,
      maxTokensField,
      exactLength: values['exact-length'] === true,
      replace: values.replace === true,
      ...(quiet ? {} : { progress: (line: string) => process.stderr.write(line + '\n') }),
    });
    if (!quiet) printCorpusSummary(values.out, manifest, Date.now() - started);
    return 0;
  } catch (err) {
    if (err instanceof CorpusError) throw new CliError(err.message, err.hint);
    throw err;
  }
}

export function parseLayout(v: string | undefined): Layout {
  if (v === undefined) return 'delta';
  if (!(LAYOUTS as readonly string[]).includes(v)) throw new UsageError(`--layout: "${v}" is not one of ${LAYOUTS.join(', ')}`);
  return v as Layout;
}

export function parseMaxTokensField(v: string | undefined): 'max_tokens' | 'max_completion_tokens' {
  if (v === undefined || v === 'max_tokens') return 'max_tokens';
  if (v === 'max_completion_tokens') return v;
  throw new UsageError(`--max-tokens-field: "${v}" is not max_tokens or max_completion_tokens`);
}

function parseSelection(text: string): SynthSelection[] {
  return text.split(',').map((entry) => {
    const [name, count] = entry.trim().split('=');
    if (name === undefined || name === '') throw new UsageError(`--profiles: empty entry in "${text}"`);
    if (count === undefined) return { name };
    return { name, count: parsePositiveInt(count, `--profiles ${name}`, { min: 0 }) };
  });
}
