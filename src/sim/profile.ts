// Simulator profiles: the hardware, model and scheduler a simulated server stands for, and the
// step-time cost model fitted to them. Built-in profiles live in profiles.ts; users write their own
// as JSON or YAML (any subset of fields, optionally `extends: <built-in>`), validated here with
// messages that name the field and the allowed range.
import type { EncodingName } from '../tokenizer/index.js';
import { isEncodingName } from '../tokenizer/index.js';

export interface CostModel {
  /** Per engine step, whatever the batch: kernel launches, sampling, scheduler, TP sync. */
  readonly fixedMs: number;
  /** Per prompt token computed in the step (prefill is compute-bound: linear in tokens). */
  readonly prefillTokenMs: number;
  /** Per sequence decoding in the step (one new token each). */
  readonly decodeSeqMs: number;
  /** Per token of context the step's sequences attend to (KV reads: memory-bound). */
  readonly contextTokenMs: number;
}

export interface SimProfile {
  readonly name: string;
  readonly description: string;
  /** The model name the server answers to and reports. */
  readonly servedModel: string;
  /** Owner shown by /v1/models. */
  readonly ownedBy: string;
  readonly maxModelLen: number;
  /** Tokenizer the server counts prompt tokens with (the gateway's choice for the model by default). */
  readonly encoding: EncodingName;
  readonly hardware: {
    readonly gpu: string;
    readonly count: number;
    readonly memoryGiB: number;
    readonly tensorParallel: number;
  };
  readonly modelSpec: {
    /** Weights on device, all GPUs together. */
    readonly weightsGiB: number;
    readonly layers: number;
    readonly kvHeads: number;
    readonly headDim: number;
    /** Bytes per KV element (2 for bf16/fp16, 1 for fp8 KV cache). */
    readonly kvBytes: number;
    readonly hiddenSize: number;
  };
  readonly cache: {
    readonly blockSize: number;
    readonly gpuMemoryUtilization: number;
    /** Per GPU, not weights and not KV: activations, CUDA graphs, NCCL buffers. */
    readonly reservedGiBPerGpu: number;
    /** Overrides the block count derived from memory (0 = derive). */
    readonly numBlocks: number;
    /** Fraction of blocks kept free when admitting a new request (vLLM v0's watermark). */
    readonly watermark: number;
    readonly prefixCaching: boolean;
  };
  readonly scheduler: {
    readonly maxNumSeqs: number;
    readonly maxNumBatchedTokens: number;
    /** Cap on one request's prefill chunk per step (0 = only the token budget caps it). */
    readonly longPrefillTokenThreshold: number;
    /** Waiting requests beyond this are refused with 503, like a server at capacity. */
    readonly maxWaiting: number;
  };
  readonly cost: CostModel;
  readonly latency: {
    /** API-server work before the engine sees a request (parsing, tokenizing, network). */
    readonly frontendMs: number;
  };
  readonly output: {
    /** Lognormal mean and sigma of the output length when nothing else fixes it. */
    readonly mean: number;
    readonly sigma: number;
    readonly min: number;
    readonly max: number;
    /** `exact`: max_tokens is the output length; `cap`: max_tokens only caps the sampled length. */
    readonly maxTokensMode: 'exact' | 'cap';
  };
  readonly embeddings: {
    readonly dimensions: number;
    readonly fixedMs: number;
    readonly tokenMs: number;
  };
  readonly network: {
    /**
     * Tensor-parallel traffic per processed token per GPU, in bytes (0 = derive: two all-reduces of
     * the hidden state per layer, ring all-reduce moving 2(N-1)/N of the data).
     */
    readonly nvlinkBytesPerToken: number;
  };
}

export class ProfileError extends Error {
  readonly hint: string | undefined;
  constructor(message: string, hint?: string) {
    super(message);
    this.name = 'ProfileError';
    this.hint = hint;
  }
}

const GiB = 1024 ** 3;

/** KV bytes one token occupies on one GPU (K and V, every layer, this GPU's share of KV heads). */
export function kvBytesPerTokenPerGpu(p: SimProfile): number {
  const headsPerGpu = Math.max(1, p.modelSpec.kvHeads / p.hardware.tensorParallel);
  return p.modelSpec.layers * 2 * headsPerGpu * p.modelSpec.headDim * p.modelSpec.kvBytes;
}

