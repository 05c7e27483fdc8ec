// Recorded exchanges in go-vcr's cassette format (version 2): `interactions[]` of a request (method,
// url, headers, body) and a response (status code, headers, body, duration). Streamed responses are
// the raw SSE text. Recordings made by `tollgate sim --record` add `tollgate_chunk_offsets_ms`, the
// arrival time of each body chunk, so a replay can keep the original pacing token by token.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseYaml } from '../yaml.js';

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, readonly string[]>>;
  readonly body: string;
}

export interface RecordedResponse {
  readonly code: number;
  readonly headers: Readonly<Record<string, readonly string[]>>;
  readonly body: string;
  /** Whole-response duration, ms. */
  readonly durationMs: number;
  /** Offsets (ms from the request) at which each body chunk arrived, when recorded by us. */
  readonly chunkOffsetsMs?: readonly number[];
  /** Body split into the chunks whose offsets are above (same length), when recorded by us. */
  readonly chunks?: readonly string[];
}

export interface Interaction {
  readonly source: string;
  readonly request: RecordedRequest;
  readonly response: RecordedResponse;
}

export class CassetteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CassetteError';
  }
}

const UNIT_MS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, 'µs': 0.001, 'μs': 0.001, ns: 0.000001 };

/** Go's time.Duration text ("6.709506291s", "339.474084ms", "1m2.5s") in milliseconds. */
export function parseGoDuration(text: string): number {
  const t = text.trim();
  if (t === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|μs|ns)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(t)) !== null) {
    total += Number(m[1]) * (UNIT_MS[m[2] ?? 's'] ?? 0);
    consumed = re.lastIndex;
  }
  if (consumed !== t.length || consumed === 0) throw new CassetteError(`"${text}" is not a duration like 1.5s or 340ms`);
  return total;
}

export function formatGoDuration(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(9).replace(/\.?0+$/, '')}s` : `${ms.toFixed(6).replace(/\.?0+$/, '')}ms`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A YAML scalar as text ('' for anything else). */
function scalar(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
}

function headers(v: unknown): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  if (!isRecord(v)) return out;
  for (const [k, vals] of Object.entries(v)) {
    if (Array.isArray(vals)) out[k.toLowerCase()] = vals.map(scalar);
    else if (vals !== null && vals !== undefined) out[k.toLowerCase()] = [scalar(vals)];
  }
  return out;
}

export function parseCassette(text: string, source: string): Interaction[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new CassetteError(`${source}: not valid YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  if (!isRecord(doc) || !Array.isArray(doc['interactions'])) throw new CassetteError(`${source}: not a go-vcr cassette (no "interactions" list)`);
  return doc['interactions'].map((it, i): Interaction => {
    const where = `${source} interaction ${i}`;
    if (!isRecord(it) || !isRecord(it['request']) || !isRecord(it['response'])) throw new CassetteError(`${where}: needs "request" and "response"`);
    const rq = it['request'];
    const rs = it['response'];
    const code = typeof rs['code'] === 'number' ? rs['code'] : Number(scalar(rs['status']).split(' ')[0]);
    if (!Number.isInteger(code) || code < 100 || code > 599) throw new CassetteError(`${where}: response has no valid status code`);
    const offsets = rs['tollgate_chunk_offsets_ms'];
    const chunks = rs['tollgate_chunks'];
    return {
      source,
      request: {
        method: (scalar(rq['method']) || 'GET').toUpperCase(),
        url: scalar(rq['url']) || '/',
        headers: headers(rq['headers']),
        body: typeof rq['body'] === 'string' ? rq['body'] : '',
      },
      response: {
        code,
        headers: headers(rs['headers']),
        body: typeof rs['body'] === 'string' ? rs['body'] : '',
        durationMs: typeof rs['duration'] === 'string' ? parseGoDuration(rs['duration']) : typeof rs['duration'] === 'number' ? rs['duration'] / 1e6 : 0,
        ...(Array.isArray(offsets) && Array.isArray(chunks) && offsets.length === chunks.length
          ? { chunkOffsetsMs: offsets.map(Number), chunks: chunks.map(String) }
          : {}),
      },
    };
  });
}

/** Every cassette in the given files and directories (recursively, *.yaml / *.yml). */
export async function loadCassettes(paths: readonly string[]): Promise<Interaction[]> {
  const out: Interaction[] = [];
  const visit = async (p: string): Promise<void> => {
    let st;
    try {
      st = await stat(p);
    } catch {
      throw new CassetteError(`cannot read ${p}: no such file or directory`);
    }
    if (st.isDirectory()) {
      const names = (await readdir(p)).sort();
      for (const n of names) if (/\.ya?ml$/i.test(n) || (await stat(join(p, n))).isDirectory()) await visit(join(p, n));
      return;
    }
    out.push(...parseCassette(await readFile(p, 'utf8'), p));
  };
  for (const p of paths) await visit(p);
  return out;
}

/** JSON bodies compare by value (key order and whitespace do not matter); others byte for byte. */
export function canonicalBody(body: string): string {
  if (body.trim() === '') return '';
  try {
    return JSON.stringify(sortKeys(JSON.parse(body) as unknown));
  } catch {
    return body;
  }
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (!isRecord(v)) return v;
  return Object.fromEntries(
    Object.keys(v)
      .sort()
      .map((k) => [k, sortKeys(v[k])]),
  );
}

function pathOf(url: string): string {
  try {
    return new URL(url, 'http://x').pathname;
  } catch {
    return url;
  }
}

function modelOf(body: string): string | undefined {
  try {
    const m = (JSON.parse(body) as { model?: unknown }).model;
    return typeof m === 'string' ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Interactions indexed for matching: exact body first, then same model, then same path. */
export class CassetteIndex {
  private readonly byKey = new Map<string, Interaction[]>();
  private readonly exact = new Map<string, Interaction[]>();
  private readonly cursor = new Map<Interaction[], number>();
  readonly size: number;

  constructor(interactions: readonly Interaction[]) {
    for (const it of interactions) {
      const key = `${it.request.method} ${pathOf(it.request.url)}`;
      push(this.byKey, key, it);
      push(this.exact, `${key} ${canonicalBody(it.request.body)}`, it);
      const model = modelOf(it.request.body);
      if (model !== undefined) push(this.byKey, `${key} model=${model}`, it);
    }
    this.size = interactions.length;
  }

  /** The recorded exchange for a request; repeated matches cycle through equal candidates. */
  match(method: string, path: string, body: string): Interaction | undefined {
    const key = `${method.toUpperCase()} ${path}`;
    const model = modelOf(body);
    const lists = [this.exact.get(`${key} ${canonicalBody(body)}`), model === undefined ? undefined : this.byKey.get(`${key} model=${model}`), this.byKey.get(key)];
    for (const list of lists) {
      if (list === undefined || list.length === 0) continue;
      const i = this.cursor.get(list) ?? 0;
      this.cursor.set(list, (i + 1) % list.length);
      return list[i];
    }
    return undefined;
  }

  paths(): string[] {
    return [...this.byKey.keys()].filter((k) => !k.includes(' model='));
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list === undefined) m.set(k, [v]);
  else list.push(v);
}
