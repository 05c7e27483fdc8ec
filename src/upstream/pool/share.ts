// What the endpoint pickers of several gateway workers tell each other. Each worker's picker sees
// only the requests its process handles, and connections (not sessions) are spread over workers,
// so a conversation's turns land on different workers: without sharing, each one places the
// conversation anew and the prefix cache a replica holds is found only by the worker that sent it.
//
// Nothing is sent per request. A worker's share collects what its pickers learned (prefix blocks
// newly recorded for a replica, sessions placed) and sends it as one batch at most every
// `intervalMs`, only when something is new (at once after a quiet interval, else at the interval's
// end); the primary relays the batches to the other workers, at most once an interval too
// (cluster/picker-relay.ts), which put the blocks and sessions in their own index and session map
// as if they had sent those requests. Next turns come seconds after the previous answer, so tens of
// milliseconds of staleness cost affinity nothing. In-flight counts are not shared: peers' counts
// 25–50 ms old made the virtual benchmark's picks worse, not better (see docs/routing.md).
// With `prefillTokens` > 0 the batches also carry, per replica, the prefill the worker has sent and
// not yet seen a first byte for (its own part of the prefill scorer's figure, prefill.ts), when it
// moved by that many tokens or more from what the peers were last told, drained at the replica's
// rate; peers fold it into their own figure (prefill-peers.ts). Off by default: it helped the
// virtual benchmark's tail at 80% of saturation a little and hurt it at saturation (docs/routing.md).
// The transport is injected: IPC in a worker, simulated time in the virtual bench.
import type { PoolPicker } from './picker.js';

/** What one pool's picker learned since the worker's last batch. */
export interface PoolDelta {
  readonly pool: string;
  /** Block hashes compare only between pickers with the same block size (a reload may change it). */
  readonly blockBytes: number;
  /** Endpoint id → blocks newly recorded for it. */
  readonly blocks: ReadonlyArray<readonly [string, readonly number[]]>;
  /** Session key → endpoint id. */
  readonly sessions: ReadonlyArray<readonly [string, string]>;
  /** Endpoint id → the sender's prefill tokens outstanding there now (only those that moved). */
  readonly prefill?: ReadonlyArray<readonly [string, number]>;
}

export interface PickerBatch {
  /** The sending worker, when the batch carries prefill figures (a peer's newer figure replaces its older one). */
  readonly from?: string;
  /** With prefill figures: when they were taken, on the transport's clock (the receiver ages them by the batch's time on the way). */
  readonly at?: number;
  readonly pools: readonly PoolDelta[];
}

export interface ShareTransport {
  send(batch: PickerBatch): void;
  /** Runs `fn` in `ms` (a timer that does not keep the process alive; simulated time in the bench). */
  later(fn: () => void, ms: number): void;
  /** Milliseconds on a clock every worker of the instance reads alike (to age prefill figures); absent: no ageing. */
  readonly clock?: () => number;
}

/** Default batch interval: well under the seconds between a conversation's turns. */
export const SHARE_INTERVAL_MS = 25;
/** Prefix blocks one batch carries at most (what does not fit waits for the next batch). */
export const MAX_BATCH_BLOCKS = 16_384;
const MAX_BATCH_SESSIONS = 4_096;

/** What the share learned, per pool, for the worker's metrics. */
export interface ShareView {
  readonly pool: string;
  /** Prefix blocks and sessions learned from peers since the worker started. */
  readonly learnedBlocks: number;
  readonly learnedSessions: number;
}

/**
 * Default threshold of the shared pending prefill, in tokens; 0: not shared. Off: in the virtual
 * benchmark it improved two workers' TTFT p99 at 80% of saturation a little (1.65× to 1.71× round
 * robin's on the calibrated corpus) and made it 5–10% worse at saturation (docs/performance.md).
 */
export const SHARE_PREFILL_TOKENS = 0;

export interface ShareOptions {
  /** This worker, as its batches name it (default: the process id and a counter). */
  readonly from?: string;
  /** Tell the peers this replica's pending prefill when it moved by this many tokens; 0: never. */
  readonly prefillTokens?: number;
}

/**
 * The threshold the workers share pending prefill at, from `TOLLGATE_PICKER_SHARE_PREFILL` (tokens;
 * unset or empty: the default, not shared). Anything but a whole number is refused with a message
 * naming the variable (the primary checks it before it starts a worker).
 */
export function sharePrefillTokens(env: string | undefined): number {
  if (env === undefined || env.trim() === '') return SHARE_PREFILL_TOKENS;
  if (!/^\d{1,7}$/.test(env.trim())) {
    throw new Error(`TOLLGATE_PICKER_SHARE_PREFILL must be a whole number of tokens (0 shares none, the default); got "${env.slice(0, 40)}"`);
  }
  return Number(env.trim());
}

let shares = 0;

export class PickerShare {
  private readonly pickers = new Map<string, PoolPicker>();
  private readonly sessions = new Map<string, Array<readonly [string, string]>>();
  private readonly learned = new Map<string, { blocks: number; sessions: number }>();
  private armed = false;
  private lastFlush = Number.NEGATIVE_INFINITY;
  readonly from: string;
  readonly prefillTokens: number;

