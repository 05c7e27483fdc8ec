// Route- and rule-level SecurityPolicies: the route's own policy decides, a binding that changes the
// workload re-routes, a client that leaves out x-workload-app is routed by its credential, open
// routes stay open, and a rule-level policy overrides its route's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendYaml, routeYaml, startGateway, type TestGateway } from '../helpers/gateway.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';
import { chat, secretYaml } from './helpers.js';

const IDE = 'ide-key-0123456789abcdef01234567';
const AGENT = 'agent-key-0123456789abcdef012345';
const ADMIN = 'admin-key-0123456789abcdef012345';

let ide: Upstream;
let agent: Upstream;
let pub: Upstream;
let gw: TestGateway;

function policy(name: string, targets: Array<{ route: string; section?: string }>, secret: string, annotations = ''): string {
  return `apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata:
  name: ${name}
  namespace: default
${annotations}spec:
  targetRefs:
${targets.map((t) => `    - {group: gateway.networking.k8s.io, kind: HTTPRoute, name: ${t.route}${t.section === undefined ? '' : `, sectionName: ${t.section}`}}`).join('\n')}
  apiKeyAuth:
    credentialRefs: [{name: ${secret}}]
    extractFrom: [{headers: [x-api-key]}]
`;
}

beforeAll(async () => {
  ide = await startUpstream(openAIBehavior());
  agent = await startUpstream(openAIBehavior());
  pub = await startUpstream(openAIBehavior());
  gw = await startGateway({
    'b.yaml': [backendYaml('ide', [{ port: ide.port }]), backendYaml('agent', [{ port: agent.port }]), backendYaml('pub', [{ port: pub.port }])].join('---\n'),
    'r.yaml': [
      routeYaml('ide', [{ matches: [{ 'x-workload-app': 'ide' }], backends: [{ name: 'ide' }] }]),
      routeYaml('agent', [
        { name: 'admin', matches: [{ 'x-workload-app': 'agent', 'x-ai-eg-model': 'admin-model' }], backends: [{ name: 'agent' }] },
        { matches: [{ 'x-workload-app': 'agent' }], backends: [{ name: 'agent' }] },
      ]),
      routeYaml('public', [{ matches: [{ 'x-workload-app': 'public' }], backends: [{ name: 'pub' }] }]),
    ].join('---\n'),
    's.yaml': [secretYaml('shared-keys', { ide: IDE, agent: AGENT }), secretYaml('admin-keys', { agent: ADMIN })].join('---\n'),
    'p.yaml': [
      policy('shared', [{ route: 'ide' }, { route: 'agent' }], 'shared-keys', '  annotations: {tollgate.io/identity-mismatch: Overwrite}\n'),
      policy('admin-only', [{ route: 'agent', section: 'admin' }], 'admin-keys'),
    ].join('---\n'),
  });
});
afterAll(async () => {
  await gw.close();
  for (const u of [ide, agent, pub]) await u.close();
});

describe('route-level policies', () => {
  it('routes a client that omits x-workload-app by its credential', async () => {
    const r = await chat(gw.url, 'm', { 'x-api-key': IDE });
    expect(r.status).toBe(200);
    expect(ide.requests.at(-1)?.headers['x-workload-app']).toBe('ide');
  });

  it('re-routes when the credential\'s workload differs from the claimed one (Overwrite)', async () => {
    const before = ide.requests.length;
    const r = await chat(gw.url, 'm', { 'x-api-key': AGENT, 'x-workload-app': 'ide' });
    expect(r.status).toBe(200);
    expect(ide.requests.length).toBe(before);
    expect(agent.requests.at(-1)?.headers['x-workload-app']).toBe('agent');
  });

  it('leaves open routes open and does not trust their header elsewhere', async () => {
    expect((await chat(gw.url, 'm', { 'x-workload-app': 'public' })).status).toBe(200);
    expect((await chat(gw.url, 'm', { 'x-workload-app': 'ide' })).status).toBe(401);
    expect((await chat(gw.url, 'm', {})).status).toBe(404);
  });

  it('applies a rule-level policy instead of its route\'s', async () => {
    expect((await chat(gw.url, 'admin-model', { 'x-api-key': AGENT, 'x-workload-app': 'agent' })).status).toBe(401);
    expect((await chat(gw.url, 'admin-model', { 'x-api-key': ADMIN, 'x-workload-app': 'agent' })).status).toBe(200);
    expect((await chat(gw.url, 'other-model', { 'x-api-key': AGENT, 'x-workload-app': 'agent' })).status).toBe(200);
  });
});
