// `tollgate bench masking` (`npm run bench:masking`): what masking the backend credential in a
// response costs per request: the set-up the proxy does for every 2xx (the credential's secrets, a
// StreamRedactor) and the scan of each chunk, for the overhead bench's non-streamed answer and its
// 20-chunk stream, with the key the overhead bench's backend uses. It is well under a microsecond of
// a request that bench measures in hundreds, below its run-to-run noise, so it is measured here, in
// one process, without sockets. The baseline, in the same run, is the floor any masking of an
// unknown body pays: one search for the key in each chunk. With --compare REF, REF's build is
// measured in the same run too, the builds taking turns.
import type { IncomingHttpHeaders } from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CliError, formatHelp, parseCommandArgs, parsePositiveInt } from '../cli/args.js';
import { BENCH_ANSWER } from './fast-upstream.js';
import { buildRef, RefBuildError } from './ref-build.js';

const spec = {
  name: 'bench masking',
  summary: 'credential masking of responses: set-up and scan per request, against one search for the key, same run',
  usage: `
Usage: tollgate bench masking [--requests N] [--rounds N] [--compare REF] [--out FILE]

  --requests N   requests per measurement (default 50000)
  --rounds N     rounds, the targets taking turns; the best of each is kept (default 5)
  --compare REF  also measure the masking of the build of git REF (e.g. HEAD~1) and print
                 current / REF ratios; REF is built once into .tmp/bench-ref/
  --out FILE     JSON results (default .bench-out/masking.json)`,
  options: {
    requests: { type: 'string' },
    rounds: { type: 'string' },
    compare: { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
} as const;

/** The overhead bench's backend key: its credential is the header `authorization: Bearer sk-bench`. */
const KEY = 'sk-bench';
/** The headers of a client request: none overrides the backend's credential. */
const HEADERS: IncomingHttpHeaders = { host: 'localhost', 'content-type': 'application/json', 'content-length': '120', accept: '*/*', 'user-agent': 'bench' };

interface Redactor {
  push(chunk: Buffer): Buffer;
  end(): Buffer | null;
}

/** One way of passing an answer's chunks to the client, set up once per request. */
interface Target {
  readonly name: string;
  start(): Redactor;
}

interface Row {
  readonly target: string;
  jsonUs: number;
  streamUs: number;
}

// What a build's dist/ exports that the proxy's masking uses. Builds from before the secrets were
// cached per credential list them per request (`credentialSecrets`), so both are understood.
interface InjectModule {
  readonly responseSecrets?: (credential: unknown, headers: IncomingHttpHeaders) => object | undefined;
  readonly credentialSecrets?: (credential: unknown, headers: IncomingHttpHeaders) => readonly string[];
}
interface RedactModule {
  readonly StreamRedactor: new (secrets: object) => Redactor;
}
interface SecretModule {
  readonly SecretValue: new (value: string, source: string) => object;
}

/** What a build lists per request for the masking to look for, in whichever API it has. */
function secretsPerRequest(inject: InjectModule, credential: object, dist: string): () => object | undefined {
  const { responseSecrets, credentialSecrets } = inject;
  if (responseSecrets !== undefined) return () => responseSecrets(credential, HEADERS);
  if (credentialSecrets !== undefined) {
    return () => {
      const list = credentialSecrets(credential, HEADERS);
      return list.length === 0 ? undefined : list;
    };
  }
  throw new CliError(`the build in ${dist} masks responses in a way this bench does not know`, 'compare with a build that has responseSecrets or credentialSecrets in credentials/inject.js');
}

/** The masking of the build whose compiled files are in `dist`, as the proxy sets it up per 2xx. */
async function maskingOf(name: string, dist: string): Promise<Target> {
  const load = async <T>(file: string): Promise<T> => (await import(pathToFileURL(join(dist, file)).href)) as T;
  const inject = await load<InjectModule>('credentials/inject.js');
  const { StreamRedactor } = await load<RedactModule>('credentials/redact-stream.js');
  const { SecretValue } = await load<SecretModule>('core/secret.js');
  const credential = { kind: 'header', policy: 'APIKey', header: 'authorization', policyName: 'default/bench', value: new SecretValue(`Bearer ${KEY}`, 'bench') };
  const secrets = secretsPerRequest(inject, credential, dist);
  return {
    name,
    start: () => {
      const s = secrets();
      if (s === undefined) throw new CliError(`the build in ${dist} found nothing to mask in the bench credential`);
      return new StreamRedactor(s);
    },
  };
}

const KEY_BYTES = Buffer.from(KEY);
const SEARCH_ONLY: Redactor = {
  push: (chunk) => (chunk.indexOf(KEY_BYTES) === -1 ? chunk : Buffer.alloc(0)),
  end: () => null,
};

/** The floor: each chunk searched once for the key, passed on as it is. */
const SEARCH: Target = { name: 'search floor', start: () => SEARCH_ONLY };

/** Wall µs per request, set-up included, over `requests` requests of `chunks`. */
function perRequestUs(target: Target, chunks: readonly Buffer[], requests: number): number {
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < requests; i++) {
    const r = target.start();
    for (const c of chunks) sink += r.push(c).length;
    sink += r.end()?.length ?? 0;
  }
  const us = Number(process.hrtime.bigint() - t0) / 1000 / requests;
  // Reading the sink keeps the loop's work from being optimised away.
  if (sink < 0) throw new Error('unreachable');
  return us;
}

function format(rows: readonly Row[], requests: number, rounds: number, compared: Row | undefined): string {
  const base = rows[0];
  const ratio = (v: number, b: number | undefined): string => (b === undefined || b === 0 ? '' : `${(v / b).toFixed(1)}x`);
  const lines = [
    `credential masking per request (µs, best of ${rounds} rounds of ${requests}; ratios vs the ${base?.target ?? 'search floor'} in this run)`,
    'target                      json µs   stream µs  json ratio  stream ratio',
    '--------------------------  --------  ---------  ----------  ------------',
  ];
  for (const r of rows) {
    lines.push(
      `${r.target.padEnd(26)}  ${r.jsonUs.toFixed(2).padStart(8)}  ${r.streamUs.toFixed(2).padStart(9)}  ${ratio(r.jsonUs, base?.jsonUs).padStart(10)}  ${ratio(r.streamUs, base?.streamUs).padStart(12)}`,
    );
  }
  const current = rows[1];
  if (compared !== undefined && current !== undefined) {
    lines.push('', `current / ${compared.target}: json ${(current.jsonUs / compared.jsonUs).toFixed(2)}x, stream ${(current.streamUs / compared.streamUs).toFixed(2)}x`);
  }
  return `${lines.join('\n')}\n`;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(spec, argv);
  if (values.help === true) {
    process.stdout.write(formatHelp(spec));
    return 0;
  }
  const requests = parsePositiveInt(values.requests ?? '50000', '--requests', { max: 10_000_000 });
  const rounds = parsePositiveInt(values.rounds ?? '5', '--rounds', { max: 100 });
  const outFile = values.out ?? '.bench-out/masking.json';
  const targets = [SEARCH, await maskingOf('current', fileURLToPath(new URL('../', import.meta.url)))];
  const ref = values.compare;
  let refCommit: string | undefined;
  if (ref !== undefined) {
    try {
      const built = buildRef(ref);
      refCommit = built.commit;
      targets.push(await maskingOf(`${ref} (${built.commit.slice(0, 12)})`, resolve(dirname(built.bin), '..', 'dist')));
    } catch (err) {
      if (err instanceof RefBuildError) throw new CliError(`--compare ${ref}: ${err.message}`, 'give a commit of this repository that builds');
      throw err;
    }
  }
  const { json, stream } = BENCH_ANSWER;
  const rows: Row[] = targets.map((t) => ({ target: t.name, jsonUs: Infinity, streamUs: Infinity }));
  for (let round = 0; round < rounds; round++) {
    // Alternate the order, so no target always runs first (colder) or last (after the others' garbage).
    const order = round % 2 === 0 ? targets.keys() : [...targets.keys()].reverse();
    for (const i of order) {
      const t = targets[i] as Target;
      const row = rows[i] as Row;
      row.jsonUs = Math.min(row.jsonUs, perRequestUs(t, [json], requests));
      row.streamUs = Math.min(row.streamUs, perRequestUs(t, stream, requests));
    }
  }
  process.stdout.write(format(rows, requests, rounds, rows[2]));
  await mkdir(dirname(outFile), { recursive: true });
  await writeFile(outFile, JSON.stringify({ requests, rounds, compare: refCommit, rows }, null, 2));
  process.stdout.write(`\nJSON written to ${outFile}\n`);
  return 0;
}
