// Client selectors (Envoy Gateway RateLimitSelectCondition), shared by BackendTrafficPolicy rate
// limits and QuotaPolicy bucket rules: header, method, path and source-CIDR conditions compiled once.
import { parseCidr } from '../../limits/cidr.js';
import type { BrokenManifest, Manifest } from '../parse.js';
import type { RateLimitSelectorSpec } from '../schema/envoygateway.js';
import type { ClientSelector, HeaderSelector, PathSelector } from '../types.js';
import { compileHeaderRegex } from '../units.js';
import { type Ctx, error, type Path, warn } from './context.js';

type AnyOk = Manifest | BrokenManifest;

export function compileSelectors(ctx: Ctx, m: AnyOk, path: Path, specs: readonly RateLimitSelectorSpec[] | undefined): ClientSelector[] {
  return (specs ?? []).map((spec, i) => compileSelector(ctx, m, [...path, i], spec));
}

function compileSelector(ctx: Ctx, m: AnyOk, path: Path, spec: RateLimitSelectorSpec): ClientSelector {
  const headers: HeaderSelector[] = [];
  (spec.headers ?? []).forEach((h, i) => {
    const at: Path = [...path, 'headers', i];
    const type = h.type ?? 'Exact';
    const name = h.name.toLowerCase();
    if (type === 'Distinct') {
      if (h.value !== undefined) error(ctx, m, [...at, 'value'], 'a Distinct header selector takes no value', 'every value of the header gets its own bucket; remove `value`');
      if (h.invert === true) error(ctx, m, [...at, 'invert'], 'a Distinct header selector cannot be inverted');
      headers.push({ name, type, value: undefined, regex: undefined, invert: false });
      return;
    }
    if (h.value === undefined) {
      error(ctx, m, at, `a ${type} header selector needs a \`value\``, 'or use `type: Distinct` for a bucket per value');
      return;
    }
    let regex: RegExp | undefined;
    if (type === 'RegularExpression') {
      const r = compileHeaderRegex(h.value);
      if ('error' in r) {
        error(ctx, m, [...at, 'value'], `invalid regular expression "${h.value}": ${r.error}`);
        return;
      }
      regex = r.regex;
    }
    headers.push({ name, type, value: h.value, regex, invert: h.invert ?? false });
  });
  let pathSel: PathSelector | undefined;
  if (spec.path !== undefined) {
    const type = spec.path.type ?? 'PathPrefix';
    let regex: RegExp | undefined;
    if (type === 'RegularExpression') {
      const r = compileHeaderRegex(spec.path.value);
      if ('error' in r) error(ctx, m, [...path, 'path', 'value'], `invalid regular expression "${spec.path.value}": ${r.error}`);
      else regex = r.regex;
    } else if (!spec.path.value.startsWith('/')) {
      error(ctx, m, [...path, 'path', 'value'], `a path must start with "/"`);
    }
    pathSel = { type, value: spec.path.value, regex, invert: spec.path.invert ?? false };
  }
  let sourceCIDR: ClientSelector['sourceCIDR'];
  if (spec.sourceCIDR !== undefined) {
    const r = parseCidr(spec.sourceCIDR.value);
    if ('error' in r) {
      error(ctx, m, [...path, 'sourceCIDR', 'value'], `invalid CIDR "${spec.sourceCIDR.value}": ${r.error}`, 'e.g. `10.0.0.0/8` or `2001:db8::/32`');
    } else {
      const distinct = spec.sourceCIDR.type === 'Distinct';
      if (distinct && spec.sourceCIDR.invert === true) error(ctx, m, [...path, 'sourceCIDR', 'invert'], 'a Distinct sourceCIDR cannot be inverted');
      sourceCIDR = { cidr: spec.sourceCIDR.value, family: r.family, network: r.network, prefix: r.prefix, distinct, invert: spec.sourceCIDR.invert ?? false };
    }
  }
  if (spec.queryParams !== undefined) {
    warn(ctx, m, [...path, 'queryParams'], '`queryParams` selectors are accepted but not enforced by Tollgate', 'the other conditions of this selector still apply');
  }
  const methods = (spec.methods ?? []).map((x) => ({ method: x.value, invert: x.invert ?? false }));
  if (headers.length === 0 && methods.length === 0 && pathSel === undefined && sourceCIDR === undefined && spec.queryParams === undefined) {
    error(ctx, m, path, 'a client selector needs at least one condition (headers, methods, path or sourceCIDR)', 'remove the empty selector to match all traffic');
  }
  return { headers, methods, path: pathSel, sourceCIDR };
}
