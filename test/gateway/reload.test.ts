// Hot reload: valid changes apply atomically while requests flow (none fails), invalid ones are
// rejected and the old config keeps serving, secrets rotate from a mounted directory.
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendYaml, eventually, routeYaml, startGateway, type TestGateway } from '../helpers/gateway.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';

let one: Upstream;
let two: Upstream;

beforeAll(async () => {
  one = await startUpstream(openAIBehavior({ model: 'one', chunks: 3, chunkDelayMs: 2 }));
  two = await startUpstream(openAIBehavior({ model: 'two', chunks: 3, chunkDelayMs: 2 }));
});

afterAll(async () => {
  await one.close();
  await two.close();
});

function chat(url: string, model: string, stream: boolean) {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'hi' }] }),
  });
}

describe('hot reload', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({
      'b.yaml': [backendYaml('one', [{ port: one.port }]), backendYaml('two', [{ port: two.port }])].join('---\n'),
      'r.yaml': routeYaml('r', [{ matches: [{ 'x-ai-eg-model': 'm' }], backends: [{ name: 'one' }] }]),
    });
  });
  afterAll(() => gw.close());

  it('applies 20 config changes while requests flow, failing none', async () => {
    let stop = false;
    const failures: string[] = [];
    const seen = new Set<string>();
    let done = 0;
    const worker = async (): Promise<void> => {
      while (!stop) {
        const r = await chat(gw.url, 'm', done % 2 === 0);
        const text = await r.text();
        if (r.status !== 200 || !(text.includes('"model":"one"') || text.includes('"model":"two"'))) failures.push(`${r.status} ${text.slice(0, 200)}`);
        if (text.includes('"model":"two"')) seen.add('two');
        if (text.includes('"model":"one"')) seen.add('one');
        done++;
      }
    };
    const workers = Array.from({ length: 8 }, () => worker());
    const startGen = gw.gateway.generation?.id ?? 0;
    try {
      for (let i = 1; i <= 20; i++) {
        const target = i % 2 === 0 ? 'one' : 'two';
        await gw.write('r.yaml', routeYaml('r', [{ matches: [{ 'x-ai-eg-model': 'm' }], backends: [{ name: target }] }]));
        await eventually(() => (gw.gateway.generation?.id ?? 0) >= startGen + i, `generation ${startGen + i}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      stop = true;
      await Promise.all(workers);
    }
    expect(failures).toEqual([]);
    expect(done).toBeGreaterThan(0);
    expect(seen).toEqual(new Set(['one', 'two']));
  });

  it('rejects an invalid change and keeps serving the previous config', async () => {
    const gen = gw.gateway.generation?.id;
    await gw.write('r.yaml', routeYaml('r', [{ matches: [{ 'x-ai-eg-model': 'm' }], backends: [{ name: 'no-such-backend' }] }]));
    await eventually(() => gw.logs.some((l) => l.includes('config change rejected')), 'the rejection to be logged');
    expect(gw.gateway.generation?.id).toBe(gen);
    expect((await chat(gw.url, 'm', false)).status).toBe(200);
    const log = gw.logs.find((l) => l.includes('config change rejected')) ?? '';
    expect(log).toContain('no-such-backend');
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/tollgate_config_reloads_total\{result="rejected"\} [1-9]/);
  });
});

describe('secrets from a mounted directory', () => {
  it('rotates the injected key when the Kubernetes volume swaps its ..data link', async () => {
    const secrets = await mkdtemp(join(tmpdir(), 'tollgate-secrets-'));
    const vol = join(secrets, 'upstream-key');
    await mkdir(vol);
    const version = async (n: number, key: string): Promise<void> => {
      const dir = join(vol, `..2026_11_22_${n}`);
      await mkdir(dir);
      await writeFile(join(dir, 'apiKey'), key);
      await symlink(`..2026_11_22_${n}`, join(vol, '..data_tmp'));
      await rename(join(vol, '..data_tmp'), join(vol, '..data'));
    };
    await version(1, 'key-v1');
    await symlink('..data/apiKey', join(vol, 'apiKey'));
    const route = routeYaml('r', [{ matches: [{ 'x-ai-eg-model': 'm' }], backends: [{ name: 'one' }] }]);
    const policy = `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata:
  name: one-key
  namespace: default
spec:
  targetRefs:
    - group: aigateway.envoyproxy.io
      kind: AIServiceBackend
      name: one
  type: APIKey
  apiKey:
    secretRef:
      name: upstream-key
`;
    const gw = await startGateway({ 'b.yaml': backendYaml('one', [{ port: one.port }]), 'p.yaml': policy, 'r.yaml': route }, { secretsDir: secrets });
    try {
      await chat(gw.url, 'm', false);
      expect(one.requests.at(-1)?.headers['authorization']).toBe('Bearer key-v1');
      await version(2, 'key-v2');
      await eventually(async () => {
        await chat(gw.url, 'm', false);
        return one.requests.at(-1)?.headers['authorization'] === 'Bearer key-v2';
      }, 'the rotated key to be injected');
      expect(gw.logs.join('\n')).not.toContain('key-v2');
    } finally {
      await gw.close();
      await rm(secrets, { recursive: true, force: true });
    }
  });
});
