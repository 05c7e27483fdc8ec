// The embedded usage ledger: append-only JSON-lines files in a directory, rotated by size and day.
//
// Guarantee. Each record is handed to the operating system with write(2) before the response it
// bills has its last bytes, so a response a client received whole is in the ledger; from then on
// the record survives any death of the process (kill -9, OOM kill, a crash): the kernel holds it.
// By default a record is written by its own write(2) before appendRecord returns. With
// `groupWrites` (the gateway's setting), the records of the requests that finish in one pass over
// the event loop's ready I/O are written together, with one write(2), right after that pass (a
// setImmediate: no wait for more I/O in between), and a response whose record must precede its
// last bytes waits for that write (`whenWritten`). Under load several requests end in one pass,
// and one write(2) for all of them costs about what one costs for each.
//
// fdatasync runs every `fsyncIntervalMs` (default 100 ms) when something was written, so an
// operating-system crash or power cut loses at most that window; `fsyncIntervalMs: 0` syncs after
// every write (durable against power loss, much slower). A new file is started on every open, so a
// file torn by a crash is never appended to; readers skip a torn last line and say so.
//
// A failed write (disk full, I/O error) keeps the lines in memory (up to `maxBacklogLines`) and
// retries on the next write and on every sync tick, so a transient ENOSPC loses nothing. A write
// the disk cut short keeps only the part it refused, so a line is completed, never repeated.
import { closeSync, fdatasync, fdatasyncSync, fsyncSync, mkdirSync, openSync, writeSync, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import { writeLedgerLine, type UsageRecord } from '../record.js';
import { JsonLine } from './json-line.js';

export interface LedgerOptions {
  /** Rotate when a file reaches this many bytes (default 64 MiB). */
  readonly maxFileBytes?: number;
  /** fdatasync period; 0 = after every record (default 100). */
  readonly fsyncIntervalMs?: number;
  /** Lines kept in memory while the disk refuses writes (default 100,000). */
  readonly maxBacklogLines?: number;
  /**
   * Write the lines appended in one pass over the event loop's ready I/O together, right after it
   * (see the guarantee above; the gateway's setting). Off (the default): each line is written as it
   * is appended, before appendRecord returns.
   */
  readonly groupWrites?: boolean;
  /** Called with write/sync failures (rate-limited by the caller if it logs). */
  readonly onError?: (err: Error, what: string) => void;
  /** For tests: a clock for day rotation. */
  readonly now?: () => number;
}

export interface LedgerStats {
  readonly dir: string;
  readonly file: string;
  readonly records: number;
  readonly bytes: number;
  readonly files: number;
  readonly syncs: number;
  readonly writeErrors: number;
  readonly backlog: number;
  readonly dropped: number;
}

/** The grouped lines' buffer: its size to start with, and the most it keeps between passes. */
const INITIAL_PENDING = 64 * 1024;
const MAX_KEPT_PENDING = 1024 * 1024;

export const LEDGER_FILE_PATTERN = /^usage-\d{8}T\d{6}Z-\d+-\d{4}\.jsonl$/;

export class LedgerWriter {
  private fd = -1;
  private file = '';
  private fileBytes = 0;
  /** Start of the current file's UTC day (ms): a record on another day starts a new file. */
  private dayStart = 0;
  private seq = 0;
  private dirty = false;
  private syncing = false;
  private timer: NodeJS.Timeout | undefined;
  private backlog: Buffer[] = [];
  /** Lines (newlines) in the backlog: a kept write may hold several. */
  private backlogLines = 0;
  private readonly line = new JsonLine();
  /** Lines waiting for this pass's write, in order; reused from one write to the next. */
  private pending = Buffer.allocUnsafe(INITIAL_PENDING);
  private pendingBytes = 0;
  private flushScheduled = false;
  /** Run once the pending lines were handed to the operating system (or kept, when it refused them). */
  private waiters: Array<() => void> = [];
  private readonly flushNow = (): void => this.flush();
  private closed = false;
  private readonly maxFileBytes: number;
  private readonly fsyncIntervalMs: number;
  private readonly maxBacklog: number;
  private readonly now: () => number;
  private readonly counters = { records: 0, bytes: 0, files: 0, syncs: 0, writeErrors: 0, dropped: 0 };

  private constructor(
    readonly dir: string,
    private readonly opts: LedgerOptions,
  ) {
    this.maxFileBytes = opts.maxFileBytes ?? 64 * 1024 * 1024;
    this.fsyncIntervalMs = opts.fsyncIntervalMs ?? 100;
    this.maxBacklog = opts.maxBacklogLines ?? 100_000;
    this.now = opts.now ?? Date.now;
  }

  /** Creates the directory if needed and starts a new file. Throws (with the OS reason) when it cannot. */
  static open(dir: string, opts: LedgerOptions = {}): LedgerWriter {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    const w = new LedgerWriter(dir, opts);
    w.rotate();
    return w;
  }

  /** Appends a usage record's line (written with this pass's others). Never throws. */
  appendRecord(r: UsageRecord, final = r.final): void {
    if (this.closed) return;
    // Written straight into one buffer reused for every line: a record allocates next to nothing here.
    const length = writeLedgerLine(this.line, r, final);
    this.enqueue(this.line.bytes, length);
  }

  /** Appends one line (JSON text without its newline). Never throws. */
  append(line: string): void {
    if (this.closed) return;
    const buf = Buffer.from(`${line}\n`);
    this.enqueue(buf, buf.length);
  }

  /**
   * Runs `done` once every line appended so far was handed to the operating system (or kept in
   * memory because the disk refused it): at once when none is waiting.
   */
  whenWritten(done: () => void): void {
    if (this.pendingBytes === 0) done();
    else this.waiters.push(done);
  }

  /** Adds a line to this pass's write; the first one schedules it. */
  private enqueue(buf: Buffer, length: number): void {
    if (this.opts.groupWrites !== true) {
      this.put(buf, length);
      return;
    }
    if (this.pendingBytes + length > this.pending.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.pending.length * 2, this.pendingBytes + length));
      this.pending.copy(grown, 0, 0, this.pendingBytes);
      this.pending = grown;
    }
    buf.copy(this.pending, this.pendingBytes, 0, length);
    this.pendingBytes += length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushNow);
    }
  }

  /** Writes the pending lines with one write(2), then lets the responses that waited for them end. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.pendingBytes > 0) {
      const length = this.pendingBytes;
      this.pendingBytes = 0;
      this.put(this.pending, length);
    }
    // One large pass (a burst, a huge line) does not keep its buffer for good.
    if (this.pending.length > MAX_KEPT_PENDING) this.pending = Buffer.allocUnsafe(INITIAL_PENDING);
    const waiters = this.waiters;
    if (waiters.length === 0) return;
    this.waiters = [];
    for (const w of waiters) {
      // Each ends a response: one that throws must not leave the others waiting, nor the process.
      try {
        w();
      } catch (err) {
        this.opts.onError?.(err as Error, 'callback');
      }
    }
  }

  /** Writes the first `length` bytes of `buf`, or keeps a copy of what the disk refused. */
  private put(buf: Buffer, length: number): void {
    if (this.backlog.length > 0 && !this.flushBacklog()) {
      this.keep(buf.subarray(0, length), false);
      return;
    }
    if (this.fileBytes >= this.maxFileBytes || this.dayStart !== dayStartOf(this.now())) this.tryRotate();
    const written = this.writeLine(buf, length);
    if (written < length) this.keep(buf.subarray(written, length), written > 0);
  }

  stats(): LedgerStats {
    return { dir: this.dir, file: this.file, backlog: this.backlogLines, ...this.counters };
  }

  /** Syncs and closes. Lines still refused by the disk are reported through onError. */
  close(): void {
    if (this.closed) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.flush();
    this.flushBacklog();
    this.closed = true;
    if (this.backlogLines > 0) this.opts.onError?.(new Error(`${this.backlogLines} usage records could not be written`), 'close');
    try {
      fdatasyncSync(this.fd);
    } catch (err) {
      this.opts.onError?.(err as Error, 'sync');
    }
    try {
      closeSync(this.fd);
    } catch {
      // already unusable; nothing left to lose
    }
  }

  /**
   * Writes the first `length` bytes of `line`; returns how many reached the file. A full disk can
   * take the start of a line and refuse the rest: the rest is then what must follow in this file.
   */
  private writeLine(line: Buffer, length: number): number {
    let off = 0;
    try {
      while (off < length) off += writeSync(this.fd, line, off, length - off);
    } catch (err) {
      this.counters.writeErrors++;
      this.opts.onError?.(err as Error, 'write');
    }
    this.fileBytes += off;
    this.counters.bytes += off;
    // A line is written once its newline is (JSON lines hold no other): one write may complete several.
    this.counters.records += linesIn(line, off);
    if (off > 0) this.markDirty();
    return off;
  }

  /**
   * Keeps bytes the disk refused, in order. The rest of a line cut short is kept even over the
   * backlog limit: the file already holds its start, and without it the next line would be glued on.
   */
  private keep(bytes: Buffer, cut: boolean): void {
    const lines = linesIn(bytes, bytes.length);
    if (!cut && this.backlogLines + lines > this.maxBacklog) {
      this.counters.dropped += lines;
      return;
    }
    // A copy: the line's buffer is overwritten by the next record.
    this.backlog.push(Buffer.from(bytes));
    this.backlogLines += lines;
    this.markDirty();
  }

  private flushBacklog(): boolean {
    while (this.backlog.length > 0) {
      const line = this.backlog[0] as Buffer;
      const written = this.writeLine(line, line.length);
      this.backlogLines -= linesIn(line, written);
      if (written < line.length) {
        this.backlog[0] = line.subarray(written);
        return false;
      }
      this.backlog.shift();
    }
    return true;
  }

  private markDirty(): void {
    this.dirty = true;
    if (this.fsyncIntervalMs === 0) {
      this.syncNow();
      return;
    }
    if (this.timer === undefined) {
      this.timer = setTimeout(() => this.onTick(), this.fsyncIntervalMs);
      this.timer.unref();
    }
  }

  private syncNow(): void {
    try {
      fdatasyncSync(this.fd);
      this.counters.syncs++;
      this.dirty = false;
    } catch (err) {
      this.opts.onError?.(err as Error, 'sync');
    }
  }

  private onTick(): void {
    this.timer = undefined;
    if (this.closed) return;
    if (this.backlog.length > 0) this.flushBacklog();
    if (!this.dirty || this.syncing) {
      if (this.dirty || this.backlog.length > 0) this.markDirty();
      return;
    }
    this.dirty = false;
    this.syncing = true;
    const fd = this.fd;
    // Off the event loop (libuv's thread pool): a slow disk delays durability, never requests.
    fdatasync(fd, (err) => {
      this.syncing = false;
      if (err !== null) this.opts.onError?.(err, 'sync');
      else this.counters.syncs++;
      if (this.dirty || this.backlog.length > 0) this.markDirty();
    });
  }

  private tryRotate(): void {
    try {
      this.rotate();
    } catch (err) {
      // Keep writing to the current file; rotation is retried on the next record.
      this.opts.onError?.(err as Error, 'rotate');
    }
  }

  private rotate(): void {
    const t = this.now();
    let fd = -1;
    let path = '';
    // Never reuse a name: a process restarted within the same second may have the same pid (pid 1
    // in a container), and appending to a file a crash tore would glue two lines together.
    for (let tries = 0; fd === -1; tries++) {
      path = join(this.dir, `usage-${stamp(t)}-${process.pid}-${String(++this.seq % 10_000).padStart(4, '0')}.jsonl`);
      try {
        fd = openSync(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_APPEND | fsc.O_EXCL, 0o640);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || tries > 10_000) throw err;
      }
    }
    const old = this.fd;
    if (old !== -1) {
      try {
        fdatasyncSync(old);
        closeSync(old);
      } catch (err) {
        this.opts.onError?.(err as Error, 'sync');
      }
    }
    this.fd = fd;
    this.file = path;
    this.fileBytes = 0;
    this.dayStart = dayStartOf(t);
    this.counters.files++;
    syncDir(this.dir);
  }
}

const DAY_MS = 86_400_000;

/** Newlines in the first `end` bytes of `buf`. */
function linesIn(buf: Buffer, end: number): number {
  if (end <= 0) return 0;
  const bytes = end === buf.length ? buf : buf.subarray(0, end);
  let n = 0;
  for (let i = bytes.indexOf(0x0a); i !== -1; i = bytes.indexOf(0x0a, i + 1)) n++;
  return n;
}

/** Start of the UTC day of `t` (JavaScript time has no leap seconds: every UTC day is DAY_MS long). */
function dayStartOf(t: number): number {
  return t - (((t % DAY_MS) + DAY_MS) % DAY_MS);
}

function stamp(t: number): string {
  return new Date(t).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** Makes a new file's directory entry durable (POSIX needs the directory synced too). */
function syncDir(dir: string): void {
  let fd = -1;
  try {
    fd = openSync(dir, fsc.O_RDONLY);
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on directories; the file data itself is still synced.
  } finally {
    if (fd !== -1) closeSync(fd);
  }
}
