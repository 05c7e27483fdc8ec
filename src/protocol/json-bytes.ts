// Scanning JSON as bytes, without parsing it: what the shallow walks over request bodies share.

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
