// Prometheus text exposition format (version 0.0.4), parsed into samples. Verify reads counters and
// histogram series from the gateway's admin endpoint and compares them before and after a case, so
// the parser is strict about what it keeps and reports a line it cannot read instead of guessing.

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export class ExpositionError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
    this.name = 'ExpositionError';
  }
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line.length === 0 || line.startsWith('#')) continue;
    out.push(parseLine(line, i + 1));
  }
  return out;
}

function parseLine(line: string, n: number): Sample {
  const m = NAME.exec(line);
  if (m === null) throw new ExpositionError(n, `no metric name at the start of "${line.slice(0, 80)}"`);
  const name = m[0];
  let pos = name.length;
  const labels: Record<string, string> = {};
  if (line[pos] === '{') {
    pos++;
    for (;;) {
      while (line[pos] === ' ' || line[pos] === ',') pos++;
      if (line[pos] === '}') {
        pos++;
        break;
      }
      const ln = LABEL_NAME.exec(line.slice(pos));
      if (ln === null) throw new ExpositionError(n, `bad label name in "${line.slice(0, 120)}"`);
      pos += ln[0].length;
      if (line[pos] !== '=' || line[pos + 1] !== '"') throw new ExpositionError(n, `expected ="…" after label ${ln[0]}`);
      pos += 2;
      let value = '';
      for (;;) {
        const c = line[pos];
        if (c === undefined) throw new ExpositionError(n, `unterminated value of label ${ln[0]}`);
        pos++;
        if (c === '"') break;
        if (c === '\\') {
          const e = line[pos++];
          value += e === 'n' ? '\n' : (e ?? '');
        } else value += c;
      }
      labels[ln[0]] = value;
    }
  }
  const rest = line.slice(pos).trim().split(/\s+/);
  const value = parseValue(rest[0] ?? '');
  if (value === undefined) throw new ExpositionError(n, `bad sample value "${rest[0] ?? ''}" for ${name}`);
  return { name, labels, value };
}

function parseValue(text: string): number | undefined {
  // Prometheus reads these specials case-insensitively (Go's ParseFloat); prom-client writes "Nan".
  switch (text.toLowerCase()) {
    case '+inf':
    case 'inf':
      return Infinity;
    case '-inf':
      return -Infinity;
    case 'nan':
      return NaN;
    default: {
      const v = Number(text);
      return text.length > 0 && !Number.isNaN(v) ? v : undefined;
    }
  }
}

/** Samples of `name` whose labels include every pair of `match`. */
export function select(samples: readonly Sample[], name: string, match: Readonly<Record<string, string>> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

/** Sum across every label set; undefined when the series does not exist at all. */
export function sumOf(samples: readonly Sample[], name: string, match: Readonly<Record<string, string>> = {}): number | undefined {
  const hits = select(samples, name, match);
  if (hits.length === 0) return undefined;
  return hits.reduce((a, s) => a + s.value, 0);
}

/** Every distinct metric name present (for "did you mean" style hints). */
export function names(samples: readonly Sample[]): Set<string> {
  return new Set(samples.map((s) => s.name));
}

/** The metric families a scrape declares (`# TYPE name kind`), whether or not they have samples now. */
export function families(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^#\s*TYPE\s+([a-zA-Z_:][a-zA-Z0-9_:]*)\s/.exec(line);
    if (m?.[1] !== undefined) out.add(m[1]);
  }
  return out;
}
