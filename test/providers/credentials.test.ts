// Upstream credentials end to end: GCP service-account OAuth2 (the JWT assertion verified by the
// simulator's token endpoint), background refresh and refresh failures (metrics, logs, no crash),
// Azure client-secret tokens, AWS SigV4 from a credentials file profile and from the environment
// (checked by the Bedrock simulator), and credentialOverride.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startSimServer } from '../../src/sim/index.js';
import { startProviderSim, type ProviderSimServer } from '../../src/sim/providers/index.js';
import { eventually, startGateway, waitReady, type TestGateway } from '../helpers/gateway.js';
import { AWS_KEYS, backendYaml, policyYaml, routeYaml, secretYaml, serviceAccountJson } from './rig.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

async function gw(manifests: Record<string, string>): Promise<TestGateway> {
  const g = await startGateway(manifests);
  closers.push(() => g.close());
  return g;
}

async function sim(api: Parameters<typeof startProviderSim>[0], opts: Parameters<typeof startProviderSim>[1]): Promise<ProviderSimServer> {
  const s = await startProviderSim(api, opts);
  closers.push(() => s.close());
  return s;
}

function client(g: TestGateway): OpenAI {
  return new OpenAI({ apiKey: 'client', baseURL: `${g.url}/v1`, maxRetries: 0 });
}

const chat = (c: OpenAI, model: string, headers?: Record<string, string>) =>
  c.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] }, headers === undefined ? undefined : { headers });

async function metrics(g: TestGateway): Promise<string> {
  return (await fetch(`${g.adminUrl}/metrics`)).text();
}

function vertexManifests(simUrl: string, port: number, annotations: Record<string, string> = {}, tokenUri = `${simUrl}/token`): Record<string, string> {
  return {
    'b.yaml': backendYaml('vx', 'GCPVertexAI', port),
    'p.yaml':
      policyYaml('vx-gcp', 'vx', 'GCPCredentials', '  gcpCredentials:\n    projectName: proj-1\n    region: us-central1\n    credentialsFile:\n      secretRef:\n        name: vx-sa\n', annotations) +
      '---\n' +
      secretYaml('vx-sa', { 'service_account.json': serviceAccountJson(tokenUri) }),
    'r.yaml': routeYaml('r', 'gemini-2.5-flash', 'vx'),
  };
}

describe('GCPCredentials: service account → OAuth2 token', () => {
  it('fetches a token once (the first request waits), reuses it, and refreshes it in the background', async () => {
    const s = await sim('vertex', { serviceAccountJson: serviceAccountJson('x'), project: 'proj-1', location: 'us-central1', tokenTtlS: 2 });
    const g = await gw(vertexManifests(s.url, s.port));
    const c = client(g);
    await Promise.all([chat(c, 'gemini-2.5-flash'), chat(c, 'gemini-2.5-flash'), chat(c, 'gemini-2.5-flash')]);
    await chat(c, 'gemini-2.5-flash');
    const tokenCalls = (): number => s.seen.all.filter((r) => r.path === '/token').length;
    expect(tokenCalls()).toBe(1);
    expect(s.seen.last?.headers['authorization']).toBe('<present>');
    // Used, so refreshed ahead of expiry (half its 2 s lifetime), off the request path.
    await eventually(() => tokenCalls() >= 2, 'a background refresh', 5_000);
    await chat(c, 'gemini-2.5-flash');
    expect(await metrics(g)).toMatch(/tollgate_credential_refreshes_total\{policy="BackendSecurityPolicy default\/vx-gcp",kind="gcp",result="ok"\} [2-9]/);
  });

  it('a token endpoint that fails: 502 naming the cause, a metric and a log line, never a crash', async () => {
    const s = await sim('vertex', { serviceAccountJson: serviceAccountJson('x') });
    const dead = http.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}/token`;
    await new Promise<void>((r) => dead.close(() => r()));
    const g = await gw(vertexManifests(s.url, s.port, { 'tollgate.io/token-url': deadUrl }));
    const err = await chat(client(g), 'gemini-2.5-flash').catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 502, code: 'upstream_auth_failed', message: expect.stringMatching(/could not obtain a credential.*could not be reached \(ECONNREFUSED\)/) });
    expect(await metrics(g)).toMatch(/tollgate_credential_refreshes_total\{policy="BackendSecurityPolicy default\/vx-gcp",kind="gcp",result="error"\} [1-9]/);
    expect(g.logs.some((l) => l.includes('upstream credential refresh failed') && l.includes('ECONNREFUSED'))).toBe(true);
    // The gateway still serves (ready once its token encodings are loaded).
    await waitReady(g.adminUrl);
  });

  it('keeps serving on the current token while background refreshes fail', async () => {
    let fail = false;
    let calls = 0;
    const tokens = http.createServer((req, res) => {
      req.resume();
      calls++;
      res.writeHead(fail ? 500 : 200, { 'content-type': 'application/json' });
      res.end(fail ? '{"error":"internal_failure"}' : JSON.stringify({ access_token: 'ya29.static-token', expires_in: 3, token_type: 'Bearer' }));
    });
    await new Promise<void>((r) => tokens.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise<void>((r) => tokens.close(() => r())));
    const s = await sim('vertex', { apiKey: 'ya29.static-token' });
    const g = await gw(vertexManifests(s.url, s.port, {}, `http://127.0.0.1:${(tokens.address() as AddressInfo).port}/token`));
    const c = client(g);
    await chat(c, 'gemini-2.5-flash');
    fail = true;
    await eventually(() => calls >= 2, 'a failed background refresh', 5_000);
    await chat(c, 'gemini-2.5-flash'); // the token fetched first is still valid
    expect(g.logs.some((l) => l.includes('upstream credential refresh failed') && l.includes('HTTP 500 (internal_failure)'))).toBe(true);
  });
});

