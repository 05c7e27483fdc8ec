// A closed-loop HTTP/1.1 load generator on raw sockets: each connection sends a pre-serialized
// request, reads the response to its end, and sends the next. Parsing is the minimum needed to find
// the end of a response, so the generator costs far less CPU per request than the proxies it measures.
import net from 'node:net';
import hdr from 'hdr-histogram-js';

export interface LoadResult {
  readonly requests: number;
  readonly errors: number;
  readonly seconds: number;
  /** Microseconds. */
  readonly latency: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** Microseconds from request sent to the first body byte. */
  readonly firstByte: { p50: number; p99: number };
}

export interface LoadOptions {
  readonly port: number;
  readonly host?: string;
  readonly request: Buffer;
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Called as the measured window opens and closes (e.g. to read CPU time over exactly that window). */
  readonly onMeasure?: (phase: 'start' | 'end') => void;
}

const HEADER_END = Buffer.from('\r\n\r\n');
const CHUNKED_END = Buffer.from('\r\n0\r\n\r\n');

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const latency = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  const firstByte = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  let measuring = false;
  let stopping = false;
  let requests = 0;
  let errors = 0;
  const conns: Promise<void>[] = [];
  for (let i = 0; i < opts.concurrency; i++) {
    conns.push(
      connection(opts, (lat, fb, ok) => {
        if (!measuring) return;
        if (!ok) {
          errors++;
          return;
        }
        requests++;
        latency.recordValue(Math.max(1, Math.round(lat)));
        firstByte.recordValue(Math.max(1, Math.round(fb)));
      }, () => stopping),
    );
  }
  await new Promise((r) => setTimeout(r, opts.warmupMs));
  measuring = true;
  opts.onMeasure?.('start');
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, opts.durationMs));
  measuring = false;
  opts.onMeasure?.('end');
  const seconds = (performance.now() - t0) / 1000;
  stopping = true;
  await Promise.all(conns);
  const result: LoadResult = {
    requests,
    errors,
    seconds,
    latency: {
      p50: latency.getValueAtPercentile(50),
      p90: latency.getValueAtPercentile(90),
      p99: latency.getValueAtPercentile(99),
      max: latency.maxValue,
      mean: latency.mean,
    },
    firstByte: { p50: firstByte.getValueAtPercentile(50), p99: firstByte.getValueAtPercentile(99) },
  };
  latency.destroy();
  firstByte.destroy();
  return result;
}

/**
 * One closed-loop client connection for the whole run. A server that closes a keep-alive connection
 * (nginx does after keepalive_requests) gets a new one; a request cut by the close is an error.
 */
async function connection(opts: LoadOptions, record: (latUs: number, firstByteUs: number, ok: boolean) => void, stop: () => boolean): Promise<void> {
  while (!stop()) {
    const { cut, answered } = await oneSocket(opts, record, stop);
    if (cut) record(0, 0, false);
    // Refused or closed before any answer: count it and back off instead of spinning.
    if (answered === 0 && !stop()) await new Promise((r) => setTimeout(r, 10));
  }
}

/** Resolves when the socket closes: whether a request was in flight then, and how many were answered. */
function oneSocket(opts: LoadOptions, record: (latUs: number, firstByteUs: number, ok: boolean) => void, stop: () => boolean): Promise<{ cut: boolean; answered: number }> {
  return new Promise((resolve) => {
    let inFlight = false;
    let answered = 0;
    const socket = net.connect(opts.port, opts.host ?? '127.0.0.1');
    socket.setNoDelay(true);
    let buf: Buffer | null = null;
    let sentAt = 0;
    let firstAt = 0;
    const send = (): void => {
      if (stop()) {
        socket.end();
        return;
      }
      buf = null;
      firstAt = 0;
      sentAt = performance.now();
      inFlight = true;
      socket.write(opts.request);
    };
    socket.on('connect', send);
    socket.on('data', (d: Buffer) => {
      buf = buf === null ? d : Buffer.concat([buf, d]);
      const headEnd = buf.indexOf(HEADER_END);
      if (headEnd === -1) return;
      const bodyStart = headEnd + 4;
      if (firstAt === 0 && buf.length > bodyStart) firstAt = performance.now();
      if (!complete(buf, headEnd, bodyStart)) return;
      const now = performance.now();
      const ok = buf[9] === 0x32; // "HTTP/1.1 2xx"
      inFlight = false;
      answered++;
      record((now - sentAt) * 1000, ((firstAt || now) - sentAt) * 1000, ok);
      send();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ cut: inFlight, answered }));
  });
}

/** Whether `buf` holds a whole HTTP/1.1 response (content-length or chunked), head ending at `headEnd`. */
export function complete(buf: Buffer, headEnd: number, bodyStart: number): boolean {
  const head = buf.toString('latin1', 0, headEnd).toLowerCase();
  const cl = /\r\ncontent-length: *(\d+)/.exec(head);
  if (cl !== null) return buf.length - bodyStart >= Number(cl[1]);
  if (head.includes('transfer-encoding: chunked')) return buf.length >= bodyStart + 5 && buf.subarray(buf.length - CHUNKED_END.length).equals(CHUNKED_END);
  return false;
}
