// A generation is one compiled config plus everything derived from it that the request path needs
// (router, retry plans, upstream handles, the /v1/models body). Built off to the side on reload and
// swapped in with one assignment; a request holds the generation it started on until it ends.
import type { RouteConfig, RuleConfig, RuntimeConfig } from '../config/types.js';
import type { ModelList, ModelObject } from '../protocol/openai.js';
import { planRule, type RulePlan } from '../routing/candidates.js';
import { Router } from '../routing/router.js';
import type { BackendUpstream, UpstreamRegistry } from '../upstream/pools.js';

export interface Generation {
  readonly id: number;
  readonly config: RuntimeConfig;
  readonly router: Router;
  readonly routes: ReadonlyMap<string, RouteConfig>;
  readonly plans: ReadonlyMap<RuleConfig, RulePlan>;
  readonly upstreams: ReadonlyMap<string, BackendUpstream>;
  /** Pre-serialized `GET /v1/models` response. */
  readonly modelList: Buffer;
  /** Workload names a route matches on exactly (`x-workload-app` values), to bound metric labels. */
  readonly workloads: ReadonlySet<string>;
  /** Epoch ms when this generation started serving. */
  readonly activatedAt: number;
}

// Config compilation reuses the RuleConfig objects of unchanged routes, so their plans carry over to
// the next generation instead of being rebuilt on every reload (20,000 routes: one changes at a time).
const planCache = new WeakMap<RuleConfig, RulePlan>();

function planFor(rule: RuleConfig): RulePlan {
  let p = planCache.get(rule);
  if (p === undefined) planCache.set(rule, (p = planRule(rule)));
  return p;
}

export function buildGeneration(id: number, config: RuntimeConfig, registry: UpstreamRegistry): Generation {
  const plans = new Map<RuleConfig, RulePlan>();
  const upstreams = new Map<string, BackendUpstream>();
  for (const route of config.routes) {
    for (const rule of route.rules) {
      plans.set(rule, planFor(rule));
      for (const ref of rule.backendRefs) {
        if (!upstreams.has(ref.backend.key)) upstreams.set(ref.backend.key, registry.forBackend(ref.backend));
      }
    }
  }
  let models: Buffer | undefined;
  return {
    id,
    config,
    router: new Router(config.routes),
    routes: new Map(config.routes.map((r) => [r.key, r])),
    plans,
    upstreams,
    // Built on the first GET /v1/models of this generation, not on every reload.
    get modelList(): Buffer {
      return (models ??= Buffer.from(JSON.stringify(modelList(config))));
    },
    workloads: workloadNames(config),
    activatedAt: Date.now(),
  };
}

/**
 * Models a client can ask for: every exact `x-ai-eg-model` value a rule matches (as Envoy AI Gateway
 * lists them), and every `modelNameOverride` (the names identity-routed rules serve).
 */
function modelList(config: RuntimeConfig): ModelList {
  const seen = new Map<string, ModelObject>();
  for (const route of config.routes) {
    for (const rule of route.rules) {
      const add = (id: string): void => {
        if (!seen.has(id)) seen.set(id, { id, object: 'model', created: rule.modelsCreatedAt, owned_by: rule.modelsOwnedBy });
      };
      for (const m of rule.matches) for (const h of m.headers) if (h.name === 'x-ai-eg-model' && h.type === 'Exact') add(h.value);
      for (const ref of rule.backendRefs) if (ref.modelNameOverride !== undefined) add(ref.modelNameOverride);
    }
  }
  return { object: 'list', data: [...seen.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) };
}

function workloadNames(config: RuntimeConfig): Set<string> {
  const names = new Set<string>();
  for (const route of config.routes) {
    for (const rule of route.rules) {
      for (const m of rule.matches) for (const h of m.headers) if (h.name === 'x-workload-app' && h.type === 'Exact') names.add(h.value);
    }
  }
  return names;
}
