// Embeddings through the gateway to providers that have them, with the OpenAI SDK's defaults
// (base64 encoding) and each provider's usage reporting.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProviderSim, type ProviderSimServer } from '../../src/sim/providers/index.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { AWS_KEYS, backendYaml, policyYaml, routeYaml, secretYaml, serviceAccountJson } from './rig.js';

describe('embeddings on Bedrock (Titan, Cohere) and Vertex AI (predict)', () => {
  let bedrock: ProviderSimServer;
  let vertex: ProviderSimServer;
  let gw: TestGateway;
  let client: OpenAI;
  beforeAll(async () => {
    [bedrock, vertex] = await Promise.all([startProviderSim('bedrock', { ...AWS_KEYS, region: 'us-east-1' }), startProviderSim('vertex', { serviceAccountJson: serviceAccountJson('x') })]);
    gw = await startGateway({
      'b.yaml': backendYaml('br', 'AWSBedrock', bedrock.port) + '---\n' + backendYaml('vx', 'GCPVertexAI', vertex.port),
      'p.yaml':
        policyYaml('br-aws', 'br', 'AWSCredentials', '  awsCredentials:\n    region: us-east-1\n    credentialsFile:\n      secretRef:\n        name: br-aws\n') +
        '---\n' +
        secretYaml('br-aws', { credentials: `[default]\naws_access_key_id = ${AWS_KEYS.accessKeyId}\naws_secret_access_key = ${AWS_KEYS.secretAccessKey}\n` }) +
        '---\n' +
        policyYaml('vx-gcp', 'vx', 'GCPCredentials', '  gcpCredentials:\n    projectName: p\n    region: r\n    credentialsFile:\n      secretRef:\n        name: vx-sa\n') +
        '---\n' +
        secretYaml('vx-sa', { 'service_account.json': serviceAccountJson(`${vertex.url}/token`) }),
      'r1.yaml': routeYaml('titan', 'amazon.titan-embed-text-v2:0', 'br'),
      'r2.yaml': routeYaml('cohere', 'cohere.embed-english-v3', 'br'),
      'r3.yaml': routeYaml('gecko', 'text-embedding-005', 'vx'),
    });
    client = new OpenAI({ apiKey: 'c', baseURL: `${gw.url}/v1`, maxRetries: 0 });
  });
  afterAll(async () => {
    await gw.close();
    await Promise.all([bedrock.close(), vertex.close()]);
  });

  it('Titan: one text per request, with its token count as usage', async () => {
    const r = await client.embeddings.create({ model: 'amazon.titan-embed-text-v2:0', input: 'hello world', dimensions: 256 });
    expect(r.data[0]?.embedding).toHaveLength(256);
    expect(r.usage.prompt_tokens).toBeGreaterThan(0);
    expect(bedrock.seen.last?.path).toBe('/model/amazon.titan-embed-text-v2%3A0/invoke');
    await expect(client.embeddings.create({ model: 'amazon.titan-embed-text-v2:0', input: ['a', 'b'] })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/one text per request/) });
  });

  it('Cohere on Bedrock takes several texts', async () => {
    const r = await client.embeddings.create({ model: 'cohere.embed-english-v3', input: ['a', 'b', 'c'] });
    expect(r.data.map((d) => d.index)).toEqual([0, 1, 2]);
  });

  it('Vertex predict: token counts per instance become usage; float encoding works too', async () => {
    const r = await client.embeddings.create({ model: 'text-embedding-005', input: ['alpha beta', 'gamma'], encoding_format: 'float' });
    expect(r.data).toHaveLength(2);
    expect(r.data[0]?.embedding.length).toBe(768);
    expect(r.usage.prompt_tokens).toBeGreaterThan(2);
    expect(vertex.seen.last?.body).toEqual({ instances: [{ content: 'alpha beta' }, { content: 'gamma' }] });
  });
});