/**
 * vLLM's sizing: each GPU gets `gpu_memory_utilization` of its memory; weights (split by TP) and the
 * profiled activation peak come off the top; the rest is KV cache, in blocks of `blockSize` tokens.
 */
export function kvBudgetBytesPerGpu(p: SimProfile): number {
  const perGpu = p.hardware.memoryGiB * p.cache.gpuMemoryUtilization;
  const weights = p.modelSpec.weightsGiB / p.hardware.tensorParallel;
  return Math.max(0, (perGpu - weights - p.cache.reservedGiBPerGpu) * GiB);
}

export function numKvBlocks(p: SimProfile): number {
  if (p.cache.numBlocks > 0) return p.cache.numBlocks;
  return Math.floor(kvBudgetBytesPerGpu(p) / (kvBytesPerTokenPerGpu(p) * p.cache.blockSize));
}

export function nvlinkBytesPerToken(p: SimProfile): number {
  if (p.network.nvlinkBytesPerToken > 0) return p.network.nvlinkBytesPerToken;
  const n = p.hardware.tensorParallel;
  if (n <= 1) return 0;
  const activationBytes = 2; // bf16 hidden state
  return p.modelSpec.layers * 2 * p.modelSpec.hiddenSize * activationBytes * ((2 * (n - 1)) / n);
}

// ---- validation -------------------------------------------------------------------------------

interface NumRule {
  readonly min: number;
  readonly max: number;
  readonly int?: boolean;
  /** min is exclusive */
  readonly gt?: boolean;
}

const NUM_RULES: Readonly<Record<string, NumRule>> = {
  maxModelLen: { min: 16, max: 10_000_000, int: true },
  'hardware.count': { min: 1, max: 4096, int: true },
  'hardware.memoryGiB': { min: 0, max: 1e6, gt: true },
  'hardware.tensorParallel': { min: 1, max: 4096, int: true },
  'modelSpec.weightsGiB': { min: 0, max: 1e7 },
  'modelSpec.layers': { min: 1, max: 10_000, int: true },
  'modelSpec.kvHeads': { min: 1, max: 10_000, int: true },
  'modelSpec.headDim': { min: 1, max: 100_000, int: true },
  'modelSpec.kvBytes': { min: 0, max: 16, gt: true },
  'modelSpec.hiddenSize': { min: 1, max: 1_000_000, int: true },
  'cache.blockSize': { min: 1, max: 4096, int: true },
  'cache.gpuMemoryUtilization': { min: 0, max: 1, gt: true },
  'cache.reservedGiBPerGpu': { min: 0, max: 1e6 },
  'cache.numBlocks': { min: 0, max: 1e9, int: true },
  'cache.watermark': { min: 0, max: 0.5 },
  'scheduler.maxNumSeqs': { min: 1, max: 10_000_000, int: true },
  'scheduler.maxNumBatchedTokens': { min: 1, max: 100_000_000, int: true },
  'scheduler.longPrefillTokenThreshold': { min: 0, max: 100_000_000, int: true },
  'scheduler.maxWaiting': { min: 0, max: 100_000_000, int: true },
  'cost.fixedMs': { min: 0, max: 60_000 },
  'cost.prefillTokenMs': { min: 0, max: 1000 },
  'cost.decodeSeqMs': { min: 0, max: 1000 },
  'cost.contextTokenMs': { min: 0, max: 1000 },
  'latency.frontendMs': { min: 0, max: 600_000 },
  'output.mean': { min: 1, max: 10_000_000 },
  'output.sigma': { min: 0, max: 5 },
  'output.min': { min: 1, max: 10_000_000, int: true },
  'output.max': { min: 1, max: 10_000_000, int: true },
  'embeddings.dimensions': { min: 1, max: 65_536, int: true },
  'embeddings.fixedMs': { min: 0, max: 600_000 },
  'embeddings.tokenMs': { min: 0, max: 1000 },
  'network.nvlinkBytesPerToken': { min: 0, max: 1e12 },
};

