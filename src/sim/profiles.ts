// Built-in profiles, and loading a profile by name, object or file. The coefficients of
// h100x4-gpt-oss-120b and where each comes from are documented in docs/simulator.md.
import { readFile } from 'node:fs/promises';
import { deepMerge, ProfileError, validateProfile, type SimProfile } from './profile.js';
import { parseYamlOrJson } from './yaml.js';

const H100X4_GPT_OSS_120B: SimProfile = {
  name: 'h100x4-gpt-oss-120b',
  description: '4x H100 80GB at tensor parallel 4 serving gpt-oss-120b on vLLM V1, calibrated to the whitepaper (ch. 7)',
  servedModel: 'gpt-oss-120b',
  ownedBy: 'vllm',
  maxModelLen: 131_072,
  encoding: 'o200k_harmony',
  hardware: { gpu: 'NVIDIA H100 80GB HBM3', count: 4, memoryGiB: 79.65, tensorParallel: 4 },
  // gpt-oss-120b model card / config.json: 36 layers, 8 KV heads of dim 64, hidden size 2880; MXFP4
  // MoE weights, ~60.8 GiB checkpoint.
  modelSpec: { weightsGiB: 60.8, layers: 36, kvHeads: 8, headDim: 64, kvBytes: 2, hiddenSize: 2880 },
  cache: { blockSize: 16, gpuMemoryUtilization: 0.9, reservedGiBPerGpu: 5, numBlocks: 0, watermark: 0.01, prefixCaching: true },
  // 8192 tokens per step is vLLM's default on >= 70 GiB GPUs. max_num_seqs is calibrated (vLLM's
  // H100 default is 1024): 160 puts the batch ceiling, and so the TTFT knee, where the whitepaper's
  // ramp found it. docs/simulator.md explains the choice and how 1024 behaves instead.
  scheduler: { maxNumSeqs: 160, maxNumBatchedTokens: 8192, longPrefillTokenThreshold: 0, maxWaiting: 4096 },
  cost: { fixedMs: 10, prefillTokenMs: 0.042, decodeSeqMs: 0.1, contextTokenMs: 0.0000106 },
  latency: { frontendMs: 4 },
  output: { mean: 405, sigma: 0.6, min: 1, max: 8192, maxTokensMode: 'exact' },
  embeddings: { dimensions: 2880, fixedMs: 8, tokenMs: 0.002 },
  network: { nvlinkBytesPerToken: 0 },
};

const FAST: SimProfile = {
  name: 'fast',
  description: 'a tiny, quick engine for tests and demos: millisecond steps, small outputs, real batching and KV accounting',
  servedModel: 'sim-model',
  ownedBy: 'tollgate-sim',
  maxModelLen: 32_768,
  encoding: 'o200k_base',
  hardware: { gpu: 'Simulated GPU', count: 1, memoryGiB: 24, tensorParallel: 1 },
  modelSpec: { weightsGiB: 2, layers: 16, kvHeads: 4, headDim: 64, kvBytes: 2, hiddenSize: 1024 },
  cache: { blockSize: 16, gpuMemoryUtilization: 0.9, reservedGiBPerGpu: 1, numBlocks: 8192, watermark: 0.01, prefixCaching: true },
  scheduler: { maxNumSeqs: 256, maxNumBatchedTokens: 8192, longPrefillTokenThreshold: 0, maxWaiting: 4096 },
  cost: { fixedMs: 1, prefillTokenMs: 0.00002, decodeSeqMs: 0.0005, contextTokenMs: 0 },
  latency: { frontendMs: 0 },
  output: { mean: 12, sigma: 0.5, min: 1, max: 64, maxTokensMode: 'exact' },
  embeddings: { dimensions: 256, fixedMs: 1, tokenMs: 0 },
  network: { nvlinkBytesPerToken: 0 },
};

