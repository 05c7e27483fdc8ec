// Streaming record sources for the unroller: JSON Lines, top-level JSON arrays (split element by
// element without parsing the whole file), single JSON documents, and Parquet row groups, each
// optionally gzip-compressed. Memory stays bounded by the largest single record, however large
// the input. Every record carries its location (`file:line` or `file#index`) for error reports.
import { createReadStream, promises as fs } from 'node:fs';
import { basename, sep } from 'node:path';
import { createGunzip } from 'node:zlib';

export type RecordResult =
  | { readonly ok: true; readonly value: unknown; readonly at: string }
  | { readonly ok: false; readonly reason: string; readonly at: string };

export type InputKind = 'jsonl' | 'json' | 'parquet' | 'text';

/** How a file is named in record locations: its name, or its last folders when the name is generic. */
export function fileLabel(path: string): string {
  const b = basename(path);
  return b === 'trajectory.json' ? path.split(sep).slice(-4).join('/') : b;
}

export function inputKind(path: string): InputKind {
  const p = path.toLowerCase().replace(/\.gz$/, '');
  if (p.endsWith('.parquet')) return 'parquet';
  if (p.endsWith('.jsonl') || p.endsWith('.ndjson')) return 'jsonl';
  if (p.endsWith('.json')) return 'json';
  return 'text';
}

/** Bytes consumed so far across all inputs (compressed bytes for .gz), for progress and throughput. */
export class ByteCounter {
  bytes = 0;
}

async function* chunks(path: string, counter: ByteCounter): AsyncGenerator<Buffer> {
  const raw = createReadStream(path, { highWaterMark: 1 << 20 });
  raw.on('data', (c: string | Buffer) => {
    counter.bytes += c.length;
  });
  const src = path.toLowerCase().endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  for await (const c of src as AsyncIterable<Buffer>) yield c;
}

/** JSON Lines: one record per non-blank line. */
export async function* jsonlRecords(path: string, counter: ByteCounter): AsyncGenerator<RecordResult> {
  const name = fileLabel(path);
  let pending: Buffer[] = [];
  let lineNo = 0;
  const emit = (line: Buffer): RecordResult | undefined => {
    lineNo++;
    let end = line.length;
    if (end > 0 && line[end - 1] === 0x0d) end--;
    let start = 0;
    while (start < end && (line[start] === 0x20 || line[start] === 0x09)) start++;
    if (start === end) return undefined;
    try {
      return { ok: true, value: JSON.parse(line.toString('utf8', start, end)), at: `${name}:${lineNo}` };
    } catch (err) {
      return { ok: false, reason: `invalid JSON (${err instanceof Error ? err.message : String(err)})`, at: `${name}:${lineNo}` };
    }
  };
  for await (const chunk of chunks(path, counter)) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      let line = chunk.subarray(start, nl);
      if (pending.length > 0) {
        line = Buffer.concat([...pending, line]);
        pending = [];
      }
      const r = emit(line);
      if (r !== undefined) yield r;
      start = nl + 1;
    }
    if (start < chunk.length) pending.push(chunk.subarray(start));
  }
  if (pending.length > 0) {
    const r = emit(Buffer.concat(pending));
    if (r !== undefined) yield r;
  }
}

/**
 * A JSON file: a top-level array is streamed element by element (a byte scanner tracks strings and
 * nesting; each element is parsed on its own); a top-level object is one record.
 */
export async function* jsonRecords(path: string, counter: ByteCounter): AsyncGenerator<RecordResult> {
  const name = fileLabel(path);
  const s = new ArraySplitter();
  let mode: 'unknown' | 'array' | 'object' = 'unknown';
  const whole: Buffer[] = [];
  let index = 0;
  for await (const chunk of chunks(path, counter)) {
    if (mode === 'unknown') {
      let i = 0;
      while (i < chunk.length && (chunk[i] === 0x20 || chunk[i] === 0x0a || chunk[i] === 0x0d || chunk[i] === 0x09 || chunk[i] === 0xef || chunk[i] === 0xbb || chunk[i] === 0xbf)) i++;
      if (i === chunk.length) continue;
      mode = chunk[i] === 0x5b ? 'array' : 'object';
    }
    if (mode === 'object') {
      whole.push(chunk);
      continue;
    }
    for (const el of s.push(chunk)) {
      const at = `${name}#${index++}`;
      try {
        yield { ok: true, value: JSON.parse(el.toString('utf8')), at };
      } catch (err) {
        yield { ok: false, reason: `invalid JSON (${err instanceof Error ? err.message : String(err)})`, at };
      }
    }
  }
  if (mode === 'object') {
    try {
      yield { ok: true, value: JSON.parse(Buffer.concat(whole).toString('utf8')), at: name };
    } catch (err) {
      yield { ok: false, reason: `invalid JSON (${err instanceof Error ? err.message : String(err)})`, at: name };
    }
  } else if (mode === 'array' && !s.closed) {
    yield { ok: false, reason: 'the JSON array is not closed (truncated file?)', at: `${name}#${index}` };
  }
}

