// A value that validates against a JSON Schema, drawn from a seeded stream: what the simulators put
// in tool-call arguments and structured outputs, so clients that parse them (openai `parse()`, zod,
// LangChain `withStructuredOutput`) get data of the declared shape. Covers the subset LLM APIs accept
// (OpenAI strict mode, Anthropic input_schema, Gemini's OpenAPI-style `Schema` with upper-case types
// and `nullable`): types and type lists, enum and const, properties and required, additionalProperties,
// items and prefixItems with item counts, string lengths and common formats, numeric bounds and
// multipleOf, anyOf / oneOf / allOf, and local `$ref`s (`#/$defs/…`, `#/definitions/…`, `#`).
// `pattern` cannot be satisfied in general and is not attempted.
import type { Rng } from './rng.js';

type Obj = Record<string, unknown>;

/** One word of text (no spaces), drawn from the stream. */
export type WordSource = (rng: Rng) => string;

const MAX_DEPTH = 8;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function schemaValue(schema: unknown, rng: Rng, word: WordSource): unknown {
  return new Gen(schema, rng, word).value(schema, 0);
}

class Gen {
  constructor(
    private readonly root: unknown,
    private readonly rng: Rng,
    private readonly word: WordSource,
  ) {}

  value(schema: unknown, depth: number): unknown {
    if (schema === true || schema === undefined) return this.words(1, 2);
    if (!isObj(schema)) return null;
    const s = this.resolve(schema, 0);
    if ('const' in s) return s['const'];
    const e = s['enum'];
    if (Array.isArray(e) && e.length > 0) return e[this.rng.int(e.length)];
    const allOf = s['allOf'];
    if (Array.isArray(allOf) && allOf.length > 0) return this.value(this.merge(s, allOf), depth);
    const branches: readonly unknown[] | undefined = Array.isArray(s['anyOf']) ? s['anyOf'] : Array.isArray(s['oneOf']) ? s['oneOf'] : undefined;
    if (branches !== undefined && branches.length > 0) {
      // Past the depth limit, prefer a branch that ends the recursion (null, a scalar).
      const pick = depth >= MAX_DEPTH ? this.shallowest(branches) : this.rng.int(branches.length);
      const { anyOf: _a, oneOf: _o, ...rest } = s;
      const branch: unknown = branches[pick];
      return this.value(isObj(branch) ? { ...rest, ...branch } : branch, depth);
    }
    switch (this.typeOf(s, depth)) {
      case 'null':
        return null;
      case 'boolean':
        return this.rng.next() < 0.5;
      case 'integer':
        return this.integer(s);
      case 'number':
        return this.number(s);
      case 'string':
        return this.string(s);
      case 'array':
        return this.array(s, depth);
      default:
        return this.object(s, depth);
    }
  }

  private resolve(s: Obj, hops: number): Obj {
    const ref = s['$ref'];
    if (typeof ref !== 'string' || hops > 32) return s;
    const target = this.lookup(ref);
    const { $ref: _r, ...rest } = s;
    return isObj(target) ? this.resolve({ ...target, ...rest }, hops + 1) : rest;
  }

  private lookup(ref: string): unknown {
    if (!ref.startsWith('#')) return undefined;
    let node: unknown = this.root;
    for (const raw of ref.slice(1).split('/').filter((p) => p !== '')) {
      const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      node = isObj(node) ? node[key] : Array.isArray(node) ? (node[Number(key)] as unknown) : undefined;
    }
    return node;
  }

  private merge(s: Obj, parts: readonly unknown[]): Obj {
    const { allOf: _a, ...out } = s;
    const props: Obj = isObj(out['properties']) ? { ...out['properties'] } : {};
    const required = new Set<string>(Array.isArray(out['required']) ? out['required'].filter((r): r is string => typeof r === 'string') : []);
    for (const raw of parts) {
      if (!isObj(raw)) continue;
      const p = this.resolve(raw, 0);
      for (const [k, v] of Object.entries(p)) {
        if (k === 'properties' && isObj(v)) Object.assign(props, v);
        else if (k === 'required' && Array.isArray(v)) for (const r of v) if (typeof r === 'string') required.add(r);
        else if (!(k in out)) out[k] = v;
      }
    }
    if (Object.keys(props).length > 0) out['properties'] = props;
    if (required.size > 0) out['required'] = [...required];
    return out;
  }

