// Bodies that would hold the event loop or the stack: deep nesting is a 400 that says why, a body
// with more JSON values than the gateway parses is a 413 naming the limit, and every 5xx the gateway
// itself answers is in its log under the request id. (How long a large body holds the event loop is
// measured in `npm run bench:chaos`.)
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendYaml, routeYaml, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

let up: Upstream;
let gw: TestGateway;
let closedPort = 0;

beforeAll(async () => {
  up = await startUpstream();
  // A port nothing listens on: the backend behind it refuses every connection.
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  closedPort = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  gw = await startGateway({
    'b.yaml': backendYaml('b', [{ port: up.port }]),
    'down.yaml': backendYaml('down', [{ port: closedPort }]),
    'r.yaml': routeYaml('r', [
      { matches: [{ 'x-ai-eg-model': 'm' }], backends: [{ name: 'b' }] },
      { matches: [{ 'x-ai-eg-model': 'down' }], backends: [{ name: 'down' }] },
    ]),
  });
});

afterAll(async () => {
  await gw.close();
  await up.close();
});

async function post(body: string, requestId?: string): Promise<{ status: number; code: string; message: string; id: string | null }> {
  const r = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(requestId === undefined ? {} : { 'x-request-id': requestId }) },
    body,
  });
  const j = (await r.json()) as { error?: { code: string; message: string } };
  return { status: r.status, code: j.error?.code ?? '', message: j.error?.message ?? '', id: r.headers.get('x-request-id') };
}

describe('JSON shape limits', () => {
  it('answers 5,000 levels of nesting with a 400 that says the body nests too deep', async () => {
    const deep = `{"model":"m","messages":[{"role":"user","content":"x","extra":${'['.repeat(5_000)}${']'.repeat(5_000)}}]}`;
    const r = await post(deep);
    expect(r.status).toBe(400);
    expect(r.code).toBe('invalid_body');
    expect(r.message).toMatch(/deeper than 128 levels/);
    expect(up.requests.length).toBe(0);
  });

  it('answers a body with more JSON values than the limit with a 413 naming the limit', async () => {
    const keys: string[] = [];
    for (let i = 0; i < 250_000; i++) keys.push(`"k${i}":1`);
    const r = await post(`{"model":"m","messages":[{"role":"user","content":"x"}],"metadata":{${keys.join(',')}}}`);
    expect(r.status).toBe(413);
    expect(r.code).toBe('body_too_large');
    expect(r.message).toMatch(/more than 200000 JSON values/);
  });

  it('still serves a body with strings full of brackets and escaped quotes', async () => {
    const content = `${'[{'.repeat(300)} \\" ${'}]'.repeat(300)} \\\\`;
    const r = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"model":"m","messages":[{"role":"user","content":"${content}"}]}`,
    });
    expect(r.status).toBe(200);
  });

  it('logs a 5xx it answers itself with the request id', async () => {
    const r = await post(JSON.stringify({ model: 'down', messages: [{ role: 'user', content: 'x' }] }), 'req-5xx-logged');
    expect(r.status).toBe(502);
    expect(r.id).toBe('req-5xx-logged');
    const line = gw.logs.find((l) => l.includes('req-5xx-logged') && l.includes('request failed'));
    expect(line).toBeDefined();
    expect(line).toContain('upstream_connect_failed');
  });
});
