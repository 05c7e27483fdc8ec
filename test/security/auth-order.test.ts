// Authentication before routing: a credential that is presented and fails verification is a 401
// that says why, whatever routing would have answered (a route-level policy whose claimToHeaders
// supplies the workload the route needs; an unroutable request under a Gateway-level policy).
// Tokens without `exp` are refused.
import { SignJWT, base64url } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendYaml, routeYaml, startGateway, type TestGateway } from '../helpers/gateway.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';
import { chat, type JwksServer, rawHttp, securityPolicyYaml, signingKey, type SigningKey, startJwksServer, token } from './helpers.js';

const ISS = 'https://idp.example.com';
let up: Upstream;
let jwks: JwksServer;
let rsa: SigningKey;
let stranger: SigningKey;
let routeLevel: TestGateway;
let gatewayLevel: TestGateway;

function jwtSpec(uri: string): string {
  return `  jwt:
    providers:
      - name: idp
        issuer: ${ISS}
        audiences: [tollgate]
        remoteJWKS:
          uri: ${uri}
        claimToHeaders:
          - header: x-workload-app
            claim: team
`;
}

beforeAll(async () => {
  up = await startUpstream(openAIBehavior());
  rsa = await signingKey('rsa-1', 'RS256');
  // Same key id, a key the issuer never published.
  stranger = await signingKey('rsa-1', 'RS256');
  jwks = await startJwksServer([rsa.publicJwk]);
  routeLevel = await startGateway({
    'b.yaml': backendYaml('one', [{ port: up.port }]),
    'r.yaml': routeYaml('r', [{ matches: [{ 'x-workload-app': 'team-a' }], backends: [{ name: 'one' }] }]),
    'p.yaml': securityPolicyYaml('jwt', jwtSpec(jwks.url), { target: 'r' }),
  });
  gatewayLevel = await startGateway({
    'b.yaml': backendYaml('one', [{ port: up.port }]),
    'r.yaml': routeYaml('r', [{ matches: [{ 'x-ai-eg-model': 'm' }], backends: [{ name: 'one' }] }]),
    'r2.yaml': routeYaml('r2', [{ matches: [{ 'x-ai-eg-model': 'm2' }], backends: [{ name: 'one' }] }]),
    'p.yaml': securityPolicyYaml('gw-keys', `  apiKeyAuth:\n    credentialRefs:\n      - name: keys\n    extractFrom:\n      - headers: [authorization]\n`),
    'p2.yaml': securityPolicyYaml('r2-jwt', jwtSpec(jwks.url), { target: 'r2' }),
    's.yaml': `apiVersion: v1\nkind: Secret\nmetadata:\n  name: keys\n  namespace: default\nstringData:\n  team-a: key-team-a-0123456789\n`,
  });
});

afterAll(async () => {
  await routeLevel.close();
  await gatewayLevel.close();
  await jwks.close();
  await up.close();
});

const good = { iss: ISS, aud: 'tollgate', sub: 'alice', team: 'team-a' };

function unsigned(claims: Record<string, unknown>): string {
  const enc = (o: unknown): string => base64url.encode(JSON.stringify(o));
  return `${enc({ alg: 'none', typ: 'JWT' })}.${enc(claims)}.`;
}

describe('a route-level policy whose claims supply the workload', () => {
  it('serves a valid token without x-workload-app (the claim routes it)', async () => {
    const r = await chat(routeLevel.url, 'm', { authorization: `Bearer ${await token(rsa, good)}` });
    expect(r.status).toBe(200);
  });

  const cases: Array<[string, () => Promise<string>, RegExp]> = [
    ['an expired token', () => token(rsa, good, { expiresIn: Math.floor(Date.now() / 1000) - 600 }), /expired/],
    ['a wrong audience', () => token(rsa, { ...good, aud: 'someone-else' }), /audience/],
    ['a key the issuer never published', () => token(stranger, good), /signature|signing key/],
    ['alg: none', () => Promise.resolve(unsigned({ ...good, exp: Math.floor(Date.now() / 1000) + 600 })), /algorithm|malformed/],
    ['a token without exp', () => new SignJWT(good).setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' }).sign(rsa.privateKey), /no expiry/],
  ];
  for (const [what, make, why] of cases) {
    it(`answers ${what} with a 401 naming why, not a 404`, async () => {
      const r = await chat(routeLevel.url, 'm', { authorization: `Bearer ${await make()}` });
      expect(r.status).toBe(401);
      const j = JSON.parse(r.text) as { error: { code: string; message: string } };
      expect(j.error.code).toBe('unauthenticated');
      expect(j.error.message).toMatch(why);
      expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
    });
  }

  it('still answers 404 to a request with no credential that no route matches', async () => {
    const r = await chat(routeLevel.url, 'm');
    expect(r.status).toBe(404);
  });
});

describe('a Gateway-level policy', () => {
  it('answers a duplicated Authorization on an unroutable request with 401', async () => {
    const body = JSON.stringify({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] });
    const r = await rawHttp(
      gatewayLevel.url,
      `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer key-team-a-0123456789\r\nAuthorization: Bearer key-team-a-0123456789\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
    );
    expect(r.status).toBe(401);
    expect(r.headers['x-request-id']).toMatch(/\S+/);
    expect(JSON.parse(r.body).error.message).toMatch(/more than once|exactly one/);
  });

  it('answers an unroutable request without a credential with 401, and a valid one with 404', async () => {
    expect((await chat(gatewayLevel.url, 'no-such-model')).status).toBe(401);
    expect((await chat(gatewayLevel.url, 'no-such-model', { authorization: 'Bearer key-team-a-0123456789' })).status).toBe(404);
  });
});
