// Credentials a client can hide in less obvious places never reach an upstream: the query string
// (over HTTP/1.1 and HTTP/2), underscore spellings of credential headers, and other vendors'
// credential and billing headers. A password in an absolute-form request URL appears in no answer
// and no log. The backend's injected key never reaches a client, also not inside a 200 event
// stream and not when the upstream splits it across chunks.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import http2 from 'node:http2';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendYaml, routeYaml } from '../helpers/gateway.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { startObsGateway, type ObsGateway } from '../observability/helpers.js';

const SECRET = 'sk-injected-upstream-5d1e2f9a7c';
let up: Upstream;
let gw: ObsGateway;
let logDir = '';

beforeAll(async () => {
  up = await startUpstream();
  logDir = await mkdtemp(join(tmpdir(), 'tollgate-cred-'));
  gw = await startObsGateway(
    {
      'b.yaml': backendYaml('b', [{ port: up.port }], { apiKey: SECRET }),
      'r.yaml': routeYaml('r', [{ matches: [{ 'x-ai-eg-model': 'm' }], backends: [{ name: 'b' }] }]),
    },
    { accessLog: { file: join(logDir, 'access.log') } },
  );
});

afterAll(async () => {
  await gw.close();
  await up.close();
  await rm(logDir, { recursive: true, force: true });
});

const BODY = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
const QUERY_SECRETS = ['qkey-111111', 'qapikey-222222', 'qtoken-333333', 'qsub-444444'];
const QUERY = `?key=${QUERY_SECRETS[0]}&api_key=${QUERY_SECRETS[1]}&access_token=${QUERY_SECRETS[2]}&subscription-key=${QUERY_SECRETS[3]}&keep=1`;

function expectNoQuerySecret(url: string): void {
  for (const s of QUERY_SECRETS) expect(url).not.toContain(s);
  expect(url).toContain('keep=1');
}

describe('client credentials in other places', () => {
  it('strips credentials from the query string over HTTP/1.1', async () => {
    const r = await fetch(`${gw.url}/v1/chat/completions${QUERY}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY });
    expect(r.status).toBe(200);
    expectNoQuerySecret(up.requests.at(-1)?.url ?? '');
  });

  it('strips credentials from the query string over HTTP/2', async () => {
    const session = http2.connect(gw.url);
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const s = session.request({ ':method': 'POST', ':path': `/v1/chat/completions${QUERY}`, 'content-type': 'application/json' });
        let st = 0;
        s.on('response', (h) => (st = Number(h[':status'])));
        s.on('data', () => undefined);
        s.on('end', () => resolve(st));
        s.on('error', reject);
        s.end(BODY);
      });
      expect(status).toBe(200);
    } finally {
      session.close();
    }
    expectNoQuerySecret(up.requests.at(-1)?.url ?? '');
  });

  it('strips underscore spellings and vendor credential and billing headers', async () => {
    const planted: Record<string, string> = {
      x_api_key: 'h-underscore-x-api-key',
      api_key: 'h-underscore-api-key',
      x_goog_api_key: 'h-underscore-goog',
      proxy_authorization: 'h-underscore-proxy',
      'ocp-apim-subscription-key': 'h-apim-sub',
      'x-auth-token': 'h-x-auth-token',
      'x-forwarded-authorization': 'h-fwd-authz',
      'openai-organization': 'h-org-billing',
      'openai-project': 'h-project-billing',
      'x-goog-user-project': 'h-goog-user-project',
    };
    // Raw bytes: fetch would refuse some of these names, a hostile client does not.
    const head = Object.entries(planted)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    const raw = await new Promise<string>((resolve) => {
      const s = net.connect(gw.gateway.dataAddress.port, '127.0.0.1', () => {
        s.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-harmless: kept\r\n${head}content-length: ${BODY.length}\r\nconnection: close\r\n\r\n${BODY}`);
      });
      let out = '';
      s.on('data', (d: Buffer) => (out += d.toString()));
      s.on('close', () => resolve(out));
      s.on('error', () => undefined);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 200/);
    const rec = up.requests.at(-1);
    const seen = JSON.stringify(rec?.rawHeaders);
    for (const [name, value] of Object.entries(planted)) {
      expect(seen, name).not.toContain(value);
      expect(rec?.headers[name], name).toBeUndefined();
    }
    expect(rec?.headers['x-harmless']).toBe('kept');
  });

  it('never shows a password from an absolute-form URL in an answer or a log', async () => {
    const password = 'userinfo-pw-8e8e8e';
    const raw = await new Promise<string>((resolve) => {
      const s = net.connect(gw.gateway.dataAddress.port, '127.0.0.1', () => {
        s.write(`GET http://admin:${password}@gateway.local/v1/nothing-here HTTP/1.1\r\nhost: gateway.local\r\nconnection: close\r\n\r\n`);
      });
      let out = '';
      s.on('data', (d: Buffer) => (out += d.toString()));
      s.on('close', () => resolve(out));
      s.on('error', () => undefined);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 404/);
    expect(raw).not.toContain(password);
    expect(raw).toContain('/v1/nothing-here');
    await gw.settled();
    expect(gw.logs.join('\n')).not.toContain(password);
    const access = await readFile(join(logDir, 'access.log'), 'utf8');
    expect(access).toContain('/v1/nothing-here');
    expect(access).not.toContain(password);
  });

  it('serves an absolute-form request for a real endpoint', async () => {
    const raw = await new Promise<string>((resolve) => {
      const s = net.connect(gw.gateway.dataAddress.port, '127.0.0.1', () => {
        s.write(`POST http://gateway.local/v1/chat/completions HTTP/1.1\r\nhost: gateway.local\r\ncontent-type: application/json\r\ncontent-length: ${BODY.length}\r\nconnection: close\r\n\r\n${BODY}`);
      });
      let out = '';
      s.on('data', (d: Buffer) => (out += d.toString()));
      s.on('close', () => resolve(out));
      s.on('error', () => undefined);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 200/);
  });
});

describe('the injected key in a 200 stream', () => {
  it('is redacted from streamed events, also when the upstream splits it across chunks', async () => {
    up.behave((_q, rec, res) => {
      const key = String(rec.headers['authorization'] ?? '').replace(/^Bearer /, '');
      const ev = (content: string): string => `data: {"choices":[{"index":0,"delta":{"content":${JSON.stringify(content)}},"finish_reason":null}]}\n\n`;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(ev(`whole ${key} here`));
      const split = ev(`split ${key} there`);
      const cut = split.indexOf(key) + 7;
      res.write(split.slice(0, cut));
      setTimeout(() => {
        res.write(split.slice(cut));
        res.write(`data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n`);
        res.end('data: [DONE]\n\n');
      }, 50);
    });
    const r = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    const text = await r.text();
    expect(r.status).toBe(200);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(SECRET.slice(0, 12));
    expect(text).toContain('whole ');
    expect(text).toContain(' there');
    expect(text).toContain('[DONE]');
  });
});
