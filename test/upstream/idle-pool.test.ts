// The gateway's upstream pool over real sockets. The upstream is a raw HTTP/1.1 server that records
// which socket each request arrived on and whether a request arrived on a socket whose previous
// response was still being sent: Node's own HTTP server would hide that by queueing the second
// request, and "a busy connection never gets a second request" is the property under test.
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Pool, errors, type Dispatcher } from 'undici';
import { IdlePool } from '../../src/upstream/idle-pool.js';

interface Held {
  /** Which of the server's connections (in accept order) carries this request. */
  readonly conn: number;
  chunk(text: string): void;
  end(): void;
  reset(): void;
}

class Upstream {
  readonly server: Server;
  readonly sockets: Socket[] = [];
  /** Set when a request arrived on a socket whose previous response had not ended. */
  overlapped = false;
  /** Connection number of each request, in arrival order. */
  readonly requestConns: number[] = [];
  /** Requests to /hold wait here until the test answers them. */
  private readonly held: Held[] = [];
  private readonly heldWaiters: (() => void)[] = [];

  constructor() {
    this.server = createServer((socket) => this.accept(socket));
  }

  async listen(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    const addr = this.server.address();
    if (addr === null || typeof addr === 'string') throw new Error('no port');
    return `http://127.0.0.1:${addr.port}`;
  }

  /** The held requests once `n` have arrived. */
  async heldRequests(n: number): Promise<Held[]> {
    while (this.held.length < n) await new Promise<void>((resolve) => this.heldWaiters.push(resolve));
    return this.held.splice(0, n);
  }