  private shallowest(branches: readonly unknown[]): number {
    const score = (b: unknown): number => {
      if (!isObj(b)) return 1;
      const t = this.typeOf(this.resolve(b, 0), MAX_DEPTH);
      return t === 'null' ? 0 : t === 'object' || t === 'array' ? 2 : 1;
    };
    let best = 0;
    branches.forEach((b, i) => {
      if (score(b) < score(branches[best])) best = i;
    });
    return best;
  }

  /** The type to generate: declared (Gemini's upper case too), or implied by the keywords present. */
  private typeOf(s: Obj, depth: number): string {
    const t = s['type'];
    let types = (Array.isArray(t) ? t : t === undefined ? [] : [t]).filter((x): x is string => typeof x === 'string').map((x) => x.toLowerCase());
    if (s['nullable'] === true && !types.includes('null')) types = [...types, 'null'];
    if (types.length === 0) {
      if (isObj(s['properties']) || s['additionalProperties'] !== undefined) return 'object';
      if (s['items'] !== undefined || s['prefixItems'] !== undefined) return 'array';
      if (s['minimum'] !== undefined || s['maximum'] !== undefined) return 'number';
      return 'string';
    }
    const concrete = types.filter((x) => x !== 'null');
    if (concrete.length === 0) return 'null';
    if (depth >= MAX_DEPTH && types.includes('null')) return 'null';
    // A nullable field is mostly present: clients are more often tripped by real values than nulls.
    if (types.includes('null') && this.rng.next() < 0.15) return 'null';
    return concrete[this.rng.int(concrete.length)] as string;
  }

  private bounds(s: Obj, integer: boolean): { lo: number; hi: number } {
    const num = (k: string): number | undefined => {
      const v = s[k];
      return typeof v === 'number' ? v : undefined;
    };
    const step = integer ? 1 : 1e-3;
    let lo = num('minimum') ?? -Infinity;
    let hi = num('maximum') ?? Infinity;
    // Draft 4 spells exclusivity as booleans beside minimum/maximum; later drafts as numbers.
    const exMin = s['exclusiveMinimum'];
    const exMax = s['exclusiveMaximum'];
    if (exMin === true) lo += step;
    else if (typeof exMin === 'number') lo = Math.max(lo, exMin + step);
    if (exMax === true) hi -= step;
    else if (typeof exMax === 'number') hi = Math.min(hi, exMax - step);
    if (lo === -Infinity && hi === Infinity) return { lo: integer ? 1 : 0, hi: 100 };
    if (lo === -Infinity) lo = hi - 100;
    if (hi === Infinity) hi = lo + 100;
    return { lo, hi: Math.max(lo, hi) };
  }

  private integer(s: Obj): number {
    const { lo, hi } = this.bounds(s, true);
    const m = typeof s['multipleOf'] === 'number' && s['multipleOf'] > 0 ? s['multipleOf'] : 1;
    const first = Math.ceil(lo / m);
    const last = Math.floor(hi / m);
    const k = last >= first ? first + this.rng.int(Math.min(last - first + 1, 1_000_000)) : first;
    const v = k * m;
    return Number.isInteger(v) ? v : Math.ceil(lo);
  }

  private number(s: Obj): number {
    const m = s['multipleOf'];
    if (typeof m === 'number' && m > 0) {
      const { lo, hi } = this.bounds(s, false);
      const k = Math.ceil(lo / m) + this.rng.int(Math.max(1, Math.floor(hi / m) - Math.ceil(lo / m) + 1));
      return Number((k * m).toPrecision(12));
    }
    const { lo, hi } = this.bounds(s, false);
    const v = Math.round((lo + this.rng.next() * (hi - lo)) * 100) / 100;
    return Math.min(hi, Math.max(lo, v));
  }

  private string(s: Obj): string {
    const min = typeof s['minLength'] === 'number' ? s['minLength'] : 0;
    const max = typeof s['maxLength'] === 'number' ? s['maxLength'] : Infinity;
    let v = typeof s['format'] === 'string' ? this.formatted(s['format']) : undefined;
    if (v === undefined) {
      v = this.words(1, 3);
      while (v.length < min) v += ` ${this.word(this.rng)}`;
      if (v.length > max) v = v.slice(0, max).trimEnd();
      while (v.length < min) v += 'x';
    }
    return v;
  }

