// Envoy AI Gateway's provider examples validate unchanged and compile to the credentials and schemas
// they describe; provider-specific configuration mistakes are reported at file:line with a hint.
import { join } from 'node:path';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import type { UpstreamCredential } from '../../src/config/types.js';
import { EXAMPLES } from '../config/helpers.js';
import { backendYaml, policyYaml, routeYaml, secretYaml, serviceAccountJson } from './rig.js';

const errors = (r: Awaited<ReturnType<typeof loadConfig>>) => r.diagnostics.filter((d) => d.severity === 'error');

describe('Envoy AI Gateway provider examples validate unchanged', () => {
  const CASES: ReadonlyArray<{ paths: string[]; schemas: string[] }> = [
    { paths: ['basic/anthropic.yaml'], schemas: ['Anthropic'] },
    { paths: ['basic/aws.yaml'], schemas: ['AWSBedrock', 'AWSAnthropic'] },
    { paths: ['basic/aws-irsa.yaml'], schemas: ['AWSBedrock'] },
    { paths: ['basic/aws-pod-identity.yaml'], schemas: ['AWSBedrock'] },
    { paths: ['basic/aws-bedrock-openai-anthropic.yaml'], schemas: ['AWSAnthropic'] },
    { paths: ['basic/azure_openai.yaml'], schemas: ['AzureOpenAI'] },
    { paths: ['basic/gcp_vertex.yaml'], schemas: ['GCPVertexAI', 'GCPAnthropic'] },
    { paths: ['provider_fallback/base.yaml'], schemas: ['AWSBedrock', 'OpenAI'] },
    { paths: ['provider_fallback/base.yaml', 'provider_fallback/fallback.yaml'], schemas: ['AWSBedrock', 'OpenAI'] },
  ];
  for (const c of CASES) {
    it(c.paths.join(' + '), async () => {
      const r = await loadConfig({ paths: c.paths.map((p) => join(EXAMPLES, p)), purpose: 'validate', env: {} });
      expect(errors(r)).toEqual([]);
      expect(new Set([...r.config!.backends.values()].map((b) => b.schema.name))).toEqual(new Set(c.schemas));
    });
  }

  it('compiles the credentials the examples describe', async () => {
    const aws = await loadConfig({ paths: [join(EXAMPLES, 'basic/aws.yaml')], purpose: 'serve', env: {} });
    const cred = aws.config!.backends.get('default/envoy-ai-gateway-basic-aws')!.credential as Extract<UpstreamCredential, { kind: 'aws-sigv4' }>;
    expect(cred).toMatchObject({ kind: 'aws-sigv4', policy: 'AWSCredentials', region: 'us-east-1', service: 'bedrock' });
    expect(cred.keys.current()).toBeUndefined(); // nothing fetched until the first request
    await cred.keys.whenReady();
    expect(cred.keys.current()).toEqual({ accessKeyId: 'AWS_ACCESS_KEY_ID', secretAccessKey: 'AWS_SECRET_ACCESS_KEY', sessionToken: undefined });
    expect(String(cred.value)).toBe('<redacted: Secret default/envoy-ai-gateway-basic-aws-credentials key credentials (profile default, region us-east-1)>');
    expect(aws.config!.backends.get('default/envoy-ai-gateway-basic-aws-bedrock-anthropic')!.schema.version).toBe('bedrock-2023-05-31');

    const gcp = await loadConfig({ paths: [join(EXAMPLES, 'basic/gcp_vertex.yaml')], purpose: 'serve', env: {} });
    const g = gcp.config!.backends.get('default/envoy-ai-gateway-basic-gcp')!.credential!;
    expect(g).toMatchObject({ kind: 'bearer-token', policy: 'GCPCredentials', gcp: { project: 'GCP_PROJECT_NAME', region: 'GCP_REGION' } });
    // The example's "{}" key file is a placeholder: a warning now, a clear credential failure later.
    // Reported once, though the policy targets two backends.
    expect(gcp.diagnostics.filter((d) => d.severity === 'warning' && /has no client_email or private_key/.test(d.message))).toHaveLength(1);

    const az = await loadConfig({ paths: [join(EXAMPLES, 'basic/azure_openai.yaml')], purpose: 'serve', env: {} });
    const b = az.config!.backends.get('default/envoy-ai-gateway-basic-azure')!;
    expect(b.schema.version).toBe('2025-01-01-preview');
    expect(b.credential).toMatchObject({ kind: 'bearer-token', policy: 'AzureCredentials', header: 'authorization' });
    expect(JSON.stringify(az.config!.backends.get('default/envoy-ai-gateway-basic-azure'))).not.toContain('AZURE_CLIENT_SECRET');
  });

  it('Cohere compiles with its API version and an API key (rerank)', async () => {
    const r = await loadConfig({ paths: [join(EXAMPLES, 'basic/cohere.yaml')], purpose: 'validate', env: {} });
    expect(errors(r)).toEqual([]);
    const b = r.config!.backends.get('default/envoy-ai-gateway-basic-cohere')!;
    expect(b.schema).toMatchObject({ name: 'Cohere', version: 'v2' });
  });
});

