// Shared state of one compile: the manifest index (O(1) lookups by kind and namespace/name, so
// cross-reference checks stay linear at 20,000 routes) and helpers that report at a manifest's node.
import { closest, type Diagnostics, formatPath, type Pos } from '../diagnostics.js';
import type { UsedKind } from '../kinds.js';
import type { BrokenManifest, Manifest } from '../parse.js';
import type { SecretResolver } from '../secrets.js';
import type { SourceRef } from '../types.js';
import type { CompileMemo } from './memo.js';

export type AnyManifest = Manifest | BrokenManifest;

export class Index {
  readonly #byKind = new Map<UsedKind, Map<string, AnyManifest>>();
  #namesByNs: Map<UsedKind, Map<string, string[]>> | undefined;
  readonly #okLists = new Map<UsedKind, AnyManifest[]>();

  /** Adds a manifest; returns the earlier one with the same kind and namespace/name, if any. */
  add(m: AnyManifest): AnyManifest | undefined {
    let map = this.#byKind.get(m.kind);
    if (map === undefined) {
      map = new Map();
      this.#byKind.set(m.kind, map);
    }
    const prev = map.get(m.key);
    if (prev !== undefined) return prev;
    map.set(m.key, m);
    if (m.ok) {
      const list = this.#okLists.get(m.kind);
      if (list === undefined) this.#okLists.set(m.kind, [m]);
      else list.push(m);
    }
    this.#namesByNs = undefined;
    return undefined;
  }

  /** Manifests of a kind, including ones whose schema check failed. */
  count(kind: UsedKind): number {
    return this.#byKind.get(kind)?.size ?? 0;
  }

  get<K extends UsedKind>(kind: K, key: string): Manifest<K> | BrokenManifest | undefined {
    return this.#byKind.get(kind)?.get(key) as Manifest<K> | BrokenManifest | undefined;
  }

  /** Manifests of a kind that passed their schema, in load order (do not modify the list). */
  ok<K extends UsedKind>(kind: K): ReadonlyArray<Manifest<K>> {
    return (this.#okLists.get(kind) ?? []) as unknown as ReadonlyArray<Manifest<K>>;
  }

  okMap<K extends UsedKind>(kind: K): Map<string, Manifest<K>> {
    const out = new Map<string, Manifest<K>>();
    for (const m of this.ok(kind)) out.set(m.key, m);
    return out;
  }

  names(kind: UsedKind, namespace: string): readonly string[] {
    if (this.#namesByNs === undefined) {
      this.#namesByNs = new Map();
      for (const [k, map] of this.#byKind) {
        const byNs = new Map<string, string[]>();
        for (const m of map.values()) {
          const list = byNs.get(m.namespace);
          if (list === undefined) byNs.set(m.namespace, [m.name]);
          else list.push(m.name);
        }
        this.#namesByNs.set(k, byNs);
      }
    }
    return this.#namesByNs.get(kind)?.get(namespace) ?? [];
  }
}

export interface Ctx {
  readonly diags: Diagnostics;
  readonly index: Index;
  readonly secrets: SecretResolver;
  readonly memo: CompileMemo;
  /** Suggestions cost O(names) each; after this many dangling references, stop computing them. */
  suggestionBudget: number;
}

export type Path = readonly PropertyKey[];

export function sourceRef(m: { src: { file: string }; pos: Pos }, pos: Pos = m.pos): SourceRef {
  return { file: m.src.file, line: pos.line, column: pos.column };
}

export function report(
  ctx: Ctx,
  severity: 'error' | 'warning',
  m: AnyManifest,
  path: Path,
  message: string,
  hint?: string,
  atKey = false,
): void {
  ctx.diags.add(severity, {
    file: m.src.file,
    pos: m.src.locate(path, atKey),
    resource: m.label,
    path: path.length > 0 ? formatPath(path) : undefined,
    message,
    hint,
  });
}

export function error(ctx: Ctx, m: AnyManifest, path: Path, message: string, hint?: string): void {
  report(ctx, 'error', m, path, message, hint);
}

export function warn(ctx: Ctx, m: AnyManifest, path: Path, message: string, hint?: string, atKey = false): void {
  report(ctx, 'warning', m, path, message, hint, atKey);
}

/** A reference to something that does not exist: name it and list the closest names that do. */
export function dangling(ctx: Ctx, m: AnyManifest, path: Path, kind: UsedKind, namespace: string, name: string, extra = ''): void {
  let hint: string;
  const names = ctx.index.names(kind, namespace);
  if (names.length === 0) {
    hint = `no ${kind} is defined in namespace ${namespace}${extra}`;
  } else if (ctx.suggestionBudget > 0) {
    ctx.suggestionBudget--;
    hint = `closest ${kind} names in namespace ${namespace}: ${closest(name, names).join(', ')}${extra}`;
  } else {
    hint = `check the name against the ${kind} manifests in namespace ${namespace}${extra}`;
  }
  error(ctx, m, path, `${kind} "${namespace}/${name}" not found`, hint);
}

/** Warns once per field of the real API that is present but that Tollgate does not act on. */
export function warnNotEnforced(ctx: Ctx, m: AnyManifest, base: Path, obj: object | undefined, keys: readonly string[], what = 'accepted but not enforced by Tollgate'): void {
  if (obj === undefined) return;
  const rec = obj as Record<string, unknown>;
  for (const k of keys) {
    if (rec[k] !== undefined) warn(ctx, m, [...base, k], `\`${k}\` is ${what}`, undefined, true);
  }
}
