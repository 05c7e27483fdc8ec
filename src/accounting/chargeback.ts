// Chargeback: token sums × rates → cost per group (workload, business unit, model, …), from either
// source (the usage ledger, record by record; or Prometheus, series by series). Both sources feed
// the same aggregator, so the same traffic gives the same table.
import { makeUsage, TOKEN_TYPES, usageByType, type TokenType, type Usage } from '../core/usage.js';
import { billedTokens, cardFor, tieredCost, type Rates } from './rates.js';

export const GROUP_KEYS = [
  'workload',
  'business_unit',
  'model',
  'original_model',
  'response_model',
  'route',
  'backend',
  'provider',
  'operation',
  'token_type',
  'day',
  'usage_source',
  'key',
  'team',
] as const;

export type GroupKey = (typeof GROUP_KEYS)[number];

/** What one usage row is about. `model` is the model the backend was asked for (gen_ai_request_model). */
export interface Dims {
  readonly workload: string;
  readonly model: string;
  readonly originalModel: string;
  readonly responseModel: string;
  readonly route: string;
  readonly backend: string;
  readonly provider: string;
  readonly operation: string;
  /** UTC date (YYYY-MM-DD); '' when the source has no time per row. */
  readonly day: string;
  readonly usageSource: string;
  /** The virtual key's id and its team; '' when the request used none (or the source has neither). */
  readonly key: string;
  readonly team: string;
}

interface Cell {
  readonly groupValues: Record<string, string>;
  readonly workload: string;
  readonly model: string;
  requests: number;
  input: number;
  cachedInput: number;
  cacheCreationInput: number;
  output: number;
  reasoning: number;
  /** Tokens not reported by the backend (the gateway's own count or an estimate). */
  estimated: number;
}

export interface ChargebackRow {
  readonly group: Readonly<Record<string, string>>;
  readonly requests: number;
  readonly tokens: Readonly<Record<TokenType, number>> & { readonly total: number };
  readonly estimatedTokens: number;
  /** Undefined when nothing in the row has a price. */
  readonly cost: number | undefined;
  /** Some of the row's use had no price (its model is not in the rates file and there is no default). */
  readonly unpriced: boolean;
}

export interface ChargebackReport {
  readonly by: readonly GroupKey[];
  readonly currency: string;
  readonly unit: number;
  readonly rows: readonly ChargebackRow[];
  readonly totals: ChargebackRow;
  /** Models seen without a price. */
  readonly unpricedModels: readonly string[];
}

export class CostAggregator {
  private readonly cells = new Map<string, Cell>();
  private readonly groupBy: readonly GroupKey[];

  constructor(
    private readonly rates: Rates,
    by: readonly GroupKey[],
  ) {
    this.groupBy = by.filter((k) => k !== 'token_type');
  }

  /** Adds usage (one record, or a sum of many with `requests` set). */
  add(d: Dims, u: Usage, requests: number, estimatedTokens: number): void {
    const groupValues: Record<string, string> = {};
    for (const k of this.groupBy) groupValues[k] = dimValue(this.rates, d, k);
    const id = JSON.stringify([Object.values(groupValues), d.workload, d.model]);
    let c = this.cells.get(id);
    if (c === undefined) {
      c = { groupValues, workload: d.workload, model: d.model, requests: 0, input: 0, cachedInput: 0, cacheCreationInput: 0, output: 0, reasoning: 0, estimated: 0 };
      this.cells.set(id, c);
    }
    c.requests += requests;
    c.input += u.input;
    c.cachedInput += u.cachedInput;
    c.cacheCreationInput += u.cacheCreationInput;
    c.output += u.output;
    c.reasoning += u.reasoning;
    c.estimated += estimatedTokens;
  }

  report(by: readonly GroupKey[]): ChargebackReport {
    const rates = this.rates;
    // Tiers apply to the period's whole volume on one price card; every user of the card pays the
    // card's average price for that volume.
    const volume = new Map<string, number>();
    const priced: Array<{ cell: Cell; usage: Usage; card: ReturnType<typeof cardFor>; billed: Record<TokenType, number> | undefined }> = [];
    const unpricedModels = new Set<string>();
    for (const cell of this.cells.values()) {
      const usage = makeUsage({ input: cell.input, cachedInput: cell.cachedInput, cacheCreationInput: cell.cacheCreationInput, output: cell.output, reasoning: cell.reasoning });
      const card = cardFor(rates, cell.workload, cell.model);
      if (card === undefined) {
        if (usage.total > 0) unpricedModels.add(cell.model === '' ? '(none)' : cell.model);
        priced.push({ cell, usage, card, billed: undefined });
        continue;
      }
      const billed = billedTokens(card.card, usage);
      for (const t of TOKEN_TYPES) if (card.card[t] !== undefined) volume.set(`${card.id}|${t}`, (volume.get(`${card.id}|${t}`) ?? 0) + billed[t]);
      priced.push({ cell, usage, card, billed });
    }
    const byType = by.includes('token_type');
    const rows = new Map<string, MutableRow>();
    const totals = emptyRow({});
    for (const p of priced) {
      const mult = rates.workloads.get(p.cell.workload)?.multiplier ?? 1;
      const costOf = (t: TokenType): number | undefined => {
        if (p.card === undefined || p.billed === undefined) return undefined;
        const price = p.card.card[t];
        if (price === undefined) return 0;
        return tieredCost(price, p.billed[t], volume.get(`${p.card.id}|${t}`) ?? 0, rates.unit) * mult;
      };
      const types: ReadonlyArray<TokenType | undefined> = byType ? TOKEN_TYPES : [undefined];
      for (const t of types) {
        const group: Record<string, string> = {};
        for (const k of by) group[k] = k === 'token_type' ? (t ?? '') : (p.cell.groupValues[k] ?? '');
        const key = JSON.stringify(by.map((k) => group[k]));
        let row = rows.get(key);
        if (row === undefined) rows.set(key, (row = emptyRow(group)));
        const only = t === undefined ? TOKEN_TYPES : [t];
        let cost: number | undefined = 0;
        for (const tt of only) {
          const c = costOf(tt);
          cost = c === undefined || cost === undefined ? undefined : cost + c;
        }
        for (const target of [row, totals]) {
          // Requests are counted once per request, not once per token-type row.
          if (t === undefined || t === 'input') target.requests += p.cell.requests;
          for (const tt of only) target.tokens[tt] += usageByType(p.usage, tt);
          target.estimatedTokens += t === undefined ? p.cell.estimated : 0;
          if (cost === undefined) target.unpriced = true;
          else target.cost = (target.cost ?? 0) + cost;
        }
      }
    }
    const out = [...rows.values()].map(freeze).sort((a, b) => compareGroups(a.group, b.group, by));
    return { by, currency: rates.currency, unit: rates.unit, rows: out, totals: freeze(totals), unpricedModels: [...unpricedModels].sort() };
  }
}

