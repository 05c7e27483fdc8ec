// A gateway in front of one simulated provider, configured the way a user would write it: the
// provider's AIServiceBackend schema, its BackendSecurityPolicy and secret, one route. Real sockets,
// real credentials flows (OAuth2 against the simulator's token endpoint, SigV4 checked by it).
import { generateKeyPairSync } from 'node:crypto';
import OpenAI from 'openai';
import { startSimServer, type SimServerHandle } from '../../src/sim/index.js';
import { startProviderSim, type ProviderApi, type ProviderSimServer, type SeenRequest } from '../../src/sim/providers/index.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

export type Target = 'openai' | 'azure' | 'gemini' | 'vertex' | 'anthropic' | 'gcp-anthropic' | 'bedrock' | 'aws-anthropic';

export const TARGETS: readonly Target[] = ['openai', 'azure', 'gemini', 'vertex', 'anthropic', 'gcp-anthropic', 'bedrock', 'aws-anthropic'];

export const AWS_KEYS = { accessKeyId: 'AKIDTOLLGATETEST0001', secretAccessKey: 'tollgate-test-secret' };

let sa: { email: string; privateKey: string } | undefined;
/** A service account key pair, generated once per test file. */
export function serviceAccount(): { email: string; privateKey: string } {
  if (sa === undefined) {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    sa = { email: 'gateway@proj-1.iam.gserviceaccount.com', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
  }
  return sa;
}

export function serviceAccountJson(tokenUri: string): string {
  const s = serviceAccount();
  return JSON.stringify({ type: 'service_account', project_id: 'proj-1', private_key_id: 'k1', private_key: s.privateKey, client_email: s.email, token_uri: tokenUri });
}

interface Spec {
  readonly schema: string;
  readonly version?: string;
  readonly model: string;
  readonly api: ProviderApi | 'openai';
}

const SPECS: Readonly<Record<Target, Spec>> = {
  openai: { schema: 'OpenAI', model: 'sim-model', api: 'openai' },
  azure: { schema: 'AzureOpenAI', version: '2025-01-01-preview', model: 'gpt-4o', api: 'azure' },
  gemini: { schema: 'GeminiAPI', model: 'gemini-2.5-flash', api: 'gemini' },
  vertex: { schema: 'GCPVertexAI', model: 'gemini-2.5-flash', api: 'vertex' },
  anthropic: { schema: 'Anthropic', model: 'claude-sonnet-4-5', api: 'anthropic' },
  'gcp-anthropic': { schema: 'GCPAnthropic', version: 'vertex-2023-10-16', model: 'claude-sonnet-4-5@20250929', api: 'vertex' },
  bedrock: { schema: 'AWSBedrock', model: 'us.amazon.nova-micro-v1:0', api: 'bedrock' },
  'aws-anthropic': { schema: 'AWSAnthropic', version: 'bedrock-2023-05-31', model: 'anthropic.claude-3-5-sonnet-20241022-v2:0', api: 'bedrock' },
};

export function specOf(t: Target): Spec {
  return SPECS[t];
}

export function secretYaml(name: string, data: Record<string, string>): string {
  return `apiVersion: v1
kind: Secret
metadata:
  name: ${name}
  namespace: default
stringData:
${Object.entries(data)
  .map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`)
  .join('\n')}
`;
}

export function backendYaml(name: string, schema: string, port: number, version?: string, extraSpec = ''): string {
  return `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata:
  name: ${name}
  namespace: default
spec:
  schema:
    name: ${schema}${version === undefined ? '' : `\n    version: ${JSON.stringify(version)}`}
  backendRef:
    name: ${name}
    kind: Backend
    group: gateway.envoyproxy.io
${extraSpec}---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata:
  name: ${name}
  namespace: default
spec:
  endpoints:
    - ip:
        address: 127.0.0.1
        port: ${port}
`;
}

export function policyYaml(name: string, target: string, type: string, body: string, annotations: Record<string, string> = {}): string {
  const ann = Object.keys(annotations).length === 0 ? '' : `\n  annotations:\n${Object.entries(annotations).map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`).join('\n')}`;
  return `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata:
  name: ${name}
  namespace: default${ann}
spec:
  targetRefs:
    - group: aigateway.envoyproxy.io
      kind: AIServiceBackend
      name: ${target}
  type: ${type}
${body}`;
}

export function routeYaml(name: string, model: string, backend: string, extra = ''): string {
  return `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata:
  name: ${name}
  namespace: default
spec:
  rules:
    - matches:
        - headers:
            - type: Exact
              name: x-ai-eg-model
              value: ${JSON.stringify(model)}
      backendRefs:
        - name: ${backend}${extra}
`;
}

