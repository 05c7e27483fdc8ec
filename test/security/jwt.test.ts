// jwt end to end with real tokens: a JWKS served over HTTP (remoteJWKS), RS256 / ES256 / EdDSA keys,
// every rejection reason answered with a precise 401, claims bound to headers, claim- and
// scope-based authorization, issuer key rotation and an unreachable issuer.
import { SignJWT, base64url } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendYaml, eventually, routeYaml, startGateway, type TestGateway } from '../helpers/gateway.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';
import { chat, type JwksServer, securityPolicyYaml, signingKey, type SigningKey, startJwksServer, token } from './helpers.js';

const ISS = 'https://idp.example.com';

let up: Upstream;
let jwks: JwksServer;
let rsa: SigningKey;
let ec: SigningKey;
let gw: TestGateway;

function policy(uri: string): string {
  return securityPolicyYaml(
    'jwt',
    `  jwt:
    providers:
      - name: idp
        issuer: ${ISS}
        audiences: [tollgate]
        remoteJWKS:
          uri: ${uri}
          cacheDuration: 1s
        claimToHeaders:
          - header: x-workload-app
            claim: team
          - header: x-user
            claim: sub
          - header: x-org
            claim: org.name
  authorization:
    defaultAction: Deny
    rules:
      - name: llm-users
        action: Allow
        principal:
          jwt:
            provider: idp
            claims:
              - name: groups
                valueType: StringArray
                values: [llm]
            scopes: [chat]
`,
  );
}

beforeAll(async () => {
  up = await startUpstream(openAIBehavior());
  rsa = await signingKey('rsa-1', 'RS256');
  ec = await signingKey('ec-1', 'ES256');
  jwks = await startJwksServer([rsa.publicJwk, ec.publicJwk]);
  gw = await startGateway({
    'b.yaml': backendYaml('one', [{ port: up.port }]),
    'r.yaml': routeYaml('r', [{ matches: [{ 'x-workload-app': 'team-a' }, { 'x-workload-app': 'team-b' }], backends: [{ name: 'one' }] }]),
    'p.yaml': policy(jwks.url),
  });
});
afterAll(async () => {
  await gw.close();
  await jwks.close();
  await up.close();
});

const good = { iss: ISS, aud: 'tollgate', sub: 'alice', team: 'team-a', groups: ['llm', 'other'], scope: 'chat embed', org: { name: 'acme' } };

async function withToken(t: string, extra: Record<string, string> = {}) {
  return chat(gw.url, 'm', { authorization: `Bearer ${t}`, ...extra });
}

describe('jwt: valid tokens', () => {
  it('accepts an RS256 token from the remote JWKS and binds its claims to headers', async () => {
    const r = await withToken(await token(rsa, good));
    expect(r.status).toBe(200);
    const seen = up.requests.at(-1)!;
    expect(seen.headers['x-workload-app']).toBe('team-a');
    expect(seen.headers['x-user']).toBe('alice');
    expect(seen.headers['x-org']).toBe('acme');
    expect(seen.headers['authorization']).toBeUndefined();
  });

  it('accepts an ES256 token from the same key set', async () => {
    expect((await withToken(await token(ec, { ...good, team: 'team-b' }))).status).toBe(200);
    expect(up.requests.at(-1)?.headers['x-workload-app']).toBe('team-b');
  });

  it('overwrites client-sent copies of claim headers', async () => {
    const r = await withToken(await token(rsa, good), { 'x-user': 'mallory', 'x-org': 'evil' });
    expect(r.status).toBe(200);
    expect(up.requests.at(-1)?.headers['x-user']).toBe('alice');
    expect(up.requests.at(-1)?.headers['x-org']).toBe('acme');
  });
});

describe('jwt: every rejection is a precise 401', () => {
  const cases: Array<[string, () => Promise<string>, RegExp]> = [
    ['no token', async () => '', /requires a bearer token in the authorization header/],
    ['an expired token', () => token(rsa, good, { expiresIn: Math.floor(Date.now() / 1000) - 600 }), /has expired/],
    ['a token not valid yet', () => token(rsa, good, { notBefore: '10m' }), /not valid yet/],
    ['the wrong audience', () => token(rsa, { ...good, aud: 'someone-else' }), /audience \(aud\) is not accepted/],
    ['the wrong issuer', () => token(rsa, { ...good, iss: 'https://evil.example.com' }), /issuer \(iss\) is not accepted/],
    [
      'an HMAC-signed token (wrong algorithm)',
      () => new SignJWT(good).setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' }).setExpirationTime('5m').sign(new TextEncoder().encode('x'.repeat(32))),
      /algorithm this gateway does not accept \(HS256\)/,
    ],
    ['an unsigned token (alg none)', async () => `${base64url.encode('{"alg":"none"}')}.${base64url.encode(JSON.stringify(good))}.`, /algorithm this gateway does not accept \(none\)/],
    [
      'a tampered payload',
      async () => {
        const [h, , s] = (await token(rsa, good)).split('.');
        return `${h}.${base64url.encode(JSON.stringify({ ...good, team: 'team-b' }))}.${s}`;
      },
      /signature does not verify/,
    ],
    ['an unknown key id', () => token(rsa, good, { kid: 'nope' }), /No signing key of the issuer matches/],
    ['garbage', async () => 'not.a.jwt', /malformed/],
  ];
  for (const [what, make, message] of cases) {
    it(`refuses ${what}`, async () => {
      const before = up.requests.length;
      const t = await make();
      const r = t === '' ? await chat(gw.url, 'm') : await withToken(t);
      expect(r.status).toBe(401);
      expect(r.json.error).toMatchObject({ type: 'authentication_error', code: 'unauthenticated' });
      expect(r.json.error?.message).toMatch(message);
      expect(r.headers.get('www-authenticate')).toMatch(/^Bearer realm="tollgate"/);
      expect(up.requests.length).toBe(before);
      // Never echo the token back.
      if (t.length > 20) expect(r.text).not.toContain(t.slice(-20));
    });
  }
});

