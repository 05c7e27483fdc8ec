// SecurityPolicy validation: what compiles, what is refused (and why), where the problem is, and that
// the compiled form and the dump never hold a key.
import { describe, expect, it } from 'vitest';
import { configDump } from '../../src/config/index.js';
import { backend, docs, errors, find, lineOf, loadText, route, warnings } from '../config/helpers.js';
import { secretYaml, securityPolicyYaml } from './helpers.js';

const base = [route('r'), backend('be')];
const keys = secretYaml('client-keys', { 'team-a': 'key-aaaaaaaaaaaaaaaaaaaaaaaa', 'team-b': 'key-bbbbbbbbbbbbbbbbbbbbbbbb' });
const apiKey = `  apiKeyAuth:
    credentialRefs: [{name: client-keys}]
    extractFrom: [{headers: [x-api-key]}]
`;
const jwks = JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', kid: 'k1' }] });

describe('SecurityPolicy compiles', () => {
  it('a Gateway-level apiKeyAuth policy: clients by id, keys only as digests', async () => {
    const r = await loadText(docs(...base, keys, securityPolicyYaml('p', apiKey)));
    expect(errors(r)).toEqual([]);
    const sec = r.config!.security!;
    const p = sec.gateway!;
    expect([...p.apiKeyAuth!.keys.values()].map((c) => c.clientId).sort()).toEqual(['team-a', 'team-b']);
    for (const digest of p.apiKeyAuth!.keys.keys()) expect(digest).toMatch(/^[0-9a-f]{64}$/);
    const dump = JSON.stringify(configDump(r.config!));
    expect(dump).not.toContain('key-aaaa');
    expect(dump).not.toContain(p.keysDigest);
  });

  it('route and rule targets, with the most specific policy per rule', async () => {
    const named = route('r', { extraRule: '    - name: special\n      backendRefs:\n        - name: be\n' });
    const r = await loadText(
      docs(named, backend('be'), keys, securityPolicyYaml('gw', apiKey), securityPolicyYaml('route', apiKey, { target: 'r' }), securityPolicyYaml('rule', apiKey, { target: 'r' }).replace('      name: r\n', '      name: r\n      sectionName: special\n')),
    );
    expect(errors(r)).toEqual([]);
    const sec = r.config!.security!;
    expect(sec.gateway?.key).toBe('default/gw');
    expect(sec.routes.get('default/r')?.key).toBe('default/route');
    expect(sec.rules.get('default/r#special')?.key).toBe('default/rule');
  });

  it('a local JWKS and authorization rules with the Tollgate extensions', async () => {
    const text = docs(
      ...base,
      securityPolicyYaml(
        'p',
        `  jwt:
    providers:
      - name: idp
        issuer: https://idp
        localJWKS: {type: Inline, inline: '${jwks}'}
  authorization:
    rules:
      - action: Allow
        principal: {jwt: {provider: idp, scopes: [chat]}}
        operation: {models: [gpt-oss-120b, "gemini-*"], routes: [r]}
`,
      ),
    );
    const r = await loadText(text);
    expect(errors(r)).toEqual([]);
    const p = r.config!.security!.gateway!;
    expect(p.jwt!.providers[0]!.algorithms).toEqual(['ES256']);
    const rule = p.authorization!.rules[0]!;
    expect([...rule.models!.exact]).toEqual(['gpt-oss-120b']);
    expect(rule.models!.prefixes).toEqual(['gemini-']);
    expect([...rule.routes!]).toEqual(['default/r']);
    expect(p.authorization!.defaultAction).toBe('Deny');
  });
});

