// Scanning JSON without parsing it: what the shallow walks over request bodies and the reading of
// streamed responses share.

/** Index of the quote that closes a JSON string whose contents start at `from`, or -1. */
export function closingQuote(raw: Buffer, from: number): number {
  let i = from;
  for (;;) {
    const q = raw.indexOf(0x22, i);
    if (q === -1) return -1;
    // A quote preceded by an odd run of backslashes is escaped.
    let bs = 0;
    while (raw[q - 1 - bs] === 0x5c) bs++;
    if (bs % 2 === 0) return q;
    i = q + 1;
  }
}

/**
 * Whether the JSON bytes `buf` have a member named `quotedName` (the name with its quotes, UTF-8:
 * `"usage"`) whose value starts with the byte `first` (`{` for an object, `"` for a string), at any
 * depth. A scan, not a parse (a native byte search, far cheaper than `JSON.parse`): a name inside a
 * string is written with escaped quotes, so it never matches, but a member of a nested object does,
 * so a caller that needs the top level parses what this points it to. A name written with escapes
 * (`"us\u0061ge"`) is not found. Over a chunk of SSE events (each text on its own `data:` line) it
 * finds a match when the search over some event's data would, and otherwise none: the line ends and
 * `data:` between two texts can be neither a name, a colon, nor an escaping backslash.
 */
export function bytesHaveMemberStarting(buf: Buffer, quotedName: Buffer, first: number): boolean {
  let from = 0;
  for (;;) {
    const at = buf.indexOf(quotedName, from);
    if (at === -1) return false;
    from = at + 1;
    // An escaped opening quote ends a string that merely ends with the name.
    let bs = 0;
    while (buf[at - 1 - bs] === 0x5c) bs++;
    if (bs % 2 === 1) continue;
    let i = skipSpaceBytes(buf, at + quotedName.length);
    if (buf[i] !== 0x3a) continue;
    i = skipSpaceBytes(buf, i + 1);
    if (buf[i] === first) return true;
  }
}

/** The index of the first byte at or after `i` that is not JSON whitespace. */
function skipSpaceBytes(buf: Buffer, i: number): number {
  let c = buf[i];
  while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = buf[++i];
  return i;
}
