// A minimal HTTP/1.1 client for the load workers: keep-alive connections, one request at a time
// per connection, a response parser that hands body bytes over as they arrive (content-length,
// chunked, or until close). The harness sends only pre-serialized POSTs and reads JSON or SSE, so
// this is all it needs, at a fraction of a general client's CPU per request: at thousands of
// requests per second the client's own cost is what decides whether the harness is the bottleneck.
import net from 'node:net';
import tls from 'node:tls';

export type H1ErrorKind = 'connect' | 'reset' | 'malformed';

export interface H1Handler {
  /** Status and headers (names lower-cased; repeated headers joined with ", "). */
  onHeaders(status: number, headers: Readonly<Record<string, string>>): void;
  /** Body bytes, de-chunked, as they arrive. The buffer may be a view: copy what you keep. */
  onData(chunk: Buffer): void;
  onEnd(): void;
  onError(kind: H1ErrorKind, message: string): void;
}

export interface H1Request {
  abort(): void;
  /** performance.now() of the last byte received (or of sending). */
  readonly lastActivity: number;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');
const MAX_HEAD = 64 * 1024;
/** Reuse an idle connection only this long before the server's keep-alive timeout. */
const KEEPALIVE_MARGIN_MS = 1000;
const DEFAULT_KEEPALIVE_MS = 4000;

type Phase = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'close' | 'done';

class Connection {
  readonly socket: net.Socket;
  connected = false;
  reused = false;
  idleSince = 0;
  keepAliveMs = DEFAULT_KEEPALIVE_MS;
  private active: Active | undefined;
  private phase: Phase = 'head';
  private pending: Buffer | null = null;
  private remaining = 0;
  private closeAfter = false;
  private gotBytes = false;

  constructor(
    private readonly pool: H1Pool,
    url: URL,
    connectTimeoutMs: number,
  ) {
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const host = url.hostname.replace(/^\[|\]$/g, '');
    this.socket = url.protocol === 'https:' ? tls.connect({ host, port, servername: net.isIP(host) === 0 ? host : undefined }) : net.connect(port, host);
    this.socket.setNoDelay(true);
    const t = setTimeout(() => this.socket.destroy(new Error(`connect timeout after ${connectTimeoutMs} ms`)), connectTimeoutMs);
    this.socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      clearTimeout(t);
      this.connected = true;
    });
    this.socket.on('data', (d: Buffer) => this.feed(d));
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => {
      clearTimeout(t);
      this.fail(undefined);
    });
  }

  start(a: Active, head: Buffer, body: Buffer): void {
    this.active = a;
    this.phase = 'head';
    this.pending = null;
    this.closeAfter = false;
    this.gotBytes = false;
    a.conn = this;
    this.socket.cork();
    this.socket.write(head);
    this.socket.write(body);
    this.socket.uncork();
  }

  destroy(): void {
    this.active = undefined;
    this.socket.destroy();
  }

  private fail(err: Error | undefined): void {
    this.pool.forget(this);
    const a = this.active;
    this.active = undefined;
    if (a === undefined || a.done) return;
    if (this.phase === 'close') {
      // A body delimited by the connection closing has ended.
      a.end();
      return;
    }
    // The keep-alive race: the server closed an idle connection as we reused it. Nothing of the
    // response arrived, so the request never started there: send it again on a new connection.
    if (this.reused && !this.gotBytes && !a.retried) {
      a.retried = true;
      this.pool.dispatch(a);
      return;
    }
    const code = err === undefined ? undefined : (err as NodeJS.ErrnoException).code;
    const detail = err === undefined ? 'connection closed' : `${code ?? err.name}: ${err.message}`;
    if (!this.connected) a.error('connect', detail);
    else a.error('reset', `${detail}${this.phase === 'head' ? ' before the response' : ' in the middle of the response'}`);
  }

  private feed(data: Buffer): void {
    const a = this.active;
    if (a === undefined || a.done) return;
    this.gotBytes = true;
    a.lastActivity = performance.now();
    let buf = data;
    if (this.pending !== null) {
      buf = Buffer.concat([this.pending, data]);
      this.pending = null;
    }
    let off = 0;
    while (off < buf.length && !a.done) {
      switch (this.phase) {
        case 'head': {
          const end = buf.indexOf(CRLFCRLF, off);
          if (end < 0) {
            if (buf.length - off > MAX_HEAD) return this.malformed(a, 'response headers larger than 64 KiB');
            this.pending = Buffer.from(buf.subarray(off));
            return;
          }
          const ok = this.head(a, buf.toString('latin1', off, end));
          off = end + 4;
          if (!ok) return;
          break;
        }
        case 'length': {
          const n = Math.min(this.remaining, buf.length - off);
          a.handler.onData(buf.subarray(off, off + n));
          off += n;
          this.remaining -= n;
          if (this.remaining === 0) this.phase = 'done';
          break;
        }
        case 'chunk-size': {
          const end = buf.indexOf(CRLF, off);
          if (end < 0) {
            if (buf.length - off > 1024) return this.malformed(a, 'chunk size line too long');
            this.pending = Buffer.from(buf.subarray(off));
            return;
          }
          const line = buf.toString('latin1', off, end);
          const size = parseInt(line.split(';')[0] ?? '', 16);
          if (!Number.isFinite(size) || size < 0 || !/^[0-9a-fA-F]+/.test(line)) return this.malformed(a, `bad chunk size "${line.slice(0, 20)}"`);
          off = end + 2;
          if (size === 0) this.phase = 'trailers';
          else {
            this.remaining = size;
            this.phase = 'chunk-data';
          }
          break;
        }
        case 'chunk-data': {
          const n = Math.min(this.remaining, buf.length - off);
          a.handler.onData(buf.subarray(off, off + n));
          off += n;
          this.remaining -= n;
          if (this.remaining === 0) this.phase = 'chunk-crlf';
          break;
        }
        case 'chunk-crlf': {
          if (buf.length - off < 2) {
            this.pending = Buffer.from(buf.subarray(off));
            return;
          }
          if (buf[off] !== 0x0d || buf[off + 1] !== 0x0a) return this.malformed(a, 'chunk not followed by CRLF');
          off += 2;
          this.phase = 'chunk-size';
          break;
        }
        case 'trailers': {
          const end = buf.indexOf(CRLF, off);
          if (end < 0) {
            this.pending = Buffer.from(buf.subarray(off));
            return;
          }
          this.phase = end === off ? 'done' : 'trailers';
          off = end + 2;
          break;
        }
        case 'close':
          a.handler.onData(buf.subarray(off));
          off = buf.length;
          break;
        case 'done':
          off = buf.length;
          break;
        default: {
          const never: never = this.phase;
          throw new Error(String(never));
        }
      }
      if (this.phase === 'done') {
        this.complete(a);
        return;
      }
    }
  }

  /** Parses a response head; false when the connection is finished with (error or 1xx skipped). */
  private head(a: Active, text: string): boolean {
    const lines = text.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (m === null) {
      this.malformed(a, `not an HTTP/1.1 status line: ${(lines[0] ?? '').slice(0, 60)}`);
      return false;
    }
    const status = Number(m[1]);
    if (status >= 100 && status < 200) return true; // 1xx: the real response follows
    const headers: Record<string, string> = {};
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i] as string;
      const c = l.indexOf(':');
      if (c <= 0) continue;
      const name = l.slice(0, c).trim().toLowerCase();
      const value = l.slice(c + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const conn = headers.connection?.toLowerCase() ?? '';
    this.closeAfter = conn.includes('close');
    const ka = /timeout=(\d+)/.exec(headers['keep-alive'] ?? '');
    if (ka !== null) this.keepAliveMs = Number(ka[1]) * 1000;
    a.handler.onHeaders(status, headers);
    if (a.done) return false;
    const te = headers['transfer-encoding']?.toLowerCase() ?? '';
    const cl = headers['content-length'];
    if (status === 204 || status === 304) this.phase = 'done';
    else if (te.includes('chunked')) this.phase = 'chunk-size';
    else if (cl !== undefined) {
      this.remaining = Number(cl);
      if (!Number.isInteger(this.remaining) || this.remaining < 0) {
        this.malformed(a, `bad content-length "${cl}"`);
        return false;
      }
      this.phase = this.remaining === 0 ? 'done' : 'length';
    } else {
      this.phase = 'close';
      this.closeAfter = true;
    }
    return true;
  }

  private complete(a: Active): void {
    this.active = undefined;
    a.conn = undefined;
    a.end();
    if (this.closeAfter || this.pending !== null) this.socket.destroy();
    else this.pool.release(this);
  }

  private malformed(a: Active, message: string): void {
    this.active = undefined;
    this.socket.destroy();
    a.error('malformed', message);
  }
}