  /** Closes every connection that is not sending a response (as a keep-alive timeout would). */
  closeIdle(): void {
    for (const s of this.sockets) if (!(s as Socket & { busy?: boolean }).busy) s.end();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(socket: Socket): void {
    const conn = this.sockets.length;
    const state = socket as Socket & { busy?: boolean };
    this.sockets.push(socket);
    let buffered = '';
    socket.on('error', () => undefined);
    socket.on('data', (data) => {
      buffered += data.toString('latin1');
      let end: number;
      while ((end = buffered.indexOf('\r\n\r\n')) !== -1) {
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        if (state.busy === true) this.overlapped = true;
        state.busy = true;
        this.requestConns.push(conn);
        const path = head.split(' ')[1] ?? '/';
        const start = 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n';
        const chunk = (text: string): void => {
          socket.write(`${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`);
        };
        const finish = (): void => {
          state.busy = false;
          socket.write('0\r\n\r\n');
        };
        socket.write(start);
        if (path === '/hold') {
          this.held.push({ conn, chunk, end: finish, reset: () => socket.resetAndDestroy() });
          for (const w of this.heldWaiters.splice(0)) w();
        } else {
          chunk(`conn ${conn}`);
          finish();
        }
      }
    });
  }
}

let upstream: Upstream;
let pools: Dispatcher[] = [];

async function setup(): Promise<{ origin: string }> {
  upstream = new Upstream();
  return { origin: await upstream.listen() };
}

function idlePool(origin: string): IdlePool {
  const pool = new IdlePool(origin, { connect: { timeout: 5_000 }, pipelining: 1, headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 4_000, keepAliveMaxTimeout: 60_000 });
  pools.push(pool);
  return pool;
}

async function get(pool: Dispatcher, path = '/'): Promise<string> {
  const res = await pool.request({ method: 'GET', path });
  return res.body.text();
}

/**
 * Waits until `n` connections are free. undici hands a connection back a full event-loop turn after
 * its response ended (so a server that closes it despite keep-alive is noticed first), so a body
 * that was read does not yet mean a free connection.
 */
async function untilFree(pool: Dispatcher, n: number): Promise<void> {
  for (let turn = 0; (pool as Pool).stats.free < n; turn++) {
    if (turn > 1_000) throw new Error(`${(pool as Pool).stats.free} connections free, waited for ${n}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A request to /hold whose response the test controls; resolves with its body. */
function hold(pool: Dispatcher): Promise<string> {
  return pool.request({ method: 'GET', path: '/hold' }).then((res) => res.body.text());
}

afterEach(async () => {
  await Promise.all(pools.map((p) => p.destroy().catch(() => undefined)));
  pools = [];
  await upstream.close();
});

describe('IdlePool', () => {
  it('reuses free connections, the most recently freed first, and opens one per held request', async () => {
    const { origin } = await setup();
    const pool = idlePool(origin);
    const bodies = [hold(pool), hold(pool), hold(pool), hold(pool), hold(pool)];
    const held = await upstream.heldRequests(5);
    expect(upstream.sockets).toHaveLength(5);
    expect(pool.stats).toMatchObject({ connected: 5, free: 0, running: 5, pending: 0, queued: 0, size: 5 });

    // Free them in an order that is not the order they were opened in; the last freed is reused.
    for (const i of [3, 0, 4, 1, 2]) held[i]?.end();
    await Promise.all(bodies);
    await untilFree(pool, 5);
    expect(pool.stats).toMatchObject({ connected: 5, free: 5, running: 0, size: 0 });
    const lastFreed = held[2]?.conn;
    for (let i = 0; i < 5; i++) {
      expect(await get(pool)).toBe(`conn ${lastFreed}`);
      await untilFree(pool, 5);
    }

    // Many at once: every request gets a connection of its own, and the free ones are used first.
    await untilFree(pool, 5);
    const many = await Promise.all(Array.from({ length: 40 }, () => get(pool)));
    expect(many).toHaveLength(40);
    expect(upstream.sockets.length).toBeLessThanOrEqual(40);
    expect(new Set(upstream.requestConns.slice(-40)).size).toBe(upstream.sockets.length);
    expect(upstream.overlapped).toBe(false);
  });

  it('never gives a connection carrying a response a second request', async () => {
    const { origin } = await setup();
    const pool = idlePool(origin);
    const streams = [hold(pool), hold(pool)];
    const held = await upstream.heldRequests(2);
    held[0]?.chunk('first');
    const heldConns = new Set(held.map((h) => h.conn));

    for (let round = 0; round < 3; round++) {
      const answers = await Promise.all(Array.from({ length: 10 }, () => get(pool)));
      for (const a of answers) expect(heldConns.has(Number(a.split(' ')[1]))).toBe(false);
    }
    expect(upstream.overlapped).toBe(false);
    expect(pool.stats).toMatchObject({ running: 2 });

    for (const h of held) h.end();
    expect(await Promise.all(streams)).toEqual(['first', '']);
    expect(pool.stats).toMatchObject({ running: 0, size: 0 });
  });

  it('leaves connections the upstream closed and opens new ones', async () => {
    const { origin } = await setup();
    const pool = idlePool(origin);
    await Promise.all([get(pool), get(pool), get(pool)]);
    const opened = upstream.sockets.length;
    await untilFree(pool, opened);
    expect(pool.stats).toMatchObject({ connected: opened, free: opened });

    const disconnects = Array.from({ length: opened }, (_, i) => i);
    let seen = 0;
    const allGone = new Promise<void>((resolve) => pool.on('disconnect', () => ++seen === disconnects.length && resolve()));
    upstream.closeIdle();
    await allGone;
    expect(pool.stats).toMatchObject({ connected: 0, free: 0, size: 0 });

    expect(await get(pool)).toBe(`conn ${opened}`);
    await untilFree(pool, 1);
    expect(pool.stats).toMatchObject({ connected: 1, free: 1 });
    expect(upstream.overlapped).toBe(false);
  });

  it('fails only the request whose connection was reset, and keeps serving', async () => {
    const { origin } = await setup();
    const pool = idlePool(origin);
    const a = hold(pool);
    const b = hold(pool);
    const [ha, hb] = await upstream.heldRequests(2);
    ha?.chunk('partial');
    ha?.reset();
    await expect(a).rejects.toThrow();
    hb?.chunk('whole');
    hb?.end();
    expect(await b).toBe('whole');
    await untilFree(pool, 1);

    expect(await get(pool)).toBe(`conn ${hb?.conn}`);
    await untilFree(pool, 1);
    expect(pool.stats).toMatchObject({ connected: 1, free: 1, running: 0, size: 0 });
  });

  it('reports a refused connection to the request and to connectionError listeners', async () => {
    const { origin } = await setup();
    await new Promise((resolve) => upstream.server.close(resolve));
    const pool = idlePool(origin);
    const events: string[] = [];
    pool.on('connectionError', (_origin, targets, err) => events.push(`${targets[0] === pool} ${err.code}`));
    await expect(get(pool)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(events).toEqual(['true ECONNREFUSED']);
    expect(pool.stats).toMatchObject({ connected: 0, free: 0, pending: 0, running: 0, size: 0 });
    upstream = new Upstream();
    await upstream.listen();
  });

  it('close() refuses new requests and waits for the running ones', async () => {
    const { origin } = await setup();
    const pool = idlePool(origin);
    await get(pool);
    const stream = hold(pool);
    const [h] = await upstream.heldRequests(1);
    let closed = false;
    const closing = pool.close().then(() => (closed = true));
    expect(pool.closed).toBe(true);
    await expect(get(pool)).rejects.toBeInstanceOf(errors.ClientClosedError);

    // A handler of undici's newer API gets the refusal through onResponseError.
    const refusal = await new Promise<Error>((resolve) => {
      pool.dispatch({ method: 'GET', path: '/', origin }, { onRequestStart: () => undefined, onResponseError: (_c, err) => resolve(err) });
    });
    expect(refusal).toBeInstanceOf(errors.ClientClosedError);

    h?.chunk('still streaming');
    h?.end();
    expect(await stream).toBe('still streaming');
    await closing;
    expect(closed).toBe(true);
    expect(pool.destroyed).toBe(true);
    expect(pool.stats).toMatchObject({ connected: 0, size: 0 });
  });

  it('destroy() aborts running requests and closes every connection', async () => {
    const { origin } = await setup();
    const pool = idlePool(origin);
    const stream = hold(pool);
    await upstream.heldRequests(1);
    await get(pool);
    const serverClosed = upstream.sockets.map((s) => once(s, 'close'));
    await pool.destroy();
    await expect(stream).rejects.toBeInstanceOf(errors.ClientDestroyedError);
    await Promise.all(serverClosed);
    await expect(get(pool)).rejects.toBeInstanceOf(errors.ClientDestroyedError);
    await expect(pool.close()).rejects.toBeInstanceOf(errors.ClientDestroyedError);
  });

  it("reports the same stats as undici's Pool for the same traffic", async () => {
    const { origin } = await setup();
    const undiciPool = new Pool(origin, { pipelining: 1 });
    pools.push(undiciPool);
    const seen: unknown[] = [];
    for (const pool of [idlePool(origin), undiciPool]) {
      const streams = [hold(pool), hold(pool), hold(pool), hold(pool)];
      const held = await upstream.heldRequests(4);
      held[1]?.end();
      held[3]?.end();
      await Promise.all([streams[1], streams[3]]);
      await untilFree(pool, 2);
      const s = pool.stats;
      seen.push({ connected: s.connected, free: s.free, pending: s.pending, queued: s.queued, running: s.running, size: s.size });
      held[0]?.end();
      held[2]?.end();
      await Promise.all(streams);
    }
    expect(seen[0]).toEqual({ connected: 4, free: 2, pending: 0, queued: 0, running: 2, size: 2 });
    expect(seen[1]).toEqual(seen[0]);
  });
});