const STRING_FIELDS = ['name', 'description', 'servedModel', 'ownedBy', 'hardware.gpu'] as const;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge of plain objects; `over` wins; arrays and scalars replace. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isRecord(base) || !isRecord(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

function get(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (!isRecord(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

/** Every leaf path of the reference profile, so unknown fields in a user file are reported. */
function leafPaths(obj: unknown, prefix = ''): string[] {
  if (!isRecord(obj)) return [prefix];
  return Object.entries(obj).flatMap(([k, v]) => leafPaths(v, prefix === '' ? k : `${prefix}.${k}`));
}

function checkUnknownKeys(candidate: unknown, reference: unknown, prefix: string, where: string): void {
  if (!isRecord(candidate) || !isRecord(reference)) return;
  for (const [k, v] of Object.entries(candidate)) {
    const path = prefix === '' ? k : `${prefix}.${k}`;
    if (prefix === '' && k === 'extends') continue;
    if (!(k in reference)) {
      const known = Object.keys(reference).join(', ');
      throw new ProfileError(`${where}: unknown field "${path}"`, `fields here are: ${known}`);
    }
    checkUnknownKeys(v, reference[k], path, where);
  }
}

/**
 * Validate a complete profile object (after merging over its base). Throws ProfileError naming the
 * first bad field. `reference` supplies the shape (a built-in profile).
 */
export function validateProfile(candidate: unknown, reference: SimProfile, where: string): SimProfile {
  checkUnknownKeys(candidate, reference, '', where);
  for (const path of STRING_FIELDS) {
    const v = get(candidate, path);
    if (typeof v !== 'string' || v.length === 0) throw new ProfileError(`${where}: "${path}" must be a non-empty string`);
  }
  for (const path of leafPaths(reference)) {
    const rule = NUM_RULES[path];
    if (rule === undefined) continue;
    const v = get(candidate, path);
    const ok =
      typeof v === 'number' &&
      Number.isFinite(v) &&
      (rule.gt === true ? v > rule.min : v >= rule.min) &&
      v <= rule.max &&
      (rule.int !== true || Number.isInteger(v));
    if (!ok) {
      const kind = rule.int === true ? 'a whole number' : 'a number';
      const lo = rule.gt === true ? `greater than ${rule.min}` : `from ${rule.min}`;
      throw new ProfileError(`${where}: "${path}" must be ${kind} ${lo} to ${rule.max}, got ${JSON.stringify(v)}`);
    }
  }
  const enc = get(candidate, 'encoding');
  if (typeof enc !== 'string' || !isEncodingName(enc)) {
    throw new ProfileError(`${where}: "encoding" must be one of o200k_base, o200k_harmony, cl100k_base, got ${JSON.stringify(enc)}`);
  }
  const mode = get(candidate, 'output.maxTokensMode');
  if (mode !== 'exact' && mode !== 'cap') {
    throw new ProfileError(`${where}: "output.maxTokensMode" must be "exact" or "cap", got ${JSON.stringify(mode)}`);
  }
  if (typeof get(candidate, 'cache.prefixCaching') !== 'boolean') {
    throw new ProfileError(`${where}: "cache.prefixCaching" must be true or false`);
  }
  const p = candidate as SimProfile;
  if (p.output.min > p.output.max) throw new ProfileError(`${where}: "output.min" (${p.output.min}) is above "output.max" (${p.output.max})`);
  if (p.hardware.tensorParallel > p.hardware.count) {
    throw new ProfileError(`${where}: "hardware.tensorParallel" (${p.hardware.tensorParallel}) exceeds "hardware.count" (${p.hardware.count})`);
  }
  const blocks = numKvBlocks(p);
  if (blocks < 2) {
    throw new ProfileError(
      `${where}: the KV cache gets ${blocks} blocks: the weights and reserved memory leave no room on ${p.hardware.memoryGiB} GiB GPUs`,
      'raise hardware.memoryGiB or cache.gpuMemoryUtilization, lower modelSpec.weightsGiB or cache.reservedGiBPerGpu, or set cache.numBlocks',
    );
  }
  if (p.maxModelLen > blocks * p.cache.blockSize) {
    throw new ProfileError(
      `${where}: maxModelLen ${p.maxModelLen} does not fit in the KV cache (${blocks * p.cache.blockSize} tokens)`,
      'lower maxModelLen or give the cache more memory, as vLLM would ask you to',
    );
  }
  return p;
}
