// Test fixtures for the load harness: a small, fast synthetic corpus, and the seed scenario's
// stack (tier-1 and tier-2 simulators behind a real gateway) on ephemeral ports.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimServer, type SimProfile, type SimServerHandle } from '../../src/sim/index.js';
import { runSynth } from '../../src/workload/synth/run.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `tollgate-${prefix}-`));
}

const SMALL = (turns: number, thinkMs: number): Record<string, unknown> => ({
  task: { kind: 'const', value: 20 },
  turns: { kind: 'const', value: turns },
  observation: { kind: 'const', value: 15 },
  visible: { kind: 'const', value: 6 },
  reasoning: { kind: 'const', value: 4 },
  think: { kind: 'const', value: thinkMs },
});

/**
 * A corpus of the five synthetic profiles with short prompts (a few hundred tokens), 10-token
 * outputs and short think times, so a run of a few seconds sees many requests.
 */
export async function smallCorpus(sessions = 200, opts: { turns?: number; thinkMs?: number; stream?: boolean } = {}): Promise<string> {
  const dir = tempDir('load-corpus');
  const p = SMALL(opts.turns ?? 3, opts.thinkMs ?? 30);
  await runSynth({
    out: dir,
    sessions,
    seed: 7,
    overrides: {
      toolbench: { ...p, systemTokens: 60, preamble: { kind: 'const', value: 40 } },
      'terminal-bench': { ...p, systemTokens: 60 },
      omniact: { ...p, turns: { kind: 'const', value: 1 }, observation: { kind: 'const', value: 0 }, systemTokens: 60, screen: { kind: 'const', value: 60 } },
      'swe-rebench': { ...p, systemTokens: 60 },
      coderforge: { ...p, systemTokens: 60 },
    },
    model: 'gpt-oss-120b',
    layout: 'delta',
    stream: opts.stream ?? true,
    thinkScale: 1,
    partBytes: 256 << 20,
    maxTokensField: 'max_tokens',
    exactLength: false,
    replace: false,
  });
  return dir;
}

export interface Stack {
  readonly gateway: TestGateway;
  readonly tier1: SimServerHandle;
  readonly tier2: SimServerHandle;
  close(): Promise<void>;
}

const SEED = join(import.meta.dirname, '../../examples/seed-scenario');

/**
 * The seed scenario (identity routing, zero-trust keys) on ephemeral ports, without its
 * rate-limit policy (the functional test case's 2 requests/minute would shed a load test).
 */
export async function startSeedStack(tier2Profile: string | SimProfile, tier1Profile: string | SimProfile = 'fast'): Promise<Stack> {
  const tier1 = await startSimServer({ profile: tier1Profile, model: 'gemini-flash', apiKey: 'demo-tier1-key-not-for-production', seed: 1 });
  const tier2 = await startSimServer({ profile: tier2Profile, model: 'gpt-oss-120b', apiKey: 'demo-tier2-key-not-for-production', seed: 2 });
  const backends = readFileSync(join(SEED, 'backends.yaml'), 'utf8').replace('port: 8101', `port: ${tier1.port}`).replace('port: 8102', `port: ${tier2.port}`);
  const gateway = await startGateway({
    'gateway.yaml': readFileSync(join(SEED, 'gateway.yaml'), 'utf8'),
    'routes.yaml': readFileSync(join(SEED, 'routes.yaml'), 'utf8'),
    'security.yaml': readFileSync(join(SEED, 'security.yaml'), 'utf8'),
    'backends.yaml': backends,
  }, { watch: false });
  return {
    gateway,
    tier1,
    tier2,
    close: async () => {
      await gateway.close();
      await Promise.all([tier1.close(), tier2.close()]);
    },
  };
}