  constructor(
    private readonly transport: ShareTransport,
    readonly intervalMs = SHARE_INTERVAL_MS,
    o: ShareOptions = {},
  ) {
    this.from = o.from ?? `${process.pid}.${shares++}`;
    this.prefillTokens = o.prefillTokens ?? SHARE_PREFILL_TOKENS;
  }

  attach(picker: PoolPicker): void {
    this.pickers.set(picker.config.key, picker);
  }

  detach(picker: PoolPicker): void {
    if (this.pickers.get(picker.config.key) === picker) this.pickers.delete(picker.config.key);
  }

  /** A picker recorded prefix blocks: there is something to tell within an interval. */
  recorded(): void {
    this.arm();
  }

  /** A replica's pending prefill moved by the threshold (prefill.ts). */
  prefillMoved(): void {
    this.arm();
  }

  session(picker: PoolPicker, key: string, endpoint: string): void {
    let list = this.sessions.get(picker.config.key);
    if (list === undefined) this.sessions.set(picker.config.key, (list = []));
    if (list.length < MAX_BATCH_SESSIONS) list.push([key, endpoint]);
    this.arm();
  }

  view(): ShareView[] {
    return [...this.pickers.values()].map((p) => {
      const l = this.learned.get(p.config.key);
      return { pool: p.config.key, learnedBlocks: l?.blocks ?? 0, learnedSessions: l?.sessions ?? 0 };
    });
  }

  /** Batches of the other workers, relayed by the primary. */
  receive(batches: readonly PickerBatch[]): void {
    for (const batch of batches) {
      for (const d of batch.pools) {
        const picker = this.pickers.get(d.pool);
        if (picker !== undefined) this.learn(picker, d, batch);
      }
    }
  }

  private learn(picker: PoolPicker, d: PoolDelta, batch: PickerBatch): void {
    let count = this.learned.get(d.pool);
    if (count === undefined) this.learned.set(d.pool, (count = { blocks: 0, sessions: 0 }));
    // Entries for endpoints this worker no longer has (a reload removed them) are ignored, and so
    // are blocks hashed with another block size.
    if (d.blockBytes === picker.config.prefixBlockBytes) {
      for (const [id, blocks] of d.blocks) {
        const r = picker.replica(id);
        if (r === undefined) continue;
        r.prefix.learn(blocks);
        count.blocks += blocks.length;
      }
    }
    for (const [key, id] of d.sessions) {
      if (picker.learnSession(key, id)) count.sessions++;
    }
    const from = batch.from;
    if (d.prefill !== undefined && from !== undefined && from !== this.from) {
      const now = picker.now();
      const age = batch.at !== undefined && this.transport.clock !== undefined ? this.transport.clock() - batch.at : 0;
      for (const [id, tokens] of d.prefill) picker.replica(id)?.prefill.peer(from, tokens, now, age);
    }
  }

  private arm(): void {
    if (this.armed) return;
    this.armed = true;
    // At most one batch an interval: news after a quiet interval goes at once (after the current
    // event-loop turn, so not on the request's path), news within one waits for its end.
    const clock = this.transport.clock;
    const wait = clock === undefined ? this.intervalMs : Math.max(0, this.lastFlush + this.intervalMs - clock());
    this.transport.later(() => this.flush(), wait);
  }

  private flush(): void {
    this.armed = false;
    if (this.transport.clock !== undefined) this.lastFlush = this.transport.clock();
    const pools: PoolDelta[] = [];
    let room = MAX_BATCH_BLOCKS;
    let more = false;
    let prefillTold = false;
    for (const picker of this.pickers.values()) {
      const key = picker.config.key;
      const blocks: Array<readonly [string, readonly number[]]> = [];
      const prefill: Array<readonly [string, number]> = [];
      const now = picker.now();
      for (const r of picker.replicas) {
        const taken = r.prefix.takeFresh(room);
        if (taken.length > 0) {
          blocks.push([r.id, taken]);
          room -= taken.length;
        }
        if (r.prefix.freshCount > 0) more = true;
        const tokens = r.prefill.takeUntold(now);
        if (tokens >= 0) prefill.push([r.id, Math.round(tokens)]);
      }
      const sessions = this.sessions.get(key) ?? [];
      this.sessions.delete(key);
      if (prefill.length > 0) prefillTold = true;
      if (blocks.length > 0 || sessions.length > 0 || prefill.length > 0) pools.push({ pool: key, blockBytes: picker.config.prefixBlockBytes, blocks, sessions, ...(prefill.length > 0 ? { prefill } : {}) });
    }
    if (pools.length > 0) this.transport.send(prefillTold ? { from: this.from, ...(this.transport.clock === undefined ? {} : { at: this.transport.clock() }), pools } : { pools });
    // Blocks that did not fit go in the next batch.
    if (more) this.arm();
  }
}

let processShare: PickerShare | undefined;

/** This process is one gateway worker of several: its pickers share what they learn through `share`. */
export function shareAcrossWorkers(share: PickerShare): void {
  processShare = share;
}

/** The process's share, or undefined when this process is the only gateway (nothing to share). */
export function workerShare(): PickerShare | undefined {
  return processShare;
}