/** Splits the elements of a top-level JSON array out of a byte stream. */
export class ArraySplitter {
  private depth = 0;
  private inString = false;
  private escaped = false;
  private parts: Buffer[] = [];
  closed = false;

  *push(chunk: Buffer): Generator<Buffer> {
    let i = 0;
    let start = -1; // start of the current element within this chunk, if it began here
    if (this.parts.length > 0) start = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.inString) {
        if (this.escaped) {
          this.escaped = false;
          i++;
          continue;
        }
        // Jump to the next quote (most bytes of an agent dataset are string content); it ends the
        // string unless an odd run of backslashes escapes it. Backslashes are only counted back to
        // `i`: the byte before `i` is a quote or was itself escaped.
        const q = chunk.indexOf(0x22, i);
        if (q < 0) {
          this.escaped = backslashRun(chunk, n, i) % 2 === 1;
          i = n;
          break;
        }
        if (backslashRun(chunk, q, i) % 2 === 0) this.inString = false;
        i = q + 1;
        continue;
      }
      const c = chunk[i]!;
      if (c === 0x22) {
        this.inString = true;
        if (this.depth === 1 && start < 0) start = i;
      } else if (c === 0x7b || c === 0x5b) {
        if (this.depth === 1 && start < 0) start = i;
        this.depth++;
      } else if (c === 0x7d || c === 0x5d) {
        this.depth--;
        if (this.depth === 1 && start >= 0) {
          yield this.take(chunk, start, i + 1);
          start = -1;
        } else if (this.depth === 0) {
          if (start >= 0) yield this.take(chunk, start, i);
          start = -1;
          this.closed = true;
        }
      } else if (c === 0x2c && this.depth === 1 && start >= 0) {
        // A scalar element (number, true, null) ends at the comma.
        yield this.take(chunk, start, i);
        start = -1;
      } else if (this.depth === 1 && start < 0 && c > 0x20 && c !== 0x2c) {
        start = i;
      }
      i++;
    }
    if (start >= 0) this.parts.push(chunk.subarray(start));
  }

  private take(chunk: Buffer, start: number, end: number): Buffer {
    const piece = chunk.subarray(start, end);
    if (this.parts.length === 0) return piece;
    const all = Buffer.concat([...this.parts, piece]);
    this.parts = [];
    return all;
  }
}

/** Length of the run of backslashes that ends just before `end`, looking no further back than `from`. */
function backslashRun(chunk: Buffer, end: number, from: number): number {
  let p = end;
  while (p > from && chunk[p - 1] === 0x5c) p--;
  return end - p;
}

/** The whole file as text (small per-task files such as OmniACT's). */
export async function readText(path: string, counter: ByteCounter): Promise<string> {
  const b = await fs.readFile(path);
  counter.bytes += b.length;
  return b.toString('utf8');
}

const PARQUET_BATCH_ROWS = 64;

/** Parquet rows as objects, read a small batch at a time (columns decoded per batch). */
export async function* parquetRecords(path: string, counter: ByteCounter): AsyncGenerator<RecordResult> {
  const name = fileLabel(path);
  const { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } = await import('hyparquet');
  const { compressors } = await import('hyparquet-compressors');
  let file;
  let metadata;
  try {
    file = await asyncBufferFromFile(path);
    metadata = await parquetMetadataAsync(file);
  } catch (err) {
    yield { ok: false, reason: `not a readable Parquet file (${err instanceof Error ? err.message : String(err)})`, at: name };
    return;
  }
  const rows = Number(metadata.num_rows);
  const bytesPerRow = rows === 0 ? 0 : file.byteLength / rows;
  for (let start = 0; start < rows; start += PARQUET_BATCH_ROWS) {
    const end = Math.min(rows, start + PARQUET_BATCH_ROWS);
    let batch: Array<Record<string, unknown>>;
    try {
      batch = (await parquetReadObjects({ file, metadata, rowStart: start, rowEnd: end, compressors })) as Array<Record<string, unknown>>;
    } catch (err) {
      yield { ok: false, reason: `Parquet rows ${start}–${end - 1} unreadable (${err instanceof Error ? err.message : String(err)})`, at: `${name}#${start}` };
      counter.bytes += (end - start) * bytesPerRow;
      continue;
    }
    for (let k = 0; k < batch.length; k++) {
      counter.bytes += bytesPerRow;
      yield { ok: true, value: batch[k], at: `${name}#${start + k}` };
    }
  }
}
