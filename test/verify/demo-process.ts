// `tollgate demo` on a private copy of the seed scenario, as a real process.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnCli, type RunningCli } from '../helpers/cli.js';
import type { SeedCopy } from './seed-copy.js';

export interface Demo {
  readonly cli: RunningCli;
  readonly gateway: string;
  readonly admin: string;
  /** The flags that point verify at this demo. */
  readonly verifyArgs: string[];
  stop(): Promise<number | null>;
}

export async function startDemo(copy: SeedCopy): Promise<Demo> {
  // Its own ledger: test traffic stays out of the demo's default one.
  const ledger = await mkdtemp(join(tmpdir(), 'tollgate-verify-ledger-'));
  const cli = spawnCli(['demo', '--config', copy.dir, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--ledger', ledger]);
  const m = await cli.waitFor(/gateway \(OpenAI API[^\n]*?(http:\/\/\S+)\n\s+admin[^\n]*?(http:\/\/\S+)/, 30_000);
  const gateway = m[1] as string;
  const admin = m[2] as string;
  return {
    cli,
    gateway,
    admin,
    verifyArgs: ['--gateway', gateway, '--admin', admin, '--backend', `tier1=${copy.tier1}`, '--backend', `tier2=${copy.tier2}`],
    stop: async () => {
      cli.child.kill('SIGINT');
      const code = await cli.exited();
      await rm(ledger, { recursive: true, force: true });
      return code;
    },
  };
}
