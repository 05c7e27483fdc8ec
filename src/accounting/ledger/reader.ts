// Reading the ledger back: every record once, in file order, with a request's later "counted" line
// taking the place of its first line. A record whose count line never came (the process died
// between the response and the count) is returned as first written: billed from the backend's usage,
// or from the character estimate, and marked non-final.
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { recordFromJson, RecordFormatError, type UsageRecord } from '../record.js';

export interface LedgerProblem {
  readonly file: string;
  readonly line: number;
  readonly message: string;
}

export interface LedgerReadResult {
  readonly files: readonly string[];
  readonly problems: LedgerProblem[];
}

export class LedgerReadError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** Ledger files under a path: the path itself if it is a file, else every `*.jsonl` in the directory, by name. */
export async function ledgerFiles(path: string): Promise<string[]> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new LedgerReadError(`cannot read ledger ${path}: ${code === 'ENOENT' ? 'no such file or directory' : (code ?? String(err))}`, 'pass the directory given to `tollgate serve --ledger`');
  }
  if (st.isFile()) return [path];
  const names = (await readdir(path)).filter((n) => n.endsWith('.jsonl')).sort();
  return names.map((n) => join(path, n));
}

/**
 * Records from the ledger at `path`. `problems` collects lines that could not be read (with file
 * and line number); a torn final line (a crash mid-write) is reported as such, never fatal.
 */
export async function* readLedger(path: string, result: { problems: LedgerProblem[]; files: string[] } = { problems: [], files: [] }): AsyncGenerator<UsageRecord> {
  const files = await ledgerFiles(path);
  result.files.push(...files);
  const open = new Map<string, UsageRecord>();
  for (const file of files) {
    const stream = createReadStream(file, { encoding: 'utf8' });
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    let n = 0;
    let last: { n: number; text: string } | undefined;
    for await (const text of lines) {
      n++;
      if (text.length === 0) continue;
      let rec: UsageRecord;
      try {
        const obj = JSON.parse(text) as { type?: unknown } | null;
        // MCP tool calls share the ledger; they carry no tokens.
        if (obj !== null && obj.type === 'mcp_tool_call') continue;
        rec = recordFromJson(obj);
      } catch (err) {
        last = { n, text };
        result.problems.push({ file, line: n, message: err instanceof RecordFormatError ? err.message : 'not valid JSON' });
        continue;
      }
      last = undefined;
      if (rec.final) {
        open.delete(rec.key);
        yield rec;
      } else open.set(rec.key, rec);
    }
    // A bad last line with no newline after it is a write the process did not finish.
    if (last !== undefined && last.n === n && (await endsWithoutNewline(file))) {
      const p = result.problems[result.problems.length - 1];
      if (p !== undefined && p.line === last.n && p.file === file) result.problems[result.problems.length - 1] = { ...p, message: 'torn last line (the writer stopped mid-line); skipped' };
    }
  }
  for (const rec of open.values()) yield rec;
}

async function endsWithoutNewline(file: string): Promise<boolean> {
  const { open } = await import('node:fs/promises');
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    if (size === 0) return false;
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, size - 1);
    return b[0] !== 10;
  } finally {
    await fh.close();
  }
}
