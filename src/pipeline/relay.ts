// The client side of a proxied 2xx: upstream chunks are translated into the client's API, the
// backend's credential is masked if the body echoes it, and the bytes are written as they arrive.
// When the client cannot keep up the caller pauses the upstream, and a client whose buffer stays
// full for the listener's write timeout is reported so it can be cut off: a reader that never reads
// must not hold a socket, an upstream connection and a paused generation forever. It is separate
// from ProxyRequest because none of this depends on which attempt or backend produced the bytes;
// ProxyRequest decides when a relay starts and how a request ends, this file only moves bytes.
import type { OutgoingHttpHeaders } from 'node:http';
import { nowMs } from '../core/clock.js';
import type { StreamRedactor } from '../credentials/redact-stream.js';
import type { ResponseTranslator } from '../providers/types.js';
import type { Res } from './http.js';

export class ResponseRelay {
  private translatorInUse: ResponseTranslator | undefined;
  /** Masks the backend's credential in a 2xx body that echoes it; undefined when there is no credential. */
  private redactor: StreamRedactor | undefined;
  private heldHead: { status: number; headers: OutgoingHttpHeaders } | undefined;
  /** Armed while the client's write buffer is full; cleared when it drains. */
  private writeTimer: NodeJS.Timeout | undefined;
  /** A 'drain' listener is registered only once the client's buffer first fills (most responses never do). */
  private drainListening = false;
  private ttfb: number | undefined;
  private bytes = 0;

  /**
   * `onDrain` runs when the client's buffer has room again after a write found it full;
   * `onWriteTimeout` when it stayed full too long (the socket is destroyed after it).
   */
  constructor(
    private readonly res: Res,
    private readonly startMs: number,
    private readonly writeTimeoutMs: number,
    private readonly onDrain: () => void,
    private readonly onWriteTimeout: () => void,
  ) {}

  /** The translator of the 2xx being relayed, once one has started. */
  get translator(): ResponseTranslator | undefined {
    return this.translatorInUse;
  }

  get ttfbMs(): number | undefined {
    return this.ttfb;
  }

  get responseBytes(): number {
    return this.bytes;
  }

  /** Starts a 2xx: the head goes out now, or waits until a held (non-streamed) body has been checked. */
  begin(status: number, headers: OutgoingHttpHeaders, translator: ResponseTranslator, redactor: StreamRedactor | undefined): void {
    this.translatorInUse = translator;
    this.redactor = redactor;
    if (translator.buffered === true) this.heldHead = { status, headers };
    else this.res.writeHead(status, headers);
  }

  /**
   * Translates, masks and writes one upstream chunk; returns false when the client's buffer is full
   * (the caller pauses the upstream). Throws UpstreamBodyError when the upstream body is malformed.
   */
  push(chunk: Buffer): boolean {
    let out = (this.translatorInUse as ResponseTranslator).push(chunk);
    if (out !== null && out.length > 0 && this.redactor !== undefined) out = this.redactor.push(out);
    let room = true;
    if (out !== null && out.length > 0) {
      this.countWrite(out);
      room = this.res.write(out);
      if (!room) this.awaitDrain();
    }
    return room;
  }

  /**
   * Ends the translated body: sends a held head and returns the last bytes (already counted) for
   * `close`. Throws UpstreamBodyError when the upstream body was cut short or malformed.
   */
  endBody(): Buffer | null {
    let tail = (this.translatorInUse as ResponseTranslator).end();
    if (this.redactor !== undefined) {
      const masked = this.redactor.push(tail ?? Buffer.alloc(0));
      const rest = this.redactor.end();
      tail = rest === null ? masked : Buffer.concat([masked, rest]);
    }
    const held = this.heldHead;
    if (held !== undefined) {
      this.heldHead = undefined;
      held.headers['content-length'] = tail?.length ?? 0;
      this.res.writeHead(held.status, held.headers);
    }
    if (tail !== null && tail.length > 0) this.countWrite(tail);
    return tail;
  }

  /**
   * Keeps what was written but not yet sent for `close`, so that it leaves with the last bytes in
   * one write when those must wait (for the ledger line): Node sends a turn's writes at the end of
   * the turn, which would split the response's last read from its end.
   */
  hold(): void {
    this.res.cork?.();
  }

  /** Sends the last bytes from `endBody` (and anything `hold` kept: end() sends all). */
  close(tail: Buffer | null): void {
    if (tail !== null && tail.length > 0) this.res.end(tail);
    else this.res.end();
    // The last bytes may still wait for a client that stopped reading.
    if (this.res.writableNeedDrain === true) this.awaitDrain();
  }

  /** True when the client has been sent nothing yet (a held head is dropped): an error can still be a plain response. */
  discardUnsent(): boolean {
    if (this.heldHead !== undefined || !this.res.headersSent) {
      this.heldHead = undefined;
      return true;
    }
    return false;
  }

  clearWriteTimer(): void {
    if (this.writeTimer === undefined) return;
    clearTimeout(this.writeTimer);
    this.writeTimer = undefined;
  }

  /** The client's buffer is full: wait for it to drain, for at most the write timeout. */
  private awaitDrain(): void {
    if (!this.drainListening) {
      this.drainListening = true;
      this.res.on('drain', () => {
        this.clearWriteTimer();
        this.onDrain();
      });
    }
    this.armWriteTimer();
  }

  private armWriteTimer(): void {
    const ms = this.writeTimeoutMs;
    if (ms <= 0 || this.writeTimer !== undefined) return;
    this.writeTimer = setTimeout(() => {
      this.writeTimer = undefined;
      this.onWriteTimeout();
      this.res.destroy();
    }, ms);
  }

  private countWrite(chunk: Buffer): void {
    if (this.ttfb === undefined) this.ttfb = nowMs() - this.startMs;
    this.bytes += chunk.length;
  }
}
