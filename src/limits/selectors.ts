// Does a request fall under a rule's client selectors, and if so, which bucket? Selectors are ANDed;
// Distinct conditions contribute their value to the bucket key, so each value gets its own budget.
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { ClientSelector } from '../config/types.js';
import { inCidr, parseAddress, type ParsedAddress } from './cidr.js';

export interface LimitRequest {
  readonly headers: IncomingHttpHeaders;
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  readonly clientAddress: string | undefined;
}

/** The bucket suffix for a matching request ("" when no selector is Distinct), or undefined. */
export function bucketFor(selectors: readonly ClientSelector[], req: LimitRequest, addr: () => ParsedAddress | undefined): string | undefined {
  let key = '';
  for (const sel of selectors) {
    for (const h of sel.headers) {
      const raw = req.headers[h.name];
      const v = raw === undefined ? undefined : typeof raw === 'string' ? raw : raw.join(', ');
      switch (h.type) {
        case 'Distinct':
          if (v === undefined) return undefined;
          key += `|h:${h.name}=${compact(v)}`;
          break;
        case 'Exact':
          if ((v === h.value) === h.invert) return undefined;
          break;
        case 'RegularExpression':
          if ((v !== undefined && h.regex !== undefined && h.regex.test(v)) === h.invert) return undefined;
          break;
      }
    }
    if (sel.methods.length > 0) {
      let any = false;
      for (const m of sel.methods) if ((m.method === req.method) !== m.invert) any = true;
      if (!any) return undefined;
    }
    if (sel.path !== undefined) {
      const p = sel.path;
      let hit: boolean;
      switch (p.type) {
        case 'Exact':
          hit = req.path === p.value;
          break;
        case 'PathPrefix':
          hit = req.path === p.value || req.path.startsWith(p.value.endsWith('/') ? p.value : `${p.value}/`);
          break;
        case 'RegularExpression':
          hit = p.regex !== undefined && p.regex.test(req.path);
          break;
      }
      if (hit === p.invert) return undefined;
    }
    if (sel.sourceCIDR !== undefined) {
      const a = addr();
      const inside = a !== undefined && inCidr(a, sel.sourceCIDR);
      if (inside === sel.sourceCIDR.invert) return undefined;
      if (sel.sourceCIDR.distinct && a !== undefined) key += `|ip:${a.value.toString(16)}`;
    }
  }
  return key;
}

/** Lazily parsed client address, shared by every rule a request is checked against. */
export function addressOf(req: LimitRequest): () => ParsedAddress | undefined {
  let parsed: ParsedAddress | undefined | null = null;
  return () => {
    if (parsed === null) parsed = req.clientAddress === undefined ? undefined : parseAddress(req.clientAddress);
    return parsed;
  };
}

// Header values end up in store keys: long ones are hashed so a key stays small whatever a client sends.
function compact(v: string): string {
  return v.length <= 96 ? v.replace(/[|\s]/g, '_') : `sha1:${createHash('sha1').update(v).digest('hex')}`;
}

/** A short human description of what a rule selects, for error messages ("x-workload-app=ide"). */
export function describeSelectors(selectors: readonly ClientSelector[]): string {
  const parts: string[] = [];
  for (const s of selectors) {
    for (const h of s.headers) {
      if (h.type === 'Distinct') parts.push(`each ${h.name} value`);
      else parts.push(`${h.name}${h.invert ? '!' : ''}${h.type === 'Exact' ? '=' : '~'}${h.value ?? ''}`);
    }
    if (s.methods.length > 0) parts.push(`method ${s.methods.map((m) => `${m.invert ? '!' : ''}${m.method}`).join('|')}`);
    if (s.path !== undefined) parts.push(`path ${s.path.invert ? 'not ' : ''}${s.path.value}`);
    if (s.sourceCIDR !== undefined) parts.push(`${s.sourceCIDR.distinct ? 'each client in' : 'clients'} ${s.sourceCIDR.invert ? 'outside ' : ''}${s.sourceCIDR.cidr}`);
  }
  return parts.length === 0 ? 'all traffic' : parts.join(', ');
}
