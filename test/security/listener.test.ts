// The data listener under hostile clients, over real sockets: too many / too large headers, slow
// heads and bodies (slowloris), idle keep-alive, connection floods, HTTP/2 stream limits and rapid
// reset. Every refusal that can be an HTTP response is OpenAI-shaped with an x-request-id, and the
// listener keeps serving afterwards. Deadlines are set short here and waited for generously; no
// assertion is about how long anything took.
import http2 from 'node:http2';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/log.js';
import { startDataListener, type DataListener, type ListenerOptions } from '../../src/server/listener.js';
import { parseRaw, rawHttp } from './helpers.js';

let listener: DataListener | undefined;
afterEach(() => {
  listener?.destroyAll();
  listener?.stopAccepting();
  listener = undefined;
});

async function start(overrides: Partial<ListenerOptions> = {}): Promise<string> {
  listener = await startDataListener(
    {
      host: '127.0.0.1',
      port: 0,
      maxHeaderBytes: 16 * 1024,
      keepAliveTimeoutMs: 5_000,
      headersTimeoutMs: 5_000,
      maxConcurrentStreams: 100,
      ...overrides,
      hardening: { maxHeaderCount: 20, ...overrides.hardening },
    },
    (req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => {
        const body = JSON.stringify({ bytes: n, id: req.headers['x-request-id'] });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
    },
  );
  return `http://127.0.0.1:${listener.address.port}`;
}

function expectOpenAIError(r: { status: number; headers: Record<string, string>; body: string }, status: number, code: string): void {
  expect(r.status).toBe(status);
  expect(r.headers['content-type']).toBe('application/json');
  expect(r.headers['x-request-id']).toMatch(/\S+/);
  const j = JSON.parse(r.body) as { error: { message: string; type: string; code: string } };
  expect(j.error.code).toBe(code);
  expect(j.error.message.length).toBeGreaterThan(10);
}

function head(extra: string[] = [], body = ''): string {
  return `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n${extra.map((l) => `${l}\r\n`).join('')}content-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`;
}

/** Opens a socket, writes `first`, then resolves with everything received when the server closes. */
function slowClient(url: string, first: string, then?: (s: net.Socket) => void): Promise<{ text: string; closed: boolean }> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect(Number(port), '127.0.0.1', () => {
      s.write(first);
      then?.(s);
    });
    let text = '';
    s.on('data', (c: Buffer) => (text += c.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => resolve({ text, closed: true }));
  });
}

describe('headers', () => {
  it('refuses more headers than the limit with 431, accepts the limit', async () => {
    const url = await start();
    const many = Array.from({ length: 25 }, (_, i) => `x-h${i}: v`);
    expectOpenAIError(await rawHttp(url, head(many, '{}')), 431, 'too_many_headers');
    const ok = await rawHttp(url, head(Array.from({ length: 10 }, (_, i) => `x-h${i}: v`), '{}'));
    expect(ok.status).toBe(200);
  });

  it('refuses an oversized head with 431', async () => {
    const url = await start();
    expectOpenAIError(await rawHttp(url, head([`x-big: ${'a'.repeat(20_000)}`], '{}')), 431, 'headers_too_large');
  });

  it('answers malformed request lines with 400 and keeps serving', async () => {
    const url = await start();
    expectOpenAIError(await rawHttp(url, 'GARBAGE\x00 / HTTP/1.1\r\n\r\n'), 400, 'bad_request');
    expect((await rawHttp(url, head([], '{}'))).status).toBe(200);
  });
});

describe('slow clients', () => {
  it('closes a connection whose head never completes (slowloris) with 408', async () => {
    const url = await start({ headersTimeoutMs: 500 });
    const r = await slowClient(url, 'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-slow: ', (s) => {
      const t = setInterval(() => s.write('a'), 100);
      s.on('close', () => clearInterval(t));
    });
    expectOpenAIError(parseRaw(r.text), 408, 'request_body_timeout');
    expect(listener?.refused.head_timeout).toBe(1);
  });

  it('closes a connection that never sends a byte', async () => {
    const url = await start({ headersTimeoutMs: 500 });
    const r = await slowClient(url, '');
    expect(r.closed).toBe(true);
    expect(r.text).toBe('');
  });

  it('gives up on a body that stops arriving, with 408 under the request\'s own id', async () => {
    const url = await start({ hardening: { bodyIdleTimeoutMs: 500 } });
    const partial = `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-request-id: slow-body-1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"model":`;
    const r = parseRaw((await slowClient(url, partial)).text);
    expectOpenAIError(r, 408, 'request_body_timeout');
    expect(r.headers['x-request-id']).toBe('slow-body-1');
    expect(JSON.parse(r.body).error.message).toContain('No request body bytes arrived');
  });

  it('gives up on a body trickled slower than the total deadline', async () => {
    const url = await start({ hardening: { bodyIdleTimeoutMs: 5_000, bodyTimeoutMs: 1_000 } });
    const partial = `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n`;
    const r = parseRaw(
      (
        await slowClient(url, partial, (s) => {
          const t = setInterval(() => s.write('a'), 200);
          s.on('close', () => clearInterval(t));
        })
      ).text,
    );
    expectOpenAIError(r, 408, 'request_body_timeout');
    expect(JSON.parse(r.body).error.message).toContain('did not arrive within');
  });

  it('closes idle keep-alive connections', async () => {
    const url = await start({ keepAliveTimeoutMs: 300 });
    const r = await slowClient(url, `GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n`);
    expect(r.closed).toBe(true);
    expect(parseRaw(r.text).status).toBe(200);
  });
});

