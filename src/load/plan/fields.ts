// Field readers for the plan: each reads one key of a YAML mapping, checks it, and records a
// problem (with its path and a fix) instead of throwing, so a bad plan reports every mistake at once.

export class PlanError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[], where: string) {
    super(`${where}: ${problems.length === 1 ? problems[0] : `${problems.length} problems:\n  ${problems.join('\n  ')}`}`);
    this.name = 'PlanError';
    this.problems = problems;
  }
}

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, min: 60, h: 3600 };

/** Seconds from a number or "250ms", "90s", "5m", "1.5h". */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?\s*$/.exec(v);
  if (m === null) return undefined;
  return Number(m[1]) * (UNITS[m[2] ?? 's'] ?? 1);
}

export class Fields {
  private readonly seen = new Set<string>();
  constructor(
    readonly obj: Record<string, unknown>,
    readonly path: string,
    readonly problems: string[],
  ) {}

  private at(key: string): string {
    return this.path === '' ? key : `${this.path}.${key}`;
  }

  has(key: string): boolean {
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }

  raw(...keys: string[]): { key: string; value: unknown } | undefined {
    for (const k of keys) {
      this.seen.add(k);
      if (this.has(k)) return { key: k, value: this.obj[k] };
    }
    return undefined;
  }

  problem(key: string, msg: string): void {
    this.problems.push(`${this.at(key)}: ${msg}`);
  }

  num(keys: string | string[], def: number, opts: { min?: number; max?: number; int?: boolean; exclusiveMin?: boolean } = {}): number {
    const r = this.raw(...(Array.isArray(keys) ? keys : [keys]));
    if (r === undefined) return def;
    const v = r.value;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      this.problem(r.key, `must be a number, got ${JSON.stringify(v)}`);
      return def;
    }
    return this.check(r.key, v, def, opts);
  }

  optNum(keys: string | string[], opts: { min?: number; max?: number; exclusiveMin?: boolean } = {}): number | undefined {
    const r = this.raw(...(Array.isArray(keys) ? keys : [keys]));
    if (r === undefined) return undefined;
    if (typeof r.value !== 'number' || !Number.isFinite(r.value)) {
      this.problem(r.key, `must be a number, got ${JSON.stringify(r.value)}`);
      return undefined;
    }
    return this.check(r.key, r.value, undefined, opts);
  }

  /** A duration under `key` (any unit) or `key_s` (seconds). */
  dur(key: string, def: number, opts: { min?: number; exclusiveMin?: boolean } = {}): number {
    const v = this.optDur(key, opts);
    return v ?? def;
  }

  optDur(key: string, opts: { min?: number; exclusiveMin?: boolean } = {}): number | undefined {
    const r = this.raw(key, `${key}_s`);
    if (r === undefined) return undefined;
    const v = parseDuration(r.value);
    if (v === undefined) {
      this.problem(r.key, `must be a duration such as 90, "90s", "5m" or "1h", got ${JSON.stringify(r.value)}`);
      return undefined;
    }
    return this.check(r.key, v, undefined, opts);
  }

  private check<T extends number | undefined>(key: string, v: number, def: T, opts: { min?: number; max?: number; int?: boolean; exclusiveMin?: boolean }): number | T {
    if (opts.int === true && !Number.isInteger(v)) {
      this.problem(key, `must be a whole number, got ${v}`);
      return def;
    }
    if (opts.min !== undefined && (opts.exclusiveMin === true ? v <= opts.min : v < opts.min)) {
      this.problem(key, `must be ${opts.exclusiveMin === true ? 'greater than' : 'at least'} ${opts.min}, got ${v}`);
      return def;
    }
    if (opts.max !== undefined && v > opts.max) {
      this.problem(key, `must be at most ${opts.max}, got ${v}`);
      return def;
    }
    return v;
  }

  str(key: string, def: string): string {
    const r = this.raw(key);
    if (r === undefined) return def;
    if (typeof r.value !== 'string' || r.value === '') {
      this.problem(r.key, `must be a non-empty string, got ${JSON.stringify(r.value)}`);
      return def;
    }
    return r.value;
  }

  optStr(key: string): string | undefined {
    const r = this.raw(key);
    if (r === undefined) return undefined;
    if (typeof r.value !== 'string' || r.value === '') {
      this.problem(r.key, `must be a non-empty string, got ${JSON.stringify(r.value)}`);
      return undefined;
    }
    return r.value;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], def: T): T {
    const r = this.raw(key);
    if (r === undefined) return def;
    if (typeof r.value === 'string' && (allowed as readonly string[]).includes(r.value)) return r.value as T;
    this.problem(r.key, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(r.value)}`);
    return def;
  }

  map(key: string): Fields | undefined {
    const r = this.raw(key);
    if (r === undefined) return undefined;
    if (!isMap(r.value)) {
      this.problem(r.key, 'must be a mapping (key: value)');
      return undefined;
    }
    return new Fields(r.value, this.at(r.key), this.problems);
  }

  list(key: string): Array<{ value: unknown; path: string }> | undefined {
    const r = this.raw(key);
    if (r === undefined) return undefined;
    if (!Array.isArray(r.value)) {
      this.problem(r.key, 'must be a list');
      return undefined;
    }
    return (r.value as unknown[]).map((value: unknown, i) => ({ value, path: `${this.at(r.key)}[${i}]` }));
  }

  strList(key: string): string[] | undefined {
    const l = this.list(key);
    if (l === undefined) return undefined;
    const out: string[] = [];
    for (const { value, path } of l) {
      if (typeof value === 'string' && value !== '') out.push(value);
      else this.problems.push(`${path}: must be a string`);
    }
    return out;
  }

  /** Reports keys nobody read: a typo must not silently fall back to a default. */
  unknown(): void {
    for (const k of Object.keys(this.obj)) {
      if (!this.seen.has(k)) this.problem(k, 'unknown field (see `tollgate load --print-plan` for the fields a plan has)');
    }
  }
}
