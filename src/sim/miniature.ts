// The simulator's miniature engine: the h100x4-gpt-oss-120b profile with 16-sequence batches and a
// step about a fifth as long, so that a pool of replicas, the gateway and the load harness run at
// saturation on this project's two-core CI machines. Its knee is a cliff of batch slots at a few
// hundred users instead of the full profile's ~900. One home for the runs that use it: the picker
// bench's --short runs (src/bench/picker-setup.ts) and `npm run scenario:seed -- --short`
// (scripts/scenario-seed.mjs, which imports it from dist/). Written to a JSON file for
// `tollgate sim --profile FILE`.
export const MINIATURE_PROFILE = {
  extends: 'h100x4-gpt-oss-120b',
  name: 'h100x4-gpt-oss-120b-miniature',
  scheduler: { maxNumSeqs: 16 },
  cost: { fixedMs: 2, prefillTokenMs: 0.0084, decodeSeqMs: 0.02, contextTokenMs: 0.00000212 },
  latency: { frontendMs: 0.8 },
} as const;
