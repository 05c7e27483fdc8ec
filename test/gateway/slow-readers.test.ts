// Clients that stop reading a response: the upstream is held back (its writes block) while the
// client's buffer is full, and a client that never reads again is cut off after the listener's
// write timeout, with the upstream request aborted. Memory under hundreds of such clients is
// measured in `npm run bench:chaos`, not here.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendYaml, eventually, routeYaml, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

let up: Upstream;
let gw: TestGateway;
const saved = process.env['TOLLGATE_LISTENER_WRITE_TIMEOUT_MS'];

beforeAll(async () => {
  process.env['TOLLGATE_LISTENER_WRITE_TIMEOUT_MS'] = '3000';
  up = await startUpstream();
  gw = await startGateway({
    'b.yaml': backendYaml('b', [{ port: up.port }]),
    'r.yaml': routeYaml('r', [{ matches: [{ 'x-ai-eg-model': 'm' }], backends: [{ name: 'b' }], extra: '      timeouts:\n        request: 120s\n' }]),
  });
});

afterAll(async () => {
  if (saved === undefined) delete process.env['TOLLGATE_LISTENER_WRITE_TIMEOUT_MS'];
  else process.env['TOLLGATE_LISTENER_WRITE_TIMEOUT_MS'] = saved;
  await gw.close();
  await up.close();
});

/** An upstream stream of `total` bytes that respects its own socket's backpressure. */
function bigStream(total: number, state: { written: number; finished: boolean; aborted: boolean }): void {
  const frame = `data: {"choices":[{"index":0,"delta":{"content":"${'x'.repeat(16 * 1024)}"},"finish_reason":null}]}\n\n`;
  up.behave((_q, _rec, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.on('close', () => {
      if (!res.writableFinished) state.aborted = true;
    });
    const pump = (): void => {
      while (state.written < total) {
        state.written += frame.length;
        if (!res.write(frame)) {
          res.once('drain', pump);
          return;
        }
      }
      state.finished = true;
      res.end('data: [DONE]\n\n');
    };
    pump();
  });
}

function openStream(): Promise<net.Socket> {
  const body = JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] });
  return new Promise((resolve) => {
    const s = net.connect(gw.gateway.dataAddress.port, '127.0.0.1', () => {
      s.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
      resolve(s);
    });
    s.on('error', () => undefined);
  });
}

describe('a client that stops reading', () => {
  it('holds the upstream back, then is cut off after the write timeout and the upstream is aborted', async () => {
    const state = { written: 0, finished: false, aborted: false };
    bigStream(256 * 1024 * 1024, state);
    const s = await openStream();
    s.pause(); // never reads (a paused socket does not notice being closed until it reads again)
    await eventually(() => state.written > 0, 'the upstream started sending');
    await eventually(() => state.aborted, 'the gateway aborted the upstream of the client that does not read', 15_000);
    // Socket buffers on three hops hold a few MB; the upstream never got near its 256 MB.
    expect(state.finished).toBe(false);
    expect(state.written).toBeLessThan(32 * 1024 * 1024);
    // What the client finds when it reads again: what was buffered, then the end of a cut connection.
    let text = '';
    let closed = false;
    s.on('data', (d: Buffer) => (text = (text + d.toString('latin1')).slice(-64)));
    s.on('close', () => (closed = true));
    s.resume();
    await eventually(() => closed, 'the client connection was closed', 10_000);
    expect(text).not.toContain('[DONE]');
  });

  it('keeps a slow but reading client (the timeout is about a full buffer that never drains)', { timeout: 90_000 }, async () => {
    const state = { written: 0, finished: false, aborted: false };
    bigStream(12 * 1024 * 1024, state);
    const s = await openStream();
    let received = 0;
    let closed = false;
    s.on('close', () => (closed = true));
    // Reads about 1 MB every half second: the buffers stay full most of the time, but they drain
    // well within the write timeout.
    let budget = 1024 * 1024;
    s.on('data', (d: Buffer) => {
      received += d.length;
      budget -= d.length;
      if (budget <= 0) s.pause();
    });
    const refill = setInterval(() => {
      budget = 1024 * 1024;
      s.resume();
    }, 500);
    try {
      await eventually(() => state.finished && received > 12 * 1024 * 1024, 'the slow client received the whole stream', 80_000);
    } finally {
      clearInterval(refill);
    }
    expect(closed).toBe(false);
    expect(state.aborted).toBe(false);
    s.destroy();
  });
});
