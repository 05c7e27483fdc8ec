// Paged KV cache with automatic prefix caching, after vLLM V1's block pool
// (vllm/v1/core/block_pool.py, kv_cache_manager.py):
// - fixed-size blocks of `blockSize` tokens, reference counted;
// - a full block is named by a hash chained from its parent's hash and its tokens, so equal hashes
//   mean equal prefixes;
// - freed blocks keep their hash and go to the tail of a free queue (a request's blocks are freed
//   last-first, so its tail is evicted before its shared head); allocation pops the head, evicting
//   that block's hash: LRU reuse of cached blocks;
// - a lookup that hits a free cached block takes it back out of the queue (touch);
// - two requests that compute the same block at once (neither found it cached when it was
//   scheduled) both keep it under its hash, as vLLM's hash → {block id → block} map does: lookups
//   find the first, and evicting one leaves the other findable.
// Typed arrays and an intrusive doubly linked list keep every operation O(1) per block.

const NONE = -1;

export class KvCache {
  readonly numBlocks: number;
  readonly blockSize: number;
  readonly prefixCaching: boolean;
  private readonly ref: Int32Array;
  private readonly hashOf: Float64Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private head = NONE;
  private tail = NONE;
  private free = 0;
  private readonly cached = new Map<number, number>();
  /** Further blocks holding an already cached hash (computed concurrently), promoted when the first goes. */
  private readonly duplicates = new Map<number, number[]>();
  /** Blocks whose cached hash was dropped to make room (for diagnostics). */
  evictions = 0;

  constructor(numBlocks: number, blockSize: number, prefixCaching: boolean) {
    this.numBlocks = numBlocks;
    this.blockSize = blockSize;
    this.prefixCaching = prefixCaching;
    this.ref = new Int32Array(numBlocks);
    this.hashOf = new Float64Array(numBlocks).fill(Number.NaN);
    this.prev = new Int32Array(numBlocks);
    this.next = new Int32Array(numBlocks);
    for (let b = 0; b < numBlocks; b++) this.pushTail(b);
  }

  get numFree(): number {
    return this.free;
  }

  get numUsed(): number {
    return this.numBlocks - this.free;
  }

  /** vLLM's kv_cache_usage: blocks held by requests over all blocks (free cached blocks count as free). */
  usage(): number {
    return this.numBlocks === 0 ? 0 : 1 - this.free / this.numBlocks;
  }

  /** Blocks that hold a reusable prefix (in use or free). */
  get numCached(): number {
    return this.cached.size;
  }

  lookup(hash: number): number | undefined {
    return this.prefixCaching ? this.cached.get(hash) : undefined;
  }

  isFree(block: number): boolean {
    return this.ref[block] === 0;
  }

  /** Take a block off the free queue's head, evicting the prefix it cached. Caller checks numFree. */
  allocate(): number {
    const b = this.head;
    if (b === NONE) throw new Error('KV cache: allocate with no free block');
    this.unlink(b);
    const h = this.hashOf[b] ?? Number.NaN;
    if (!Number.isNaN(h)) {
      this.forget(b, h);
      this.hashOf[b] = Number.NaN;
      this.evictions++;
    }
    this.ref[b] = 1;
    return b;
  }

  /** Share a cached block (a prefix hit): one more reference; out of the free queue if it was free. */
  touch(block: number): void {
    if (this.ref[block] === 0) this.unlink(block);
    this.ref[block] = (this.ref[block] ?? 0) + 1;
  }

  /** Release a request's blocks, last first, so its tail is evicted before the prefix it shares. */
  release(blocks: readonly number[]): void {
    for (let i = blocks.length - 1; i >= 0; i--) {
      const b = blocks[i] as number;
      const r = (this.ref[b] ?? 0) - 1;
      this.ref[b] = r;
      if (r === 0) this.pushTail(b);
    }
  }

  /** Name a full block by its prefix hash so later requests can reuse it (lookups find the first holder). */
  cacheBlock(block: number, hash: number): void {
    if (!this.prefixCaching || !Number.isNaN(this.hashOf[block] ?? Number.NaN)) return;
    this.hashOf[block] = hash;
    if (!this.cached.has(hash)) {
      this.cached.set(hash, block);
      return;
    }
    const more = this.duplicates.get(hash);
    if (more === undefined) this.duplicates.set(hash, [block]);
    else more.push(block);
  }

  /** Block `b` stops holding `hash`: a duplicate takes its place in the lookup, if there is one. */
  private forget(b: number, hash: number): void {
    const more = this.duplicates.get(hash);
    if (this.cached.get(hash) === b) {
      const next = more?.shift();
      if (next === undefined) this.cached.delete(hash);
      else this.cached.set(hash, next);
    } else if (more !== undefined) {
      const i = more.indexOf(b);
      if (i >= 0) more.splice(i, 1);
    }
    if (more !== undefined && more.length === 0) this.duplicates.delete(hash);
  }

  /** Forget every cached prefix (vLLM's reset_prefix_cache); blocks in use stay allocated. */
  resetPrefixCache(): void {
    for (const b of this.cached.values()) this.hashOf[b] = Number.NaN;
    for (const list of this.duplicates.values()) for (const b of list) this.hashOf[b] = Number.NaN;
    this.cached.clear();
    this.duplicates.clear();
  }

  private pushTail(b: number): void {
    this.prev[b] = this.tail;
    this.next[b] = NONE;
    if (this.tail === NONE) this.head = b;
    else this.next[this.tail] = b;
    this.tail = b;
    this.free++;
  }

  private unlink(b: number): void {
    const p = this.prev[b] as number;
    const n = this.next[b] as number;
    if (p === NONE) this.head = n;
    else this.next[p] = n;
    if (n === NONE) this.tail = p;
    else this.prev[n] = p;
    this.free--;
  }
}

/**
 * Chained block hash: the parent's hash and the block's token ids, folded into a 53-bit integer
 * (two independent 32-bit lanes). Collisions are astronomically unlikely at simulator scale, and a
 * number keys a Map without allocating strings.
 */
export function blockHash(parent: number, tokens: ArrayLike<number>, start: number, end: number): number {
  let h1 = (parent % 4294967296) ^ 0x9e3779b9;
  let h2 = Math.floor(parent / 4294967296) ^ 0x85ebca6b;
  for (let i = start; i < end; i++) {
    const t = tokens[i] as number;
    h1 = Math.imul(h1 ^ t, 0x01000193);
    h1 ^= h1 >>> 15;
    h2 = Math.imul(h2 + t, 0x5bd1e995);
    h2 ^= h2 >>> 13;
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 0x85ebca6b) >>> 0;
  h2 = Math.imul(h2 ^ (h2 >>> 16), 0xc2b2ae35) & 0x1fffff;
  return h2 * 4294967296 + h1;
}
