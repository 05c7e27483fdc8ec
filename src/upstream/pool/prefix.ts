// Prefix-cache affinity. vLLM's automatic prefix cache keys each full block of prompt tokens by a
// hash chained over every block before it, so a block is reusable only after the same prefix. The
// picker does the same over the request body's bytes (no tokenizer on the hot path): block i's hash
// covers bytes [0, (i+1)·B) from the start of the prompt, and each endpoint remembers, in a bounded
// LRU, the blocks of the requests it was recently sent. A request's match on an endpoint is its
// number of leading blocks that endpoint holds.

const MESSAGES = Buffer.from('"messages"');
const PROMPT = Buffer.from('"prompt"');
const INPUT = Buffer.from('"input"');

/**
 * Where the prompt starts in a JSON request body: at its `messages` (or `prompt`, `input`) key, so
 * fields before it that change on every turn (max_tokens, a request id) do not break the chain.
 */
export function promptStart(body: Buffer): number {
  let i = body.indexOf(MESSAGES);
  if (i < 0) i = body.indexOf(PROMPT);
  if (i < 0) i = body.indexOf(INPUT);
  return i < 0 ? 0 : i;
}

/**
 * Chained hash over full blocks of `blockBytes` (a multiple of 4) from `start`, at most `out.length`
 * blocks; returns how many were written. A trailing partial block is not hashed (vLLM does not cache
 * one either). It mixes a 32-bit word a step with MurmurHash3's round, read through an Int32Array
 * (the bytes are copied first when the prompt does not start on a 4-byte boundary): five times
 * faster than byte-wise FNV-1a, and hashing is most of a pick's cost. Word order is the machine's;
 * the hashes never leave it (the workers of one instance share them, on the same machine).
 */
export function hashBlocks(body: Buffer, start: number, blockBytes: number, out: Uint32Array): number {
  const blocks = Math.max(0, Math.min(out.length, Math.floor((body.length - start) / blockBytes)));
  if (blocks === 0) return 0;
  const bytes = blocks * blockBytes;
  const at = body.byteOffset + start;
  const words = (at & 3) === 0 ? new Int32Array(body.buffer, at, bytes >> 2) : new Int32Array(Uint8Array.prototype.slice.call(body, start, start + bytes).buffer);
  const perBlock = blockBytes >> 2;
  let h = 0x811c9dc5;
  let w = 0;
  for (let b = 0; b < blocks; b++) {
    const end = w + perBlock;
    for (; w < end; w++) {
      let k = Math.imul(words[w] as number, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      h ^= Math.imul(k, 0x1b873593);
      h = (h << 13) | (h >>> 19);
      h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    }
    // Finalised per block so every bit of the chain reaches every bit of the block's hash; the
    // chain itself continues from the unfinalised state. Never 0, so a zeroed slot cannot match.
    let f = h ^ (h >>> 16);
    f = Math.imul(f, 0x85ebca6b);
    f ^= f >>> 13;
    out[b] = f >>> 0 || 1;
  }
  return blocks;
}

/**
 * The blocks one endpoint was recently sent, as an approximate LRU in two generations: new and
 * reused blocks go into the current one; when it holds half the capacity it becomes the previous
 * one and the old previous is dropped whole. Every operation is O(1) with no per-entry deletes (a
 * Map churned by delete-and-reinsert costs ten times more per request).
 */
export class PrefixIndex {
  private current = new Set<number>();
  private previous = new Set<number>();
  private readonly half: number;
  /**
   * With several gateway workers: blocks recorded here that the peers have not been told about
   * (new to the current generation, so a block reused from the previous one is told again and
   * stays fresh in their indexes too). Bounded by half the index's capacity.
   */
  private fresh: number[] | undefined;

  /** `share`: the worker's shared picker state, told when there are new blocks to send (share.ts). */
  constructor(
    capacity: number,
    private readonly share?: { recorded(): void },
  ) {
    this.half = Math.max(1, Math.floor(capacity / 2));
    if (share !== undefined) this.fresh = [];
  }

  get size(): number {
    return this.current.size + this.previous.size;
  }

  /** Leading blocks of `hashes` this endpoint holds. */
  match(hashes: Uint32Array, count: number): number {
    let n = 0;
    while (n < count) {
      const h = hashes[n] as number;
      if (!this.current.has(h) && !this.previous.has(h)) break;
      n++;
    }
    return n;
  }

  /** Remember the request's blocks as recently used. */
  record(hashes: Uint32Array, count: number): void {
    for (let i = 0; i < count; i++) {
      const h = hashes[i] as number;
      if (this.current.has(h)) continue;
      if (this.fresh !== undefined && this.fresh.length < this.half && this.fresh.push(h) === 1) this.share?.recorded();
      this.add(h);
    }
  }

  /** Blocks a peer worker recorded for this endpoint: they count like local ones and are not told back. */
  learn(hashes: readonly number[]): void {
    for (const h of hashes) if (!this.current.has(h)) this.add(h);
  }

  get freshCount(): number {
    return this.fresh?.length ?? 0;
  }

  /** Up to `max` of the blocks not yet told to peers, oldest first; they count as told. */
  takeFresh(max: number): number[] {
    const f = this.fresh;
    if (f === undefined || f.length === 0 || max <= 0) return [];
    if (f.length <= max) {
      this.fresh = [];
      return f;
    }
    return f.splice(0, max);
  }

  private add(h: number): void {
    this.current.add(h);
    if (this.current.size >= this.half) {
      this.previous = this.current;
      this.current = new Set<number>();
    }
  }
}
