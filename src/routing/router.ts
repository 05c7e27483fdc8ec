// Request → rule, with Gateway API precedence, at a cost that does not grow with the number of
// routes for exact header matches.
//
// Every (rule, match) pair becomes an entry ranked by Gateway API precedence: more header matches
// first; ties by route order (namespace/name), then rule index, then match index. Entries are grouped
// by the set of header names they compare exactly (their "signature"); each group is a hash map from
// the joined header values to its entries in rank order. A request computes one key per signature
// (few: typically `x-ai-eg-model` and/or `x-workload-app`) and probes one map each. Regular-expression
// conditions are checked only on the entries a probe returns; rules with no exact condition at all
// sit in the empty signature's single bucket and are scanned (their count is the user's choice).
import type { HeaderMatch, RouteConfig, RouteMatch, RuleConfig } from '../config/types.js';

export interface HeaderView {
  /** The request's value for a lower-cased header name (duplicates already joined with ", "). */
  get(name: string): string | undefined;
}

interface Entry {
  readonly rank: number;
  readonly rule: RuleConfig;
  /** Conditions left to check after the exact-match probe (the regular expressions). */
  readonly regexes: readonly HeaderMatch[];
}

interface Group {
  /** Sorted exact-match header names. */
  readonly names: readonly string[];
  readonly buckets: Map<string, Entry[]>;
  /** The best rank of any entry in this group (groups are probed best-first). */
  bestRank: number;
}

const SEP = '\u0000';

/** What a match contributes to the index; derived once per (frozen, reused) match object. */
interface MatchShape {
  readonly headerCount: number;
  readonly names: readonly string[];
  readonly signature: string;
  readonly key: string;
  readonly regexes: readonly HeaderMatch[];
}

const ANY_MATCH: RouteMatch = Object.freeze({ headers: [] });
const shapes = new WeakMap<RouteMatch, MatchShape>();

function shapeOf(m: RouteMatch): MatchShape {
  let s = shapes.get(m);
  if (s === undefined) {
    const exact = m.headers.filter((h) => h.type === 'Exact').sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const names = exact.map((h) => h.name);
    s = {
      headerCount: m.headers.length,
      names,
      signature: names.join(SEP),
      key: exact.map((h) => h.value).join(SEP),
      regexes: m.headers.filter((h) => h.type === 'RegularExpression'),
    };
    shapes.set(m, s);
  }
  return s;
}

export class Router {
  private readonly groups: readonly Group[];
  readonly ruleCount: number;

  constructor(routes: readonly RouteConfig[]) {
    interface Pending {
      readonly shape: MatchShape;
      readonly order: number;
      readonly rule: RuleConfig;
    }
    const pending: Pending[] = [];
    let order = 0;
    let rules = 0;
    for (const route of routes) {
      for (const rule of route.rules) {
        rules++;
        // A rule without matches matches every request (Gateway API's default PathPrefix "/").
        if (rule.matches.length === 0) pending.push({ shape: shapeOf(ANY_MATCH), order: order++, rule });
        for (const m of rule.matches) pending.push({ shape: shapeOf(m), order: order++, rule });
      }
    }
    this.ruleCount = rules;
    pending.sort((a, b) => b.shape.headerCount - a.shape.headerCount || a.order - b.order);

    const bySignature = new Map<string, Group>();
    pending.forEach((p, rank) => {
      const { names, signature, key } = p.shape;
      let group = bySignature.get(signature);
      if (group === undefined) {
        group = { names, buckets: new Map(), bestRank: rank };
        bySignature.set(signature, group);
      }
      let bucket = group.buckets.get(key);
      if (bucket === undefined) {
        bucket = [];
        group.buckets.set(key, bucket);
      }
      bucket.push({ rank, rule: p.rule, regexes: p.shape.regexes });
    });
    this.groups = [...bySignature.values()].sort((a, b) => a.bestRank - b.bestRank);
  }

  /** The highest-precedence rule matching the request, or undefined (→ 404). */
  match(headers: HeaderView): RuleConfig | undefined {
    let best: Entry | undefined;
    for (const group of this.groups) {
      if (best !== undefined && best.rank < group.bestRank) break;
      const key = probeKey(group.names, headers);
      if (key === undefined) continue;
      const bucket = group.buckets.get(key);
      if (bucket === undefined) continue;
      for (const entry of bucket) {
        if (best !== undefined && entry.rank > best.rank) break;
        if (regexesPass(entry.regexes, headers)) {
          best = entry;
          break;
        }
      }
    }
    return best?.rule;
  }
}

function probeKey(names: readonly string[], headers: HeaderView): string | undefined {
  if (names.length === 1) return headers.get(names[0] as string);
  let key = '';
  for (let i = 0; i < names.length; i++) {
    const v = headers.get(names[i] as string);
    if (v === undefined) return undefined;
    key = i === 0 ? v : key + SEP + v;
  }
  return key;
}

function regexesPass(conds: readonly HeaderMatch[], headers: HeaderView): boolean {
  for (const c of conds) {
    const v = headers.get(c.name);
    if (v === undefined || c.regex === undefined || !c.regex.test(v)) return false;
  }
  return true;
}
