// apiKeyAuth end to end: keys from a Secret, the verified client decides x-workload-app (routing,
// upstream headers, metrics), spoofed headers are refused or overwritten, per-workload model
// allowlists answer 403, and no client credential ever reaches an upstream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendYaml, routeYaml, startGateway, type TestGateway } from '../helpers/gateway.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';
import { chat, rawHttp, secretYaml, securityPolicyYaml } from './helpers.js';

const KEY_A = 'tg-team-a-0123456789abcdef0123456789';
const KEY_B = 'tg-team-b-0123456789abcdef0123456789';
const KEY_C = 'tg-team-c-0123456789abcdef0123456789';

let one: Upstream;
let two: Upstream;

beforeAll(async () => {
  one = await startUpstream(openAIBehavior());
  two = await startUpstream(openAIBehavior());
});
afterAll(async () => {
  await one.close();
  await two.close();
});

function manifests(annotations?: Record<string, string>): Record<string, string> {
  return {
    'b.yaml': [backendYaml('one', [{ port: one.port }]), backendYaml('two', [{ port: two.port }])].join('---\n'),
    'l.yaml': routeYaml('listing', [
      { matches: [{ 'x-workload-app': 'team-b', 'x-ai-eg-model': 'small-1' }], backends: [{ name: 'two' }] },
      { matches: [{ 'x-workload-app': 'team-b', 'x-ai-eg-model': 'large-1' }], backends: [{ name: 'two' }] },
    ]),
    'r.yaml': routeYaml('r', [
      { matches: [{ 'x-workload-app': 'team-a' }], backends: [{ name: 'one' }] },
      { matches: [{ 'x-workload-app': 'team-b' }, { 'x-workload-app': 'team-c' }], backends: [{ name: 'two' }] },
    ]),
    's.yaml': secretYaml('client-keys', { 'team-a': KEY_A, 'team-b': KEY_B, 'team-c': KEY_C }),
    'p.yaml': securityPolicyYaml(
      'clients',
      `  apiKeyAuth:
    credentialRefs:
      - name: client-keys
    extractFrom:
      - headers: [x-api-key]
      - headers: [authorization]
    forwardClientIDHeader: x-client-id
  authorization:
    defaultAction: Deny
    rules:
      - name: team-b-small-models
        action: Allow
        principal:
          headers:
            - name: x-workload-app
              values: [team-b]
        operation:
          models: ["small-*"]
      - action: Allow
        principal:
          headers:
            - name: x-workload-app
              values: [team-a]
`,
      { annotations },
    ),
  };
}

