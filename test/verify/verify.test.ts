// `tollgate verify` as CI runs it: a real `tollgate demo` process on the seed scenario, then the full
// suite against it, black-box over HTTP. Every check must pass, with its evidence.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startDemo, type Demo } from './demo-process.js';
import { seedCopy, type SeedCopy } from './seed-copy.js';

interface JsonReport {
  ok: boolean;
  suite: string;
  counts: { passed: number; failed: number; skipped: number; notRun: number };
  results: Array<{ id: string; outcome: string; evidence: string[]; failure?: { message: string; expected?: string; actual?: string; hint?: string } }>;
}

let copy: SeedCopy;
let demo: Demo;
let out: string;

beforeAll(async () => {
  copy = await seedCopy({ rateLimit: true });
  demo = await startDemo(copy);
  out = await mkdtemp(join(tmpdir(), 'tollgate-verify-out-'));
});

afterAll(async () => {
  expect(await demo.stop()).toBe(0);
  await copy.remove();
  await rm(out, { recursive: true, force: true });
});

describe('tollgate verify --suite full against tollgate demo', () => {
  it('passes every check, writes the JSON report and streams the text one', async () => {
    const file = join(out, 'report.json');
    const r = await runCli(['verify', ...demo.verifyArgs, '--suite', 'full', '--config', copy.dir, '--format', 'json', '--out', file], { timeoutMs: 120_000 });
    const report = JSON.parse(await readFile(file, 'utf8')) as JsonReport;
    const failed = report.results.filter((x) => x.outcome !== 'passed').map((x) => `${x.id}: ${x.failure?.message ?? x.outcome} ${x.failure?.actual ?? ''}`);
    expect(failed, r.stdout).toEqual([]);
    expect(r.code).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.suite).toBe('full');
    const ids = report.results.map((x) => x.id);
    for (const id of ['preflight', 'rate-limit', 'zero-trust', 'identity-routing', 'credential-smuggling', 'spoofed-model-header', 'streaming-usage', 'token-metrics', 'malformed-json', 'oversize-body', 'unknown-path', 'client-disconnect', 'reload-while-streaming', 'response-headers']) {
      expect(ids).toContain(id);
    }
    // The evidence the whitepaper cites, in the report.
    const byId = new Map(report.results.map((x) => [x.id, x]));
    expect(byId.get('rate-limit')?.evidence.join('\n')).toContain('200 200 429 429 429 429');
    expect(byId.get('rate-limit')?.evidence.join('\n')).toMatch(/http_local_rate_limit_rate_limited increase \(summed across labels\): 4/);
    expect(byId.get('zero-trust')?.evidence.join('\n')).toContain('no trace of "malicious-token"');
    // Text went to stdout as the checks finished.
    expect(r.stdout).toMatch(/^PASS {4}rate-limit/m);
    expect(r.stdout).toMatch(/checks: \d+ passed, 0 failed/);
    expect(r.stdout.trimEnd().endsWith('OK')).toBe(true);
    // The reload check cleaned up after itself.
    expect((await readdir(copy.dir)).filter((f) => f.includes('tollgate-verify'))).toEqual([]);
  });
});
