// Byte-pair merging for pure-ASCII pre-tokens, as a count. For ASCII, bytes and characters are the
// same, so a merge can look pairs up by substring in a string → rank map; the library's general
// path decodes every candidate pair's bytes to a string first (a TextDecoder call each), which
// makes a never-seen pre-token (a hash, an identifier) cost ~10 µs. Same algorithm as tiktoken's
// byte_pair_merge: repeatedly merge the adjacent pair of lowest rank; a pre-token that is itself a
// token is one token.

export type AsciiRanks = ReadonlyMap<string, number>;

/** The ASCII entries of a rank table (index = rank; entries are strings or byte arrays). */
export function asciiRanks(table: readonly unknown[]): AsciiRanks {
  const ranks = new Map<string, number>();
  for (let rank = 0; rank < table.length; rank++) {
    const t = table[rank];
    if (typeof t === 'string' && isAscii(t)) ranks.set(t, rank);
  }
  return ranks;
}

export function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 128) return false;
  return true;
}

/** Number of tokens the BPE encoder turns the ASCII pre-token `piece` into. */
export function countAsciiPiece(ranks: AsciiRanks, piece: string): number {
  const n = piece.length;
  if (n <= 1 || ranks.has(piece)) return n === 0 ? 0 : 1;
  // starts[0..parts]: part boundaries; pair[i]: rank of parts i and i+1 merged (Infinity: none).
  const starts: number[] = [];
  const pair: number[] = [];
  for (let i = 0; i <= n; i++) starts.push(i);
  for (let i = 0; i < n - 1; i++) pair.push(ranks.get(piece.slice(i, i + 2)) ?? Infinity);
  let parts = n;
  while (parts > 1) {
    let best = Infinity;
    let at = -1;
    for (let i = 0; i < parts - 1; i++) {
      if (pair[i]! < best) {
        best = pair[i]!;
        at = i;
      }
    }
    if (at < 0) break;
    starts.splice(at + 1, 1);
    pair.splice(at, 1);
    parts--;
    // The merged part's pairs with its neighbours.
    if (at < parts - 1) pair[at] = ranks.get(piece.slice(starts[at], starts[at + 2])) ?? Infinity;
    if (at > 0) pair[at - 1] = ranks.get(piece.slice(starts[at - 1], starts[at + 1])) ?? Infinity;
  }
  return parts;
}
