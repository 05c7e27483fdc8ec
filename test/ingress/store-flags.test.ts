// `tollgate serve --responses-ttl / --responses-memory` (and their env forms) as a real process in
// front of the simulator, with the openai SDK as the client: a response expires after the TTL, the
// embedded store drops the oldest responses beyond its budget, and bad values are usage errors.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimServer, type SimServerHandle } from '../../src/sim/index.js';
import { runCli, spawnCli, type RunningCli } from '../helpers/cli.js';
import { backendYaml, credentialYaml, routeYaml } from '../providers/rig.js';

let sim: SimServerHandle;
let dir: string;

beforeAll(async () => {
  sim = await startSimServer({ apiKey: 'sk-openai-sim', profile: 'fast' });
  dir = await mkdtemp(join(tmpdir(), 'tollgate-responses-'));
  await writeFile(join(dir, 'backend.yaml'), backendYaml('be', 'OpenAI', sim.port));
  await writeFile(join(dir, 'credentials.yaml'), credentialYaml('openai', 'be', sim.url));
  await writeFile(join(dir, 'route.yaml'), routeYaml('r', 'sim-model', 'be'));
});

afterAll(async () => {
  await sim.close();
  await rm(dir, { recursive: true, force: true });
});

async function serve(flags: string[], env: NodeJS.ProcessEnv = {}): Promise<{ cli: RunningCli; client: OpenAI }> {
  const cli = spawnCli(['serve', '--config', dir, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--concurrency', '1', ...flags], env);
  const m = await cli.waitFor(/"listen":"127\.0\.0\.1:(\d+)"/);
  return { cli, client: new OpenAI({ apiKey: 'caller', baseURL: `http://127.0.0.1:${m[1]}/v1`, maxRetries: 0 }) };
}

async function stop(cli: RunningCli): Promise<void> {
  cli.child.kill('SIGTERM');
  await cli.exited();
}

describe('serve --responses-ttl / --responses-memory', () => {
  it('a stored response is gone once the TTL has passed', async () => {
    const { cli, client } = await serve(['--responses-ttl', '3s']);
    try {
      const r = await client.responses.create({ model: 'sim-model', input: 'Hello' });
      expect((await client.responses.retrieve(r.id)).id).toBe(r.id);
      await new Promise((res) => setTimeout(res, 3_500));
      await expect(client.responses.retrieve(r.id)).rejects.toMatchObject({ status: 404 });
    } finally {
      await stop(cli);
    }
  });

  it('the embedded store keeps the newest responses within its budget (env form)', async () => {
    const { cli, client } = await serve([], { TOLLGATE_RESPONSES_MEMORY: '1Mi' });
    try {
      // Each record holds its input: eight of ~150 KB overflow 1 MiB, so the first is dropped.
      const big = 'lorem ipsum '.repeat(12_500);
      const ids: string[] = [];
      for (let i = 0; i < 8; i++) ids.push((await client.responses.create({ model: 'sim-model', input: big, max_output_tokens: 16 })).id);
      await expect(client.responses.retrieve(ids[0] ?? '')).rejects.toMatchObject({ status: 404 });
      expect((await client.responses.retrieve(ids[7] ?? '')).id).toBe(ids[7]);
    } finally {
      await stop(cli);
    }
  });

  it.each([
    [['--responses-ttl', '5x'], {}, /--responses-ttl: "5x" is not a duration/],
    [['--responses-ttl', '0s'], {}, /--responses-ttl: "0s" is outside 1s to 720h/],
    [['--responses-memory', 'lots'], {}, /--responses-memory: "lots" is not a byte quantity/],
    [[], { TOLLGATE_RESPONSES_MEMORY: '10' }, /--responses-memory: "10" is outside 1Mi to 64Gi/],
  ])('refuses %j %j as a usage error before starting', async (flags, env, message) => {
    const r = await runCli(['serve', '--config', dir, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', ...flags], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toContain('tollgate serving');
  });
});
