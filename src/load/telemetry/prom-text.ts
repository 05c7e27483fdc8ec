// Prometheus text exposition (0.0.4) and OpenMetrics samples → {name, labels, value}. Only what
// the harness reads: names (with `:` as vLLM uses), labels with escapes, float values.

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export function parsePromText(text: string): Sample[] {
  const out: Sample[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end).trim();
    start = end + 1;
    if (line === '' || line.charCodeAt(0) === 0x23) continue;
    const s = parseLine(line);
    if (s !== undefined) out.push(s);
  }
  return out;
}

function parseLine(line: string): Sample | undefined {
  let i = 0;
  while (i < line.length && line[i] !== '{' && line[i] !== ' ' && line[i] !== '\t') i++;
  const name = line.slice(0, i);
  if (name === '') return undefined;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    for (;;) {
      while (line[i] === ' ' || line[i] === ',') i++;
      if (line[i] === '}') {
        i++;
        break;
      }
      const eq = line.indexOf('=', i);
      if (eq < 0) return undefined;
      const key = line.slice(i, eq).trim();
      i = eq + 1;
      if (line[i] !== '"') return undefined;
      i++;
      let v = '';
      while (i < line.length && line[i] !== '"') {
        if (line[i] === '\\' && i + 1 < line.length) {
          const c = line[i + 1];
          v += c === 'n' ? '\n' : (c ?? '');
          i += 2;
        } else {
          v += line[i];
          i++;
        }
      }
      if (line[i] !== '"') return undefined;
      i++;
      labels[key] = v;
    }
  }
  const rest = line.slice(i).trim().split(/\s+/);
  const value = parseValue(rest[0] ?? '');
  if (value === undefined) return undefined;
  return { name, labels, value };
}

export function parseValue(v: string): number | undefined {
  switch (v) {
    case '+Inf':
    case 'Inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
      return Number.NEGATIVE_INFINITY;
    case 'NaN':
      return Number.NaN;
    default: {
      const n = Number(v);
      return v === '' || Number.isNaN(n) ? undefined : n;
    }
  }
}
