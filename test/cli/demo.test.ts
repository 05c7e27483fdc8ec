// `tollgate demo` as a user runs it: one command, then the whitepaper's seed test cases against it.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnCli, type RunningCli } from '../helpers/cli.js';

let demo: RunningCli;
let gw: string;
let admin: string;

beforeAll(async () => {
  demo = spawnCli(['demo', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0']);
  const m = await demo.waitFor(/gateway \(OpenAI API[^\n]*?(http:\/\/\S+)\n\s+admin[^\n]*?(http:\/\/\S+)/);
  gw = m[1] as string;
  admin = m[2] as string;
});

afterAll(async () => {
  demo.child.kill('SIGINT');
  expect(await demo.exited()).toBe(0);
});

const BODY = { model: 'gpt-oss-120b', messages: [{ role: 'user' as const, content: 'Say hello' }], max_tokens: 8 };

function chat(app: string, headers: Record<string, string> = {}) {
  return fetch(`${gw}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-workload-app': app, ...headers },
    body: JSON.stringify(BODY),
  });
}

describe('tollgate demo', () => {
  it('prints ready-to-paste commands for the three seed test cases', () => {
    const out = demo.output();
    expect(out).toContain('Seed test case 1');
    expect(out).toContain('Seed test case 2');
    expect(out).toContain('Seed test case 3');
    expect(out).toContain("-H 'authorization: Bearer malicious-token'");
  });

  it('test case 2: strips a rogue token, injects the tier-1 key, and the backend refuses bypass', async () => {
    const r = await chat('toolbench-agent', { authorization: 'Bearer malicious-token', 'x-request-id': 'demo-zero-trust' });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { model: string }).model).toBe('gemini-flash');
    const seen = (await (await fetch('http://127.0.0.1:8101/_sim/requests/demo-zero-trust')).json()) as { credential: string; headers: Record<string, string> };
    expect(seen.credential).toBe('valid');
    expect(JSON.stringify(seen)).not.toContain('malicious-token');
    const bypass = await fetch('http://127.0.0.1:8101/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer malicious-token' },
      body: JSON.stringify(BODY),
    });
    expect(bypass.status).toBe(401);
  });

  it('test case 3: one body, three identities, three outcomes', async () => {
    const tier2 = await chat('swe-rebench-ide');
    expect([200, 429]).toContain(tier2.status); // 429 once the rate limit of test case 1 is exhausted
    if (tier2.status === 200) expect(((await tier2.json()) as { model: string }).model).toBe('gpt-oss-120b');
    const tier1 = await chat('toolbench-agent');
    expect(tier1.status).toBe(200);
    expect(((await tier1.json()) as { model: string }).model).toBe('gemini-flash');
    const unknown = await chat('unknown-guest');
    expect(unknown.status).toBe(404);
  });

  it('streams through the gateway for the official SDK', async () => {
    const client = new OpenAI({ baseURL: `${gw}/v1`, apiKey: 'unused', defaultHeaders: { 'x-workload-app': 'terminal-bench-ci' }, maxRetries: 0 });
    const stream = await client.chat.completions.create({ ...BODY, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? '';
      if (c.usage) usage = c.usage;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(usage?.completion_tokens).toBe(8);
  });

  it('serves the admin endpoints', async () => {
    expect((await fetch(`${admin}/readyz`)).status).toBe(200);
    const dump = await (await fetch(`${admin}/config_dump`)).text();
    expect(dump).not.toContain('demo-tier1-key-not-for-production');
  });
});
