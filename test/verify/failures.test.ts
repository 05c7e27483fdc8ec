// Verify fails loudly: against a gateway whose policies are broken (no rate limit; a route that
// leaks a foreign credential upstream), against a closed port, and on bad usage. Each failure names
// what was expected, what came back and what to look at.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startDemo, type Demo } from './demo-process.js';
import { freePort, seedCopy, type SeedCopy } from './seed-copy.js';

describe('tollgate verify against a gateway with broken policies', () => {
  let copy: SeedCopy;
  let demo: Demo;
  let out: string;

  beforeAll(async () => {
    // No rate limit at all, and the tier-1 route sets an x-api-key of its own: a credential that is
    // not the backend's key reaches the backend (what a leaked client key looks like upstream).
    copy = await seedCopy({ rateLimit: false });
    const routes = join(copy.dir, 'routes.yaml');
    const text = await readFile(routes, 'utf8');
    const leaky = text.replace(
      /^(\s*)modelNameOverride: gemini-flash\s*$/m,
      (_m, indent: string) => `${indent}modelNameOverride: gemini-flash\n${indent}headerMutation:\n${indent}  set:\n${indent}    - name: x-api-key\n${indent}      value: malicious-token`,
    );
    expect(leaky, 'the seed routes.yaml no longer has the tier-1 modelNameOverride this test edits').not.toBe(text);
    await writeFile(routes, leaky);
    demo = await startDemo(copy);
    out = await mkdtemp(join(tmpdir(), 'tollgate-verify-out-'));
  });

  afterAll(async () => {
    await demo.stop();
    await copy.remove();
    await rm(out, { recursive: true, force: true });
  });

  it('fails the seed suite, exit 1, with what was expected and what came back', async () => {
    const junit = join(out, 'verify.xml');
    const r = await runCli(['verify', ...demo.verifyArgs, '--suite', 'seed', '--format', 'junit', '--out', junit], { timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    // Test case 1: six 200s, and the hint says what policy is missing.
    expect(r.stdout).toMatch(/^FAIL {4}rate-limit/m);
    expect(r.stdout).toContain('expected: 200 200 429 429 429 429');
    expect(r.stdout).toContain('actual:   200 200 200 200 200 200');
    expect(r.stdout).toContain('nothing was rate limited');
    // Test case 2: the foreign credential at the backend is caught, by header name.
    expect(r.stdout).toMatch(/^FAIL {4}zero-trust/m);
    expect(r.stdout).toContain('reached the backend in header "x-api-key"');
    // Test case 3 depends on test case 1's exhausted budget: 200 instead of 429.
    expect(r.stdout).toMatch(/^FAIL {4}identity-routing/m);
    expect(r.stdout).toMatch(/FAILED: rate-limit, zero-trust, identity-routing/);
    const xml = await readFile(junit, 'utf8');
    expect(xml).toMatch(/<testsuites name="tollgate verify" tests="4" failures="3" skipped="0"/);
    expect(xml).toContain('<failure message="6 rapid requests as swe-rebench-ide did not give 2×200 then 4×429"');
    expect(xml).toContain('expected: 200 200 429 429 429 429');
  });
});

describe('tollgate verify against nothing', () => {
  it('stops at once on a closed port: exit 1, connection refused, the rest not run', async () => {
    const port = await freePort();
    const r = await runCli(['verify', '--gateway', `http://127.0.0.1:${port}`, '--admin', `http://127.0.0.1:${port}`, '--suite', 'full', '--skip', 'reload-while-streaming', '--format', 'json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { ok: boolean; counts: { failed: number; notRun: number; skipped: number }; results: Array<{ id: string; outcome: string; failure?: { message: string; hint?: string } }> };
    expect(report.ok).toBe(false);
    const [first, ...rest] = report.results;
    expect(first?.id).toBe('preflight');
    expect(first?.failure?.message).toBe(`GET http://127.0.0.1:${port}/v1/models: connection refused: nothing is listening at 127.0.0.1:${port}`);
    expect(first?.failure?.hint).toContain('is it running');
    expect(rest.filter((x) => x.outcome === 'not-run').length).toBe(rest.length - 1);
    expect(rest.find((x) => x.id === 'reload-while-streaming')?.outcome).toBe('skipped');
    expect(report.counts).toMatchObject({ failed: 1, skipped: 1 });
  });

  it('says what is wrong with bad usage (exit 2)', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--suite', 'everything'], /--suite: "everything" is not seed or full/],
      [['--suite', 'full'], /reload-while-streaming needs the gateway's watched config directory\nhint: pass --config DIR/],
      [['--skip', 'rate-limits'], /--skip: no check "rate-limits"\nhint: the checks are: preflight, rate-limit,/],
      [['--gateway', 'localhost:8080'], /--gateway: "localhost:8080" must be an http:\/\/ or https:\/\/ URL/],
      [['--backend', 'tier3=http://x'], /--backend: "tier3=http:\/\/x" is not tier1=URL or tier2=URL/],
      [['--format', 'xml'], /--format: "xml" is not text, json or junit/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(['verify', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(re);
    }
  });

  it('lists the checks of a suite', async () => {
    const r = await runCli(['verify', '--suite', 'full', '--list']);
    expect(r.code).toBe(0);
    const ids = r.stdout.trim().split('\n').map((l) => l.split(/\s+/)[0]);
    expect(ids.slice(0, 3)).toEqual(['rate-limit', 'zero-trust', 'identity-routing']);
    expect(ids).toContain('reload-while-streaming');
    expect(ids[ids.length - 1]).toBe('response-headers');
  });
});
