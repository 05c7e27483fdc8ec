// MCPRoute compile checks: each mistake is one clear error at its line, and the session key.
import { describe, expect, it } from 'vitest';
import { openSession, sealSession } from '../../src/mcp/session.js';
import { errors, loadText, warnings } from './helpers.js';

const BACKENDS = `apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: a, namespace: default}
spec: {endpoints: [{ip: {address: 127.0.0.1, port: 3001}}]}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: b, namespace: default}
spec: {endpoints: [{ip: {address: 127.0.0.1, port: 3002}}]}
`;

function mcp(spec: string, annotations = ''): string {
  return `${BACKENDS}---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata:
  name: m
  namespace: default
${annotations}spec:
${spec}`;
}

async function messages(text: string): Promise<string[]> {
  return errors(await loadText(text)).map((d) => d.message);
}

describe('MCPRoute config', () => {
  it('compiles backends, selectors, defaults and an inline upstream key', async () => {
    const r = await loadText(mcp(`  backendRefs:
    - {name: a, toolSelector: {includeRegex: [issue]}, securityPolicy: {apiKey: {inline: sk-upstream-key-123456, header: x-api-key}}}
    - {name: b, path: /}
`));
    expect(errors(r)).toEqual([]);
    const route = r.config!.mcp!.routes[0]!;
    expect(route.path).toBe('/mcp');
    expect(route.backends.map((b) => [b.name, b.path])).toEqual([['a', '/mcp'], ['b', '/']]);
    expect(route.backends[0]!.credential).toMatchObject({ in: 'header', name: 'x-api-key' });
    expect(route.backends[0]!.credential!.value.reveal()).toBe('sk-upstream-key-123456');
    expect(JSON.stringify(r.config!.mcp)).not.toContain('sk-upstream-key-123456');
    expect(route.timeoutMs).toBe(60_000);
  });

  it('reports each mistake with what to do', async () => {
    expect(await messages(mcp(`  backendRefs: [{name: a, toolSelector: {include: [x], includeRegex: [y]}}]\n`))).toEqual(['`include` and `includeRegex` are mutually exclusive']);
    expect(await messages(mcp(`  backendRefs: [{name: a, toolSelector: {includeRegex: ['(']}}]\n`))).toEqual([expect.stringMatching(/^invalid regular expression "\("/)]);
    expect(await messages(mcp(`  backendRefs: [{name: a}, {name: a}]\n`))).toEqual(['two backendRefs are named "a"']);
    expect(await messages(mcp(`  backendRefs: [{name: nope}]\n`))).toEqual(['Backend "default/nope" not found']);
    expect(await messages(mcp(`  backendRefs: [{name: a, securityPolicy: {tokenExchange: {stsEndpoint: https://sts}}}]\n`))).toEqual([expect.stringMatching(/token exchange .* not supported/)]);
    expect(await messages(mcp(`  backendRefs: [{name: a, securityPolicy: {apiKey: {secretRef: {name: missing}}}}]\n`))).toEqual(['secret default/missing key `apiKey` not found']);
    expect(
      await messages(mcp(`  backendRefs: [{name: a}]\n  securityPolicy:\n    authorization:\n      rules: [{source: {jwt: {scopes: [x]}}}, {cel: 'true'}]\n`)),
    ).toEqual([expect.stringMatching(/needs `oauth`/), expect.stringMatching(/^CEL authorization rules are not supported/)]);
    expect(await messages(mcp(`  backendRefs: [{name: a}]\n  securityPolicy:\n    oauth: {issuer: https://i, protectedResourceMetadata: {resource: https://r/mcp}}\n`))).toEqual([
      expect.stringMatching(/needs `jwks`/),
    ]);
    expect(await messages(mcp(`  backendRefs: [{name: a}]\n`, `  annotations: {tollgate.io/mcp-timeout: soon}\n`))).toEqual(['"soon" is not a positive duration']);
    expect(await messages(mcp(`  backendRefs: [{name: a}]\n  sessionKey: x\n`))).toEqual(['unknown field `sessionKey`']);
  });

  it('seals sessions with the key from Secret tollgate-mcp-session, so two loads share sessions', async () => {
    const text = `${mcp('  backendRefs: [{name: a}]\n')}---
apiVersion: v1
kind: Secret
metadata: {name: tollgate-mcp-session, namespace: default}
stringData: {sessionKey: 0123456789abcdef0123456789abcdef}
`;
    const one = (await loadText(text)).config!.mcp!;
    const two = (await loadText(text)).config!.mcp!;
    expect(one.sessionKeySource).toBe('Secret default/tollgate-mcp-session key sessionKey');
    const id = sealSession(one.sessionKey, { route: 'default/m', protocolVersion: '2025-06-18', principal: 'key:x', issuedAt: 1, backends: [{ name: 'a', sid: 's-1', pv: '2025-06-18', down: false }] });
    expect(openSession(two.sessionKey, id)).toMatchObject({ route: 'default/m', principal: 'key:x', backends: [{ name: 'a', sid: 's-1' }] });
    const other = (await loadText(mcp('  backendRefs: [{name: a}]\n'))).config!;
    expect(openSession(other.mcp!.sessionKey, id)).toBeUndefined();
    expect(warnings(await loadText(mcp('  backendRefs: [{name: a}]\n'))).map((w) => w.message)).toContain(
      'no MCP session key is configured, so this instance makes one up: sessions will not survive a restart or move between replicas',
    );
    // The made-up key is the instance's: a reload (another load in this process) keeps it, so sessions survive it.
    const reloaded = (await loadText(mcp('  backendRefs: [{name: a}]\n'))).config!;
    const made = sealSession(other.mcp!.sessionKey, { route: 'default/m', protocolVersion: '2025-06-18', principal: 'key:x', issuedAt: 1, backends: [] });
    expect(openSession(reloaded.mcp!.sessionKey, made)).toMatchObject({ route: 'default/m' });
  });
});