describe('connection floods', () => {
  it('refuses new connections over the per-address rate with 429 and retry-after', async () => {
    const url = await start({ hardening: { connectionRatePerIp: 1, connectionBurstPerIp: 5 } });
    const results = await Promise.all(Array.from({ length: 12 }, () => rawHttp(url, head([], '{}'))));
    const ok = results.filter((r) => r.status === 200).length;
    const limited = results.filter((r) => r.status === 429);
    expect(ok).toBeGreaterThanOrEqual(5);
    expect(limited.length).toBeGreaterThanOrEqual(5);
    expectOpenAIError(limited[0]!, 429, 'connection_rate_limited');
    expect(limited[0]!.headers['retry-after']).toBe('1');
  });

  it('refuses connections over the total with 503, logged with its request id', async () => {
    const logs: string[] = [];
    const logger = createLogger({ sink: { write: (l: string) => logs.push(l) } });
    const url = await start({ hardening: { maxConnections: 3, connectionRatePerIp: 0 }, logger });
    const { port } = new URL(url);
    const idle = await Promise.all(
      Array.from({ length: 3 }, () => new Promise<net.Socket>((r) => {
        const s = net.connect(Number(port), '127.0.0.1', () => r(s));
      })),
    );
    try {
      const r = await rawHttp(url, head([], '{}'));
      expectOpenAIError(r, 503, 'too_many_connections');
      // Refused before any request object exists: the listener itself logs it, under the id the client got.
      const id = r.headers['x-request-id'] as string;
      const line = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['requestId'] === id);
      expect(line).toMatchObject({ level: 'warn', msg: 'request failed', status: 503, code: 'too_many_connections' });
    } finally {
      for (const s of idle) s.destroy();
    }
  });
});

describe('HTTP/2', () => {
  it('advertises the stream limit and closes a session that floods resets (rapid reset)', async () => {
    const url = await start({ maxConcurrentStreams: 8, hardening: { h2MaxResets: 20 } });
    const session = http2.connect(url);
    const settings = await new Promise<http2.Settings>((r) => session.once('remoteSettings', r));
    expect(settings.maxConcurrentStreams).toBe(8);
    const goaway = new Promise<number>((r) => session.once('goaway', (code: number) => r(code)));
    const closed = new Promise<void>((r) => session.once('close', () => r()));
    session.on('error', () => undefined);
    for (let i = 0; i < 200 && !session.destroyed && !session.closed; i++) {
      const s = session.request({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json' });
      s.on('error', () => undefined);
      s.write('{"model":');
      s.close(http2.constants.NGHTTP2_CANCEL);
      if (i % 8 === 7) await new Promise((r) => setImmediate(r));
    }
    expect(await goaway).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    await closed;
    expect(listener?.refused.h2_resets).toBe(1);
    // The listener is unharmed.
    expect((await rawHttp(url, head([], '{}'))).status).toBe(200);
  });

  it('serves HTTP/2 requests normally below the limits', async () => {
    const url = await start();
    const session = http2.connect(url);
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const s = session.request({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json' });
        let text = '';
        s.on('data', (c: Buffer) => (text += c.toString()));
        s.on('end', () => resolve(text));
        s.on('error', reject);
        s.end('{"model":"m"}');
      });
      expect(JSON.parse(body).bytes).toBe(13);
    } finally {
      session.close();
    }
  });
});

describe('environment overrides', () => {
  it('reads TOLLGATE_LISTENER_* and names a malformed variable', async () => {
    const { hardeningFromEnv } = await import('../../src/server/listener.js');
    expect(hardeningFromEnv({ TOLLGATE_LISTENER_MAX_HEADERS: '50', TOLLGATE_LISTENER_CONNECTIONS_PER_SECOND: '0' })).toEqual({ maxHeaderCount: 50, connectionRatePerIp: 0 });
    expect(() => hardeningFromEnv({ TOLLGATE_LISTENER_BODY_TIMEOUT_MS: '5s' })).toThrow(/TOLLGATE_LISTENER_BODY_TIMEOUT_MS="5s" is not a whole number of milliseconds/);
    expect(() => hardeningFromEnv({ TOLLGATE_LISTENER_MAX_HEADERS: '0' })).toThrow(/at least 1/);
  });
});
