// Looking into a stream event's JSON bytes without parsing them: the search for a usage member that
// decides whether an event is read at all, and the small steps the event scans (event-scan.ts) share.
import { bytesHaveMemberStarting } from '../../protocol/json-bytes.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const LBRACE = 0x7b;

const USAGE_NAME = Buffer.from('"usage"');
/** Past this many `u` bytes that begin no `"usage"`, the search for the whole name takes over. */
const MAX_U_MISSES = 8;

/**
 * Whether the JSON bytes `buf` name a `"usage"` member whose value is an object, at any depth: the
 * answer of `bytesHaveMemberStarting(buf, '"usage"', '{')`, found faster for an event or chunk of a
 * few hundred bytes. Node's search for a many-byte needle costs ~200 ns a call on this machine,
 * most of it set-up, and a search for one byte ~15: so the search is for the name's `u`, each hit
 * checked in place. Text with many `u`s (no event has more than a few outside its content) is left
 * to the many-byte search after a few misses.
 */
export function hasUsageObject(buf: Buffer): boolean {
  let misses = 0;
  for (let from = 0; ; ) {
    const u = buf.indexOf(0x75, from);
    if (u === -1) return false;
    from = u + 1;
    if (buf[u - 1] === QUOTE && bytesAt(buf, u - 1, USAGE_NAME)) {
      // An escaped opening quote ends a string that merely ends with the name.
      let bs = 0;
      while (buf[u - 2 - bs] === BACKSLASH) bs++;
      if (bs % 2 === 1) continue;
      let i = skipSpace(buf, u - 1 + USAGE_NAME.length);
      if (buf[i] !== COLON) continue;
      i = skipSpace(buf, i + 1);
      if (buf[i] === LBRACE) return true;
    } else if (++misses > MAX_U_MISSES) {
      return bytesHaveMemberStarting(buf, USAGE_NAME, LBRACE);
    }
  }
}

/** Whether `bytes` lie in `buf` at `at`: a loop, as Node's comparison costs more than a few bytes. */
export function bytesAt(buf: Buffer, at: number, bytes: Buffer): boolean {
  for (let k = 0; k < bytes.length; k++) if (buf[at + k] !== bytes[k]) return false;
  return true;
}

/** The index of the first byte at or after `i` that is not JSON whitespace. */
export function skipSpace(buf: Buffer, i: number): number {
  let c = buf[i];
  while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = buf[++i];
  return i;
}