// A hosted API seen from outside: no queueing to speak of (effectively unlimited batch and cache),
// a network-and-frontend dominated first token (~0.3 s) and fast tokens (~250/s).
const GEMINI_FLASH: SimProfile = {
  name: 'gemini-flash',
  description: 'a cloud API like Gemini Flash: TTFT ~0.3 s, ~250 tokens/s, no visible queueing',
  servedModel: 'gemini-flash',
  ownedBy: 'google',
  maxModelLen: 1_048_576,
  encoding: 'o200k_base',
  hardware: { gpu: 'Cloud TPU (simulated)', count: 1, memoryGiB: 1024, tensorParallel: 1 },
  modelSpec: { weightsGiB: 64, layers: 32, kvHeads: 8, headDim: 128, kvBytes: 2, hiddenSize: 4096 },
  cache: { blockSize: 16, gpuMemoryUtilization: 0.9, reservedGiBPerGpu: 8, numBlocks: 4_000_000, watermark: 0, prefixCaching: true },
  scheduler: { maxNumSeqs: 1_000_000, maxNumBatchedTokens: 50_000_000, longPrefillTokenThreshold: 0, maxWaiting: 100_000 },
  cost: { fixedMs: 4, prefillTokenMs: 0.000002, decodeSeqMs: 0, contextTokenMs: 0 },
  latency: { frontendMs: 290 },
  output: { mean: 350, sigma: 0.7, min: 1, max: 8192, maxTokensMode: 'exact' },
  embeddings: { dimensions: 768, fixedMs: 60, tokenMs: 0.001 },
  network: { nvlinkBytesPerToken: 1 },
};

export const BUILTIN_PROFILES: Readonly<Record<string, SimProfile>> = {
  [H100X4_GPT_OSS_120B.name]: H100X4_GPT_OSS_120B,
  [FAST.name]: FAST,
  [GEMINI_FLASH.name]: GEMINI_FLASH,
};

export const DEFAULT_PROFILE = 'fast';

function builtin(name: string, where: string): SimProfile {
  const p = BUILTIN_PROFILES[name];
  if (p === undefined) {
    throw new ProfileError(`${where}: unknown profile "${name}"`, `built-in profiles: ${Object.keys(BUILTIN_PROFILES).join(', ')}; or give a .json/.yaml file`);
  }
  return p;
}

/**
 * A profile from a partial object: `extends` names the built-in it starts from (default `fast`),
 * every other field overrides. Throws ProfileError on anything invalid.
 */
export function profileFromObject(obj: unknown, where = 'profile'): SimProfile {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new ProfileError(`${where}: a profile must be an object of fields`, 'see docs/simulator.md, "Writing a profile"');
  }
  const ext = (obj as { extends?: unknown }).extends;
  if (ext !== undefined && typeof ext !== 'string') throw new ProfileError(`${where}: "extends" must be a built-in profile name`);
  const base = builtin(ext ?? DEFAULT_PROFILE, where);
  const merged = deepMerge(base, obj) as Record<string, unknown>;
  delete merged['extends'];
  return Object.freeze(validateProfile(merged, base, where));
}

/** A built-in name, a path to a JSON/YAML profile file, or a (partial) profile object. */
export async function resolveProfile(spec: string | SimProfile | undefined): Promise<SimProfile> {
  if (spec === undefined) return builtin(DEFAULT_PROFILE, 'profile');
  if (typeof spec !== 'string') return profileFromObject(spec, 'profile object');
  if (BUILTIN_PROFILES[spec] !== undefined) return builtin(spec, 'profile');
  if (!/\.(json|ya?ml)$/i.test(spec)) builtin(spec, '--profile'); // throws with the list of names
  let text: string;
  try {
    text = await readFile(spec, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new ProfileError(`cannot read profile file ${spec}: ${code ?? String(err)}`, 'check the path, or use a built-in profile name');
  }
  return profileFromObject(parseYamlOrJson(text, spec), spec);
}
