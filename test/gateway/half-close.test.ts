// A client that half-closes its connection (sends FIN) right after its request still reads the whole
// answer: curl, load balancers' health checks and `nc -N` do this, and HTTP/1.1 allows it (the
// client has nothing more to send, and says so). Seen on raw sockets: the response must arrive in
// full, streamed or not, and a refusal must arrive readable, before the gateway closes its side.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendYaml, routeYaml, startGateway, type TestGateway } from '../helpers/gateway.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';
import { parseRaw } from '../security/helpers.js';

let up: Upstream;
let gw: TestGateway;

beforeAll(async () => {
  // The upstream answers after a while and streams slowly, so the client's FIN arrives well before
  // the first byte of the answer.
  const answer = openAIBehavior({ chunks: 8, chunkDelayMs: 30 });
  up = await startUpstream((req, rec, res, socket) => {
    setTimeout(() => answer(req, rec, res, socket), 300);
  });
  gw = await startGateway({
    'b.yaml': backendYaml('b', [{ port: up.port }]),
    'r.yaml': routeYaml('r', [{ matches: [{ 'x-ai-eg-model': 'm' }], backends: [{ name: 'b' }] }]),
  });
});

afterAll(async () => {
  await gw.close();
  await up.close();
});

/** Sends one request, half-closes at once, and collects everything the gateway sends until it closes. */
function halfClosed(body: string): Promise<{ raw: string; error: string | undefined }> {
  return new Promise((resolve) => {
    const s = net.connect(gw.gateway.dataAddress.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let error: string | undefined;
    const t = setTimeout(() => s.destroy(), 10_000);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
    s.on('close', () => {
      clearTimeout(t);
      resolve({ raw: Buffer.concat(chunks).toString('utf8'), error });
    });
    s.on('connect', () => {
      s.end(`POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
  });
}

describe('a client that half-closes after its request', () => {
  it('reads a whole non-streamed answer', async () => {
    const x = await halfClosed(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }));
    expect(x.error).toBeUndefined();
    const r = parseRaw(x.raw);
    expect(r.status).toBe(200);
    expect(r.headers['x-request-id']).toMatch(/\S+/);
    const j = JSON.parse(r.body) as { choices: Array<{ message: { content: string } }> };
    expect(j.choices[0]?.message.content).toBe('w0 w1 w2 w3 w4 w5 w6 w7 ');
  });

  it('reads a whole streamed answer, to [DONE]', async () => {
    const x = await halfClosed(JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] }));
    expect(x.error).toBeUndefined();
    const r = parseRaw(x.raw);
    expect(r.status).toBe(200);
    expect(r.body).toContain('w7 ');
    expect(r.body).toContain('data: [DONE]');
  });

  it('reads a refusal', async () => {
    const x = await halfClosed(JSON.stringify({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }));
    expect(x.error).toBeUndefined();
    const r = parseRaw(x.raw);
    expect(r.status).toBe(404);
    expect(r.headers['x-request-id']).toMatch(/\S+/);
    expect((JSON.parse(r.body) as { error: { code: string } }).error.code).toBe('route_not_found');
  });
});
