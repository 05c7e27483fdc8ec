// What a compiled config needs from the process before it serves: the token encodings to load
// (readiness waits for them) and whether its limits want a shared store.
import type { RuntimeConfig } from '../config/types.js';
import type { EncodingName } from '../tokenizer/index.js';

/** Admission reserves a prompt's tokens before the request is sent: every encoding a model may use. */
export const RESERVATION_ENCODINGS: readonly EncodingName[] = ['o200k_base', 'o200k_harmony', 'cl100k_base'];

/** The encodings the gateway counts with: the backends' annotations, and the default (by model name). */
export function countingEncodings(config: RuntimeConfig): Set<EncodingName> {
  const out = new Set<EncodingName>(['o200k_base']);
  for (const b of config.backends.values()) if (b.tokenizer !== undefined) out.add(b.tokenizer);
  return out;
}

/**
 * `shared`: global rate limits or quotas, which replicas share only through Redis. `reserve`: a
 * rule or quota reserves the prompt's tokens at admission, so it needs an encoding loaded.
 */
export function limitNeeds(config: RuntimeConfig): { shared: boolean; reserve: boolean } {
  let shared = config.quotas.size > 0;
  let reserve = false;
  for (const route of config.routes) {
    for (const rule of route.rules) {
      for (const r of rule.rateLimits) {
        if (r.scope === 'Global') shared = true;
        if (r.reserve) reserve = true;
      }
    }
  }
  for (const list of config.quotas.values()) for (const q of list) if (q.reserve) reserve = true;
  return { shared, reserve };
}
