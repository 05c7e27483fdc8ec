// An open-loop HTTP/1.1 load generator on raw sockets: requests are sent on a fixed schedule (one
// every 1/rate seconds), whatever the server's speed, over a pool of kept-alive connections that
// grows when every connection is busy. Below saturation, the server does the same work per second
// however it is built, so CPU per request compares two builds of it without the closed loop's
// feedback (a faster build gets more requests, and more requests per event-loop turn).
import net from 'node:net';
import hdr from 'hdr-histogram-js';
import { complete } from './loadgen.js';

export interface FixedRateOptions {
  readonly port: number;
  readonly request: Buffer;
  /** Requests per second. */
  readonly rate: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** The pool never grows past this; later requests wait for a free connection (and count as late). */
  readonly maxConnections?: number;
  /** Called as the measured window opens and closes (e.g. to read CPU time over exactly that window). */
  readonly onMeasure?: (phase: 'start' | 'end') => void;
}

export interface FixedRateResult {
  readonly requests: number;
  readonly errors: number;
  readonly seconds: number;
  /**
   * Share of measured requests sent more than LATE_MS after their scheduled time: the gateway was
   * saturated (no connection free) or this process ran late.
   */
  readonly lateShare: number;
  /** Microseconds from the scheduled send to the response's end (so a late send counts in full). */
  readonly latency: { p50: number; p99: number };
}

const HEADER_END = Buffer.from('\r\n\r\n');
/** Above a busy machine's timer jitter, below what a saturated server's queue adds. */
const LATE_MS = 10;

interface Conn {
  readonly socket: net.Socket;
  buf: Buffer | null;
  /** The scheduled time of the request in flight (performance.now()), or undefined when idle. */
  due: number | undefined;
  measured: boolean;
}

export async function runFixedRate(opts: FixedRateOptions): Promise<FixedRateResult> {
  const latency = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  const max = opts.maxConnections ?? 512;
  const idle: Conn[] = [];
  const all = new Set<Conn>();
  const backlog: Array<{ due: number; measured: boolean }> = [];
  let requests = 0;
  let errors = 0;
  let late = 0;
  let sent = 0;
  let measuredSent = 0;
  const t0 = performance.now();
  const measureFrom = t0 + opts.warmupMs;
  const end = measureFrom + opts.durationMs;

  const send = (c: Conn, due: number, measured: boolean): void => {
    c.due = due;
    c.measured = measured;
    c.buf = null;
    if (measured) {
      measuredSent++;
      if (performance.now() - due > LATE_MS) late++;
    }
    c.socket.write(opts.request);
  };
  const next = (c: Conn): void => {
    const job = backlog.shift();
    if (job === undefined) idle.push(c);
    else send(c, job.due, job.measured);
  };
  const open = (): Conn => {
    const socket = net.connect(opts.port, '127.0.0.1');
    socket.setNoDelay(true);
    const c: Conn = { socket, buf: null, due: undefined, measured: false };
    all.add(c);
    socket.on('data', (d: Buffer) => {
      c.buf = c.buf === null ? d : Buffer.concat([c.buf, d]);
      const headEnd = c.buf.indexOf(HEADER_END);
      if (headEnd === -1 || !complete(c.buf, headEnd, headEnd + 4)) return;
      if (c.measured) {
        if (c.buf[9] === 0x32) {
          requests++;
          latency.recordValue(Math.max(1, Math.round((performance.now() - (c.due ?? 0)) * 1000)));
        } else errors++;
      }
      c.due = undefined;
      next(c);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      all.delete(c);
      const i = idle.indexOf(c);
      if (i >= 0) idle.splice(i, 1);
      if (c.due !== undefined && c.measured) errors++;
    });
    return c;
  };

  let measuring = false;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      if (!measuring && now >= measureFrom) {
        measuring = true;
        opts.onMeasure?.('start');
      }
      const stopAt = Math.min(now, end);
      // Every request whose time has come, each with its own scheduled time.
      while (t0 + (sent * 1000) / opts.rate <= stopAt) {
        const due = t0 + (sent * 1000) / opts.rate;
        sent++;
        const measured = due >= measureFrom;
        const c = idle.pop();
        if (c !== undefined) send(c, due, measured);
        else if (all.size < max) {
          const fresh = open();
          fresh.socket.once('connect', () => send(fresh, due, measured));
        } else backlog.push({ due, measured });
      }
      if (now >= end) {
        clearInterval(timer);
        opts.onMeasure?.('end');
        resolve();
      }
    };
    const timer = setInterval(tick, 1);
  });
  const seconds = opts.durationMs / 1000;
  // Answers still on their way are not counted; the connections close.
  for (const c of all) c.socket.destroy();
  const result: FixedRateResult = {
    requests,
    errors,
    seconds,
    lateShare: measuredSent === 0 ? 0 : late / measuredSent,
    latency: { p50: latency.getValueAtPercentile(50), p99: latency.getValueAtPercentile(99) },
  };
  latency.destroy();
  return result;
}