interface MutableRow {
  group: Record<string, string>;
  requests: number;
  tokens: Record<TokenType, number>;
  estimatedTokens: number;
  cost: number | undefined;
  unpriced: boolean;
}

function emptyRow(group: Record<string, string>): MutableRow {
  return { group, requests: 0, tokens: { input: 0, cached_input: 0, cache_creation_input: 0, output: 0, reasoning: 0 }, estimatedTokens: 0, cost: undefined, unpriced: false };
}

function freeze(r: MutableRow): ChargebackRow {
  return { ...r, tokens: { ...r.tokens, total: r.tokens.input + r.tokens.output } };
}

function compareGroups(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>, by: readonly GroupKey[]): number {
  for (const k of by) {
    const x = a[k] ?? '';
    const y = b[k] ?? '';
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function dimValue(rates: Rates, d: Dims, k: GroupKey): string {
  switch (k) {
    case 'workload':
      return d.workload;
    case 'business_unit':
      return rates.workloads.get(d.workload)?.businessUnit ?? (d.workload === '' ? '(none)' : '(unassigned)');
    case 'model':
      return d.model;
    case 'original_model':
      return d.originalModel;
    case 'response_model':
      return d.responseModel;
    case 'route':
      return d.route;
    case 'backend':
      return d.backend;
    case 'provider':
      return d.provider;
    case 'operation':
      return d.operation;
    case 'token_type':
      return '';
    case 'day':
      return d.day;
    case 'usage_source':
      return d.usageSource;
    case 'key':
      return d.key === '' ? '(none)' : d.key;
    case 'team':
      return d.team === '' ? '(none)' : d.team;
  }
}

export function parseGroupKeys(spec: string): GroupKey[] {
  const keys = spec
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (const k of keys) {
    if (!(GROUP_KEYS as readonly string[]).includes(k)) throw new Error(`"${k}" is not a grouping key; use any of ${GROUP_KEYS.join(', ')}`);
  }
  return keys as GroupKey[];
}

// ---- drift audit ------------------------------------------------------------------------------

export interface DriftLine {
  readonly model: string;
  readonly tokenType: 'input' | 'output';
  /** Requests counted by both, with a backend count above 0 (those a ratio exists for). */
  readonly requests: number;
  readonly backendTokens: number;
  readonly gatewayTokens: number;
  /** (Σ gateway − Σ backend) / Σ backend. */
  readonly drift: number | undefined;
  /** Mean of per-request (gateway − backend) / backend. */
  readonly meanRatio: number | undefined;
  /** 95th percentile of |per-request ratio|, when per-request values are known. */
  readonly p95AbsRatio: number | undefined;
  readonly maxAbsRatio: number | undefined;
}

export class DriftAggregator {
  private readonly cells = new Map<string, { model: string; type: 'input' | 'output'; n: number; be: number; gw: number; ratios: number[] }>();

  add(model: string, type: 'input' | 'output', backend: number, gateway: number): void {
    const id = `${model}\u0000${type}`;
    let c = this.cells.get(id);
    if (c === undefined) this.cells.set(id, (c = { model, type, n: 0, be: 0, gw: 0, ratios: [] }));
    if (backend === 0 && gateway === 0) return;
    if (backend > 0) c.n++;
    c.be += backend;
    c.gw += gateway;
    if (backend > 0) c.ratios.push((gateway - backend) / backend);
  }

  lines(): DriftLine[] {
    return [...this.cells.values()]
      .map((c) => {
        const abs = c.ratios.map(Math.abs).sort((a, b) => a - b);
        return {
          model: c.model,
          tokenType: c.type,
          requests: c.n,
          backendTokens: c.be,
          gatewayTokens: c.gw,
          drift: c.be > 0 ? (c.gw - c.be) / c.be : undefined,
          meanRatio: c.ratios.length > 0 ? c.ratios.reduce((a, b) => a + b, 0) / c.ratios.length : undefined,
          p95AbsRatio: abs.length > 0 ? abs[Math.min(abs.length - 1, Math.ceil(abs.length * 0.95) - 1)] : undefined,
          maxAbsRatio: abs.length > 0 ? abs[abs.length - 1] : undefined,
        };
      })
      .sort((a, b) => (a.model === b.model ? (a.tokenType < b.tokenType ? -1 : 1) : a.model < b.model ? -1 : 1));
  }
}
