// What the endpoint pickers of several gateway workers tell each other. Each worker's picker sees
// only the requests its process handles, and connections (not sessions) are spread over workers,
// so a conversation's turns land on different workers: without sharing, each one places the
// conversation anew and the prefix cache a replica holds is found only by the worker that sent it.
//
// Nothing is sent per request. A worker's share collects what its pickers learned (prefix blocks
// newly recorded for a replica, sessions placed, its in-flight counts per replica when they moved)
// and sends it as one batch at most every `intervalMs`, only when something is new; the primary
// relays the batches of the others (cluster/picker-relay.ts). Peers' blocks and sessions go into
// the local index as if this worker had sent them; peers' in-flight counts add to its own. Next
// turns come seconds after the previous answer, so tens of milliseconds of staleness cost affinity
// nothing. The transport is injected: IPC in a worker, simulated time in the virtual bench.
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
  /** The worker's own in-flight requests to every endpoint of the pool, when any changed. */
  readonly inflight?: ReadonlyArray<readonly [string, number]>;
}

export interface PickerBatch {
  readonly pools: readonly PoolDelta[];
}

/** A batch and the worker it came from (the primary's cluster worker id). */
export interface PeerBatch {
  readonly from: number;
  readonly batch: PickerBatch;
}

export interface ShareTransport {
  send(batch: PickerBatch): void;
  /** Runs `fn` in `ms` (a timer that does not keep the process alive; simulated time in the bench). */
  later(fn: () => void, ms: number): void;
}

/** Default batch interval: well under the seconds between a conversation's turns. */
export const SHARE_INTERVAL_MS = 25;
/** Prefix blocks one batch carries at most (what does not fit waits for the next batch). */
export const MAX_BATCH_BLOCKS = 16_384;
const MAX_BATCH_SESSIONS = 4_096;

/** What the share did, per pool, for the worker's metrics. */
export interface ShareView {
  readonly pool: string;
  /** Prefix blocks and sessions learned from peers since the worker started. */
  readonly learnedBlocks: number;
  readonly learnedSessions: number;
  /** Per endpoint: the peers' requests in flight to it, as this worker knows them. */
  readonly peerInflight: ReadonlyArray<readonly [string, number]>;
}

export class PickerShare {
  private readonly pickers = new Map<string, PoolPicker>();
  private readonly sessions = new Map<string, Array<readonly [string, string]>>();
  /** In-flight counts last sent, per pool, in the order of its replicas. */
  private readonly sentInflight = new Map<string, string>();
  /** Peer worker → pool → endpoint id → its in-flight requests. */
  private readonly peers = new Map<number, Map<string, Map<string, number>>>();
  private readonly learned = new Map<string, { blocks: number; sessions: number }>();
  private armed = false;
  batchesSent = 0;

  constructor(
    private readonly transport: ShareTransport,
    readonly intervalMs = SHARE_INTERVAL_MS,
  ) {}

  attach(picker: PoolPicker): void {
    this.pickers.set(picker.config.key, picker);
  }

  detach(picker: PoolPicker): void {
    if (this.pickers.get(picker.config.key) === picker) this.pickers.delete(picker.config.key);
  }

  /** A picker chose an endpoint: there is something to tell within an interval. */
  picked(): void {
    this.arm();
  }

  session(picker: PoolPicker, key: string, endpoint: string): void {
    let list = this.sessions.get(picker.config.key);
    if (list === undefined) this.sessions.set(picker.config.key, (list = []));
    if (list.length < MAX_BATCH_SESSIONS) list.push([key, endpoint]);
  }

  view(): ShareView[] {
    return [...this.pickers.values()].map((p) => {
      const l = this.learned.get(p.config.key);
      return { pool: p.config.key, learnedBlocks: l?.blocks ?? 0, learnedSessions: l?.sessions ?? 0, peerInflight: p.replicas.map((r) => [r.id, r.peerInflight] as const) };
    });
  }

  /** Peer in-flight requests to one endpoint, as this worker knows them (for metrics). */
  peerInflight(pool: string, endpoint: string): number {
    let n = 0;
    for (const byPool of this.peers.values()) n += byPool.get(pool)?.get(endpoint) ?? 0;
    return n;
  }

  /** Batches relayed from peers, and peers that are gone (their in-flight requests went with them). */
  receive(batches: readonly PeerBatch[], gone: readonly number[] = []): void {
    const touched = new Set<string>();
    for (const { from, batch } of batches) {
      for (const d of batch.pools) {
        const picker = this.pickers.get(d.pool);
        if (picker === undefined) continue;
        if (d.inflight !== undefined) {
          let byPool = this.peers.get(from);
          if (byPool === undefined) this.peers.set(from, (byPool = new Map<string, Map<string, number>>()));
          byPool.set(d.pool, new Map<string, number>(d.inflight));
          touched.add(d.pool);
        }
        this.learn(picker, d);
      }
    }
    for (const id of gone) {
      const byPool = this.peers.get(id);
      if (byPool === undefined) continue;
      for (const pool of byPool.keys()) touched.add(pool);
      this.peers.delete(id);
    }
    for (const pool of touched) {
      const picker = this.pickers.get(pool);
      if (picker === undefined) continue;
      for (const r of picker.replicas) r.peerInflight = this.peerInflight(pool, r.id);
    }
  }

  private learn(picker: PoolPicker, d: PoolDelta): void {
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
  }

  private arm(): void {
    if (this.armed) return;
    this.armed = true;
    this.transport.later(() => this.flush(), this.intervalMs);
  }

  private flush(): void {
    this.armed = false;
    const pools: PoolDelta[] = [];
    let room = MAX_BATCH_BLOCKS;
    let busy = false;
    for (const picker of this.pickers.values()) {
      // Round robin reads none of it.
      if (picker.config.strategy === 'round-robin') continue;
      const key = picker.config.key;
      const blocks: Array<readonly [string, readonly number[]]> = [];
      let inflightKey = '';
      for (const r of picker.replicas) {
        const taken = r.prefix.takeFresh(room);
        if (taken.length > 0) {
          blocks.push([r.id, taken]);
          room -= taken.length;
        }
        if (r.prefix.freshCount > 0) busy = true;
        inflightKey += `${r.id}=${r.handle.inflight},`;
        if (r.handle.inflight > 0) busy = true;
      }
      const sessions = this.sessions.get(key) ?? [];
      this.sessions.delete(key);
      const moved = this.sentInflight.get(key) !== inflightKey;
      if (moved) this.sentInflight.set(key, inflightKey);
      if (blocks.length === 0 && sessions.length === 0 && !moved) continue;
      const delta: PoolDelta = { pool: key, blockBytes: picker.config.prefixBlockBytes, blocks, sessions };
      pools.push(moved ? { ...delta, inflight: picker.replicas.map((r) => [r.id, r.handle.inflight] as const) } : delta);
    }
    for (const key of this.sentInflight.keys()) if (!this.pickers.has(key)) this.sentInflight.delete(key);
    if (pools.length > 0) {
      this.batchesSent++;
      this.transport.send({ pools });
    }
    // While requests are in flight or blocks wait for room there is news to come; after in-flight
    // counts moved, one more look tells the peers when they settle (back to idle included).
    if (busy || pools.some((p) => p.inflight !== undefined)) this.arm();
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
