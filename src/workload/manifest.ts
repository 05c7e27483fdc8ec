// The corpus manifest: what a reader needs to find, shard and describe a corpus without scanning
// it. Each stream keeps a sidecar (`<stream>/stream.json`) with mergeable statistics; the manifest
// is rebuilt from all sidecars whenever a stream is written, so corpora can be assembled from
// several runs (synth plus a few unrolls) and still report per-profile figures.
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CORPUS_FORMAT, ENVELOPE_VERSION, MANIFEST_FILE, type Layout } from './envelope.js';
import { combineEstimates, type PrefixCacheEstimate } from './prefix-cache.js';
import { newStatSet, STAT_KEYS, statSetView, type StatKey, type Summary, type SummaryView } from './stats.js';

export const SIDECAR_FILE = 'stream.json';

export interface PartEntry {
  /** Path relative to the corpus directory. */
  readonly file: string;
  /** Index (`si`) of the first session in the file; sessions are contiguous. */
  readonly first_session: number;
  readonly sessions: number;
  readonly requests: number;
  readonly bytes: number;
}

export interface BadRecordSummary {
  readonly count: number;
  readonly by_reason: Record<string, number>;
  /** The first few, with their location in the input. */
  readonly examples: ReadonlyArray<{ readonly at: string; readonly reason: string }>;
  /** Repairs applied to otherwise good records (e.g. a tool call with no result got an empty one). */
  readonly repairs: Record<string, number>;
}

export interface StreamRecord {
  readonly name: string;
  readonly profile: string;
  readonly app: string;
  readonly source: string;
  readonly layout: Layout;
  readonly model: string;
  readonly stream: boolean;
  readonly path: string;
  readonly tokenizer: string;
  readonly envelope_version: number;
  readonly sessions: number;
  readonly requests: number;
  /** Bytes of the part files. */
  readonly bytes: number;
  /** Bytes of all reconstructed bodies (what goes on the wire). */
  readonly body_bytes: number;
  readonly parts: readonly PartEntry[];
  readonly stats: Record<StatKey, Summary>;
  readonly prefix_cache: PrefixCacheEstimate;
  readonly bad_records: BadRecordSummary;
  readonly generator: Record<string, unknown>;
}

export interface StreamView extends Omit<StreamRecord, 'stats'> {
  readonly stats: Record<StatKey, SummaryView>;
}

export interface GroupView {
  readonly streams: readonly string[];
  readonly sessions: number;
  readonly requests: number;
  readonly bytes: number;
  readonly body_bytes: number;
  readonly stats: Record<StatKey, SummaryView>;
  readonly prefix_cache: PrefixCacheEstimate;
}

export interface Manifest {
  readonly format: typeof CORPUS_FORMAT;
  readonly version: number;
  readonly streams: readonly StreamView[];
  readonly profiles: Readonly<Record<string, GroupView>>;
  readonly totals: GroupView;
}

export function writeStreamSidecar(dir: string, record: StreamRecord): void {
  writeJsonAtomic(join(dir, record.name, SIDECAR_FILE), record);
}

function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
  renameSync(tmp, path);
}

/** Stream sidecars present in a corpus directory, by stream name order. */
export function readSidecars(dir: string): StreamRecord[] {
  if (!existsSync(dir)) return [];
  const out: StreamRecord[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name, SIDECAR_FILE);
    if (!existsSync(p)) continue;
    const rec = JSON.parse(readFileSync(p, 'utf8')) as StreamRecord;
    out.push(rec);
  }
  return out;
}

function group(records: readonly StreamRecord[]): GroupView {
  const stats = newStatSet();
  for (const r of records) for (const k of STAT_KEYS) stats[k].merge(r.stats[k]);
  return {
    streams: records.map((r) => r.name),
    sessions: records.reduce((a, r) => a + r.sessions, 0),
    requests: records.reduce((a, r) => a + r.requests, 0),
    bytes: records.reduce((a, r) => a + r.bytes, 0),
    body_bytes: records.reduce((a, r) => a + r.body_bytes, 0),
    stats: statSetView(stats),
    prefix_cache: combineEstimates(records.map((r) => r.prefix_cache)),
  };
}

/** Rebuilds manifest.json from the sidecars in `dir` and returns it. */
export function rebuildManifest(dir: string): Manifest {
  const records = readSidecars(dir);
  const profiles: Record<string, GroupView> = {};
  for (const p of [...new Set(records.map((r) => r.profile))].sort()) profiles[p] = group(records.filter((r) => r.profile === p));
  const manifest: Manifest = {
    format: CORPUS_FORMAT,
    version: ENVELOPE_VERSION,
    streams: records.map((r) => {
      const s = newStatSet();
      for (const k of STAT_KEYS) s[k].merge(r.stats[k]);
      return { ...r, stats: statSetView(s) };
    }),
    profiles,
    totals: group(records),
  };
  writeJsonAtomic(join(dir, MANIFEST_FILE), manifest);
  return manifest;
}

export class CorpusError extends Error {
  readonly hint: string | undefined;
  constructor(message: string, hint?: string) {
    super(message);
    this.name = 'CorpusError';
    this.hint = hint;
  }
}

/** Reads and checks a corpus manifest; throws CorpusError naming what is wrong. */
export function readManifest(dir: string): Manifest {
  const path = join(dir, MANIFEST_FILE);
  if (!existsSync(path)) {
    throw new CorpusError(`${dir} has no ${MANIFEST_FILE}`, 'make a corpus with `tollgate synth --out DIR` or `tollgate unroll … --out DIR`');
  }
  let m: unknown;
  try {
    m = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new CorpusError(`${path} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const obj = m as Partial<Manifest> | null;
  if (obj === null || typeof obj !== 'object' || obj.format !== CORPUS_FORMAT) throw new CorpusError(`${path} is not a ${CORPUS_FORMAT} manifest`);
  if (obj.version !== ENVELOPE_VERSION) {
    throw new CorpusError(`${path} is envelope version ${String(obj.version)}; this build reads version ${ENVELOPE_VERSION}`, 'regenerate the corpus with this version of tollgate');
  }
  if (!Array.isArray(obj.streams)) throw new CorpusError(`${path} has no streams list`);
  return obj as Manifest;
}