/** The credential manifests for a target's simulator. */
export function credentialYaml(t: Target, backend: string, simUrl: string): string {
  switch (t) {
    case 'openai':
      return policyYaml(`${backend}-key`, backend, 'APIKey', `  apiKey:\n    secretRef:\n      name: ${backend}-secret\n`) + '---\n' + secretYaml(`${backend}-secret`, { apiKey: 'sk-openai-sim' });
    case 'azure':
      return policyYaml(`${backend}-key`, backend, 'AzureAPIKey', `  azureAPIKey:\n    secretRef:\n      name: ${backend}-secret\n`) + '---\n' + secretYaml(`${backend}-secret`, { apiKey: 'azure-sim-key' });
    case 'gemini':
      return policyYaml(`${backend}-key`, backend, 'APIKey', `  apiKey:\n    secretRef:\n      name: ${backend}-secret\n`) + '---\n' + secretYaml(`${backend}-secret`, { apiKey: 'AIza-sim-key' });
    case 'anthropic':
      return policyYaml(`${backend}-key`, backend, 'AnthropicAPIKey', `  anthropicAPIKey:\n    secretRef:\n      name: ${backend}-secret\n`) + '---\n' + secretYaml(`${backend}-secret`, { apiKey: 'sk-ant-sim' });
    case 'vertex':
    case 'gcp-anthropic':
      return (
        policyYaml(`${backend}-gcp`, backend, 'GCPCredentials', `  gcpCredentials:\n    projectName: proj-1\n    region: us-central1\n    credentialsFile:\n      secretRef:\n        name: ${backend}-sa\n`) +
        '---\n' +
        secretYaml(`${backend}-sa`, { 'service_account.json': serviceAccountJson(`${simUrl}/token`) })
      );
    case 'bedrock':
    case 'aws-anthropic':
      return (
        policyYaml(`${backend}-aws`, backend, 'AWSCredentials', `  awsCredentials:\n    region: us-east-1\n    credentialsFile:\n      secretRef:\n        name: ${backend}-aws\n`) +
        '---\n' +
        secretYaml(`${backend}-aws`, { credentials: `[default]\naws_access_key_id = ${AWS_KEYS.accessKeyId}\naws_secret_access_key = ${AWS_KEYS.secretAccessKey}\n` })
      );
  }
}

export async function startSim(t: Target): Promise<{ url: string; port: number; seen: () => SeenRequest | undefined; close: () => Promise<void>; handle: ProviderSimServer | SimServerHandle }> {
  const api = SPECS[t].api;
  if (api === 'openai') {
    const s = await startSimServer({ apiKey: 'sk-openai-sim', profile: 'fast' });
    return { url: s.url, port: s.port, seen: () => undefined, close: () => s.close(), handle: s };
  }
  const s = await startProviderSim(api, {
    apiKey: api === 'gemini' ? 'AIza-sim-key' : api === 'anthropic' ? 'sk-ant-sim' : api === 'azure' ? 'azure-sim-key' : undefined,
    ...(api === 'bedrock' ? { ...AWS_KEYS, region: 'us-east-1' } : {}),
    ...(api === 'vertex' ? { serviceAccountJson: serviceAccountJson('unused'), project: 'proj-1', location: 'us-central1' } : {}),
  });
  return { url: s.url, port: s.port, seen: () => s.seen.last, close: () => s.close(), handle: s };
}

export interface Rig {
  readonly target: Target;
  readonly model: string;
  readonly gateway: TestGateway;
  readonly client: OpenAI;
  readonly simUrl: string;
  /** The last request the simulator received (native body), for checking translations. */
  seen(): SeenRequest | undefined;
  close(): Promise<void>;
}

export async function startRig(t: Target, opts: { routeExtra?: string } = {}): Promise<Rig> {
  const spec = SPECS[t];
  const sim = await startSim(t);
  const name = `be-${t}`;
  const gateway = await startGateway({
    'backend.yaml': backendYaml(name, spec.schema, sim.port, spec.version),
    'credentials.yaml': credentialYaml(t, name, sim.url),
    'route.yaml': routeYaml(`route-${t}`, spec.model, name, opts.routeExtra),
  });
  const client = new OpenAI({ apiKey: 'client-key-never-forwarded', baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  return {
    target: t,
    model: spec.model,
    gateway,
    client,
    simUrl: sim.url,
    seen: sim.seen,
    close: async () => {
      await gateway.close();
      await sim.close();
    },
  };
}
