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

export class LabelBounds {
  private readonly configured = new WeakMap<Generation, ReadonlySet<string>>();
  private readonly learned = new Set<string>();

  constructor(private readonly learnedCap = DEFAULT_LEARNED_CAP) {}

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
    if (gen !== undefined && this.configuredModels(gen).has(value)) return value;
    if (this.learned.has(value)) return value;
    if (!succeeded) return UNKNOWN;
    if (this.learned.size >= this.learnedCap) return OTHER;
    this.learned.add(value);
    return value;
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
