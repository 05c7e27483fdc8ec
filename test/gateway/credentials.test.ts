// Seed test case 2 (zero trust): no client credential reaches an upstream in any letter case or
// number of copies, the backend's own key is injected, and the client never sees it.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendYaml, routeYaml, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const SECRET = 'sk-injected-7f3a9c';
let up: Upstream;
let azure: Upstream;
let anthropic: Upstream;
let gw: TestGateway;

beforeAll(async () => {
  up = await startUpstream();
  azure = await startUpstream();
  anthropic = await startUpstream();
  gw = await startGateway({
    'b.yaml': [
      backendYaml('openai-like', [{ port: up.port }], { apiKey: SECRET }),
      backendYaml('azure-like', [{ port: azure.port }], { apiKey: SECRET, policy: 'AzureAPIKey' }),
      backendYaml('anthropic-like', [{ port: anthropic.port }], { apiKey: SECRET, policy: 'AnthropicAPIKey' }),
    ].join('---\n'),
    'r.yaml': routeYaml('r', [
      { matches: [{ 'x-ai-eg-model': 'm' }], backends: [{ name: 'openai-like' }] },
      { matches: [{ 'x-ai-eg-model': 'azure' }], backends: [{ name: 'azure-like' }] },
      { matches: [{ 'x-ai-eg-model': 'claude' }], backends: [{ name: 'anthropic-like' }] },
    ]),
  });
});

afterAll(async () => {
  await gw.close();
  await Promise.all([up.close(), azure.close(), anthropic.close()]);
});

/** Sends bytes exactly as given (duplicate headers, odd casing) and returns the raw response. */
function rawRequest(port: number, head: string, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(`${head}content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    });
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (out += d));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

const ROGUE = [
  'Authorization: Bearer malicious-token',
  'AUTHORIZATION: Bearer malicious-token-2',
  'authorization: Basic bWFsaWNpb3Vz',
  'Proxy-Authorization: Basic cm9ndWU=',
  'X-Api-Key: rogue-x-api-key',
  'x-API-key: rogue-x-api-key-2',
  'Api-Key: rogue-azure-key',
  'api-key: rogue-azure-key-2',
  'X-Goog-Api-Key: rogue-google-key',
  'Cookie: session=rogue',
  'cookie: other=rogue',
  'X-AIGW-Backend-Override: evil',
  'x-aigw-anything: evil',
  'X-Ai-Eg-Model: m',
];

describe('zero-trust credentials', () => {
  for (const [model, target, header, expected] of [
    ['m', () => up, 'authorization', `Bearer ${SECRET}`],
    ['azure', () => azure, 'api-key', SECRET],
    ['claude', () => anthropic, 'x-api-key', SECRET],
  ] as const) {
    it(`strips every client credential variant and injects the ${header} credential (${model})`, async () => {
      const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] });
      const head = `POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\nx-workload-app: toolbench-agent\r\n${ROGUE.join('\r\n')}\r\n`;
      const res = await rawRequest(gw.gateway.dataAddress.port, head, body);
      expect(res).toMatch(/^HTTP\/1\.1 200/);
      // The client never sees the injected key.
      expect(res).not.toContain(SECRET);
      const seen = target().requests.at(-1);
      expect(seen).toBeDefined();
      const raw = (seen?.rawHeaders ?? []).join('\n').toLowerCase();
      for (const rogue of ['malicious', 'bwfsawnpb3vz', 'cm9ndwu=', 'rogue', 'evil']) expect(raw).not.toContain(rogue);
      for (const name of ['proxy-authorization', 'x-goog-api-key', 'cookie', 'x-aigw-backend-override', 'x-aigw-anything']) {
        expect(seen?.headers[name]).toBeUndefined();
      }
      // Exactly one credential header, the injected one, exactly once on the wire.
      const credLines = (seen?.rawHeaders ?? []).filter((_, i, a) => i % 2 === 0 && ['authorization', 'api-key', 'x-api-key'].includes(String(a[i]).toLowerCase()));
      expect(credLines).toEqual([header]);
      expect(seen?.headers[header]).toBe(expected);
      // Ordinary headers still travel.
      expect(seen?.headers['x-workload-app']).toBe('toolbench-agent');
    });
  }

  it('never shows the injected key in an error the backend returns', async () => {
    up.behave((_req, _rec, res) => {
      const text = JSON.stringify({ error: { message: `Incorrect API key provided: ${SECRET}`, type: 'invalid_request_error', code: 'invalid_api_key' } });
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(text);
    });
    try {
      const r = await fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer client' },
        body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
      });
      const text = await r.text();
      // The client's own credentials were not at fault: 502, with the operator's fix named.
      expect(r.status).toBe(502);
      expect(text).not.toContain(SECRET);
      expect(JSON.parse(text)).toMatchObject({ error: { code: 'upstream_auth_failed' } });
    } finally {
      up.behave((await import('../helpers/upstream.js')).openAIBehavior());
    }
  });

  it('keeps the secret out of /config_dump and the logs', async () => {
    const dump = await (await fetch(`${gw.adminUrl}/config_dump`)).text();
    expect(dump).not.toContain(SECRET);
    expect(dump).toContain('redacted');
    expect(gw.logs.join('\n')).not.toContain(SECRET);
  });
});
