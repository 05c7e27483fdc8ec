// Chargeback rates: what a token costs, per model, token type and workload (business unit), with
// volume tiers. The minimum format is `unit` plus `models: {name: {type: price}}`;
// everything else is optional:
//
//   unit: 1M                 # prices are per this many tokens: 1, 1K, 1M (or a number)
//   currency: USD            # shown in reports
//   models:                  # keyed by the model the backend was asked for (gen_ai_request_model)
//     gpt-oss-120b: {input: 0.10, cached_input: 0.05, output: 0.40}
//     gemini-flash:
//       input: 0.30
//       output: [{up_to: 100M, price: 2.50}, {price: 2.00}]   # tiers by the period's volume
//   default: {input: 1.00, output: 3.00}                      # models not listed
//   workloads:               # x-workload-app values
//     toolbench-agent:
//       business_unit: research
//       multiplier: 1.15     # markup (or < 1: discount) on everything this workload uses
//       models: {gemini-flash: {input: 0.25}}                 # its own negotiated prices
//
// Billing of the token types: `input` counts every prompt token; when a model has a `cached_input`
// (or `cache_creation_input`) price, those tokens are taken out of `input` and billed at their own
// price. Likewise `reasoning` is part of `output` and billed apart only when it has a price.
import { parse } from 'yaml';
import type { TokenType, Usage } from '../core/usage.js';

export interface Tier {
  /** Cumulative tokens of this type (in the report period) up to which this price applies; undefined: no limit. */
  readonly upTo: number | undefined;
  /** Price per `unit` tokens. */
  readonly price: number;
}

export type Price = readonly Tier[];

export type ModelRates = Partial<Readonly<Record<TokenType, Price>>>;

export interface WorkloadRates {
  readonly businessUnit: string | undefined;
  readonly multiplier: number;
  readonly models: ReadonlyMap<string, ModelRates>;
}

export interface Rates {
  /** Tokens per price unit. */
  readonly unit: number;
  readonly currency: string;
  readonly models: ReadonlyMap<string, ModelRates>;
  readonly default: ModelRates | undefined;
  readonly workloads: ReadonlyMap<string, WorkloadRates>;
}

export class RatesError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

const TYPES: readonly TokenType[] = ['input', 'cached_input', 'cache_creation_input', 'output', 'reasoning'];

/** Parses a rates file's text; errors name the file, the field and what is expected. */
export function parseRates(text: string, where: string): Rates {
  let doc: unknown;
  try {
    doc = parse(text, { maxAliasCount: 100 }) as unknown;
  } catch (err) {
    throw new RatesError(`${where}: not valid YAML: ${(err instanceof Error ? err.message : String(err)).split('\n')[0] ?? ''}`);
  }
  const at = (path: string): string => `${where}: ${path}`;
  const root = asObject(doc, at('the file'), 'a mapping with `unit` and `models`');
  checkKeys(root, ['unit', 'currency', 'models', 'default', 'workloads'], at(''));
  const unit = parseUnit(root['unit'], at('unit'));
  const currency = root['currency'] === undefined ? '' : asString(root['currency'], at('currency'));
  if (root['models'] === undefined) throw new RatesError(at('`models` is missing'), 'e.g. models: {gpt-oss-120b: {input: 0.10, output: 0.40}}');
  const models = parseModels(root['models'], at('models'));
  const def = root['default'] === undefined ? undefined : parseModelRates(root['default'], at('default'));
  const workloads = new Map<string, WorkloadRates>();
  if (root['workloads'] !== undefined) {
    const w = asObject(root['workloads'], at('workloads'), 'a mapping of workload name to {business_unit, multiplier, models}');
    for (const [name, v] of Object.entries(w)) {
      const p = at(`workloads.${name}`);
      const o = asObject(v, p, '{business_unit, multiplier, models}');
      checkKeys(o, ['business_unit', 'businessUnit', 'multiplier', 'models'], p);
      const bu = o['business_unit'] ?? o['businessUnit'];
      const mult = o['multiplier'] === undefined ? 1 : asNumber(o['multiplier'], `${p}.multiplier`);
      if (mult < 0) throw new RatesError(`${p}.multiplier: must be ≥ 0, got ${mult}`);
      workloads.set(name, {
        businessUnit: bu === undefined ? undefined : asString(bu, `${p}.business_unit`),
        multiplier: mult,
        models: o['models'] === undefined ? new Map() : parseModels(o['models'], `${p}.models`),
      });
    }
  }
  return { unit, currency, models, default: def, workloads };
}

function parseModels(v: unknown, where: string): Map<string, ModelRates> {
  const o = asObject(v, where, 'a mapping of model name to prices, e.g. {gpt-oss-120b: {input: 0.10, output: 0.40}}');
  const out = new Map<string, ModelRates>();
  for (const [name, r] of Object.entries(o)) out.set(name, parseModelRates(r, `${where}.${name}`));
  return out;
}

function parseModelRates(v: unknown, where: string): ModelRates {
  const o = asObject(v, where, `prices by token type (${TYPES.join(', ')})`);
  checkKeys(o, TYPES, where);
  const out: Partial<Record<TokenType, Price>> = {};
  for (const t of TYPES) if (o[t] !== undefined) out[t] = parsePrice(o[t], `${where}.${t}`);
  return out;
}

