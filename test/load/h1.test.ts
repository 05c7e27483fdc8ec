// The harness's HTTP/1.1 client against real sockets: content-length, chunked (any split of the
// bytes, extensions, trailers), close-delimited bodies, 1xx, keep-alive reuse, the keep-alive
// race (a server closing an idle connection as it is reused), resets, malformed responses.
import fc from 'fast-check';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { H1Pool } from '../../src/load/worker/h1.js';

interface Got {
  status: number;
  headers: Record<string, string>;
  body: string;
  error?: string;
}

function send(pool: H1Pool, path = '/v1/chat/completions', body = '{"a":1}'): Promise<Got> {
  return new Promise((resolve) => {
    const got: Got = { status: 0, headers: {}, body: '' };
    // Pieces may split a UTF-8 character: decode the whole body once it is in.
    const pieces: Buffer[] = [];
    const b = Buffer.from(body);
    pool.request(pool.head(path, b.length, 'content-type: application/json\r\nx-workload-app: t\r\n'), b, {
      onHeaders: (s, h) => {
        got.status = s;
        got.headers = { ...h };
      },
      onData: (c) => {
        pieces.push(Buffer.from(c));
      },
      onEnd: () => resolve({ ...got, body: Buffer.concat(pieces).toString('utf8') }),
      onError: (k, m) => resolve({ ...got, body: Buffer.concat(pieces).toString('utf8'), error: `${k}: ${m}` }),
    });
  });
}

const servers: Array<{ close(): void }> = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A raw TCP server answering every request with `reply(requestText)` written in the given pieces. */
function rawServer(reply: (req: string, n: number) => { pieces: Buffer[]; close?: boolean; drop?: boolean }): Promise<{ url: URL; requests: string[]; sockets: () => number }> {
  const requests: string[] = [];
  let sockets = 0;
  const srv = net.createServer((sock) => {
    sockets++;
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const len = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? '0');
        if (buf.length < end + 4 + len) return;
        const req = buf.slice(0, end + 4 + len);
        buf = buf.slice(end + 4 + len);
        requests.push(req);
        const r = reply(req, requests.length);
        if (r.drop === true) {
          sock.destroy();
          return;
        }
        let i = 0;
        const next = (): void => {
          const p = r.pieces[i++];
          if (p === undefined) {
            if (r.close === true) sock.end();
            return;
          }
          sock.write(p);
          setImmediate(next);
        };
        next();
      }
    });
    sock.on('error', () => undefined);
  });
  servers.push(srv);
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve({ url: new URL(`http://127.0.0.1:${(srv.address() as AddressInfo).port}`), requests, sockets: () => sockets })));
}

function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.filter((c) => c > 0 && c < bytes.length))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of points) {
    out.push(bytes.subarray(prev, c));
    prev = c;
  }
  out.push(bytes.subarray(prev));
  return out;
}

