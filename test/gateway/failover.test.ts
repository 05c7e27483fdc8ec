// Priorities, weights, retries, timeouts, broken streams and abort propagation, against real sockets.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendYaml, routeYaml, startGateway, type TestGateway } from '../helpers/gateway.js';
import { json, openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';

let primary: Upstream;
let secondary: Upstream;
let a: Upstream;
let b: Upstream;
let closedPort: number;
let gw: TestGateway;

async function freePortThatRefuses(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

beforeAll(async () => {
  primary = await startUpstream();
  secondary = await startUpstream();
  a = await startUpstream(openAIBehavior({ model: 'from-a' }));
  b = await startUpstream(openAIBehavior({ model: 'from-b' }));
  closedPort = await freePortThatRefuses();
  const timeouts = `      timeouts:\n        request: 3s\n      streamIdleTimeout: 400ms\n`;
  gw = await startGateway({
    'b.yaml': [
      backendYaml('primary', [{ port: primary.port }]),
      backendYaml('secondary', [{ port: secondary.port }]),
      backendYaml('dead', [{ port: closedPort }]),
      backendYaml('a', [{ port: a.port }]),
      backendYaml('b', [{ port: b.port }]),
      backendYaml('pair', [{ port: closedPort }, { port: a.port }]),
    ].join('---\n'),
    'r.yaml': routeYaml('r', [
      { matches: [{ 'x-ai-eg-model': 'dead-then-secondary' }], backends: [{ name: 'dead', priority: 0 }, { name: 'secondary', priority: 1 }] },
      { matches: [{ 'x-ai-eg-model': 'primary-then-secondary' }], backends: [{ name: 'primary', priority: 0 }, { name: 'secondary', priority: 1 }], extra: timeouts },
      { matches: [{ 'x-ai-eg-model': 'weighted' }], backends: [{ name: 'a', weight: 3 }, { name: 'b', weight: 1 }] },
      { matches: [{ 'x-ai-eg-model': 'only-primary' }], backends: [{ name: 'primary' }], extra: timeouts },
      { matches: [{ 'x-ai-eg-model': 'pair' }], backends: [{ name: 'pair' }] },
      { matches: [{ 'x-ai-eg-model': 'all-dead' }], backends: [{ name: 'dead' }] },
    ]),
  });
});

afterAll(async () => {
  await gw.close();
  await Promise.all([primary, secondary, a, b].map((u) => u.close()));
});

function chat(model: string, stream = false) {
  return fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'hi' }] }),
  });
}

