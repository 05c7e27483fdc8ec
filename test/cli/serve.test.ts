// `tollgate serve` as a real process: startup errors, graceful shutdown with a stream in flight.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnCli } from '../helpers/cli.js';
import { backendYaml, routeYaml } from '../helpers/gateway.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';

let up: Upstream;
let dir: string;

beforeAll(async () => {
  up = await startUpstream(openAIBehavior({ chunks: 40, chunkDelayMs: 15 }));
  dir = await mkdtemp(join(tmpdir(), 'tollgate-serve-'));
  await writeFile(join(dir, 'b.yaml'), backendYaml('b', [{ port: up.port }]));
  await writeFile(join(dir, 'r.yaml'), routeYaml('r', [{ matches: [{ 'x-ai-eg-model': 'm' }], backends: [{ name: 'b' }] }]));
});

afterAll(async () => {
  await up.close();
  await rm(dir, { recursive: true, force: true });
});

describe('tollgate serve', () => {
  it('finishes an in-flight stream on SIGTERM, refuses new connections, and exits 0', async () => {
    const cli = spawnCli(['serve', '--config', dir, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0']);
    const m = await cli.waitFor(/"listen":"127\.0\.0\.1:(\d+)"/);
    const url = `http://127.0.0.1:${m[1]}`;
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    cli.child.kill('SIGTERM');
    let text = new TextDecoder().decode(first.value);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).toContain('"content":"w39 "');
    expect(text).toContain('data: [DONE]');
    expect(await cli.exited()).toBe(0);
    await expect(fetch(`${url}/v1/models`)).rejects.toThrow();
  });

  it('refuses to start on an invalid config, printing file:line problems, exit 1', async () => {
    const bad = await mkdtemp(join(tmpdir(), 'tollgate-bad-'));
    try {
      await writeFile(join(bad, 'r.yaml'), routeYaml('r', [{ backends: [{ name: 'missing' }] }]));
      const r = await runCli(['serve', '--config', bad, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/r\.yaml:\d+/);
      expect(r.stderr).toContain('missing');
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    } finally {
      await rm(bad, { recursive: true, force: true });
    }
  });

  it('explains usage mistakes with exit code 2', async () => {
    const r = await runCli(['serve', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--bogus');
    const h = await runCli(['serve', '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('--config');
    const none = await runCli(['serve']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--config is required');
  });

  it('says clearly when the port is taken', async () => {
    const r = await runCli(['serve', '--config', dir, '--listen', `127.0.0.1:${up.port}`, '--admin', '127.0.0.1:0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('already in use');
  });
});