class Active implements H1Request {
  done = false;
  retried = false;
  conn: Connection | undefined;
  lastActivity = performance.now();

  constructor(
    readonly head: Buffer,
    readonly body: Buffer,
    readonly handler: H1Handler,
  ) {}

  abort(): void {
    if (this.done) return;
    this.done = true;
    this.conn?.destroy();
    this.conn = undefined;
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    this.handler.onEnd();
  }

  error(kind: H1ErrorKind, message: string): void {
    if (this.done) return;
    this.done = true;
    this.handler.onError(kind, message);
  }
}

export class H1Pool {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private readonly hostHeader: string;

  constructor(
    private readonly url: URL,
    private readonly connectTimeoutMs = 10_000,
  ) {
    this.hostHeader = url.host;
  }

  get connections(): number {
    return this.all.size;
  }

  /** The request head for a POST with a body of `length` bytes. */
  head(path: string, length: number, headers: string): Buffer {
    return Buffer.from(`POST ${path} HTTP/1.1\r\nhost: ${this.hostHeader}\r\ncontent-length: ${length}\r\n${headers}\r\n`, 'latin1');
  }

  request(head: Buffer, body: Buffer, handler: H1Handler): H1Request {
    const a = new Active(head, body, handler);
    this.dispatch(a);
    return a;
  }

  dispatch(a: Active): void {
    const now = performance.now();
    let conn: Connection | undefined;
    while ((conn = this.idle.pop()) !== undefined) {
      if (now - conn.idleSince < conn.keepAliveMs - KEEPALIVE_MARGIN_MS && !conn.socket.destroyed) break;
      conn.destroy();
      this.all.delete(conn);
    }
    if (conn === undefined) {
      conn = new Connection(this, this.url, this.connectTimeoutMs);
      this.all.add(conn);
    } else conn.reused = true;
    conn.start(a, a.head, a.body);
  }

  release(conn: Connection): void {
    conn.idleSince = performance.now();
    this.idle.push(conn);
  }

  forget(conn: Connection): void {
    this.all.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
  }

  close(): void {
    for (const c of this.all) c.destroy();
    this.all.clear();
    this.idle.length = 0;
  }
}
