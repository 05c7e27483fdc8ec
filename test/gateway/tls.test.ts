// TLS to upstreams: a private CA given by a BackendTLSPolicy (ConfigMap) or by Backend.spec.tls
// (Secret), SNI and name checks, and a clear 502 when verification fails.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeYaml, startGateway, type TestGateway } from '../helpers/gateway.js';

let dir: string;
let server: https.Server;
let port: number;
let caPem: string;
let gw: TestGateway;
const sniSeen: string[] = [];

function indent(text: string, n: number): string {
  return text
    .trim()
    .split('\n')
    .map((l) => ' '.repeat(n) + l)
    .join('\n');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tollgate-tls-'));
  const run = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  };
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=Tollgate Test CA');
  run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=upstream.test');
  await writeFile(join(dir, 'ext.cnf'), 'subjectAltName=DNS:upstream.test\n');
  run('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.crt', '-days', '2', '-extfile', 'ext.cnf');
  caPem = await readFile(join(dir, 'ca.crt'), 'utf8');
  server = https.createServer({ key: await readFile(join(dir, 'srv.key')), cert: await readFile(join(dir, 'srv.crt')) }, (req, res) => {
    sniSeen.push((req.socket as TLSSocket).servername || '');
    req.resume();
    req.on('end', () => {
      const body = JSON.stringify({ id: 'x', object: 'chat.completion', created: 1, model: 'secure', choices: [], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;

  const backend = (name: string, tls = ''): string => `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: ${name}, namespace: default}
spec:
  schema: {name: OpenAI}
  backendRef: {name: ${name}, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: ${name}, namespace: default}
spec:
  endpoints:
    - ip: {address: 127.0.0.1, port: ${port}}
${tls}`;
  const policy = (name: string, hostname: string): string => `apiVersion: gateway.networking.k8s.io/v1alpha3
kind: BackendTLSPolicy
metadata: {name: ${name}-tls, namespace: default}
spec:
  targetRefs:
    - {group: gateway.envoyproxy.io, kind: Backend, name: ${name}}
  validation:
    hostname: ${hostname}
    caCertificateRefs:
      - {name: test-ca, group: "", kind: ConfigMap}
`;
  gw = await startGateway({
    'ca.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: test-ca, namespace: default}\ndata:\n  ca.crt: |\n${indent(caPem, 4)}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: test-ca-secret, namespace: default}\nstringData:\n  ca.crt: |\n${indent(caPem, 4)}\n`,
    'backends.yaml': [
      backend('via-policy'),
      policy('via-policy', 'upstream.test'),
      backend('wrong-name'),
      policy('wrong-name', 'other.test'),
      backend('via-backend-tls', '  tls:\n    sni: upstream.test\n    caCertificateRefs:\n      - {name: test-ca-secret, kind: Secret, group: ""}\n'),
      backend('system-cas'),
      `apiVersion: gateway.networking.k8s.io/v1alpha3
kind: BackendTLSPolicy
metadata: {name: system-cas-tls, namespace: default}
spec:
  targetRefs:
    - {group: gateway.envoyproxy.io, kind: Backend, name: system-cas}
  validation:
    wellKnownCACertificates: System
    hostname: upstream.test
`,
    ].join('---\n'),
    'r.yaml': routeYaml('r', [
      { matches: [{ 'x-ai-eg-model': 'policy' }], backends: [{ name: 'via-policy' }] },
      { matches: [{ 'x-ai-eg-model': 'wrong' }], backends: [{ name: 'wrong-name' }] },
      { matches: [{ 'x-ai-eg-model': 'backend-tls' }], backends: [{ name: 'via-backend-tls' }] },
      { matches: [{ 'x-ai-eg-model': 'system' }], backends: [{ name: 'system-cas' }] },
    ]),
  });
});

afterAll(async () => {
  await gw.close();
  await new Promise<void>((r) => server.close(() => r()));
  await rm(dir, { recursive: true, force: true });
});

function chat(model: string) {
  return fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });
}

describe('TLS to upstreams', () => {
  it('trusts a private CA from a BackendTLSPolicy and sends the SNI it names', async () => {
    const r = await chat('policy');
    expect(r.status).toBe(200);
    expect(sniSeen.at(-1)).toBe('upstream.test');
  });

  it('trusts a private CA from Backend.spec.tls', async () => {
    expect((await chat('backend-tls')).status).toBe(200);
  });

  it('refuses a certificate for another name with a clear 502', async () => {
    const r = await chat('wrong');
    expect(r.status).toBe(502);
    const body = (await r.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('upstream_tls_failed');
    expect(body.error.message).toContain('BackendTLSPolicy');
  });

  it('refuses a private CA the system store does not know', async () => {
    const r = await chat('system');
    expect(r.status).toBe(502);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('upstream_tls_failed');
  });
});
