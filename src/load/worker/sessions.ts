// A worker's supply of sessions per profile: its share of the corpus, read ahead in the
// background so starting a session never waits on the disk. A share small enough to keep in
// memory is read once and replayed from memory; a larger one is streamed and re-read when it runs
// out. Either way, repeats are counted: a looped corpus inflates prefix-cache hits (docs/workload.md).
import { readManifest, type StreamView } from '../../workload/manifest.js';
import { readStreamSessions, selectStreams, shardRange, type ReplaySession } from '../../workload/reader.js';
import { Rng } from '../arrivals/random.js';
import type { Shard } from '../protocol.js';

/** Sessions read ahead per streamed share, and the most body bytes that may sit in that buffer. */
const READ_AHEAD = 256;
const READ_AHEAD_BYTES = 16 << 20;
/** A share whose bodies fit in this much memory is read once and then replayed from memory. */
const MEMO_BYTES = 96 << 20;
/**
 * The reader shares the worker's event loop with every user's timers: it yields after this much
 * work, or a read-ahead refill (hundreds of sessions parsed in one go) would show up as lag.
 */
const READ_SLICE_MS = 1;

interface StreamFeed {
  readonly stream: StreamView;
  readonly shard: Shard | undefined;
  /** Whether this worker reads the whole harness shard of the stream (too few sessions to split). */
  readonly shared: boolean;
  /** Sessions in this feed's share. */
  readonly weight: number;
  iter: AsyncGenerator<ReplaySession> | undefined;
  /** Streamed shares: sessions read and not yet handed out. */
  readonly buffer: ReplaySession[];
  head: number;
  bufferBytes: number;
  /** In-memory shares: every session, in file order, once read. */
  readonly memo: ReplaySession[] | undefined;
  memoComplete: boolean;
  memoNext: number;
  reading: boolean;
  /** Times the reader reached the end of the share. */
  ends: number;
  /** Sessions handed out: beyond `weight`, sessions repeat. */
  taken: number;
  failed: Error | undefined;
}

export class ProfileSessions {
  private readonly rng: Rng;
  private readonly totalWeight: number;
  /** Session starts waiting for the reader, served first come first served. */
  private readonly waiters: Array<(s: ReplaySession) => void> = [];

  constructor(
    readonly profile: string,
    private readonly corpus: string,
    private readonly feeds: StreamFeed[],
    seed: number,
    /** Replay keeps file order and never loops. */
    private readonly loop: boolean,
  ) {
    this.rng = new Rng(seed, 0x5e55);
    this.totalWeight = feeds.reduce((a, f) => a + f.weight, 0);
    for (const f of feeds) this.fill(f);
  }

  get sessions(): number {
    return this.totalWeight;
  }

  get shared(): boolean {
    return this.feeds.some((f) => f.shared);
  }

  /** How many times sessions started repeating (the share handed out in full, then again). */
  get wraps(): number {
    return this.feeds.reduce((a, f) => a + Math.floor(Math.max(0, f.taken - 1) / Math.max(1, f.weight)), 0);
  }

  get error(): Error | undefined {
    return this.feeds.find((f) => f.failed !== undefined)?.failed;
  }

  /** Whether every feed has reached its end for good (replay only). */
  get exhausted(): boolean {
    return !this.loop && this.feeds.every((f) => f.ends > 0 && !f.reading && available(f) === 0);
  }

  /** The next session, or undefined when none is read yet. Streams are mixed by their size. */
  take(): ReplaySession | undefined {
    let pick = this.feeds[0];
    if (this.feeds.length > 1) {
      let r = this.rng.next() * this.totalWeight;
      for (const f of this.feeds) {
        r -= f.weight;
        if (r < 0) {
          pick = f;
          break;
        }
      }
    }
    if (pick !== undefined) {
      const s = this.takeFrom(pick);
      if (s !== undefined) return s;
    }
    for (const f of this.feeds) {
      if (f === pick) continue;
      const s = this.takeFrom(f);
      if (s !== undefined) return s;
    }
    return undefined;
  }

  private takeFrom(f: StreamFeed): ReplaySession | undefined {
    let s: ReplaySession | undefined;
    if (f.memo !== undefined) {
      if (f.memoNext >= f.memo.length && f.memoComplete && this.loop) f.memoNext = 0;
      s = f.memo[f.memoNext];
      if (s !== undefined) f.memoNext++;
    } else if (f.head < f.buffer.length) {
      s = f.buffer[f.head++];
      if (s === undefined) return undefined;
      f.bufferBytes -= sessionBytes(s);
      if (f.head > 1024) {
        f.buffer.splice(0, f.head);
        f.head = 0;
      }
    }
    this.fill(f);
    if (s !== undefined) f.taken++;
    return s;
  }

