// `tollgate bench masking` at a few requests: the bench finds the overhead bench's key to mask in
// the current build and writes its table and JSON. Numbers are not asserted (shared machine).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

let out: string;

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'tollgate-bench-masking-test-'));
});

afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

describe('tollgate bench masking', () => {
  it('measures the current build against the search floor', async () => {
    const json = join(out, 'masking.json');
    const r = await runCli(['bench', 'masking', '--requests', '200', '--rounds', '2', '--out', json], { timeoutMs: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^search floor\s+[\d.]+\s+[\d.]+\s+1\.0x\s+1\.0x$/m);
    expect(r.stdout).toMatch(/^current\s+[\d.]+\s+[\d.]+\s+[\d.]+x\s+[\d.]+x$/m);
    const report = JSON.parse(await readFile(json, 'utf8')) as { rows: Array<{ target: string; jsonUs: number; streamUs: number }> };
    expect(report.rows.map((row) => row.target)).toEqual(['search floor', 'current']);
    for (const row of report.rows) expect(row.streamUs).toBeGreaterThan(0);
  });

  it('rejects bad flags with exit 2', async () => {
    const r = await runCli(['bench', 'masking', '--requests', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--requests: "0" must be a whole number');
  });
});
