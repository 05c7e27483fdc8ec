// `tollgate sim --api …` as users run it: the real binary, a real port, an official SDK as client.
import Anthropic from '@anthropic-ai/sdk';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { spawnCli } from '../helpers/cli.js';

it('tollgate sim --api anthropic serves the Messages API and requires its key', async () => {
  const cli = spawnCli(['sim', '--api', 'anthropic', '--listen', '127.0.0.1:0', '--api-key', 'sk-ant-cli']);
  try {
    const url = (await cli.waitFor(/serving the anthropic API at (http:\/\/\S+) \(credential required\)/))[1] as string;
    const ok = await new Anthropic({ apiKey: 'sk-ant-cli', baseURL: url, maxRetries: 0 }).messages.create({ model: 'm', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
    expect(ok.type).toBe('message');
    await expect(new Anthropic({ apiKey: 'wrong', baseURL: url, maxRetries: 0 }).messages.create({ model: 'm', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] })).rejects.toBeInstanceOf(
      Anthropic.AuthenticationError,
    );
  } finally {
    cli.child.kill('SIGTERM');
  }
  expect(await cli.exited()).toBe(0);
});

it('tollgate sim --api bedrock --replay serves golden exchanges', async () => {
  const cli = spawnCli(['sim', '--api', 'bedrock', '--listen', '127.0.0.1:0', '--replay', join(import.meta.dirname, 'fixtures')]);
  try {
    const url = (await cli.waitFor(/serving (\d+) bedrock golden exchanges \(replay\) at (http:\/\/\S+)/))[2] as string;
    const res = await fetch(`${url}/model/nope/converse`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/no fixture for POST \/model\/nope\/converse/);
  } finally {
    cli.child.kill('SIGTERM');
  }
  expect(await cli.exited()).toBe(0);
});
