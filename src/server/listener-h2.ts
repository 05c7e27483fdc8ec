// HTTP/2 on the shared data port: recognising the connection preface in a connection's first bytes,
// handing the sniffed socket to Node's HTTP/2 server, and the per-session guards (idle close and
// the "rapid reset" flood, CVE-2023-44487). It is separate from listener.ts because these are the
// HTTP/2-only parts of the listener; everything here works on one socket or one session and knows
// nothing about the pipeline behind it.
import http2, { type Http2Stream, type ServerHttp2Session } from 'node:http2';
import type net from 'node:net';
import { Duplex } from 'node:stream';
import type { Hardening } from './listener-guards.js';

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** Closes an idle session, and ends one whose client resets streams faster than `hard` allows. */
export function guardSession(session: ServerHttp2Session, hard: Hardening, idleMs: number, onFlood: () => void): void {
  let open = 0;
  let resets: number[] = [];
  session.on('stream', (stream: Http2Stream) => {
    open++;
    // 'aborted': the client reset a stream before the gateway finished answering it.
    stream.once('aborted', () => {
      const now = Date.now();
      resets.push(now);
      if (resets.length > hard.h2MaxResets) {
        resets = resets.filter((t) => now - t <= hard.h2ResetWindowMs);
        if (resets.length > hard.h2MaxResets) {
          onFlood();
          // RFC 9113 §5.4.1 / the CVE-2023-44487 advisories: GOAWAY with ENHANCE_YOUR_CALM, then close.
          session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
          session.destroy();
        }
      }
    });
    stream.once('close', () => open--);
  });
  if (idleMs > 0) {
    session.setTimeout(idleMs, () => {
      if (open === 0) session.close();
    });
  }
}

export function looksLikeH2(first: Buffer): boolean {
  const n = Math.min(first.length, H2_PREFACE.length);
  return n >= 3 && first.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
}

/** HTTP/2's session reads sockets natively and would miss the sniffed bytes, so it gets this thin stream wrapper. */
export function wrapSocket(socket: net.Socket, first: Buffer): Duplex {
  const d = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      socket.write(chunk, cb);
    },
    final(cb) {
      socket.end();
      cb();
    },
    destroy(err, cb) {
      socket.destroy(err ?? undefined);
      cb(err);
    },
  });
  socket.on('data', (c: Buffer) => {
    if (!d.push(c)) socket.pause();
  });
  socket.on('end', () => d.push(null));
  socket.on('close', () => d.destroy());
  d.push(first);
  return d;
}