describe('failover and balancing', () => {
  it('falls to the lower priority when the higher one refuses connections', async () => {
    const before = secondary.requests.length;
    const r = await chat('dead-then-secondary');
    expect(r.status).toBe(200);
    expect(secondary.requests.length).toBe(before + 1);
    // The response names the backend that answered, not the one first tried.
    expect(r.headers.get('x-tollgate-backend')).toBe('secondary');
  });

  it('falls to the lower priority on a retriable status before the first byte', async () => {
    primary.behave((_q, _rec, res) => json(res, 503, { error: { message: 'overloaded' } }));
    try {
      const r = await chat('primary-then-secondary');
      expect(r.status).toBe(200);
      expect(secondary.requests.at(-1)?.json?.['model']).toBe('primary-then-secondary');
    } finally {
      primary.behave(openAIBehavior());
    }
  });

  it('falls to the lower priority when the higher one sends nothing (stream idle timeout)', async () => {
    primary.behave(() => undefined); // accept, read, never answer
    try {
      const before = secondary.requests.length;
      const r = await chat('primary-then-secondary', true);
      expect(r.status).toBe(200);
      expect(await r.text()).toContain('[DONE]');
      expect(secondary.requests.length).toBe(before + 1);
    } finally {
      primary.behave(openAIBehavior());
    }
  });

  it('tries another endpoint of the same backend when one refuses', async () => {
    for (let i = 0; i < 4; i++) expect((await chat('pair')).status).toBe(200);
  });

  it('answers 502 naming the backend when every attempt fails to connect', async () => {
    const r = await chat('all-dead');
    expect(r.status).toBe(502);
    const body = (await r.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('upstream_connect_failed');
    expect(body.error.message).toContain('"dead"');
  });

  it('splits traffic by weight', async () => {
    const na = a.requests.length;
    const nb = b.requests.length;
    await Promise.all(Array.from({ length: 200 }, () => chat('weighted').then((r) => r.text())));
    const da = a.requests.length - na;
    const db = b.requests.length - nb;
    expect(da + db).toBe(200);
    // 3:1 expected (150:50); bounds are > 6 standard deviations wide.
    expect(da).toBeGreaterThan(110);
    expect(db).toBeGreaterThan(15);
  });

  it('passes a 4xx from the backend through with its message', async () => {
    primary.behave((_q, _rec, res) => json(res, 400, { object: 'error', message: 'max_tokens is too large: 99999999', type: 'BadRequestError', param: null, code: 400 }));
    try {
      const r = await chat('only-primary');
      expect(r.status).toBe(400);
      const body = (await r.json()) as { error: { message: string; code: string } };
      expect(body.error.message).toBe('max_tokens is too large: 99999999');
      expect(body.error.code).toBe('upstream_rejected');
    } finally {
      primary.behave(openAIBehavior());
    }
  });
});

describe('broken and stalled streams', () => {
  it('ends a stream that breaks after the first byte with an SSE error event', async () => {
    primary.behave((_q, _rec, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"partial"},"finish_reason":null}]}\n\n');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    try {
      const r = await chat('only-primary', true);
      expect(r.status).toBe(200);
      const text = await r.text();
      expect(text).toContain('partial');
      expect(text).toMatch(/data: \{"error":\{"message":"The backend stream failed after it started \(connection reset[^"]*\)/);
      expect(text).toContain('"code":"upstream_reset"');
    } finally {
      primary.behave(openAIBehavior());
    }
  });

  it('answers 502 for a non-streamed answer that is not JSON, never a broken 200', async () => {
    primary.behave((_q, _rec, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"id":"x","choices":[{"message":{"content":"trunc');
    });
    try {
      const r = await chat('only-primary');
      expect(r.status).toBe(502);
      const body = (await r.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('upstream_protocol_error');
      expect(body.error.message).toContain('not valid JSON');
    } finally {
      primary.behave(openAIBehavior());
    }
  });

  it('ends a stream the upstream closed before its last event with an error event', async () => {
    primary.behave((_q, _rec, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"half"},"finish_reason":null}]}\n\n');
    });
    try {
      const text = await (await chat('only-primary', true)).text();
      expect(text).toContain('half');
      expect(text).toContain('"code":"upstream_protocol_error"');
      expect(text).not.toContain('data: [DONE]');
    } finally {
      primary.behave(openAIBehavior());
    }
  });

  it('accepts a stream that finished its choices without [DONE]', async () => {
    primary.behave((_q, _rec, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(
        'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"all"},"finish_reason":null}]}\n\n' +
          'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
      );
    });
    try {
      const text = await (await chat('only-primary', true)).text();
      expect(text).toContain('"finish_reason":"stop"');
      expect(text).not.toContain('error');
    } finally {
      primary.behave(openAIBehavior());
    }
  });

  it('ends a stream that goes silent with an idle-timeout SSE error', async () => {
    primary.behave((_q, _rec, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: hello\n\n');
    });
    try {
      const r = await chat('only-primary', true);
      const text = await r.text();
      expect(text).toContain('data: hello');
      expect(text).toContain('"code":"upstream_idle_timeout"');
    } finally {
      primary.behave(openAIBehavior());
    }
  });

  it('aborts the upstream request as soon as the client disconnects mid-stream', async () => {
    primary.behave(openAIBehavior({ chunks: 10_000, chunkDelayMs: 5 }));
    try {
      const body = JSON.stringify({ model: 'only-primary', stream: true, messages: [{ role: 'user', content: 'hi' }] });
      const client = net.connect(gw.gateway.dataAddress.port, '127.0.0.1');
      await new Promise<void>((r) => client.once('connect', () => r()));
      client.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
      // Wait until tokens flow, then vanish.
      await new Promise<void>((r) => {
        let seen = '';
        client.on('data', (d: Buffer) => {
          seen += d.toString();
          if ((seen.match(/"content"/g) ?? []).length >= 3) r();
        });
      });
      const closed = primary.nextSocketClose();
      client.destroy();
      // The upstream's stream would run for 50 s (10,000 chunks, 5 ms apart), longer than the test's
      // timeout: its socket closing at all means the gateway aborted it.
      await closed;
    } finally {
      primary.behave(openAIBehavior());
    }
  });

  it('answers 504 when the request deadline passes before any byte', async () => {
    const slow = await startUpstream(() => undefined); // reads the request, never answers
    const g = await startGateway({
      'b.yaml': backendYaml('slow', [{ port: slow.port }]),
      'r.yaml': routeYaml('r', [{ matches: [{ 'x-ai-eg-model': 'slow' }], backends: [{ name: 'slow' }], extra: '      timeouts:\n        request: 300ms\n' }]),
    });
    try {
      const r = await fetch(`${g.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'slow', messages: [] }),
      });
      expect(r.status).toBe(504);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('request_timeout');
    } finally {
      await g.close();
      await slow.close();
    }
  });
});
