import type { Probe, Suite } from '../check.js';
import type { VerifyContext } from '../context.js';

export interface Check {
  /** Stable id: what `--skip` and `--only` take and what the JSON and JUnit reports name. */
  readonly id: string;
  readonly suite: Suite;
  readonly title: string;
  /** Where the expectation comes from (the whitepaper section, the design contract). */
  readonly source: string;
  /** Needs the gateway's config directory (`--config DIR`). */
  readonly needsConfigDir?: boolean;
  run(ctx: VerifyContext, t: Probe): Promise<void>;
}