describe('SecurityPolicy refuses what it cannot enforce, at the right line', () => {
  const cases: Array<[string, string, RegExp, string]> = [
    ['basicAuth', '  basicAuth: {users: {name: htpasswd}}\n', /`basicAuth` is not supported by Tollgate, and ignoring it would let unauthenticated requests through/, 'basicAuth'],
    ['API keys in query parameters', '  apiKeyAuth:\n    credentialRefs: [{name: client-keys}]\n    extractFrom: [{params: [key]}]\n', /API keys in query parameters are not supported/, 'extractFrom'],
    ['CEL rules', '  authorization:\n    rules:\n      - action: Deny\n        cel: "true"\n', /`cel` authorization rules are not supported/, 'cel:'],
    [
      'an HMAC key in a JWKS',
      `  jwt:\n    providers:\n      - name: idp\n        localJWKS: {type: Inline, inline: '{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}'}\n`,
      /private or symmetric/,
      'localJWKS',
    ],
    ['both JWKS kinds', `  jwt:\n    providers:\n      - name: idp\n        remoteJWKS: {uri: "https://x/jwks"}\n        localJWKS: {type: Inline, inline: '${jwks}'}\n`, /exactly one of `remoteJWKS` or `localJWKS`/, '- name: idp'],
    ['a principal.jwt without jwt', '  authorization:\n    rules:\n      - action: Allow\n        principal: {jwt: {provider: idp, scopes: [a]}}\n', /needs `jwt` authentication in the same SecurityPolicy/, 'principal'],
    ['a claim written to a credential header', `  jwt:\n    providers:\n      - name: idp\n        localJWKS: {type: Inline, inline: '${jwks}'}\n        claimToHeaders: [{header: Authorization, claim: sub}]\n`, /a claim cannot be written to authorization/, 'claimToHeaders'],
    ['a missing credential Secret', '  apiKeyAuth:\n    credentialRefs: [{name: nope}]\n    extractFrom: [{headers: [x-api-key]}]\n', /credential Secret default\/nope not found/, 'credentialRefs'],
    ['an unknown route in operation.routes', '  authorization:\n    rules:\n      - action: Allow\n        operation: {routes: [nope]}\n', /AIGatewayRoute "default\/nope" not found/, 'routes'],
    ['mergeType', `  mergeType: StrategicMerge\n${apiKey}`, /`mergeType` is not supported/, 'mergeType'],
  ];
  for (const [what, spec, message, at] of cases) {
    it(what, async () => {
      const text = docs(...base, keys, securityPolicyYaml('p', spec));
      const r = await loadText(text);
      expect(r.config).toBeUndefined();
      const d = find(r, message);
      expect(d.resource).toBe('SecurityPolicy default/p');
      expect(d.line).toBe(lineOf(text, at, 'kind: SecurityPolicy'));
    });
  }

  it('two clients with one key, an unknown annotation value, two policies on the gateway', async () => {
    const dup = secretYaml('client-keys', { a: 'same-key-xxxxxxxxxxxxxxxxxx', b: 'same-key-xxxxxxxxxxxxxxxxxx' });
    const r = await loadText(docs(...base, dup, securityPolicyYaml('p', apiKey, { annotations: { 'tollgate.io/identity-mismatch': 'Ignore' } })));
    expect(find(r, /clients a and b share the same API key/).hint).toBe('give every client its own key');
    find(r, /unknown value "Ignore"/);
    const two = await loadText(docs(...base, keys, securityPolicyYaml('p', apiKey), securityPolicyYaml('q', apiKey)));
    expect(find(two, /the gateway is already targeted by SecurityPolicy default\/p/).resource).toBe('SecurityPolicy default/q');
  });

  it('warns (without failing) about weak or ineffective settings', async () => {
    const weak = secretYaml('client-keys', { a: 'short' });
    const text = docs(
      ...base,
      weak,
      securityPolicyYaml('p', `${apiKey}    sanitize: false\n  cors: {allowOrigins: ["*"]}\n`),
      securityPolicyYaml('open', '  authorization:\n    defaultAction: Allow\n    rules:\n      - action: Deny\n        principal: {headers: [{name: x-workload-app, values: [x]}]}\n', { target: 'r' }),
    );
    const r = await loadText(text);
    expect(errors(r)).toEqual([]);
    const w = warnings(r).map((d) => d.message);
    expect(w).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/shorter than 16 characters/),
        expect.stringMatching(/`sanitize: false` has no effect/),
        expect.stringMatching(/`cors` is accepted but not applied/),
        expect.stringMatching(/replaces the gateway's SecurityPolicy default\/p on its targets but authenticates no one/),
        expect.stringMatching(/authenticates no one, so x-workload-app is whatever the client sent/),
      ]),
    );
  });
});
