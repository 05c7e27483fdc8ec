// GET /v1/models for a request authenticated by a virtual key: only the models its workload's rules
// serve, narrowed to its allowlist; the official OpenAI SDK as the client, a real gateway process.
import Anthropic from '@anthropic-ai/sdk';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendYaml, eventually, routeYaml } from '../helpers/gateway.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';
import { api, chatWith, createKey, serve, workspace, type Served } from './helpers.js';

let up: Upstream;
let dir: string;
let gw: Served;

beforeAll(async () => {
  up = await startUpstream(openAIBehavior({ chunks: 2 }));
  dir = await workspace([up.port]);
  // Identity routing as in the seed scenario, plus a model any workload may name and one that only
  // another workload reaches.
  await writeFile(
    join(dir, 'gateway.yaml'),
    backendYaml('b0', [{ port: up.port }]) +
      '---\n' +
      routeYaml('r', [
        { matches: [{ 'x-workload-app': 'toolbench-agent' }], backends: [{ name: 'b0', modelNameOverride: 'tier1-model' }] },
        { matches: [{ 'x-workload-app': '~ci-.*' }], backends: [{ name: 'b0', modelNameOverride: 'tier2-model' }] },
        { matches: [{ 'x-ai-eg-model': 'm' }], backends: [{ name: 'b0' }] },
        { matches: [{ 'x-ai-eg-model': 'private-model', 'x-workload-app': 'research' }], backends: [{ name: 'b0' }] },
      ]),
  );
  gw = await serve(dir, ['--state-dir', join(dir, 'state'), '--concurrency', '1']);
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await up?.close();
  await rm(dir, { recursive: true, force: true });
});

async function idsFor(key: string): Promise<string[]> {
  const client = new OpenAI({ apiKey: key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
  const ids: string[] = [];
  for await (const m of client.models.list()) ids.push(m.id);
  return ids.sort();
}

async function known(key: string): Promise<void> {
  await eventually(async () => (await chatWith(gw.url, key, { model: 'nope' })).status !== 401, 'the key to be known');
}

describe('GET /v1/models with a virtual key', () => {
  it('lists every model without a key', async () => {
    const r = await fetch(`${gw.url}/v1/models`);
    const ids = ((await r.json()) as { data: Array<{ id: string }> }).data.map((m) => m.id).sort();
    expect(ids).toEqual(['m', 'private-model', 'tier1-model', 'tier2-model']);
  });

  it("shows a key only what its workload's routes serve", async () => {
    const tier1 = await createKey(gw.admin, { name: 'agent', workload: 'toolbench-agent' });
    const ci = await createKey(gw.admin, { name: 'ci', workload: 'ci-nightly' });
    await Promise.all([known(tier1.key), known(ci.key)]);
    expect(await idsFor(tier1.key)).toEqual(['m', 'tier1-model']);
    expect(await idsFor(ci.key)).toEqual(['m', 'tier2-model']);
  });

  it('narrows the list to the allowlist, and retrieving a model outside it is 404', async () => {
    // tier1-model is allowed but not served to this workload: it stays hidden.
    const { key } = await createKey(gw.admin, { name: 'narrow', workload: 'ci-pr', models: ['tier2-model', 'tier1-model'] });
    await known(key);
    expect(await idsFor(key)).toEqual(['tier2-model']);
    const client = new OpenAI({ apiKey: key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    expect((await client.models.retrieve('tier2-model')).id).toBe('tier2-model');
    const err = await client.models.retrieve('m').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).status).toBe(404);
  });

  it('filters the same for a key sent as x-api-key (the Anthropic SDK), and refuses a revoked key', async () => {
    const { id, key } = await createKey(gw.admin, { name: 'anthropic', workload: 'research', models: ['private-model'] });
    await known(key);
    const anthropic = new Anthropic({ apiKey: key, baseURL: gw.url, maxRetries: 0 });
    const ids: string[] = [];
    for await (const m of anthropic.models.list()) ids.push(m.id);
    expect(ids).toEqual(['private-model']);

    expect((await api(gw.admin, 'POST', `/admin/keys/${id}/revoke`, {})).status).toBe(200);
    await eventually(async () => (await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status === 401, 'the revoked key to be refused');
    const client = new OpenAI({ apiKey: key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const err = await client.models.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
  });
});
