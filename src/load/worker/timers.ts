// One Node timer per worker, armed for the earliest of many scheduled events (a binary heap), so
// thousands of users thinking at once cost one timer, not thousands. Events carry the absolute
// time they were due; how late each fires is the harness's schedule lag (coordinated omission:
// a late send is load the system was supposed to get and did not).

export interface TimerEvent {
  readonly due: number;
  readonly seq: number;
  cancelled: boolean;
  readonly fire: (lagMs: number) => void;
}

/** Events due within this many ms of now fire now: Node's timers have 1 ms granularity. */
const EARLY_MS = 0.5;
/**
 * Longest stretch of firing events before yielding to I/O. A harness that has fallen behind must
 * not fire overdue events forever: responses would never be read, and every late send would open
 * a new connection. Yielding lets it catch up, and what stays late is reported as lag.
 */
const SLICE_MS = 4;

export class TimerHeap {
  private heap: TimerEvent[] = [];
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Number.POSITIVE_INFINITY;
  private stopped = false;
  private running = false;

  constructor(private readonly now: () => number = () => performance.now()) {}

  get size(): number {
    return this.heap.length;
  }

  /** Schedules `fire` at `due` (monotonic ms); it receives how late it ran. */
  at(due: number, fire: (lagMs: number) => void): TimerEvent {
    const ev: TimerEvent = { due, seq: this.seq++, cancelled: false, fire };
    this.push(ev);
    if (!this.running && due < this.armedFor) this.arm();
    return ev;
  }

  cancel(ev: TimerEvent | undefined): void {
    if (ev !== undefined) ev.cancelled = true;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.heap = [];
  }

  private arm(): void {
    if (this.stopped) return;
    while (this.heap.length > 0 && (this.heap[0] as TimerEvent).cancelled) this.pop();
    const head = this.heap[0];
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    if (head === undefined) return;
    this.armedFor = head.due;
    const delay = Math.max(0, head.due - this.now() - EARLY_MS);
    this.timer = setTimeout(() => this.run(), Math.floor(delay));
  }

  private run(): void {
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    this.running = true;
    let now = this.now();
    const sliceEnd = now + SLICE_MS;
    let yielded = false;
    for (let n = 0; this.heap.length > 0 && !this.stopped; n++) {
      const head = this.heap[0] as TimerEvent;
      if (head.cancelled) {
        this.pop();
        continue;
      }
      if (head.due > now + EARLY_MS) {
        // Re-read the clock every so often: firing many events takes time.
        now = this.now();
        if (head.due > now + EARLY_MS) break;
      }
      this.pop();
      try {
        head.fire(Math.max(0, now - head.due));
      } catch (err) {
        // One broken event must not stop every other user's schedule.
        queueMicrotask(() => {
          throw err;
        });
      }
      if ((n & 15) === 15) {
        now = this.now();
        if (now > sliceEnd) {
          yielded = true;
          break;
        }
      }
    }
    this.running = false;
    if (yielded && !this.stopped) {
      // Let I/O run, then carry on with what is overdue.
      this.armedFor = Number.NEGATIVE_INFINITY;
      setImmediate(() => {
        if (!this.stopped) this.run();
      });
      return;
    }
    this.arm();
  }

  private push(ev: TimerEvent): void {
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(ev, h[p] as TimerEvent)) break;
      h[i] = h[p] as TimerEvent;
      i = p;
    }
    h[i] = ev;
  }

  private pop(): TimerEvent | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length === 0 || last === undefined) return top;
    let i = 0;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && less(h[r] as TimerEvent, h[l] as TimerEvent) ? r : l;
      if (!less(h[c] as TimerEvent, last)) break;
      h[i] = h[c] as TimerEvent;
      i = c;
    }
    h[i] = last;
    return top;
  }
}

function less(a: TimerEvent, b: TimerEvent): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}
