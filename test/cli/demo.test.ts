// `tollgate demo` as a user runs it: one command, then the whitepaper's seed test cases against it,
// and the README's walk-through from it: synth → load → report → chargeback.
import { execFile, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, runCli, spawnCli, type RunningCli } from '../helpers/cli.js';

let demo: RunningCli;
let gw: string;
let admin: string;
const work = mkdtempSync(join(tmpdir(), 'tollgate-demo-test-'));
const ledger = join(work, 'ledger');

beforeAll(async () => {
  // Its own temp dir: the demo keeps keys and its admin token there, away from a demo a user runs.
  demo = spawnCli(['demo', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--ledger', ledger], { TMPDIR: work });
  await demo.waitFor(/Press Ctrl-C/);
  gw = (demo.output().match(/^ {2}gateway \(OpenAI API[^\n]*?(http:\/\/\S+)$/m) as RegExpMatchArray)[1] as string;
  admin = (demo.output().match(/^ {2}admin [^\n]*?(http:\/\/\S+)$/m) as RegExpMatchArray)[1] as string;
});

afterAll(async () => {
  demo.child.kill('SIGINT');
  expect(await demo.exited()).toBe(0);
  rmSync(work, { recursive: true, force: true });
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

  it('says what it is doing while it starts, then a banner whose columns line up, with the dashboard and the ledger', () => {
    const out = demo.output();
    expect(out.indexOf('starting the gateway')).toBeLessThan(out.indexOf('Tollgate demo is running'));
    const table = out.slice(out.indexOf('Tollgate demo is running')).split('\n\n')[1]?.split('\n') ?? [];
    expect(table.length).toBeGreaterThanOrEqual(7);
    // Labels have single spaces; the value column starts after the first run of two or more.
    const columns = new Set(table.map((l) => /^ {2}\S.*?\S {2,}(?=\S)/.exec(l)?.[0].length));
    expect(columns.size).toBe(1);
    expect(out).toMatch(/dashboard[^\n]*http:\/\/127\.0\.0\.1:\d+\//);
    expect(out).toContain(`usage ledger (for tollgate chargeback)`);
    expect(out).toContain(ledger);
    expect(out).toMatch(/kill -INT \d+/);
  });

  it('lists --verbose and --ledger in its help', async () => {
    const r = await runCli(['demo', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: tollgate demo \[[^\n]*--verbose/);
    expect(r.stdout).toContain('--ledger DIR');
  });

  it('a second demo while one runs: one line naming the busy port, no stack trace', async () => {
    const r = await runCli(['demo', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--ledger', join(work, 'second')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tollgate demo: cannot start the tier 1 [^\n]*127\.0\.0\.1:8101 is already in use\nhint: another demo is probably running/);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
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

  it('test case 3: one body, three identities, three outcomes, each naming the backend that answered', async () => {
    // The banner's tier-2 example uses an identity test case 1's limit does not spend.
    expect(demo.output()).toMatch(/x-workload-app: terminal-bench-ci'[^\n]*\n[^\n]*# 200 tier2-vllm/);
    const tier2 = await chat('terminal-bench-ci');
    expect(tier2.status).toBe(200);
    expect(tier2.headers.get('x-tollgate-backend')).toBe('tier2-vllm');
    expect(((await tier2.json()) as { model: string }).model).toBe('gpt-oss-120b');
    const tier1 = await chat('toolbench-agent');
    expect(tier1.status).toBe(200);
    expect(tier1.headers.get('x-tollgate-backend')).toBe('tier1-gemini-flash');
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

  it('prints key commands that, pasted into a shell, create a key and watch it run out of budget', async () => {
    const out = demo.output();
    const lines = out.slice(out.indexOf('Virtual keys:')).split('\n');
    const from = lines.findIndex((l) => l.startsWith('  alias tollgate='));
    const to = lines.findIndex((l) => l.startsWith('  # max_tokens'));
    expect(from).toBeGreaterThan(0);
    expect(to).toBeGreaterThan(from);
    // An interactive shell expands aliases; a script has to ask for it.
    const script = ['shopt -s expand_aliases', ...lines.slice(from, to)].join('\n');
    const r = await promisify(execFile)('bash', ['-c', script], { env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env['PATH'] ?? ''}` }, timeout: 120_000 });
    const codes = r.stdout.split('\n').filter((l) => /^\d{3}$/.test(l));
    expect(codes).toHaveLength(8);
    const firstRefused = codes.indexOf('429');
    expect(firstRefused).toBeGreaterThan(0);
    expect(codes.slice(0, firstRefused).every((c) => c === '200')).toBe(true);
    expect(codes.slice(firstRefused).every((c) => c === '429')).toBe(true);
    expect(r.stdout).toMatch(/"message":"Budget exceeded: the budget of key \\"demo-agent\\" \([a-z2-9]{12}\), 0\.0001 USD per 1d, is exhausted[^"]*; it resets at [^"]+","type":"rate_limit_error","code":"budget_exceeded"/);
    expect(r.stdout).toMatch(/^budgets:\s+0\.0000\d+ of 0\.0001\/1d USD$/m);
  }, 150_000);

  it('serves the admin endpoints', async () => {
    expect((await fetch(`${admin}/readyz`)).status).toBe(200);
    const dump = await (await fetch(`${admin}/config_dump`)).text();
    expect(dump).not.toContain('demo-tier1-key-not-for-production');
  });
});

describe('the walk-through from the demo', () => {
  const tollgate = (args: string[], timeoutMs = 120_000) => runCli(args, { timeoutMs });

  it('synth → load → report → chargeback, as the README runs them', async () => {
    const corpus = join(work, 'corpus');
    const synth = await tollgate(['synth', '--sessions', '40', '--profiles', 'toolbench,terminal-bench,omniact,coderforge', '--out', corpus, '--quiet']);
    expect(synth.code, synth.stderr).toBe(0);
    const run = join(work, 'run');
    const load = await tollgate(['load', '--workload', corpus, '--target', gw, '--users', '4', '--duration', '8s', '--out', run, '--quiet']);
    expect(load.code, load.stdout + load.stderr).toBe(0);
    expect(load.stdout).toMatch(/: completed/);
    const report = await tollgate(['report', run]);
    expect(report.code, report.stderr).toBe(0);
    expect(readFileSync(join(run, 'report.html'), 'utf8')).toContain('badge ok">completed');
    const cb = await tollgate(['chargeback', '--ledger', ledger, '--rates', join(ROOT, 'examples/seed-scenario/rates.yaml'), '--format', 'json']);
    expect(cb.code, cb.stderr).toBe(0);
    // Every request the load sent through the demo is priced by the shipped rates.
    const rows = (JSON.parse(cb.stdout) as { rows: Array<{ workload: string; model: string; cost: number | null; unpriced: boolean }> }).rows;
    const seeded = rows.filter((r) => r.model === 'gpt-oss-120b' || r.model === 'gemini-flash');
    expect(seeded.some((r) => (r.cost ?? 0) > 0)).toBe(true);
    expect(seeded.filter((r) => r.unpriced)).toEqual([]);
  }, 180_000);

  it('a load whose requests the demo rate-limits fails, with the errors by kind', async () => {
    const corpus = join(work, 'limited');
    expect((await tollgate(['synth', '--sessions', '20', '--profiles', 'swe-rebench', '--out', corpus, '--quiet'])).code).toBe(0);
    const run = join(work, 'limited-run');
    const load = await tollgate(['load', '--workload', corpus, '--target', gw, '--users', '4', '--duration', '6s', '--out', run, '--quiet']);
    expect(load.code).toBe(1);
    expect(load.stdout).toMatch(/: failed \(\d+\.\d% of requests failed, over the plan's limit of 5\.0%/);
    expect(load.stdout).toMatch(/errors: \d+ of \d+ requests: http_429 ×\d+/);
    const html = readFileSync(join(run, 'report.html'), 'utf8');
    expect(html).toContain('badge bad">failed');
    expect(html).toMatch(/<p class="bad">Errors: [^<]*http_429 ×/);
  }, 180_000);

  it('chargeback without the rates file hints at the one the repository ships', async () => {
    const r = await tollgate(['chargeback', '--ledger', ledger, '--rates', join(work, 'rates.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no such file');
    expect(r.stderr).toContain('examples/seed-scenario/rates.yaml');
    expect(r.stderr).not.toContain('ENOENT');
  });
});

describe('a demo whose launcher goes away', () => {
  async function freePort(): Promise<number> {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    return port;
  }

  it('stops when the shell or npm that started it exits', async () => {
    // Its own copy of the scenario on free ports, beside the demo above.
    const dir = join(work, 'scenario');
    cpSync(join(ROOT, 'examples/seed-scenario'), dir, { recursive: true });
    const backends = join(dir, 'backends.yaml');
    writeFileSync(backends, readFileSync(backends, 'utf8').replace('port: 8101', `port: ${await freePort()}`).replace('port: 8102', `port: ${await freePort()}`));
    // `; true` keeps the shell alive as the demo's parent, as npm's `sh -c` does.
    const cmd = `"${process.execPath}" "${BIN}" demo --listen 127.0.0.1:0 --admin 127.0.0.1:0 --config "${dir}" --ledger "${join(work, 'orphan')}"; true`;
    const sh = spawn('sh', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    sh.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (out.includes('Press Ctrl-C')) {
          clearInterval(t);
          resolve();
        } else if (sh.exitCode !== null) reject(new Error(out));
      }, 100);
    });
    const pid = Number((out.match(/kill -INT (\d+)/) as RegExpMatchArray)[1]);
    sh.kill('SIGKILL');
    // The demo notices its parent is gone, shuts down and frees its ports.
    const gone = async (): Promise<boolean> => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    };
    const { eventually } = await import('../helpers/gateway.js');
    await eventually(gone, `demo ${pid} to exit after its parent`, 20_000);
  }, 60_000);
});
