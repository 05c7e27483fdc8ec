// The request bodies still arriving, for the listener's once-a-second body deadline sweep.
//
// An intrusive doubly linked list, not a Set: every request passes through here, and a long-lived
// V8 Set or Map that young objects are added to and deleted from a moment later can make the
// scavenger keep them. Measured on Node 20 (a Set in old space, each entry deleted one event-loop
// turn after it was added): in some runs every entry, and all it referenced, survived the young
// generation and was promoted, leaving it to the full collections (hundreds of MB promoted where a
// list or an array promoted a few KB). In the gateway that was the whole request (its
// IncomingMessage, ServerResponse and the pipeline's state behind them): about 8 KiB promoted per
// request, and garbage collection at ~10× a bare relay's cost per request. A list keeps no table:
// an unlinked watch is referenced by nothing.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';

export class BodyWatch {
  prev: BodyWatch | undefined;
  next: BodyWatch | undefined;
  /** Still in the list (unlinking twice is harmless). */
  linked = false;
  last: number;
  lastAt: number;

  constructor(
    readonly req: IncomingMessage | Http2ServerRequest,
    readonly res: ServerResponse | Http2ServerResponse,
    readonly progress: () => number,
    readonly requestId: string,
    readonly deadline: number,
    now: number,
  ) {
    this.last = progress();
    this.lastAt = now;
  }
}

export class BodyWatchList {
  private head: BodyWatch | undefined;

  add(w: BodyWatch): void {
    w.next = this.head;
    if (this.head !== undefined) this.head.prev = w;
    this.head = w;
    w.linked = true;
  }

  delete(w: BodyWatch): void {
    if (!w.linked) return;
    w.linked = false;
    if (w.prev !== undefined) w.prev.next = w.next;
    else this.head = w.next;
    if (w.next !== undefined) w.next.prev = w.prev;
    w.prev = undefined;
    w.next = undefined;
  }

  /** Calls `visit` on every watch; `visit` may delete the watch it is given. */
  forEach(visit: (w: BodyWatch) => void): void {
    let w = this.head;
    while (w !== undefined) {
      const next = w.next;
      visit(w);
      w = next;
    }
  }
}
