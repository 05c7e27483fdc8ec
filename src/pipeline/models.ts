// GET /v1/models and GET /v1/models/{id}: the list the client may use, or one entry of it (ids may
// contain slashes, as in "meta-llama/Llama-3.1-8B", and arrive percent-encoded or not).
import type { RouteMatch, RuleConfig } from '../config/types.js';
import { GatewayError } from '../core/errors.js';
import type { LiveKey } from '../keys/registry.js';
import type { ModelList } from '../protocol/openai.js';
import type { Generation } from './generation.js';

export function modelsAnswer(list: Buffer, path: string): Buffer | string {
  if (path === '/v1/models') return list;
  const raw = path.slice('/v1/models/'.length);
  let id: string;
  try {
    id = decodeURIComponent(raw);
  } catch {
    id = raw;
  }
  const parsed = JSON.parse(list.toString('utf8')) as { data: Array<{ id: string }> };
  const found = parsed.data.find((m) => m.id === id);
  if (found === undefined) {
    throw new GatewayError('model_not_found', `The model "${id.slice(0, 200)}" does not exist or is not available to this client; GET /v1/models lists the models.`, { param: 'model' });
  }
  return JSON.stringify(found);
}

/** Models per generation and workload: a key's list is built once per config, not per request. */
const byWorkload = new WeakMap<Generation, Map<string, ReadonlySet<string>>>();

/**
 * The list for a request authenticated by a virtual key: the models a rule reachable by the key's
 * workload serves (its `x-workload-app` matches accept the workload), narrowed to the key's
 * allowlist. A key bound to the tier-2 workload does not see the tier-1 models, and a key allowed
 * one model sees that one.
 */
export function modelsForKey(gen: Generation, key: LiveKey): Buffer {
  let cache = byWorkload.get(gen);
  if (cache === undefined) byWorkload.set(gen, (cache = new Map<string, ReadonlySet<string>>()));
  const workload = key.doc.workload;
  let served = cache.get(workload);
  if (served === undefined) cache.set(workload, (served = modelsServedTo(gen, workload)));
  const all = JSON.parse(gen.modelList.toString('utf8')) as ModelList;
  const allowed = key.models;
  const data = all.data.filter((m) => served.has(m.id) && (allowed === undefined || allowed.has(m.id)));
  return Buffer.from(JSON.stringify({ object: 'list', data }));
}

function modelsServedTo(gen: Generation, workload: string): ReadonlySet<string> {
  const out = new Set<string>();
  for (const route of gen.config.routes) for (const rule of route.rules) addServed(rule, workload, out);
  return out;
}

function addServed(rule: RuleConfig, workload: string, out: Set<string>): void {
  // No matches: the rule takes every request.
  const matches: readonly RouteMatch[] = rule.matches.length === 0 ? [{ headers: [] }] : rule.matches;
  let reachable = false;
  for (const m of matches) {
    if (!acceptsWorkload(m, workload)) continue;
    reachable = true;
    for (const h of m.headers) if (h.name === 'x-ai-eg-model' && h.type === 'Exact') out.add(h.value);
  }
  if (reachable) for (const ref of rule.backendRefs) if (ref.modelNameOverride !== undefined) out.add(ref.modelNameOverride);
}

function acceptsWorkload(m: RouteMatch, workload: string): boolean {
  for (const h of m.headers) {
    if (h.name !== 'x-workload-app') continue;
    if (h.type === 'Exact' ? h.value !== workload : h.regex?.test(workload) !== true) return false;
  }
  return true;
}
