// Collecting problems instead of throwing: a config run reports every problem at once, each at the
// file:line:col of the node that caused it, with a hint that says how to fix it.
import type { Diagnostic, Severity } from './types.js';

export interface Pos {
  readonly line: number;
  readonly column: number;
}

export const NO_POS: Pos = { line: 0, column: 0 };

export interface DiagInput {
  readonly file: string;
  readonly pos?: Pos;
  readonly resource?: string;
  readonly path?: string;
  readonly message: string;
  readonly hint?: string;
}

export class Diagnostics {
  readonly items: Diagnostic[] = [];
  #errors = 0;

  error(d: DiagInput): void {
    this.add('error', d);
  }

  warn(d: DiagInput): void {
    this.add('warning', d);
  }

  add(severity: Severity, d: DiagInput): void {
    if (severity === 'error') this.#errors++;
    this.items.push({
      severity,
      file: d.file,
      line: d.pos?.line ?? 0,
      column: d.pos?.column ?? 0,
      resource: d.resource,
      path: d.path,
      message: d.message,
      hint: d.hint,
    });
  }

  push(...diags: readonly Diagnostic[]): void {
    for (const d of diags) {
      if (d.severity === 'error') this.#errors++;
      this.items.push(d);
    }
  }

  get errorCount(): number {
    return this.#errors;
  }

  /** Stable order for output: by file, then position; insertion order breaks ties. */
  sorted(): Diagnostic[] {
    return this.items
      .map((d, i) => ({ d, i }))
      .sort((a, b) => cmp(a.d.file, b.d.file) || a.d.line - b.d.line || a.d.column - b.d.column || a.i - b.i)
      .map((x) => x.d);
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `file:line:col: error: message [Kind ns/name spec.path]` plus an indented hint line. */
export function formatDiagnostics(diags: readonly Diagnostic[]): string {
  let out = '';
  for (const d of diags) {
    const loc = d.line > 0 ? `${d.file}:${d.line}:${d.column}` : d.file;
    const where = d.resource === undefined ? '' : ` [${d.resource}${d.path === undefined ? '' : ` ${d.path}`}]`;
    out += `${loc}: ${d.severity}: ${d.message}${where}\n`;
    if (d.hint !== undefined) out += `  hint: ${d.hint}\n`;
  }
  return out;
}

/** `spec.rules[0].backendRefs[1].name` from a path of keys and indexes. */
export function formatPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else s += s === '' ? String(p) : `.${String(p)}`;
  }
  return s;
}

/** Optimal-string-alignment distance: Levenshtein plus adjacent transpositions (the usual typo). */
export function editDistance(a: string, b: string, limit = Infinity): number {
  if (a === b) return 0;
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  const n = b.length;
  let prev2 = new Array<number>(n + 1).fill(0);
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  let cur = new Array<number>(n + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    let rowMin = i;
    for (let j = 1; j <= n; j++) {
      const cost = a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1;
      let v = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a.charCodeAt(i - 1) === b.charCodeAt(j - 2) && a.charCodeAt(i - 2) === b.charCodeAt(j - 1)) {
        v = Math.min(v, (prev2[j - 2] ?? 0) + 1);
      }
      cur[j] = v;
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > limit) return limit + 1;
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return prev[n] ?? 0;
}

/** Singular stem, so `retries`/`retry` and `timeouts`/`timeout` count as the same word. */
function stem(word: string): string {
  if (word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.endsWith('s') && !word.endsWith('ss')) return word.slice(0, -1);
  return word;
}

/** The closest candidate if it is close enough to be a plausible typo. */
export function didYouMean(input: string, candidates: Iterable<string>): string | undefined {
  const lower = input.toLowerCase();
  const limit = Math.max(2, Math.floor(input.length / 3));
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const cl = c.toLowerCase();
    const d = cl === lower ? 0 : stem(cl) === stem(lower) ? 1 : editDistance(lower, cl, limit);
    if (d <= limit && d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}

/** Up to `max` candidates ordered by distance (ties alphabetical), for "closest existing names". */
export function closest(input: string, candidates: Iterable<string>, max = 3): string[] {
  const scored: Array<{ c: string; d: number }> = [];
  for (const c of candidates) scored.push({ c, d: editDistance(input, c, Math.max(input.length, 8)) });
  scored.sort((x, y) => x.d - y.d || cmp(x.c, y.c));
  return scored.slice(0, max).map((s) => s.c);
}

export function quoteList(items: readonly string[]): string {
  return items.map((i) => `\`${i}\``).join(', ');
}