describe('provider configuration mistakes', () => {
  async function load(files: Record<string, string>): Promise<Awaited<ReturnType<typeof loadConfig>>> {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-prov-'));
    try {
      for (const [n, t] of Object.entries(files)) await writeFile(join(dir, n), t);
      return await loadConfig({ paths: [dir], purpose: 'serve', env: {} });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('GCPVertexAI without a GCPCredentials policy', async () => {
    const r = await load({ 'b.yaml': backendYaml('vx', 'GCPVertexAI', 1), 'r.yaml': routeYaml('r', 'm', 'vx') });
    expect(errors(r).map((d) => d.message)).toEqual(['schema GCPVertexAI needs a GCPCredentials BackendSecurityPolicy (it names the project and region)']);
  });

  it('a policy type that cannot authenticate to the backend schema', async () => {
    const r = await load({
      'b.yaml': backendYaml('oa', 'OpenAI', 1),
      'p.yaml': policyYaml('p', 'oa', 'AWSCredentials', '  awsCredentials:\n    region: us-east-1\n'),
    });
    expect(errors(r)).toHaveLength(1);
    expect(errors(r)[0]).toMatchObject({ message: 'a AWSCredentials policy cannot authenticate to AIServiceBackend default/oa, whose schema is OpenAI', hint: 'use APIKey' });
  });

  it('an AWS profile missing from the credentials file, named with the profiles that exist', async () => {
    const r = await load({
      'b.yaml': backendYaml('br', 'AWSBedrock', 1),
      'p.yaml':
        policyYaml('p', 'br', 'AWSCredentials', '  awsCredentials:\n    region: us-east-1\n    credentialsFile:\n      profile: prod\n      secretRef:\n        name: s\n') +
        '---\n' +
        secretYaml('s', { credentials: '[default]\naws_access_key_id = A\naws_secret_access_key = B\n' }),
    });
    expect(errors(r)[0]).toMatchObject({ message: 'the AWS credentials file has no profile "prod" (Secret default/s key credentials)', hint: 'profiles in the file: default' });
  });

  it('unsupported credential mechanisms say so, at their line', async () => {
    const r = await load({
      'b.yaml': backendYaml('br', 'AWSBedrock', 1) + '---\n' + backendYaml('vx', 'GCPVertexAI', 2),
      'p.yaml':
        policyYaml('p1', 'br', 'AWSCredentials', '  awsCredentials:\n    region: us-east-1\n    oidcExchangeToken:\n      awsRoleArn: arn:aws:iam::1:role/x\n') +
        '---\n' +
        policyYaml('p2', 'vx', 'GCPCredentials', '  gcpCredentials:\n    projectName: p\n    region: r\n    workloadIdentityFederationConfig: {}\n'),
    });
    expect(errors(r).map((d) => d.message)).toEqual(
      expect.arrayContaining(['`oidcExchangeToken` is not supported yet', '`workloadIdentityFederationConfig` is not supported yet']),
    );
  });

  it('a valid service account compiles with its token endpoint; the key never appears in the dump', async () => {
    const r = await load({
      'b.yaml': backendYaml('vx', 'GCPVertexAI', 1),
      'p.yaml':
        policyYaml('p', 'vx', 'GCPCredentials', '  gcpCredentials:\n    projectName: proj-1\n    region: us-central1\n    credentialsFile:\n      secretRef:\n        name: s\n') +
        '---\n' +
        secretYaml('s', { 'service_account.json': serviceAccountJson('https://oauth2.example/token') }),
      'r.yaml': routeYaml('r', 'gemini-2.5-flash', 'vx'),
    });
    expect(errors(r)).toEqual([]);
    const { configDump } = await import('../../src/config/index.js');
    expect(JSON.stringify(configDump(r.config!))).not.toContain('PRIVATE KEY');
  });
});