  private formatted(format: string): string | undefined {
    const r = this.rng;
    const two = (n: number): string => String(n).padStart(2, '0');
    const date = `${2020 + r.int(8)}-${two(1 + r.int(12))}-${two(1 + r.int(28))}`;
    const time = `${two(r.int(24))}:${two(r.int(60))}:${two(r.int(60))}Z`;
    const hex = (n: number): string => Array.from({ length: n }, () => r.int(16).toString(16)).join('');
    const label = this.word(r).toLowerCase().replace(/[^a-z0-9]/g, '') || 'host';
    switch (format) {
      case 'date-time':
        return `${date}T${time}`;
      case 'date':
        return date;
      case 'time':
        return time;
      case 'email':
        return `${label}@example.com`;
      case 'uri':
      case 'url':
        return `https://example.com/${label}`;
      case 'hostname':
        return `${label}.example.com`;
      case 'uuid':
        return `${hex(8)}-${hex(4)}-4${hex(3)}-${(8 + r.int(4)).toString(16)}${hex(3)}-${hex(12)}`;
      case 'ipv4':
        return [0, 0, 0, 0].map(() => r.int(256)).join('.');
      case 'ipv6':
        return Array.from({ length: 8 }, () => hex(4)).join(':');
      case 'duration':
        return `PT${1 + r.int(59)}M`;
      default:
        return undefined;
    }
  }

  private array(s: Obj, depth: number): unknown[] {
    const prefix: readonly unknown[] = Array.isArray(s['prefixItems']) ? s['prefixItems'] : [];
    const min = typeof s['minItems'] === 'number' ? s['minItems'] : 0;
    const max = typeof s['maxItems'] === 'number' ? s['maxItems'] : Infinity;
    const wanted = depth >= MAX_DEPTH ? min : Math.max(min, Math.min(max, 1 + this.rng.int(3)));
    const n = Math.max(wanted, Math.min(prefix.length, max));
    const items = s['items'];
    const out: unknown[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const itemSchema: unknown = i < prefix.length ? prefix[i] : items === false ? undefined : items;
      let v = this.value(itemSchema, depth + 1);
      // uniqueItems: redraw a few times; a small enum may still run out, which minItems then decides.
      for (let tries = 0; s['uniqueItems'] === true && seen.has(JSON.stringify(v)) && tries < 8; tries++) v = this.value(itemSchema, depth + 1);
      if (s['uniqueItems'] === true && seen.has(JSON.stringify(v))) {
        if (out.length >= min) break;
      }
      seen.add(JSON.stringify(v));
      out.push(v);
    }
    return out;
  }

  private object(s: Obj, depth: number): Obj {
    const props = isObj(s['properties']) ? s['properties'] : {};
    const required = new Set(Array.isArray(s['required']) ? s['required'].filter((r): r is string => typeof r === 'string') : []);
    const out: Obj = {};
    for (const [k, p] of Object.entries(props)) {
      // Optional properties appear about half the time, and not at all past the depth limit.
      if (!required.has(k) && (depth >= MAX_DEPTH || this.rng.next() < 0.5)) continue;
      out[k] = this.value(p, depth + 1);
    }
    // Required names the properties do not declare take whatever additionalProperties allows.
    const extra = s['additionalProperties'];
    for (const k of required) if (!(k in out)) out[k] = this.value(isObj(extra) ? extra : undefined, depth + 1);
    const minProps = typeof s['minProperties'] === 'number' ? s['minProperties'] : 0;
    if (extra !== false && (isObj(extra) || Object.keys(props).length === 0) && depth < MAX_DEPTH) {
      const want = Math.max(minProps - Object.keys(out).length, Object.keys(props).length === 0 && isObj(extra) ? 1 : 0);
      for (let i = 0; i < want; i++) out[`${this.word(this.rng).toLowerCase()}_${i}`] = this.value(isObj(extra) ? extra : undefined, depth + 1);
    }
    return out;
  }

  private words(min: number, max: number): string {
    const n = min + this.rng.int(max - min + 1);
    const parts: string[] = [];
    for (let i = 0; i < n; i++) parts.push(this.word(this.rng));
    return parts.join(' ');
  }
}
