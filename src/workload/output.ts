// Synchronous buffered file output. The writers are single-threaded pipelines whose only I/O is
// appending to one file at a time; a large buffer and writeSync keep the hot path free of promise
// and stream overhead, and make the output byte-identical for identical input.
import { closeSync, openSync, writeSync } from 'node:fs';

const BUFFER_BYTES = 4 * 1024 * 1024;

export class BufferedFile {
  readonly path: string;
  private fd: number;
  private readonly buf = Buffer.allocUnsafe(BUFFER_BYTES);
  private used = 0;
  /** Bytes written so far (including buffered ones). */
  bytes = 0;

  constructor(path: string) {
    this.path = path;
    this.fd = openSync(path, 'w');
  }

  writeString(s: string): void {
    // Worst case 3 bytes per UTF-16 unit; strings that may not fit go through a temporary buffer.
    if (s.length * 3 > BUFFER_BYTES - this.used) {
      if (s.length * 3 > BUFFER_BYTES) {
        this.writeBytes(Buffer.from(s, 'utf8'));
        return;
      }
      this.flush();
    }
    const n = this.buf.write(s, this.used, 'utf8');
    this.used += n;
    this.bytes += n;
  }

  writeBytes(b: Uint8Array): void {
    if (b.length > BUFFER_BYTES - this.used) {
      this.flush();
      if (b.length > BUFFER_BYTES / 2) {
        writeAll(this.fd, b);
        this.bytes += b.length;
        return;
      }
    }
    this.buf.set(b, this.used);
    this.used += b.length;
    this.bytes += b.length;
  }

  /** Writes b[start, end) without creating a view of it. */
  writeRange(b: Buffer, start: number, end: number): void {
    const n = end - start;
    if (n > BUFFER_BYTES - this.used) {
      this.flush();
      if (n > BUFFER_BYTES / 2) {
        writeAll(this.fd, b.subarray(start, end));
        this.bytes += n;
        return;
      }
    }
    b.copy(this.buf, this.used, start, end);
    this.used += n;
    this.bytes += n;
  }

  writeByte(c: number): void {
    if (this.used === BUFFER_BYTES) this.flush();
    this.buf[this.used++] = c;
    this.bytes++;
  }

  flush(): void {
    if (this.used > 0) writeAll(this.fd, this.buf.subarray(0, this.used));
    this.used = 0;
  }

  close(): void {
    if (this.fd < 0) return;
    this.flush();
    closeSync(this.fd);
    this.fd = -1;
  }
}

function writeAll(fd: number, b: Uint8Array): void {
  let off = 0;
  while (off < b.length) off += writeSync(fd, b, off, b.length - off);
}