describe('AzureCredentials: client secret → Entra ID token', () => {
  it('gets a bearer token from the token endpoint and sends it; a wrong secret is a clear 502', async () => {
    const s = await sim('azure', { azureClientId: 'app-1', azureClientSecret: 'right-secret' });
    const manifests = (secret: string): Record<string, string> => ({
      'b.yaml': backendYaml('az', 'AzureOpenAI', s.port, '2024-10-21'),
      'p.yaml':
        policyYaml('az-cred', 'az', 'AzureCredentials', '  azureCredentials:\n    clientID: app-1\n    tenantID: tenant-1\n    clientSecretRef:\n      name: az-secret\n', {
          'tollgate.io/token-url': `${s.url}/tenant-1/oauth2/v2.0/token`,
        }) +
        '---\n' +
        secretYaml('az-secret', { 'client-secret': secret }),
      'r.yaml': routeYaml('r', 'gpt-4o', 'az'),
    });
    const g = await gw(manifests('right-secret'));
    const r = await chat(client(g), 'gpt-4o');
    expect(r.choices[0]?.message.content?.length).toBeGreaterThan(0);
    expect(s.seen.all.some((x) => x.path === '/tenant-1/oauth2/v2.0/token')).toBe(true);
    expect(s.seen.last?.headers['authorization']).toBe('<present>');
    expect(s.seen.last?.headers['api-key']).toBeUndefined();
    await g.write('p.yaml', manifests('wrong-secret')['p.yaml'] as string);
    await eventually(async () => {
      const e = await chat(client(g), 'gpt-4o').catch((x: unknown) => x);
      return e instanceof OpenAI.APIError && e.status === 502 && /HTTP 401 \(invalid_client\)/.test(e.message);
    }, 'the reloaded policy to fail with the token endpoint reason');
  });
});

describe('AWSCredentials: SigV4 over the final request', () => {
  const creds = (profile: string, keys: { accessKeyId: string; secretAccessKey: string }, token?: string): string =>
    `[default]\naws_access_key_id = AKIDNOTTHISONE000000\naws_secret_access_key = nope\n\n[${profile}]\naws_access_key_id = ${keys.accessKeyId}\naws_secret_access_key = ${keys.secretAccessKey}\n${token === undefined ? '' : `aws_session_token = ${token}\n`}`;

  it('signs with a named profile of a credentials file, over a body the route mutates', async () => {
    const s = await sim('bedrock', { ...AWS_KEYS, region: 'eu-west-1' });
    const g = await gw({
      'b.yaml': backendYaml('br', 'AWSBedrock', s.port),
      'p.yaml':
        policyYaml('br-aws', 'br', 'AWSCredentials', '  awsCredentials:\n    region: eu-west-1\n    credentialsFile:\n      profile: prod\n      secretRef:\n        name: br-aws\n') +
        '---\n' +
        secretYaml('br-aws', { credentials: creds('prod', AWS_KEYS, 'session-token-1') }),
      'r.yaml': routeYaml('r', 'us.amazon.nova-micro-v1:0', 'br', '\n          bodyMutation:\n            set:\n              - path: additionalModelResponseFieldPaths\n                value: \'["/stop_sequence"]\''),
    });
    const r = await chat(client(g), 'us.amazon.nova-micro-v1:0');
    expect(r.choices[0]?.message.content?.length).toBeGreaterThan(0);
    expect((s.seen.last?.body as Record<string, unknown>)['additionalModelResponseFieldPaths']).toEqual(['/stop_sequence']);
    expect(s.seen.last?.headers['x-amz-security-token']).toBe('<present>');
  });

  it('a wrong secret is refused by the service and reported as the operator\'s problem (502)', async () => {
    const s = await sim('bedrock', { ...AWS_KEYS, region: 'us-east-1' });
    const g = await gw({
      'b.yaml': backendYaml('br', 'AWSBedrock', s.port),
      'p.yaml':
        policyYaml('br-aws', 'br', 'AWSCredentials', '  awsCredentials:\n    region: us-east-1\n    credentialsFile:\n      secretRef:\n        name: br-aws\n') +
        '---\n' +
        secretYaml('br-aws', { credentials: `[default]\naws_access_key_id = ${AWS_KEYS.accessKeyId}\naws_secret_access_key = wrong\n` }),
      'r.yaml': routeYaml('r', 'm', 'br'),
    });
    await expect(chat(client(g), 'm')).rejects.toMatchObject({ status: 502, code: 'upstream_auth_failed' });
  });

  it('uses the default chain: keys from the environment', async () => {
    const saved = { ...process.env };
    process.env['AWS_ACCESS_KEY_ID'] = AWS_KEYS.accessKeyId;
    process.env['AWS_SECRET_ACCESS_KEY'] = AWS_KEYS.secretAccessKey;
    closers.push(async () => {
      delete process.env['AWS_ACCESS_KEY_ID'];
      delete process.env['AWS_SECRET_ACCESS_KEY'];
      Object.assign(process.env, saved);
    });
    const s = await sim('bedrock', { ...AWS_KEYS, region: 'us-east-1' });
    const g = await gw({
      'b.yaml': backendYaml('br', 'AWSBedrock', s.port),
      'p.yaml': policyYaml('br-aws', 'br', 'AWSCredentials', '  awsCredentials:\n    region: us-east-1\n'),
      'r.yaml': routeYaml('r', 'm', 'br'),
    });
    const r = await chat(client(g), 'm');
    expect(r.choices[0]?.message.content?.length).toBeGreaterThan(0);
  });
});

