// IPv4/IPv6 addresses and CIDR ranges as bigints, for `sourceCIDR` client selectors. IPv4-mapped IPv6
// addresses (::ffff:a.b.c.d, what a dual-stack listener reports for IPv4 clients) compare as IPv4.
import { isIP } from 'node:net';

export interface ParsedAddress {
  readonly family: 4 | 6;
  readonly value: bigint;
}

export function parseAddress(text: string): ParsedAddress | undefined {
  let s = text;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(s);
  if (mapped?.[1] !== undefined) s = mapped[1];
  const fam = isIP(s);
  if (fam === 4) {
    let v = 0n;
    for (const part of s.split('.')) v = (v << 8n) | BigInt(Number(part));
    return { family: 4, value: v };
  }
  if (fam === 6) {
    const zone = s.indexOf('%');
    if (zone !== -1) s = s.slice(0, zone);
    let head = s;
    let tail = '';
    const dbl = s.indexOf('::');
    if (dbl !== -1) {
      head = s.slice(0, dbl);
      tail = s.slice(dbl + 2);
    }
    const expand = (part: string): number[] => {
      if (part === '') return [];
      const out: number[] = [];
      for (const g of part.split(':')) {
        if (g.includes('.')) {
          const v4 = g.split('.').map(Number);
          out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
        } else out.push(parseInt(g, 16));
      }
      return out;
    };
    const h = expand(head);
    const t = expand(tail);
    const groups = [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
    let v = 0n;
    for (const g of groups) v = (v << 16n) | BigInt(g);
    return { family: 6, value: v };
  }
  return undefined;
}

export function parseCidr(text: string): { family: 4 | 6; network: bigint; prefix: number } | { error: string } {
  const slash = text.indexOf('/');
  const addrText = slash === -1 ? text : text.slice(0, slash);
  const addr = parseAddress(addrText);
  if (addr === undefined) return { error: `"${addrText}" is not an IPv4 or IPv6 address` };
  const bits = addr.family === 4 ? 32 : 128;
  const prefix = slash === -1 ? bits : Number(text.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bits || (slash !== -1 && !/^\d+$/.test(text.slice(slash + 1)))) {
    return { error: `prefix length must be 0–${bits}` };
  }
  return { family: addr.family, network: mask(addr.value, prefix, bits), prefix };
}

function mask(v: bigint, prefix: number, bits: number): bigint {
  if (prefix === 0) return 0n;
  const shift = BigInt(bits - prefix);
  return (v >> shift) << shift;
}

export function inCidr(addr: ParsedAddress, cidr: { family: 4 | 6; network: bigint; prefix: number }): boolean {
  if (addr.family !== cidr.family) return false;
  return mask(addr.value, cidr.prefix, addr.family === 4 ? 32 : 128) === cidr.network;
}
