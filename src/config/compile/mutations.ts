// Header and body mutations (AIServiceBackend and per backendRef): names lower-cased, JSON values
// parsed once here so the request path only copies them.
import type { BodyMutationSpec, HeaderMutationSpec } from '../schema/common.js';
import type { BodyMutation, HeaderMutation } from '../types.js';
import { hasControlChars } from '../units.js';
import { type AnyManifest, type Ctx, error, type Path, warn } from './context.js';

export const EMPTY_HEADER_MUTATION: HeaderMutation = Object.freeze({ set: Object.freeze([]), remove: Object.freeze([]) });
export const EMPTY_BODY_MUTATION: BodyMutation = Object.freeze({ set: Object.freeze([]), remove: Object.freeze([]) });

// Headers the gateway itself owns on the upstream request; setting them would break framing or auth.
const GATEWAY_OWNED = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'te', 'upgrade', 'keep-alive']);

export function compileHeaderMutation(ctx: Ctx, m: AnyManifest, path: Path, spec: HeaderMutationSpec | undefined): HeaderMutation {
  if (spec === undefined || ((spec.set?.length ?? 0) === 0 && (spec.remove?.length ?? 0) === 0)) return EMPTY_HEADER_MUTATION;
  const set: Array<readonly [string, string]> = [];
  const seen = new Set<string>();
  (spec.set ?? []).forEach((h, i) => {
    const name = h.name.toLowerCase();
    if (seen.has(name)) {
      error(ctx, m, [...path, 'set', i, 'name'], `header \`${name}\` is set twice`, 'keep one entry per header name');
      return;
    }
    seen.add(name);
    if (GATEWAY_OWNED.has(name)) {
      error(ctx, m, [...path, 'set', i, 'name'], `header \`${name}\` cannot be set: the gateway manages it`);
      return;
    }
    if (hasControlChars(h.value)) {
      error(ctx, m, [...path, 'set', i, 'value'], `the value of header \`${name}\` contains a line break or control character`);
      return;
    }
    set.push([name, h.value]);
  });
  const remove = [...new Set((spec.remove ?? []).map((n) => n.toLowerCase()))];
  return { set, remove };
}

export function compileBodyMutation(ctx: Ctx, m: AnyManifest, path: Path, spec: BodyMutationSpec | undefined): BodyMutation {
  if (spec === undefined || ((spec.set?.length ?? 0) === 0 && (spec.remove?.length ?? 0) === 0)) return EMPTY_BODY_MUTATION;
  const set: Array<readonly [string, unknown]> = [];
  const seen = new Set<string>();
  (spec.set ?? []).forEach((f, i) => {
    if (seen.has(f.path)) {
      error(ctx, m, [...path, 'set', i, 'path'], `body field \`${f.path}\` is set twice`, 'keep one entry per field');
      return;
    }
    seen.add(f.path);
    if (f.path === 'model') {
      warn(ctx, m, [...path, 'set', i, 'path'], 'setting `model` with bodyMutation bypasses routing by model', 'use `modelNameOverride` on the backendRef instead');
    }
    let value: unknown;
    try {
      value = JSON.parse(f.value);
    } catch (err) {
      error(
        ctx,
        m,
        [...path, 'set', i, 'value'],
        `the value for body field \`${f.path}\` is not valid JSON: ${err instanceof Error ? err.message : String(err)}`,
        'values are JSON text: a string needs JSON quotes inside the YAML, e.g. value: \'"scale"\'; numbers and booleans are bare, e.g. value: "0.2"',
      );
      return;
    }
    set.push([f.path, value]);
  });
  const remove = [...new Set(spec.remove ?? [])];
  return { set, remove };
}
