// A connection pool to one upstream origin that finds a free connection in constant time.
//
// undici's Pool looks for a free connection by scanning all of its connections from the first on
// every request. The gateway holds one connection per streamed response for as long as the stream
// lasts, so with thousands of streams held each new request walks thousands of busy connections:
// opening N streams costs O(N²). This pool keeps the free connections on a stack instead, so picking
// one is a pop. Each connection is still an undici Client (undici stays the HTTP client); only the
// choice of connection is ours.
//
// It behaves as the gateway's Pool did (pipelining 1, no connection cap) with two deliberate
// differences: the most recently freed connection is reused first, so requests land on warm sockets
// and idle ones age out through keep-alive, and a connection whose socket closed while free leaves
// the pool, so the pool's memory follows open sockets rather than the peak number of streams.
import { buildConnector, Client, Dispatcher, errors, type Pool } from 'undici';

export interface IdlePoolOptions extends Omit<Client.Options, 'connect'> {
  /** How each connection connects; one connector is shared so TLS sessions are resumed across them. */
  connect?: buildConnector.BuildOptions;
}

/** One connection: an undici Client, and its place in the stack of free ones while it is free. */
class Conn {
  /** Toward the bottom of the free stack (less recently freed); only meaningful while `free`. */
  below: Conn | undefined;
  above: Conn | undefined;
  free = false;
  /** Between undici's 'connect' and 'disconnect': a free connection without a socket is retired. */
  connected = false;
  retired = false;

  constructor(readonly client: Client) {}
}

const noop = (): void => undefined;

export class IdlePool extends Dispatcher {
  private readonly origin: URL;
  private readonly clientOptions: Client.Options;
  private readonly conns = new Set<Conn>();
  /** The most recently freed connection; the stack continues through `below`. */
  private top: Conn | undefined;
  private closing: Promise<void> | undefined;
  private destroying: Promise<void> | undefined;

  constructor(origin: string, { connect, ...options }: IdlePoolOptions = {}) {
    super();
    this.origin = new URL(origin);
    this.clientOptions = { ...options, connect: buildConnector(connect ?? {}) };
  }

  /** `true` once close() or destroy() was called: new requests are refused. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  get destroyed(): boolean {
    return this.destroying !== undefined;
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (this.destroying !== undefined) return refuse(handler, new errors.ClientDestroyedError());
    if (this.closing !== undefined) return refuse(handler, new errors.ClientClosedError());
    const conn = this.top ?? this.open();
    if (conn.free) this.take(conn);
    // With pipelining 1 the Client reports itself busy after taking a request and emits 'drain'
    // when the response is done; only then does the connection go back on the stack. The one
    // exception is a request the Client refused outright (its options were invalid, and the
    // handler has its error already): no 'drain' follows, so the connection is free right away.
    if (!conn.client.dispatch(options, handler) && conn.client.stats.size === 0) this.release(conn);
    // There is no cap, so the pool itself is never busy.
    return true;
  }

  /** Stops taking requests, waits for the running ones to finish, then closes every connection. */
  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    if (this.destroying !== undefined && this.closing === undefined) {
      const refused = Promise.reject(new errors.ClientDestroyedError());
      if (callback === undefined) return refused;
      refused.catch(callback);
      return;
    }
    this.closing ??= Promise.all([...this.conns].map((c) => c.client.close().catch(noop))).then(() => this.destroy());
    if (callback === undefined) return this.closing;
    this.closing.then(callback, callback);
  }

  /** Aborts the running requests (their handlers get `err`, or ClientDestroyedError) and closes every connection. */
  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(errOrCallback?: Error | null | (() => void), callback?: () => void): Promise<void> | void {
    const cb = typeof errOrCallback === 'function' ? errOrCallback : callback;
    const err = typeof errOrCallback === 'function' ? null : (errOrCallback ?? null);
    if (this.destroying === undefined) {
      const all = [...this.conns];
      this.conns.clear();
      this.top = undefined;
      for (const c of all) c.retired = true;
      this.destroying = Promise.all(all.map((c) => c.client.destroy(err).catch(noop))).then(noop);
    }
    if (cb === undefined) return this.destroying;
    this.destroying.then(cb, cb);
  }

  /** Connections and requests by state, with undici Pool's meanings (`queued` is always 0: no cap). */
  get stats(): Pool.PoolStats {
    let connected = 0;
    let free = 0;
    let pending = 0;
    let running = 0;
    let size = 0;
    for (const c of this.conns) {
      const s = c.client.stats;
      if (s.connected) {
        connected++;
        if (c.free) free++;
      }
      pending += s.pending;
      running += s.running;
      size += s.size;
    }
    return { connected, free, pending, queued: 0, running, size };
  }

  private open(): Conn {
    const client = new Client(this.origin, this.clientOptions);
    const conn = new Conn(client);
    // undici's events carry the dispatchers they passed through, the pool first, as Pool's do.
    client.on('connect', (origin: URL) => {
      conn.connected = true;
      this.emit('connect', origin, [this, client]);
    });
    client.on('disconnect', (origin: URL, _targets: readonly Dispatcher[], err: errors.UndiciError) => {
      conn.connected = false;
      // A busy connection reconnects for its queued request, or is retired when it drains.
      if (conn.free) this.retire(conn);
      this.emit('disconnect', origin, [this, client], err);
    });
    client.on('connectionError', (origin: URL, _targets: readonly Dispatcher[], err: errors.UndiciError) => {
      // As Pool does: a connection that failed to connect is not used again (its requests have
      // failed); the next request opens a new one. It is not closed, it has nothing left to close.
      conn.retired = true;
      this.conns.delete(conn);
      if (conn.free) this.take(conn);
      this.emit('connectionError', origin, [this, client], err);
    });
    client.on('drain', () => this.release(conn));
    this.conns.add(conn);
    return conn;
  }

  /** Back on top of the stack: the next request gets the warmest socket. */
  private release(conn: Conn): void {
    if (conn.retired || conn.free) return;
    if (!conn.connected || conn.client.closed) {
      this.retire(conn);
      return;
    }
    conn.free = true;
    conn.above = undefined;
    conn.below = this.top;
    if (this.top !== undefined) this.top.above = conn;
    this.top = conn;
  }

  /** Off the stack, wherever it is (a keep-alive timeout closes free connections from the bottom). */
  private take(conn: Conn): void {
    conn.free = false;
    if (conn.above === undefined) this.top = conn.below;
    else conn.above.below = conn.below;
    if (conn.below !== undefined) conn.below.above = conn.above;
    conn.above = undefined;
    conn.below = undefined;
  }

  private retire(conn: Conn): void {
    if (conn.free) this.take(conn);
    conn.retired = true;
    this.conns.delete(conn);
    if (!conn.client.closed && !conn.client.destroyed) conn.client.close().catch(noop);
  }
}

/** What undici's own dispatchers do with a request they cannot take: the handler gets the error. */
function refuse(handler: Dispatcher.DispatchHandler, err: Error): false {
  if (handler.onRequestStart !== undefined && handler.onResponseError !== undefined) {
    handler.onResponseError(refusedController(err), err);
  } else if (handler.onRequestStart === undefined && handler.onError !== undefined) {
    handler.onError(err);
  } else {
    throw err;
  }
  return false;
}

function refusedController(reason: Error): Dispatcher.DispatchController {
  return { aborted: true, paused: false, reason, abort: noop, pause: noop, resume: noop };
}
