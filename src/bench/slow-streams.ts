// `bench overhead --slow-streams N`: N long-lived streams (one chunk a second, like a slow model
// generating) held open at once through one gateway worker. Streams are opened at a steady rate,
// so the later ones measure how fast a gateway already relaying thousands of streams answers a new
// one. Reported per target: the first-chunk delay (p50, p99) against the same streams opened
// directly at the upstream, and the gateway's RSS and heap growth per open stream.
import net from 'node:net';
import hdr from 'hdr-histogram-js';

export interface SlowStreamsOptions {
  readonly port: number;
  readonly streams: number;
  /** New streams per second. */
  readonly openRate: number;
  readonly request: Buffer;
}

export interface SlowStreamsResult {
  readonly opened: number;
  readonly failed: number;
  /** Why streams failed: an HTTP status ("429"), "closed" before the first chunk, or a socket error code. */
  readonly failures: Record<string, number>;
  /** Microseconds from request sent to the first body byte. */
  readonly firstChunk: { p50: number; p99: number; max: number };
}

const HEADER_END = Buffer.from('\r\n\r\n');

/**
 * Opens the streams at `openRate` per second and resolves, with the first-chunk delays, once every
 * stream has its first chunk (or failed); `hold` then keeps them open until `release()` closes them.
 */
export async function openSlowStreams(opts: SlowStreamsOptions): Promise<{ result: SlowStreamsResult; release: () => Promise<void> }> {
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
  const sockets: net.Socket[] = [];
  let failed = 0;
  const failures: Record<string, number> = {};
  const firsts: Array<Promise<void>> = [];
  const t0 = performance.now();
  for (let i = 0; i < opts.streams; i++) {
    const due = t0 + (i * 1000) / opts.openRate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    firsts.push(
      new Promise<void>((resolve) => {
        const s = net.connect(opts.port, '127.0.0.1');
        sockets.push(s);
        let sentAt = 0;
        let head: Buffer | null = null;
        let done = false;
        const finish = (failure?: string): void => {
          if (done) return;
          done = true;
          if (failure !== undefined) {
            failed++;
            failures[failure] = (failures[failure] ?? 0) + 1;
          }
          resolve();
        };
        s.on('connect', () => {
          sentAt = performance.now();
          s.write(opts.request);
        });
        s.on('data', (d: Buffer) => {
          if (done) return;
          head = head === null ? d : Buffer.concat([head, d]);
          const end = head.indexOf(HEADER_END);
          if (end === -1 || head.length <= end + 4) return;
          if (head[9] !== 0x32) return finish(head.toString('latin1', 9, 12));
          h.recordValue(Math.max(1, Math.round((performance.now() - sentAt) * 1000)));
          head = null;
          finish();
        });
        s.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? 'error'));
        s.on('close', () => finish('closed'));
      }),
    );
  }
  await Promise.all(firsts);
  const result: SlowStreamsResult = {
    opened: opts.streams - failed,
    failed,
    failures,
    firstChunk: { p50: h.getValueAtPercentile(50), p99: h.getValueAtPercentile(99), max: h.maxValue },
  };
  h.destroy();
  const release = async (): Promise<void> => {
    await Promise.all(
      sockets.map(
        (s) =>
          new Promise<void>((r) => {
            if (s.destroyed) return r();
            s.once('close', () => r());
            s.destroy();
          }),
      ),
    );
  };
  return { result, release };
}

/** Resident set size of a process, bytes (from /proc). */
export async function rssBytes(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m === null ? 0 : Number(m[1]) * 1024;
}
