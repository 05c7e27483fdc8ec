// Callbacks run together right after the current pass over the event loop's ready I/O: one
// setImmediate for all that were added during the pass, so nothing waits for more I/O. The gateway
// ends the responses that finish in one pass this way: their last writes to the clients go out one
// after the other, after the pass has read everything that was ready.

export class EndOfPass {
  private waiting: (() => void)[] = [];

  /** `onError` hears of a callback that threw; the others still run. */
  constructor(private readonly onError: (err: Error) => void) {}

  add(done: () => void): void {
    if (this.waiting.push(done) === 1) setImmediate(this.run);
  }

  private readonly run = (): void => {
    const waiting = this.waiting;
    this.waiting = [];
    for (const done of waiting) {
      try {
        done();
      } catch (err) {
        this.onError(err as Error);
      }
    }
  };
}
