// Timed callbacks in simulated time: a binary min-heap ordered by time, then by insertion, so two
// events at one instant run in the order they were scheduled (the runs stay deterministic).

interface TimedEvent {
  readonly t: number;
  readonly seq: number;
  readonly fn: () => void;
}

export class EventQueue {
  private readonly heap: TimedEvent[] = [];
  private counter = 0;

  /** Time of the earliest event (Infinity when none is left). */
  get nextAt(): number {
    return this.heap[0]?.t ?? Infinity;
  }

  push(t: number, fn: () => void): void {
    const ev: TimedEvent = { t, seq: this.counter++, fn };
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (before(h[p] as TimedEvent, ev)) break;
      h[i] = h[p] as TimedEvent;
      i = p;
    }
    h[i] = ev;
  }

  /** Removes the earliest event and returns its callback (the caller runs it). */
  pop(): () => void {
    const h = this.heap;
    const top = h[0];
    if (top === undefined) throw new Error('EventQueue.pop on an empty queue');
    const last = h.pop() as TimedEvent;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        let mv = last;
        if (l < h.length && before(h[l] as TimedEvent, mv)) {
          m = l;
          mv = h[l] as TimedEvent;
        }
        if (r < h.length && before(h[r] as TimedEvent, mv)) {
          m = r;
          mv = h[r] as TimedEvent;
        }
        if (m === i) break;
        h[i] = mv;
        i = m;
      }
      h[i] = last;
    }
    return top.fn;
  }
}

function before(a: TimedEvent, b: TimedEvent): boolean {
  return a.t < b.t || (a.t === b.t && a.seq < b.seq);
}
