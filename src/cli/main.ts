// The `tollgate` command: a registry of subcommands, each a module with `run(argv)`. Commands load
// lazily so `tollgate validate` does not pay for the simulator, and so on. Nothing imports cli/.
import { didYouMean } from '../config/diagnostics.js';
import { CliError, UsageError } from './args.js';

interface CommandModule {
  run(argv: string[]): Promise<number>;
}

interface CommandEntry {
  readonly summary: string;
  readonly load: () => Promise<CommandModule>;
}

const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  serve: { summary: 'run the gateway on a config of manifests', load: () => import('./serve.js') },
  validate: { summary: 'check manifests and print every problem with file:line', load: () => import('./validate.js') },
  demo: { summary: 'gateway + simulated tier-1/tier-2 backends + the seed scenario, one command', load: () => import('./demo.js') },
  sim: { summary: 'vLLM-faithful simulated backend(s): batching, paged KV, vLLM metrics, faults, replay', load: () => import('./sim.js') },
  synth: { summary: 'generate a high-cardinality synthetic replay corpus (five profiles)', load: () => import('./synth.js') },
  unroll: { summary: 'unroll agent datasets (ToolBench, ShareGPT, ATIF, SWE-rebench, …) into a replay corpus', load: () => import('./unroll.js') },
  load: { summary: 'replay a corpus: bursty session arrivals, telemetry-gated ramp (T2/T3), soak, HTML report', load: () => import('./load.js') },
  report: { summary: 'regenerate, compare or merge (--merge) load reports from results.json', load: () => import('./report.js') },
  verify: { summary: 'functional validation of a live gateway: the whitepaper\'s seed cases and more; fails loudly', load: () => import('./verify.js') },
  keys: { summary: 'virtual keys (tg-…) with model allowlists, rate limits and dollar budgets, on a running gateway', load: () => import('./keys.js') },
  chargeback: { summary: 'FinOps report: tokens × rates per workload / model, drift audit (ledger or Prometheus)', load: () => import('./chargeback.js') },
  bench: { summary: 'benchmarks: overhead, limits, tokenizer, sim, etl, load, routes, chaos', load: () => import('./bench.js') },
};

function topHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `tollgate: an AI gateway and the toolkit that proves it\n\nUsage: tollgate <command> [flags]   (tollgate <command> --help for its flags)\n\nCommands:\n${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(topHelp());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${await version()}\n`);
    return 0;
  }
  const entry = COMMANDS[name];
  if (entry === undefined) {
    const guess = didYouMean(name, Object.keys(COMMANDS));
    const hint = guess === undefined ? 'run `tollgate --help` for the list of commands' : `did you mean \`tollgate ${guess}\`? (\`tollgate --help\` lists every command)`;
    process.stderr.write(`tollgate: unknown command "${name}"\nhint: ${hint}\n`);
    return 2;
  }
  try {
    const mod = await entry.load();
    return await mod.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`tollgate ${name}: ${err.message}\n${err.hint === undefined ? '' : `hint: ${err.hint}\n`}`);
      return 2;
    }
    if (err instanceof CliError) {
      process.stderr.write(`tollgate ${name}: ${err.message}\n${err.hint === undefined ? '' : `hint: ${err.hint}\n`}`);
      return err.exitCode;
    }
    throw err;
  }
}

async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`tollgate: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