describe('apiKeyAuth with the default identity binding (Reject)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(manifests());
  });
  afterAll(() => gw.close());

  it('refuses a request without a key: 401, OpenAI error shape, challenge, request id', async () => {
    const r = await chat(gw.url, 'm');
    expect(r.status).toBe(401);
    expect(r.json.error).toMatchObject({ type: 'authentication_error', code: 'unauthenticated' });
    expect(r.json.error?.message).toContain('x-api-key');
    expect(r.headers.get('www-authenticate')).toContain('realm="tollgate"');
    expect(r.headers.get('x-request-id')).toBeTruthy();
  });

  it('refuses a wrong key without saying anything about the real ones', async () => {
    const r = await chat(gw.url, 'm', { 'x-api-key': `${KEY_A.slice(0, -1)}x` });
    expect(r.status).toBe(401);
    expect(r.json.error?.message).toBe('The API key in the x-api-key header is not valid.');
  });

  it('binds the workload to the key: routing, upstream headers and the client id', async () => {
    const before = one.requests.length;
    const r = await chat(gw.url, 'm', { 'x-api-key': KEY_A });
    expect(r.status).toBe(200);
    expect(one.requests.length).toBe(before + 1);
    const seen = one.requests.at(-1)!;
    expect(seen.headers['x-workload-app']).toBe('team-a');
    expect(seen.headers['x-client-id']).toBe('team-a');
    expect(seen.headers['x-api-key']).toBeUndefined();
    expect(seen.headers['authorization']).toBeUndefined();
    expect(JSON.stringify(seen.headers)).not.toContain(KEY_A);
  });

  it('accepts the key as an OpenAI SDK sends it (Authorization: Bearer)', async () => {
    const r = await chat(gw.url, 'small-1', { authorization: `Bearer ${KEY_B}` });
    expect(r.status).toBe(200);
    expect(two.requests.at(-1)?.headers['x-workload-app']).toBe('team-b');
    expect(two.requests.at(-1)?.headers['authorization']).toBeUndefined();
  });

  it('rejects a spoofed x-workload-app that disagrees with a valid key (403), naming only the caller\'s own workload', async () => {
    const before = one.requests.length + two.requests.length;
    const r = await chat(gw.url, 'm', { 'x-api-key': KEY_B, 'x-workload-app': 'team-a' });
    expect(r.status).toBe(403);
    expect(r.json.error).toMatchObject({ type: 'permission_error', code: 'forbidden' });
    expect(r.json.error?.message).toContain('"team-b"');
    expect(one.requests.length + two.requests.length).toBe(before);
  });

  it('rejects a spoofed x-workload-app with an invalid key (401) and sends nothing upstream', async () => {
    const before = one.requests.length + two.requests.length;
    const r = await chat(gw.url, 'm', { 'x-api-key': 'made-up', 'x-workload-app': 'team-a' });
    expect(r.status).toBe(401);
    expect(one.requests.length + two.requests.length).toBe(before);
  });

  it('accepts a matching x-workload-app and ignores a client-sent x-client-id', async () => {
    const r = await chat(gw.url, 'm', { 'x-api-key': KEY_A, 'x-workload-app': 'team-a', 'x-client-id': 'team-b' });
    expect(r.status).toBe(200);
    expect(one.requests.at(-1)?.headers['x-client-id']).toBe('team-a');
  });

  it('refuses a key sent twice (two header lines on the wire)', async () => {
    const body = JSON.stringify({ model: 'm', messages: [] });
    const r = await rawHttp(
      gw.url,
      `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-api-key: ${KEY_A}\r\nX-Api-Key: ${KEY_A}\r\n` +
        `content-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
    );
    expect(r.status).toBe(401);
    expect(r.body).toContain('more than once');
  });

  it('enforces per-workload model allowlists with 403', async () => {
    expect((await chat(gw.url, 'small-2', { 'x-api-key': KEY_B })).status).toBe(200);
    const denied = await chat(gw.url, 'large-1', { 'x-api-key': KEY_B });
    expect(denied.status).toBe(403);
    expect(denied.json.error?.message).toBe('Workload "team-b" is not allowed to use model "large-1" (no authorization rule allows it).');
    const none = await chat(gw.url, 'small-2', { 'x-api-key': KEY_C });
    expect(none.status).toBe(403);
  });

  it('lists only the models a client may use, and only to an authenticated client', async () => {
    expect((await fetch(`${gw.url}/v1/models`)).status).toBe(401);
    const ids = async (key: string): Promise<string[]> => {
      const r = await fetch(`${gw.url}/v1/models`, { headers: { 'x-api-key': key } });
      expect(r.status).toBe(200);
      return ((await r.json()) as { data: Array<{ id: string }> }).data.map((m) => m.id);
    };
    expect(await ids(KEY_A)).toEqual(['large-1', 'small-1']);
    expect(await ids(KEY_B)).toEqual(['small-1']);
    expect(await ids(KEY_C)).toEqual([]);
  });

  it('accounts refused and accepted requests to the verified workload only', async () => {
    await chat(gw.url, 'm', { 'x-api-key': 'nope', 'x-workload-app': 'team-z' });
    await chat(gw.url, 'm', { 'x-api-key': KEY_B, 'x-workload-app': 'team-z' });
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/workload="team-a"/);
    expect(metrics).not.toMatch(/workload="team-z"/);
  });

  it('never shows a key in /config_dump or the logs', async () => {
    const dump = await (await fetch(`${gw.adminUrl}/config_dump`)).text();
    expect(dump).toMatch(/"clientId": ?"team-a"/);
    for (const k of [KEY_A, KEY_B, KEY_C]) {
      expect(dump).not.toContain(k);
      expect(gw.logs.join('\n')).not.toContain(k);
    }
  });
});

describe('apiKeyAuth with identity-mismatch Overwrite', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(manifests({ 'tollgate.io/identity-mismatch': 'Overwrite' }));
  });
  afterAll(() => gw.close());

  it('routes a spoofed request as the key\'s workload instead of refusing it', async () => {
    const before = one.requests.length;
    const r = await chat(gw.url, 'small-1', { 'x-api-key': KEY_B, 'x-workload-app': 'team-a' });
    expect(r.status).toBe(200);
    expect(one.requests.length).toBe(before);
    expect(two.requests.at(-1)?.headers['x-workload-app']).toBe('team-b');
  });
});
