// Bad input gets a clear OpenAI-shaped error with a request id, nothing reaches the upstream, and the
// gateway keeps serving.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBufferLimitedGateway } from '../helpers/buffer-limited.js';
import type { TestGateway } from '../helpers/gateway.js';
import type { Upstream } from '../helpers/upstream.js';

let up: Upstream;
let gw: TestGateway;

beforeAll(async () => {
  ({ up, gw } = await startBufferLimitedGateway());
});

afterAll(async () => {
  await gw.close();
  await up.close();
});

async function post(body: string | Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }, path = '/v1/chat/completions') {
  const r = await fetch(`${gw.url}${path}`, { method: 'POST', headers, body });
  const text = await r.text();
  return { status: r.status, headers: r.headers, text, json: JSON.parse(text) as { error: { code: string; message: string; type: string } } };
}

const cases: Array<[string, () => ReturnType<typeof post>, number, string]> = [
  ['malformed JSON', () => post('{"model": "m", "messages": [}'), 400, 'invalid_json'],
  ['empty body', () => post(''), 400, 'invalid_json'],
  ['a JSON array', () => post('[1,2]'), 400, 'invalid_body'],
  ['invalid UTF-8', () => post(Buffer.from([0x7b, 0x22, 0x6d, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])), 400, 'invalid_utf8'],
  ['a non-string model', () => post('{"model": 42, "messages": []}'), 400, 'invalid_model'],
  ['no model and no route', () => post('{"messages": []}'), 400, 'missing_model'],
  ['a non-boolean stream', () => post('{"model": "m", "stream": "yes"}'), 400, 'invalid_body'],
  ['an unrouted model', () => post('{"model": "nope", "messages": []}'), 404, 'route_not_found'],
  ['a wrong content type', () => post('{"model":"m"}', { 'content-type': 'text/plain' }), 415, 'unsupported_media_type'],
  ['a missing content type', () => post('{"model":"m"}', {}), 415, 'unsupported_media_type'],
  ['a body over the limit', () => post(JSON.stringify({ model: 'm', pad: 'x'.repeat(70 * 1024) })), 413, 'body_too_large'],
  ['an unknown path', () => post('{"model":"m"}', { 'content-type': 'application/json' }, '/v1/unknown'), 404, 'unknown_path'],
];

describe('bad input', () => {
  for (const [what, send, status, code] of cases) {
    it(`answers ${status} ${code} for ${what}, forwarding nothing`, async () => {
      const before = up.requests.length;
      const r = await send();
      expect(r.status).toBe(status);
      expect(r.json.error.code).toBe(code);
      expect(r.json.error.message.length).toBeGreaterThan(10);
      expect(r.headers.get('x-request-id')).toMatch(/.+/);
      expect(r.headers.get('server-timing')).toMatch(/^gateway;dur=/);
      expect(up.requests.length).toBe(before);
    });
  }

  it('answers 405 with allow for the wrong method', async () => {
    const r = await fetch(`${gw.url}/v1/chat/completions`);
    expect(r.status).toBe(405);
    expect(r.headers.get('allow')).toBe('POST');
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('method_not_allowed');
  });

  it('rejects a body over the limit that declares no length, while it streams in', async () => {
    const r = await new Promise<string>((resolve, reject) => {
      const s = net.connect(gw.gateway.dataAddress.port, '127.0.0.1', () => {
        s.write('POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n');
        const piece = 'x'.repeat(16 * 1024);
        for (let i = 0; i < 8; i++) s.write(`${piece.length.toString(16)}\r\n${piece}\r\n`);
      });
      let out = '';
      // The gateway reads the rest of a refused body away (so the sender can read the 413): the
      // answer arrives while the connection is still open.
      s.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('"code":"body_too_large"')) {
          s.destroy();
          resolve(out);
        }
      });
      s.on('close', () => resolve(out));
      s.on('error', () => resolve(out));
      setTimeout(() => reject(new Error('no answer')), 5_000).unref();
    });
    expect(r).toMatch(/^HTTP\/1\.1 413/);
    expect(r).toContain('body_too_large');
  });

  it('answers 431 for oversized headers with the same error shape', async () => {
    const r = await new Promise<string>((resolve) => {
      const s = net.connect(gw.gateway.dataAddress.port, '127.0.0.1', () => {
        s.write(`GET /v1/models HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(80 * 1024)}\r\n\r\n`);
      });
      let out = '';
      s.on('data', (d: Buffer) => (out += d.toString()));
      s.on('close', () => resolve(out));
      s.on('error', () => resolve(out));
    });
    expect(r).toMatch(/^HTTP\/1\.1 431/);
    expect(r).toContain('"code":"headers_too_large"');
    expect(r).toMatch(/x-request-id: .+/);
  });

  it('answers 400 for garbage that is not HTTP, and keeps serving', async () => {
    const r = await new Promise<string>((resolve) => {
      const s = net.connect(gw.gateway.dataAddress.port, '127.0.0.1', () => s.write('\x00\x01\x02 not http at all\r\n\r\n'));
      let out = '';
      s.on('data', (d: Buffer) => (out += d.toString()));
      s.on('close', () => resolve(out));
      s.on('error', () => resolve(out));
    });
    expect(r).toMatch(/^HTTP\/1\.1 400/);
    const ok = await post(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x' }] }));
    expect(ok.status).toBe(200);
  });
});
