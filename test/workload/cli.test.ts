import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CliError, UsageError } from '../../src/cli/args.js';
import { run as synth } from '../../src/cli/synth.js';
import { run as unroll } from '../../src/cli/unroll.js';
import { FIXTURES, readAll, tempDir } from './helpers.js';

describe('synth and unroll commands', () => {
  it('reject bad usage with a clear message (exit 2)', async () => {
    await expect(synth([])).rejects.toThrow(UsageError);
    await expect(synth(['--out', 'x', '--layout', 'zip'])).rejects.toThrow(/--layout: "zip"/);
    await expect(unroll(['--in', 'a.json', '--out', 'x'])).rejects.toThrow(/--format is required/);
    await expect(unroll(['--format', 'csv', '--in', 'a', '--out', 'x'])).rejects.toThrow(/not one of toolbench/);
    await expect(unroll(['--format', 'toolbench', '--in', 'a', '--out', 'x', '--think', 'gauss:1'])).rejects.toThrow(/unknown distribution/);
    await expect(unroll(['--format', 'toolbench', '--in', 'a', '--out', 'x', '--app', 'bad app'])).rejects.toThrow(/--app/);
  });

  it('report a missing input or an input with nothing usable as one line (exit 1)', async () => {
    await expect(unroll(['--format', 'toolbench', '--in', '/nonexistent/file.json', '--out', tempDir('cli'), '--quiet'])).rejects.toThrow(CliError);
    await expect(unroll(['--format', 'mooncake', '--in', join(FIXTURES, 'sharegpt.json'), '--out', tempDir('cli'), '--quiet'])).rejects.toThrow(/no usable session/);
  });

  it('run end to end from flags, several inputs into one corpus', async () => {
    const out = tempDir('cli-ok');
    expect(await synth(['--out', out, '--profiles', 'omniact=3,toolbench=2', '--seed', '3', '--quiet'])).toBe(0);
    expect(await unroll(['--format', 'sharegpt', '--in', join(FIXTURES, 'sharegpt.json'), '--out', out, '--app', 'chat-app', '--layout', 'full', '--quiet'])).toBe(0);
    const sessions = await readAll(out);
    expect(sessions.map((s) => s.app).sort()).toEqual(['chat-app', 'chat-app', 'omniact-ui', 'omniact-ui', 'omniact-ui', 'toolbench-agent', 'toolbench-agent']);
    await expect(unroll(['--format', 'sharegpt', '--in', join(FIXTURES, 'sharegpt.json'), '--out', out, '--app', 'chat-app', '--quiet'])).rejects.toThrow(/already has a stream/);
  });
});
