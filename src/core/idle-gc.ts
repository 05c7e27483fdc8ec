// Handing memory back once a burst is over. V8 collects when a program allocates; a gateway that has
// gone idle allocates almost nothing, so the garbage a burst left behind (hundreds of cut streams'
// chunks, parsed events and counted text) would stay in a heap grown to hold it, reserved until the
// next burst. A heap snapshot after 500 non-reading clients left found less than half of the heap
// in use still live; the rest was garbage no collection had looked at. So when the process has had
// no request in flight for a while after its heap grew, it runs a full collection (and one more
// after a further quiet period), which frees that garbage and lets V8 shrink the heap (and release
// the Buffers it kept alive) back toward what is live.
//
// The collection is requested through V8's own `gc` function, made available at run time
// (`--expose-gc` set as a V8 flag, the function taken from a fresh context), so no command-line flag
// is needed and `node bin/tollgate.js` behaves like any other way of starting the gateway.
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Logger } from './log.js';

export interface IdleCollectionOptions {
  /** How long no request may be in flight before the collection runs; 0 disables. */
  readonly afterMs: number;
  /**
   * Growth of the heap V8 has reserved plus external memory (Buffers) since the last collection
   * that makes one worth running: below it, a trickle of requests never pays for a full collection.
   * 0: collect after any traffic.
   */
  readonly minGrowthBytes: number;
}

export const DEFAULT_IDLE_COLLECTION: IdleCollectionOptions = Object.freeze({ afterMs: 5_000, minGrowthBytes: 16 * 1024 * 1024 });

/** `TOLLGATE_IDLE_GC_MS` (whole milliseconds, 0 disables) overrides how long the process must be idle. */
export function idleCollectionFromEnv(env: Readonly<Record<string, string | undefined>>): Partial<IdleCollectionOptions> {
  const v = env['TOLLGATE_IDLE_GC_MS'];
  if (v === undefined || v === '') return {};
  if (!/^\d+$/.test(v) || Number(v) > 2 ** 31) throw new Error(`TOLLGATE_IDLE_GC_MS="${v.slice(0, 40)}" is not a whole number of milliseconds (0 disables)`);
  return { afterMs: Number(v) };
}

let collect: (() => void) | null | undefined;

/** V8's full collection, or null where the runtime refuses to expose it. */
export function fullCollection(): (() => void) | null {
  if (collect !== undefined) return collect;
  try {
    const exposed = (globalThis as { gc?: unknown }).gc;
    if (typeof exposed === 'function') collect = exposed as () => void;
    else {
      v8.setFlagsFromString('--expose-gc');
      const fn: unknown = vm.runInNewContext('gc');
      collect = typeof fn === 'function' ? (fn as () => void) : null;
    }
  } catch {
    collect = null;
  }
  return collect;
}

/** How busy the process is, as the collector sees it. */
export interface Activity {
  /** Requests being served now. */
  readonly inflight: () => number;
  /** Requests started so far (only ever grows): traffic between two checks is noticed too. */
  readonly started: () => number;
}

const CHECK_MS = 1_000;

export class IdleCollector {
  private readonly timer: NodeJS.Timeout | undefined;
  /** Reserved heap plus external memory after the last collection (or at start). */
  private baseline = footprint();
  private lastStarted: number;
  /** Requests started since the last look at the heap. */
  private trafficSinceCheck = false;
  /** A collection ran after traffic; one more follows after another quiet period. */
  private followUp = false;
  private idleSince: number | undefined;

  constructor(
    private readonly opts: IdleCollectionOptions,
    private readonly activity: Activity,
    /** Counts each collection (a metric). */
    private readonly onCollected: () => void,
    private readonly logger: Logger,
  ) {
    this.lastStarted = activity.started();
    const gc = fullCollection();
    if (opts.afterMs <= 0 || gc === null) return;
    this.timer = setInterval(() => this.check(gc), Math.min(CHECK_MS, opts.afterMs));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private check(gc: () => void): void {
    const started = this.activity.started();
    if (started !== this.lastStarted) {
      this.lastStarted = started;
      this.trafficSinceCheck = true;
      this.followUp = false;
      this.idleSince = undefined;
      return;
    }
    if (this.activity.inflight() > 0) {
      this.idleSince = undefined;
      return;
    }
    if (!this.trafficSinceCheck && !this.followUp) return;
    const now = Date.now();
    this.idleSince ??= now;
    if (now - this.idleSince < this.opts.afterMs) return;
    const before = footprint();
    if (this.followUp) {
      this.followUp = false;
    } else {
      // One look per quiet spell: the next needs traffic first, so an idle process is left alone.
      this.trafficSinceCheck = false;
      // Growth is measured from the last collection, so a trickle of requests adds up to one in time.
      if (this.opts.minGrowthBytes > 0 && before - this.baseline < this.opts.minGrowthBytes) return;
      // V8 sizes its young generation by the allocation rate it saw last: right after a burst (the
      // burst's accounting still allocating) it keeps the burst's size. One more collection after
      // another quiet period, when the rate it sees is low, gives that back too.
      this.followUp = true;
    }
    this.idleSince = now;
    const t0 = performance.now();
    gc();
    this.baseline = footprint();
    this.onCollected();
    this.logger.debug('idle: collected garbage', {
      beforeMb: Math.round(before / 1048576),
      afterMb: Math.round(this.baseline / 1048576),
      ms: Math.round(performance.now() - t0),
    });
  }
}

function footprint(): number {
  const h = v8.getHeapStatistics();
  return h.total_heap_size + h.external_memory;
}