describe('jwt: identity binding and authorization', () => {
  it('rejects a spoofed x-workload-app that disagrees with the token', async () => {
    const r = await withToken(await token(rsa, good), { 'x-workload-app': 'team-b' });
    expect(r.status).toBe(403);
    expect(r.json.error?.message).toContain('"team-a"');
  });

  it('denies a valid token whose claims or scopes the rules do not allow', async () => {
    expect((await withToken(await token(rsa, { ...good, groups: ['other'] }))).status).toBe(403);
    const noScope = await withToken(await token(rsa, { ...good, scope: 'embed' }));
    expect(noScope.status).toBe(403);
    expect(noScope.json.error?.type).toBe('permission_error');
  });
});

describe('jwt: issuer key rotation and outages', () => {
  it('picks up a new signing key after the cache duration', async () => {
    const next = await signingKey('rsa-2', 'RS256');
    jwks.keys = [next.publicJwk];
    const t = await token(next, good);
    await eventually(async () => (await withToken(t)).status === 200, 'the rotated key to be fetched', 10_000);
    // The old key is gone from the set: its tokens stop working.
    await eventually(async () => (await withToken(await token(rsa, good))).status === 401, 'the retired key to stop working', 10_000);
    jwks.keys = [rsa.publicJwk, ec.publicJwk];
  });

  it('answers 503 (not 401) when the issuer\'s keys were never fetchable', async () => {
    const down = await startJwksServer([]);
    down.failWith = 500;
    const g2 = await startGateway({
      'b.yaml': backendYaml('one', [{ port: up.port }]),
      'r.yaml': routeYaml('r', [{ backends: [{ name: 'one' }] }]),
      'p.yaml': policy(down.url),
    });
    try {
      const r = await chat(g2.url, 'm', { authorization: `Bearer ${await token(rsa, good)}` });
      expect(r.status).toBe(503);
      expect(r.json.error?.code).toBe('auth_unavailable');
      expect(r.headers.get('retry-after')).toBe('1');
    } finally {
      await g2.close();
      await down.close();
    }
  });
});

describe('jwt: local JWKS, EdDSA, optional tokens', () => {
  it('verifies against an inline key set and lets anonymous requests through when optional', async () => {
    const ed = await signingKey('ed-1', 'EdDSA');
    const inline = JSON.stringify({ keys: [ed.publicJwk] });
    const g3 = await startGateway({
      'b.yaml': backendYaml('one', [{ port: up.port }]),
      'r.yaml': routeYaml('r', [{ backends: [{ name: 'one' }] }]),
      'p.yaml': securityPolicyYaml(
        'local',
        `  jwt:
    optional: true
    providers:
      - name: local
        localJWKS:
          type: Inline
          inline: '${inline}'
`,
        { annotations: { 'tollgate.io/workload-claim': 'app' } },
      ),
    });
    try {
      const ok = await chat(g3.url, 'm', { authorization: `Bearer ${await token(ed, { sub: 'svc', app: 'batch' })}` });
      expect(ok.status).toBe(200);
      expect(up.requests.at(-1)?.headers['x-workload-app']).toBe('batch');
      // Anonymous: passes, and a client-sent workload is not trusted.
      const anon = await chat(g3.url, 'm', { 'x-workload-app': 'batch' });
      expect(anon.status).toBe(200);
      expect(up.requests.at(-1)?.headers['x-workload-app']).toBeUndefined();
      // Optional never excuses an invalid token.
      expect((await chat(g3.url, 'm', { authorization: `Bearer ${await token(rsa, { sub: 'x', app: 'batch' })}` })).status).toBe(401);
      // A verified token without the workload claim cannot say who it speaks for.
      const noApp = await chat(g3.url, 'm', { authorization: `Bearer ${await token(ed, { sub: 'svc' })}` });
      expect(noApp.status).toBe(401);
      expect(noApp.json.error?.message).toContain('workload claim');
    } finally {
      await g3.close();
    }
  });
});