function parsePrice(v: unknown, where: string): Price {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) throw new RatesError(`${where}: a price must be a number ≥ 0, got ${v}`);
    return [{ upTo: undefined, price: v }];
  }
  if (!Array.isArray(v) || v.length === 0) {
    throw new RatesError(`${where}: expected a price or a list of tiers`, 'e.g. 0.40, or [{up_to: 100M, price: 0.40}, {price: 0.30}]');
  }
  const tiers: Tier[] = [];
  let prev = 0;
  (v as unknown[]).forEach((t, i) => {
    const p = `${where}[${i}]`;
    const o = asObject(t, p, '{up_to, price}');
    checkKeys(o, ['up_to', 'upTo', 'price'], p);
    const price = asNumber(o['price'], `${p}.price`);
    if (price < 0) throw new RatesError(`${p}.price: must be ≥ 0`);
    const raw = o['up_to'] ?? o['upTo'];
    const upTo = raw === undefined ? undefined : parseCount(raw, `${p}.up_to`);
    if (upTo === undefined && i !== (v as unknown[]).length - 1) throw new RatesError(`${p}: only the last tier may omit up_to`);
    if (upTo !== undefined && upTo <= prev) throw new RatesError(`${p}.up_to: tiers must grow (${upTo} after ${prev})`);
    if (upTo !== undefined) prev = upTo;
    tiers.push({ upTo, price });
  });
  if (tiers[tiers.length - 1]?.upTo !== undefined) throw new RatesError(`${where}: the last tier must have no up_to (it prices everything above the previous one)`);
  return tiers;
}

function parseUnit(v: unknown, where: string): number {
  if (v === undefined) return 1_000_000;
  const n = parseCount(v, where);
  if (n <= 0) throw new RatesError(`${where}: must be > 0`);
  return n;
}

/** 1000, "1K", "1M", "2.5M", "1G". */
function parseCount(v: unknown, where: string): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  if (typeof v === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgGbB]?)\s*$/.exec(v);
    if (m !== null) {
      const mult = { '': 1, k: 1e3, m: 1e6, g: 1e9, b: 1e9 }[(m[2] ?? '').toLowerCase()] ?? 1;
      return Number(m[1]) * mult;
    }
  }
  throw new RatesError(`${where}: expected a token count like 1000, 1K or 1M, got ${JSON.stringify(v)}`);
}

function asObject(v: unknown, where: string, expected: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new RatesError(`${where}: expected ${expected}`);
  return v as Record<string, unknown>;
}

function asString(v: unknown, where: string): string {
  if (typeof v !== 'string') throw new RatesError(`${where}: expected a string`);
  return v;
}

function asNumber(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new RatesError(`${where}: expected a number, got ${JSON.stringify(v)}`);
  return v;
}

function checkKeys(o: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new RatesError(`${where}${where.endsWith(': ') ? '' : '.'}${k}: unknown field`, `allowed here: ${allowed.join(', ')}`);
  }
}

// ---- pricing ------------------------------------------------------------------------------------

/** The price card a workload's use of a model is billed on, or undefined (unpriced). */
export function cardFor(rates: Rates, workload: string, model: string): { card: ModelRates; id: string } | undefined {
  const w = rates.workloads.get(workload)?.models.get(model);
  if (w !== undefined) return { card: w, id: `w:${workload}:${model}` };
  const m = rates.models.get(model);
  if (m !== undefined) return { card: m, id: `m:${model}` };
  if (rates.default !== undefined) return { card: rates.default, id: `d:${model}` };
  return undefined;
}

/**
 * Tokens per billed type: which part of the usage each price applies to. Types without their own
 * price fold back into their parent (cached → input, reasoning → output).
 */
export function billedTokens(card: ModelRates, u: Usage): Record<TokenType, number> {
  const cached = card.cached_input !== undefined ? Math.min(u.cachedInput, u.input) : 0;
  const creation = card.cache_creation_input !== undefined ? Math.min(u.cacheCreationInput, u.input - cached) : 0;
  const reasoning = card.reasoning !== undefined ? Math.min(u.reasoning, u.output) : 0;
  return {
    input: u.input - cached - creation,
    cached_input: cached,
    cache_creation_input: creation,
    output: u.output - reasoning,
    reasoning,
  };
}

/** Cost of `tokens` at a tiered price, the tiers counted over `volume` tokens in total (this share pays the average). */
export function tieredCost(price: Price, tokens: number, volume: number, unit: number): number {
  if (tokens === 0) return 0;
  return (tokens / volume) * costOfVolume(price, volume, unit);
}

export function costOfVolume(price: Price, volume: number, unit: number): number {
  let cost = 0;
  let from = 0;
  for (const t of price) {
    const to = t.upTo === undefined ? volume : Math.min(volume, t.upTo);
    if (to > from) cost += ((to - from) * t.price) / unit;
    if (t.upTo === undefined || volume <= t.upTo) break;
    from = t.upTo;
  }
  return cost;
}

/** A record's cost at the base (first-tier) prices: what the gateway writes in each ledger record. */
export function flatCost(rates: Rates, workload: string, model: string, u: Usage): number | undefined {
  const c = cardFor(rates, workload, model);
  if (c === undefined) return undefined;
  const billed = billedTokens(c.card, u);
  let cost = 0;
  for (const t of TYPES) {
    const p = c.card[t];
    if (p !== undefined && billed[t] > 0) cost += (billed[t] * (p[0]?.price ?? 0)) / rates.unit;
  }
  return cost * (rates.workloads.get(workload)?.multiplier ?? 1);
}
