// `tollgate report DIR…`: regenerate a run's report.html from its results.json, compare several
// runs side by side, or merge the shards of one run (--merge) into one result and report.
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { writeAtomic } from '../load/output.js';
import { renderReport } from '../load/report/html.js';
import { buildResults } from '../load/results/build.js';
import { mergeRaw, readResults, ResultsError } from '../load/results/merge.js';
import { CliError, formatHelp, parseCommandArgs, UsageError } from './args.js';

const spec = {
  name: 'report',
  summary: 'regenerate, compare or merge load reports from results.json',
  usage: `
Usage: tollgate report DIR... [--merge] [--out FILE]

  DIR            the --out directory of a \`tollgate load\` run (or its results.json)
  --merge        the DIRs are shards of one run (--shard i/n): merge them into one result
                 (results.json and report.html next to --out)
  --out FILE     the report to write. Default: DIR/report.html for one run, ./report.html to
                 compare several, ./merged/report.html with --merge

One DIR regenerates its report (after an upgrade, or to re-render). Several DIRs make one page
comparing them side by side (saturation curves overlaid), each run's full report below.`,
  options: {
    merge: { type: 'boolean' },
    out: { type: 'string', short: 'o' },
    help: { type: 'boolean', short: 'h' },
  },
  allowPositionals: true,
} as const;

export function run(argv: string[]): Promise<number> {
  return Promise.resolve(report(argv));
}

function report(argv: string[]): number {
  const { values, positionals } = parseCommandArgs(spec, argv);
  if (values.help === true) {
    process.stdout.write(formatHelp(spec));
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('give at least one results directory', 'tollgate report DIR... [--merge] [--out FILE]');
  let results;
  try {
    results = positionals.map((p) => readResults(resolve(p)));
  } catch (err) {
    if (err instanceof ResultsError) throw new CliError(err.message, err.hint);
    throw err;
  }
  if (values.merge === true) {
    if (results.length < 2) throw new UsageError('--merge needs the results of two or more shards');
    let merged;
    try {
      merged = buildResults(mergeRaw(results.map((r) => r.raw)));
    } catch (err) {
      if (err instanceof ResultsError) throw new CliError(err.message, err.hint);
      throw err;
    }
    const out = resolve(values.out ?? join('merged', 'report.html'));
    mkdirSync(dirname(out), { recursive: true });
    const json = join(dirname(out), 'results.json');
    writeAtomic(json, JSON.stringify(merged));
    writeAtomic(out, renderReport([merged]));
    process.stdout.write(`merged ${results.length} shards (${merged.total.requests} requests)\n  wrote ${json}\n  wrote ${out}\n`);
    return 0;
  }
  // Rebuild the views from the raw measurements: a newer tollgate renders an older run correctly.
  const rebuilt = results.map((r) => buildResults(r.raw));
  const out = resolve(values.out ?? (positionals.length === 1 ? join(/\.json$/i.test(positionals[0] as string) ? dirname(positionals[0] as string) : (positionals[0] as string), 'report.html') : 'report.html'));
  mkdirSync(dirname(out), { recursive: true });
  writeAtomic(out, renderReport(rebuilt));
  process.stdout.write(`wrote ${out}\n`);
  return 0;
}
