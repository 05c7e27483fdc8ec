// `tollgate sim` command plumbing: help, profile listing, offline ramp, and clear errors for bad input.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test, vi } from 'vitest';
import { CliError, UsageError } from '../../src/cli/args.js';
import { run } from '../../src/cli/sim.js';

function capture(): { text: () => string } {
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  return { text: () => out };
}

afterEach(() => {
  vi.restoreAllMocks();
});

test('--help and the profile list', async () => {
  const out = capture();
  expect(await run(['--help'])).toBe(0);
  expect(await run(['profile'])).toBe(0);
  expect(await run(['profile', 'fast'])).toBe(0);
  expect(out.text()).toContain('--replay-timing');
  expect(out.text()).toMatch(/h100x4-gpt-oss-120b\s+4x H100/);
  expect(out.text()).toContain('"servedModel": "sim-model"');
});

test('ramp runs offline and reports the knee; --set overrides a profile field', async () => {
  const out = capture();
  expect(await run(['ramp', '--users', '10,40', '--duration-s', '20', '--set', 'scheduler.maxNumSeqs=8'])).toBe(0);
  expect(out.text()).toMatch(/users\s+rps\s+ttft_mean/);
  expect(out.text()).toMatch(/T2 knee \(mean TTFT > 3x baseline\): 40 users/);
});

test('bad input: exit-2 usage errors and exit-1 errors with hints', async () => {
  await expect(run(['--listen', 'nowhere'])).rejects.toBeInstanceOf(UsageError);
  await expect(run(['--api', 'vertex', '--service-account', '/definitely/not/here'])).rejects.toBeInstanceOf(CliError);
  await expect(run(['--api', 'gemini', '--replicas', '2'])).rejects.toBeInstanceOf(UsageError);
  await expect(run(['--api', 'nope'])).rejects.toBeInstanceOf(UsageError);
  await expect(run(['ramp', '--set', 'scheduler.maxNumSeqs=-1'])).rejects.toThrow(/scheduler.maxNumSeqs" must be a whole number from 1/);
  await expect(run(['ramp', '--set', 'scheduler.nope=1'])).rejects.toThrow(/unknown field "scheduler.nope"/);
  await expect(run(['--record', '/tmp/x'])).rejects.toThrow(/go together/);
  await expect(run(['--replay', '/definitely/not/here'])).rejects.toThrow(/cannot read/);
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-prof-'));
  try {
    const file = join(dir, 'p.yaml');
    await writeFile(file, 'extends: fast\ncost:\n  fixedMs: fast\n');
    await expect(run(['profile', file])).rejects.toThrow(/"cost.fixedMs" must be a number/);
    await writeFile(file, 'extends: h100x4-gpt-oss-120b\nhardware:\n  memoryGiB: 20\n');
    await expect(run(['profile', file])).rejects.toThrow(/KV cache gets 0 blocks/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
