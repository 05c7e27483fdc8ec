// OpenAI's Files and Batch APIs through the gateway, with the official openai SDK as the client, to
// the simulator: routed by x-workload-app (these requests name no model), ids passed through, and
// each file and batch usable only by the workload that made it (another's id is a 404, lists show
// only one's own), the batch output file included.
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimServer, type SimServerHandle } from '../../src/sim/index.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { backendYaml, credentialYaml } from './rig.js';

const ROUTE = `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata:
  name: files
  namespace: default
spec:
  rules:
${['team-a', 'team-b', 'team-c']
  .map(
    (w) => `    - matches:
        - headers:
            - type: Exact
              name: x-workload-app
              value: ${w}
      backendRefs:
        - name: be${w === 'team-c' ? '\n        - name: be2' : ''}
`,
  )
  .join('')}`;

const LINES = [0, 1, 2].map((i) => JSON.stringify({ custom_id: `req-${i}`, method: 'POST', url: '/v1/chat/completions', body: { model: 'sim-model', messages: [{ role: 'user', content: `Question ${i}` }], max_tokens: 8 } })).join('\n');

describe('openai SDK → gateway → OpenAI-compatible backend: files and batches', () => {
  let sim: SimServerHandle;
  let gw: TestGateway;
  let a: OpenAI;
  let b: OpenAI;
  const client = (workload: string): OpenAI => new OpenAI({ apiKey: 'client-key', baseURL: `${gw.url}/v1`, maxRetries: 0, defaultHeaders: { 'x-workload-app': workload } });
  beforeAll(async () => {
    sim = await startSimServer({ apiKey: 'sk-openai-sim', profile: 'fast' });
    gw = await startGateway({
      'be.yaml': backendYaml('be', 'OpenAI', sim.port),
      'be-cred.yaml': credentialYaml('openai', 'be', sim.url),
      'be2.yaml': backendYaml('be2', 'OpenAI', sim.port),
      'be2-cred.yaml': credentialYaml('openai', 'be2', sim.url),
      'route.yaml': ROUTE,
    });
    a = client('team-a');
    b = client('team-b');
  });
  afterAll(async () => {
    await gw?.close();
    await sim?.close();
  });

  it('upload, retrieve, content, list and delete a file; another workload gets 404 for it and does not see it', async () => {
    const f = await a.files.create({ file: await toFile(Buffer.from(LINES), 'batch.jsonl'), purpose: 'batch' });
    expect(f).toMatchObject({ object: 'file', purpose: 'batch', filename: 'batch.jsonl', bytes: LINES.length });
    expect(f.id).toMatch(/^file-/);
    expect((await a.files.retrieve(f.id)).id).toBe(f.id);
    expect(await (await a.files.content(f.id)).text()).toBe(LINES);
    const mine: string[] = [];
    for await (const x of a.files.list()) mine.push(x.id);
    expect(mine).toContain(f.id);

    await expect(b.files.retrieve(f.id)).rejects.toMatchObject({ status: 404, code: 'file_not_found' });
    await expect(b.files.content(f.id)).rejects.toMatchObject({ status: 404 });
    await expect(b.files.delete(f.id)).rejects.toMatchObject({ status: 404 });
    const theirs: string[] = [];
    for await (const x of b.files.list()) theirs.push(x.id);
    expect(theirs).not.toContain(f.id);

    expect(await a.files.delete(f.id)).toMatchObject({ id: f.id, deleted: true });
    await expect(a.files.retrieve(f.id)).rejects.toMatchObject({ status: 404 });
  });

  it('a batch runs on the backend that holds its input file; its output file is the owner\'s alone', async () => {
    const input = await a.files.create({ file: await toFile(Buffer.from(LINES), 'batch.jsonl'), purpose: 'batch' });
    await expect(b.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).rejects.toMatchObject({ status: 404, param: 'input_file_id' });

    const created = await a.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { job: 'nightly' } });
    expect(created).toMatchObject({ object: 'batch', status: 'validating', input_file_id: input.id, metadata: { job: 'nightly' } });
    const done = await a.batches.retrieve(created.id);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: 3, completed: 3, failed: 0 });
    expect(done.usage?.output_tokens).toBeGreaterThan(0);
    const out = (await (await a.files.content(done.output_file_id ?? '')).text()).trim().split('\n').map((l) => JSON.parse(l) as { custom_id: string; response: { status_code: number; body: { choices: unknown[] } } });
    expect(out.map((l) => l.custom_id)).toEqual(['req-0', 'req-1', 'req-2']);
    expect(out[0]?.response.status_code).toBe(200);
    await expect(b.files.content(done.output_file_id ?? '')).rejects.toMatchObject({ status: 404 });
    await expect(b.batches.retrieve(created.id)).rejects.toMatchObject({ status: 404, code: 'batch_not_found' });
    await expect(b.batches.cancel(created.id)).rejects.toMatchObject({ status: 404 });

    const mine: string[] = [];
    for await (const x of a.batches.list()) mine.push(x.id);
    expect(mine).toContain(created.id);
    const theirs: string[] = [];
    for await (const x of b.batches.list()) theirs.push(x.id);
    expect(theirs).toEqual([]);
  });

  it('cancel', async () => {
    const input = await a.files.create({ file: await toFile(Buffer.from(LINES), 'batch.jsonl'), purpose: 'batch' });
    const created = await a.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    expect((await a.batches.cancel(created.id)).status).toBe('cancelling');
    expect((await a.batches.retrieve(created.id)).status).toBe('cancelled');
  });

  it('a rule with two backends cannot serve files: the answer says why', async () => {
    const c = client('team-c');
    await expect(c.files.list()).rejects.toMatchObject({ status: 400, message: expect.stringContaining('need a rule with one') });
  });

  it('the simulator checks what OpenAI checks', async () => {
    const direct = new OpenAI({ apiKey: 'sk-openai-sim', baseURL: `${sim.url}/v1`, maxRetries: 0 });
    await expect(direct.files.create({ file: await toFile(Buffer.from('not json'), 'x.jsonl'), purpose: 'batch' })).rejects.toMatchObject({ status: 400 });
    const notBatch = await direct.files.create({ file: await toFile(Buffer.from('hello'), 'x.txt'), purpose: 'user_data' });
    await expect(direct.batches.create({ input_file_id: notBatch.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).rejects.toMatchObject({ status: 400, param: 'input_file_id' });
    await expect(direct.files.retrieve('file-nope')).rejects.toMatchObject({ status: 404 });
  });
});
