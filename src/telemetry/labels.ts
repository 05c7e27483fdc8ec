// Bounded label values. Every label value on a gateway metric comes from the config (routes,
// backends, workloads, model names a route matches or overrides to), from a closed set, or from a
// bounded set of values learned from successful responses: a client that invents model names or
// workloads cannot create series.
import type { Generation } from '../pipeline/generation.js';

/** Label for a value outside the config on a request that failed (never echoed). */
export const UNKNOWN = 'unknown';
/** Label for a value beyond the learned-value cap. */
export const OTHER = 'other';

const DEFAULT_LEARNED_CAP = 256;
/**
 * Distinct route, backend and model label values per process. Each one multiplies the GenAI histograms
 * (16 lines per series, several series per request): at 20,000 routes that had served traffic the
 * exposition grew past V8's largest string. Values beyond the cap are reported as `other`; the first
 * ones seen keep their own series. The per-request ledger and access log keep every name.
 */
export const DEFAULT_SERIES_CAPS = { routes: 256, backends: 256, models: 512 } as const;

const KEY_LABEL_CAP = 200;

export class LabelBounds {
  private readonly configured = new WeakMap<Generation, ReadonlySet<string>>();
  private readonly learned = new Set<string>();
  private readonly routes = new Set<string>();
  private readonly backends = new Set<string>();
  private readonly models = new Set<string>();
  private readonly apiKeys = new Set<string>();
  private readonly teams = new Set<string>();

  constructor(
    private readonly learnedCap = DEFAULT_LEARNED_CAP,
    private readonly caps: { routes: number; backends: number; models: number } = DEFAULT_SERIES_CAPS,
  ) {}

  /** Virtual key ids and teams: data, not config, so capped lower than config-derived names. */
  apiKey(id: string): string {
    return capped(this.apiKeys, id, KEY_LABEL_CAP);
  }

  team(id: string): string {
    return capped(this.teams, id, KEY_LABEL_CAP);
  }

  route(key: string | undefined): string {
    return capped(this.routes, key, this.caps.routes);
  }

  backend(key: string | undefined): string {
    return capped(this.backends, key, this.caps.backends);
  }

  /** `x-workload-app`: configured values pass, anything else is `unknown`, absent is ''. */
  workload(value: string | undefined, gen: Generation | undefined): string {
    if (value === undefined || value === '') return '';
    return gen?.workloads.has(value) === true ? value : UNKNOWN;
  }

  /**
   * A model name: configured names pass; others pass when the request succeeded (the backend served
   * it) until `learnedCap` distinct ones were seen, then `other`; on a failed request, `unknown`.
   */
  model(value: string | undefined, gen: Generation | undefined, succeeded: boolean): string {
    if (value === undefined || value === '') return '';
    let known = false;
    if (gen !== undefined && this.configuredModels(gen).has(value)) known = true;
    else if (this.learned.has(value)) known = true;
    else if (!succeeded) return UNKNOWN;
    else if (this.learned.size >= this.learnedCap) return OTHER;
    if (!known) this.learned.add(value);
    return capped(this.models, value, this.caps.models);
  }

  private configuredModels(gen: Generation): ReadonlySet<string> {
    let s = this.configured.get(gen);
    if (s === undefined) {
      const names = new Set<string>();
      for (const route of gen.config.routes) {
        for (const rule of route.rules) {
          for (const m of rule.matches) for (const h of m.headers) if (h.name === 'x-ai-eg-model' && h.type === 'Exact') names.add(h.value);
          for (const ref of rule.backendRefs) if (ref.modelNameOverride !== undefined) names.add(ref.modelNameOverride);
        }
      }
      s = names;
      this.configured.set(gen, s);
    }
    return s;
  }
}

function capped(seen: Set<string>, value: string | undefined, cap: number): string {
  if (value === undefined || value === '') return '';
  if (seen.has(value)) return value;
  if (seen.size >= cap) return OTHER;
  seen.add(value);
  return value;
}