describe('credentialOverride.fromRequestHeaders', () => {
  it('APIKey: the per-request key is used and never forwarded; fallback and its refusal', async () => {
    const vllm = await startSimServer({ apiKey: 'override-key', profile: 'fast' });
    closers.push(() => vllm.close());
    const manifests = (fallback: boolean): Record<string, string> => ({
      'b.yaml': backendYaml('oa', 'OpenAI', vllm.port),
      'p.yaml':
        policyYaml('oa-key', 'oa', 'APIKey', `  apiKey:\n    secretRef:\n      name: oa-secret\n  credentialOverride:\n    fromRequestHeaders:\n      fallbackToConfigured: ${fallback}\n`) +
        '---\n' +
        secretYaml('oa-secret', { apiKey: 'configured-key' }),
      'r.yaml': routeYaml('r', 'sim-model', 'oa'),
    });
    const g = await gw(manifests(true));
    const c = client(g);
    const ok = await c.chat.completions.create({ model: 'sim-model', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-aigw-api-key': 'override-key' } }).withResponse();
    const id = ok.response.headers.get('x-request-id') ?? '';
    const log = (await (await fetch(`${vllm.url}/_sim/requests/${id}`)).json()) as { credential: string; headers: Record<string, string> };
    expect(log.credential).toBe('valid');
    expect(Object.keys(log.headers).filter((h) => h.startsWith('x-aigw'))).toEqual([]);
    // Without the header: the configured key, which this upstream refuses.
    await expect(chat(c, 'sim-model')).rejects.toMatchObject({ status: 502, code: 'upstream_auth_failed' });
    await g.write('p.yaml', manifests(false)['p.yaml'] as string);
    await eventually(async () => {
      const e = await chat(c, 'sim-model').catch((x: unknown) => x);
      return e instanceof OpenAI.APIError && e.status === 401 && e.code === 'unauthenticated';
    }, 'fallbackToConfigured: false to refuse requests without the header');
  });

  it('AWSCredentials: the three x-aigw-aws-* headers sign the request; half a key pair is refused', async () => {
    const s = await sim('bedrock', { accessKeyId: 'AKIDPERREQUEST000001', secretAccessKey: 'per-request-secret', region: 'us-east-1' });
    const g = await gw({
      'b.yaml': backendYaml('br', 'AWSBedrock', s.port),
      'p.yaml':
        policyYaml('br-aws', 'br', 'AWSCredentials', '  awsCredentials:\n    region: us-east-1\n    credentialsFile:\n      secretRef:\n        name: br-aws\n  credentialOverride:\n    fromRequestHeaders: {}\n') +
        '---\n' +
        secretYaml('br-aws', { credentials: `[default]\naws_access_key_id = ${AWS_KEYS.accessKeyId}\naws_secret_access_key = ${AWS_KEYS.secretAccessKey}\n` }),
      'r.yaml': routeYaml('r', 'm', 'br'),
    });
    const c = client(g);
    const r = await chat(c, 'm', { 'x-aigw-aws-access-key-id': 'AKIDPERREQUEST000001', 'x-aigw-aws-secret-access-key': 'per-request-secret' });
    expect(r.choices[0]?.message.content?.length).toBeGreaterThan(0);
    expect(Object.keys(s.seen.last?.headers ?? {}).filter((h) => h.startsWith('x-aigw'))).toEqual([]);
    await expect(chat(c, 'm', { 'x-aigw-aws-access-key-id': 'AKIDPERREQUEST000001' })).rejects.toMatchObject({ status: 401, code: 'unauthenticated' });
  });
});

afterAll(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});