describe('H1Pool', () => {
  it('sends the head and body as given and reads a content-length response', async () => {
    const s = await rawServer(() => ({ pieces: [Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nServer-Timing: gateway;dur=0.5\r\nContent-Length: 11\r\n\r\n{"ok":true}')] }));
    const pool = new H1Pool(s.url);
    const got = await send(pool, '/v1/x', '{"model":"m"}');
    expect(got).toEqual({ status: 200, headers: { 'content-type': 'application/json', 'server-timing': 'gateway;dur=0.5', 'content-length': '11' }, body: '{"ok":true}' });
    expect(s.requests[0]).toBe(`POST /v1/x HTTP/1.1\r\nhost: ${s.url.host}\r\ncontent-length: 13\r\ncontent-type: application/json\r\nx-workload-app: t\r\n\r\n{"model":"m"}`);
    pool.close();
  });

  it('de-chunks a chunked body split anywhere, with chunk extensions and trailers', async () => {
    const body = 'data: {"x":1}\n\ndata: {"y":"ünï"}\n\ndata: [DONE]\n\n';
    const parts = [body.slice(0, 7), body.slice(7, 30), body.slice(30)].map((p) => Buffer.from(p));
    const wire = Buffer.concat([
      Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'),
      ...parts.flatMap((p, i) => [Buffer.from(`${p.length.toString(16)}${i === 1 ? ';ext=1' : ''}\r\n`), p, Buffer.from('\r\n')]),
      Buffer.from('0\r\nx-trailer: yes\r\n\r\n'),
    ]);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: wire.length - 1 }), { maxLength: 10 }), async (cuts) => {
        const s = await rawServer(() => ({ pieces: split(wire, cuts) }));
        const pool = new H1Pool(s.url);
        const got = await send(pool);
        expect(got.error).toBeUndefined();
        expect(got.body).toBe(body);
        // The connection is reused for the next request.
        const again = await send(pool);
        expect(again.body).toBe(body);
        expect(s.sockets()).toBe(1);
        pool.close();
      }),
      { numRuns: 25 },
    );
  });

  it('skips 1xx responses, reads a body delimited by the connection closing, and honours connection: close', async () => {
    const s = await rawServer((_req, n) =>
      n === 1
        ? { pieces: [Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nuntil '), Buffer.from('close')], close: true }
        : { pieces: [Buffer.from('HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}')] },
    );
    const pool = new H1Pool(s.url);
    const a = await send(pool);
    expect(a).toMatchObject({ status: 200, body: 'until close' });
    const b = await send(pool);
    expect(b).toMatchObject({ status: 429, body: '{}' });
    expect(s.sockets()).toBe(2);
    pool.close();
  });

  it('resends once when a reused keep-alive connection is closed by the server without an answer', async () => {
    const ok = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    // Request 2 arrives on the reused connection and the server drops it (the keep-alive race).
    const s = await rawServer((_req, n) => (n === 2 ? { pieces: [], drop: true } : { pieces: [ok] }));
    const pool = new H1Pool(s.url);
    expect((await send(pool)).body).toBe('ok');
    const second = await send(pool);
    expect(second.error).toBeUndefined();
    expect(second.body).toBe('ok');
    expect(s.requests.length).toBe(3);
    expect(s.sockets()).toBe(2);
    // A fresh connection that drops the request is an error, not retried forever.
    const t = await rawServer(() => ({ pieces: [], drop: true }));
    const p2 = new H1Pool(t.url);
    expect((await send(p2)).error).toMatch(/^reset: .*before the response/);
    expect(t.requests.length).toBe(1);
    pool.close();
    p2.close();
  });

  it('does not reuse a connection the server closed while it was idle', async () => {
    // Node's server closes idle keep-alive connections after keepAliveTimeout; answer "keep-alive:
    // timeout=60" so the client reuses the connection after the server has already closed it.
    const srv = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-length': 2, 'keep-alive': 'timeout=60' });
        res.end('ok');
      });
    });
    srv.keepAliveTimeout = 50;
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const pool = new H1Pool(new URL(`http://127.0.0.1:${(srv.address() as AddressInfo).port}`));
    expect((await send(pool)).body).toBe('ok');
    await new Promise((r) => setTimeout(r, 150));
    const second = await send(pool);
    expect(second.error).toBeUndefined();
    expect(second.body).toBe('ok');
    pool.close();
  });

  it('classifies failures: refused, reset mid-response, malformed', async () => {
    const closed = await new Promise<number>((r) => {
      const t = net.createServer();
      t.listen(0, '127.0.0.1', () => {
        const port = (t.address() as AddressInfo).port;
        t.close(() => r(port));
      });
    });
    const refused = await send(new H1Pool(new URL(`http://127.0.0.1:${closed}`)));
    expect(refused.error).toMatch(/^connect: ECONNREFUSED/);
    const s = await rawServer((_req, n) => (n === 1 ? { pieces: [Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial')], close: true } : { pieces: [Buffer.from('HTTP/9 nonsense\r\n\r\n')] }));
    const pool = new H1Pool(s.url);
    const reset = await send(pool);
    expect(reset.status).toBe(200);
    expect(reset.error).toMatch(/^reset: .*in the middle of the response/);
    const bad = await send(pool);
    expect(bad.error).toMatch(/^malformed: not an HTTP\/1\.1 status line/);
    pool.close();
  });
});