  /** Calls `cb` with the next session as soon as the reader has one (after earlier waiters). */
  wait(cb: (s: ReplaySession) => void): void {
    this.waiters.push(cb);
    for (const f of this.feeds) this.fill(f);
  }

  private serveWaiters(): void {
    while (this.waiters.length > 0) {
      const s = this.take();
      if (s === undefined) return;
      (this.waiters.shift() as (s: ReplaySession) => void)(s);
    }
  }

  /** Resolves once every share is in memory or its read-ahead is full (or a reader failed). */
  async ready(maxMs = 120_000): Promise<void> {
    const end = Date.now() + maxMs;
    while (Date.now() < end) {
      if (this.error !== undefined) return;
      const full = this.feeds.every((f) => (f.memo !== undefined ? f.memoComplete : available(f) >= Math.min(READ_AHEAD, f.weight) || f.bufferBytes >= READ_AHEAD_BYTES || f.ends > 0));
      if (full) return;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private fill(f: StreamFeed): void {
    if (f.reading || f.failed !== undefined) return;
    if (f.memo !== undefined ? f.memoComplete : available(f) >= READ_AHEAD || f.bufferBytes >= READ_AHEAD_BYTES) return;
    if (f.iter === undefined) {
      if (!this.loop && f.ends > 0) return;
      f.iter = readStreamSessions(this.corpus, f.stream, f.shard);
    }
    f.reading = true;
    void this.readSome(f);
  }

  private async readSome(f: StreamFeed): Promise<void> {
    let slice = performance.now();
    try {
      while (f.iter !== undefined && (f.memo !== undefined || (available(f) < READ_AHEAD && f.bufferBytes < READ_AHEAD_BYTES))) {
        const r = await f.iter.next();
        if (r.done === true) {
          f.iter = undefined;
          f.ends++;
          if (f.memo !== undefined) f.memoComplete = true;
          else if (this.loop) f.iter = readStreamSessions(this.corpus, f.stream, f.shard);
          break;
        }
        if (f.memo !== undefined) f.memo.push(r.value);
        else {
          f.buffer.push(r.value);
          f.bufferBytes += sessionBytes(r.value);
        }
        if (this.waiters.length > 0) this.serveWaiters();
        if (performance.now() - slice > READ_SLICE_MS) {
          await new Promise((r) => setImmediate(r));
          slice = performance.now();
        }
      }
    } catch (err) {
      f.failed = err instanceof Error ? err : new Error(String(err));
    } finally {
      f.reading = false;
    }
    this.serveWaiters();
    this.fill(f);
  }
}

function available(f: StreamFeed): number {
  return f.memo !== undefined ? f.memo.length - f.memoNext : f.buffer.length - f.head;
}

function sessionBytes(s: ReplaySession): number {
  let n = 0;
  for (const t of s.turns) n += t.body.length;
  return n;
}

/**
 * The sessions of each profile this worker replays: from every stream of the profile, sub-shard
 * `index·W + worker` of `count·W` (so the harness's shard is split among its workers without
 * overlap). A stream too small to give this worker a session is read whole by it (flagged `shared`).
 * Corpus-replay profiles are read whole by the one worker that replays them.
 */
export function openProfiles(corpus: string, profiles: readonly string[], shard: Shard | undefined, worker: number, workers: number, seed: number, replay: ReadonlySet<string>): Map<string, ProfileSessions> {
  const manifest = readManifest(corpus);
  const out = new Map<string, ProfileSessions>();
  const base: Shard = shard ?? { index: 0, count: 1 };
  const sub: Shard = { index: base.index * workers + worker, count: base.count * workers };
  for (const p of profiles) {
    const feeds: StreamFeed[] = [];
    for (const stream of selectStreams(manifest, { profile: p })) {
      const [a, b] = shardRange(stream.sessions, sub);
      const [sa, sb] = shardRange(stream.sessions, base);
      const useSub = b > a && !replay.has(p);
      const own = useSub ? b - a : sb - sa;
      if (own <= 0) continue;
      const shareBytes = stream.sessions > 0 ? (stream.body_bytes * own) / stream.sessions : Number.POSITIVE_INFINITY;
      feeds.push({
        stream,
        shard: useSub ? sub : shard,
        shared: !useSub && workers > 1 && !replay.has(p),
        weight: own,
        iter: undefined,
        buffer: [],
        head: 0,
        bufferBytes: 0,
        memo: shareBytes <= MEMO_BYTES && !replay.has(p) ? [] : undefined,
        memoComplete: false,
        memoNext: 0,
        reading: false,
        ends: 0,
        taken: 0,
        failed: undefined,
      });
    }
    if (feeds.length > 0) out.set(p, new ProfileSessions(p, corpus, feeds, seed + worker, !replay.has(p)));
  }
  return out;
}
