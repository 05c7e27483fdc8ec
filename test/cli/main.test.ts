// The `tollgate` command itself: a mistyped command gets a suggestion, not just "unknown".
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

describe('tollgate <command>', () => {
  it('suggests the command a typo meant, and exits 2', async () => {
    const r = await runCli(['chargback']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('tollgate: unknown command "chargback"\nhint: did you mean `tollgate chargeback`? (`tollgate --help` lists every command)\n');
  });

  it('points at --help when nothing is close', async () => {
    const r = await runCli(['xyzzy']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('hint: run `tollgate --help` for the list of commands');
  });
});
