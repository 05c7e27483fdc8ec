// Incremental compile. The parse cache hands back the same manifest objects for unchanged files, so
// compiled pieces are memoized by manifest identity plus the identity of everything they read
// (backends, policies). A reload of a 20,000-route config then rebuilds only what changed, and
// unchanged routes keep their frozen objects (and their fingerprint hashes). A piece that produced
// an error is never memoized (its hint may depend on other manifests); its warnings are replayed.
import type { BackendConfig, Diagnostic, RouteConfig, UpstreamCredential } from '../types.js';
import type { CompiledEndpoints } from './endpoints.js';
import type { Hashed } from './index.js';
import type { Ctx } from './context.js';
import type { CompiledTrafficPolicy } from './policies.js';

interface Entry<T> {
  readonly deps: readonly unknown[];
  readonly result: T;
  readonly diags: readonly Diagnostic[];
}

export class Memo<T> {
  readonly #entries = new WeakMap<object, Entry<T>>();

  get(ctx: Ctx, key: object, deps: readonly unknown[], build: () => T): T {
    const hit = this.#entries.get(key);
    if (hit !== undefined && sameDeps(hit.deps, deps)) {
      ctx.diags.push(...hit.diags);
      return hit.result;
    }
    const start = ctx.diags.items.length;
    const errors = ctx.diags.errorCount;
    const result = build();
    if (ctx.diags.errorCount === errors) this.#entries.set(key, { deps, result, diags: ctx.diags.items.slice(start) });
    else this.#entries.delete(key);
    return result;
  }
}

function sameDeps(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Lives as long as a loader (one per watcher, one shared by plain loadConfig calls). */
export class CompileMemo {
  readonly endpoints = new Memo<CompiledEndpoints | undefined>();
  readonly backends = new Memo<Hashed<BackendConfig> | undefined>();
  readonly routes = new Memo<Hashed<RouteConfig> | undefined>();
  readonly trafficPolicies = new Memo<CompiledTrafficPolicy>();
  /** Stable credential objects while the policy and the secret value stay the same. */
  readonly credentials = new WeakMap<object, { readonly text: string; readonly cred: UpstreamCredential }>();
}
