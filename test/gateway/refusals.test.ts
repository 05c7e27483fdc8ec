// Refusals the client actually receives, seen on raw sockets (node:net) exactly as they arrive: every
// one is an OpenAI-shaped error with an x-request-id, and a body the gateway refuses does not reset
// the connection before the client could read why.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBufferLimitedGateway } from '../helpers/buffer-limited.js';
import type { TestGateway } from '../helpers/gateway.js';
import type { Upstream } from '../helpers/upstream.js';
import { parseRaw, type RawResponse } from '../security/helpers.js';

let up: Upstream;
let gw: TestGateway;

beforeAll(async () => {
  ({ up, gw } = await startBufferLimitedGateway());
});

afterAll(async () => {
  await gw.close();
  await up.close();
});

interface Exchange {
  readonly response: RawResponse;
  readonly raw: string;
  /** The socket error the client saw (ECONNRESET, EPIPE), if any. */
  readonly error: string | undefined;
}

/** Writes `parts` in order (each after the previous was handed to the kernel) and collects everything until close. */
function exchange(parts: Array<string | Buffer>, opts: { halfClose?: boolean } = {}): Promise<Exchange> {
  return new Promise((resolve) => {
    const s = net.connect(gw.gateway.dataAddress.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let error: string | undefined;
    const t = setTimeout(() => s.destroy(), 10_000);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
    s.on('close', () => {
      clearTimeout(t);
      const raw = Buffer.concat(chunks).toString('latin1');
      resolve({ response: parseRaw(raw), raw, error });
    });
    s.on('connect', () => {
      for (const p of parts) s.write(p);
      if (opts.halfClose === true) s.end();
    });
  });
}

function expectOpenAIError(r: RawResponse, status: number, code: string): void {
  expect(r.status).toBe(status);
  expect(r.headers['content-type']).toBe('application/json');
  expect(r.headers['x-request-id']).toMatch(/\S+/);
  const j = JSON.parse(r.body) as { error: { message: string; type: string; code: string } };
  expect(j.error.code).toBe(code);
  expect(j.error.message.length).toBeGreaterThan(10);
}

describe('refusals a client can read', () => {
  it('answers a request without Host with a 400 that says so', async () => {
    const body = '{"model":"m","messages":[]}';
    const x = await exchange([`POST /v1/chat/completions HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`]);
    expectOpenAIError(x.response, 400, 'bad_request');
    expect(x.response.body).toMatch(/Host/);
  });

  it('answers CONNECT with a 405 instead of closing silently', async () => {
    const x = await exchange(['CONNECT api.openai.com:443 HTTP/1.1\r\nhost: api.openai.com:443\r\n\r\n']);
    expectOpenAIError(x.response, 405, 'method_not_allowed');
  });

  it('lets a client that sends an oversized body in full (no Expect) read the 413 without a reset', async () => {
    const size = 4 * 1024 * 1024;
    const x = await exchange([
      `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${size}\r\n\r\n`,
      Buffer.alloc(size, 0x20),
    ], { halfClose: true });
    expect(x.error).toBeUndefined();
    expectOpenAIError(x.response, 413, 'body_too_large');
  });

  it('answers an oversized Expect: 100-continue request with 413 directly, never 100 Continue', async () => {
    const x = await exchange(
      ['POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 60000000\r\nexpect: 100-continue\r\n\r\n'],
      { halfClose: true },
    );
    expect(x.raw).not.toMatch(/^HTTP\/1\.1 100/);
    expectOpenAIError(x.response, 413, 'body_too_large');
  });

  it('still sends 100 Continue to a request within the limit and serves it', async () => {
    const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    const x = await new Promise<string>((resolve) => {
      const s = net.connect(gw.gateway.dataAddress.port, '127.0.0.1', () => {
        s.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n`);
      });
      let out = '';
      s.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.startsWith('HTTP/1.1 100') && !out.includes('200 OK')) s.write(body);
      });
      s.on('close', () => resolve(out));
      s.on('error', () => undefined);
    });
    expect(x).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200/);
  });
});
