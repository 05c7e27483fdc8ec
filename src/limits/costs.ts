// Token costs of a request: at settlement, from its usage through the route's llmRequestCosts (the
// "metadata" Envoy AI Gateway writes); at admission, in reservation mode, from an estimate.
import type { CostInput, RouteConfig } from '../config/types.js';
import type { Usage } from '../core/usage.js';
import { countChatTokens, encodingForModel, tokenizerIfLoaded } from '../tokenizer/index.js';
import type { ChatMessage } from '../protocol/openai.js';

/** Metadata values of one finished request, computed once per key. */
export class CostContext {
  /** Made on first use: a rule that counts requests only reads none. */
  private values: Map<string, number> | undefined;

  constructor(private readonly input: CostInput) {}

  value(route: RouteConfig, key: string): number {
    const values = (this.values ??= new Map<string, number>());
    let v = values.get(key);
    if (v === undefined) {
      const def = route.llmRequestCosts.find((c) => c.metadataKey === key);
      v = def === undefined ? 0 : def.evaluate(this.input);
      values.set(key, v);
    }
    return v;
  }

  get raw(): CostInput {
    return this.input;
  }
}

export function costInput(usage: Usage, model: string, backend: string, routeName: string): CostInput {
  return {
    model,
    backend,
    routeName,
    inputTokens: usage.input,
    cachedInputTokens: usage.cachedInput,
    cacheCreationInputTokens: usage.cacheCreationInput,
    outputTokens: usage.output,
    reasoningTokens: usage.reasoning,
    totalTokens: usage.total,
  };
}

/** Output tokens assumed for a request that sets no max_tokens, when reserving. */
export const DEFAULT_RESERVED_OUTPUT = 4096;

/** A request's expected token costs, for reservation mode; computed lazily, once. */
export class Estimate {
  private input: CostInput | undefined;
  /** Made on first use: only reservations and quotas estimate at admission. */
  private values: Map<string, number> | undefined;

  constructor(
    private readonly body: Readonly<Record<string, unknown>>,
    private readonly model: string,
    private readonly backend: string,
    private readonly route: RouteConfig,
    /** The request body's size in bytes, when known: large prompts are estimated without BPE. */
    private readonly bodyBytes?: number,
  ) {}

  cost(key: string): number {
    const values = (this.values ??= new Map<string, number>());
    let v = values.get(key);
    if (v === undefined) {
      const def = this.route.llmRequestCosts.find((c) => c.metadataKey === key);
      v = def === undefined ? 0 : def.evaluate(this.usage());
      values.set(key, v);
    }
    return v;
  }

  usage(): CostInput {
    if (this.input !== undefined) return this.input;
    const prompt = estimatePromptTokens(this.body, this.model, this.bodyBytes);
    const gc = this.body['generationConfig'];
    // Chat, Responses and Gemini name the output budget differently.
    const max = this.body['max_completion_tokens'] ?? this.body['max_tokens'] ?? this.body['max_output_tokens'] ?? (typeof gc === 'object' && gc !== null ? (gc as Record<string, unknown>)['maxOutputTokens'] : undefined);
    const output = typeof max === 'number' && max > 0 ? Math.floor(max) : DEFAULT_RESERVED_OUTPUT;
    this.input = {
      model: this.model,
      backend: this.backend,
      routeName: this.route.name,
      inputTokens: prompt,
      cachedInputTokens: 0,
      cacheCreationInputTokens: 0,
      outputTokens: output,
      reasoningTokens: 0,
      totalTokens: prompt + output,
    };
    return this.input;
  }
}

/** Largest request body whose prompt the admission estimate counts with BPE on the event loop. */
export const MAX_MAIN_THREAD_BPE_BYTES = 128 * 1024;

/**
 * The gateway's own prompt count: the real BPE when its encoding is loaded (the gateway loads the
 * encodings its routes need at startup), else ~4 characters per token.
 */
export function estimatePromptTokens(body: Readonly<Record<string, unknown>>, model: string, bodyBytes?: number): number {
  // BPE runs on the event loop here; for a large body it would hold every other request (tens of
  // MB of distinct words take seconds). Those are estimated by size; the exact count for the
  // ledger runs in the counting worker.
  if (bodyBytes !== undefined && bodyBytes > MAX_MAIN_THREAD_BPE_BYTES) return Math.ceil(bodyBytes / 4);
  const tok = tokenizerIfLoaded(encodingForModel(model));
  const messages = body['messages'];
  if (Array.isArray(messages)) {
    if (tok !== undefined) return countChatTokens(tok, messages as ChatMessage[]);
    return Math.ceil(JSON.stringify(messages).length / 4);
  }
  // Completions and embeddings `prompt`/`input`, Responses `input`, Gemini `contents`.
  const prompt = body['prompt'] ?? body['input'] ?? body['contents'];
  const text = typeof prompt === 'string' ? prompt : JSON.stringify(prompt ?? '');
  return tok !== undefined ? tok.count(text) : Math.ceil(text.length / 4);
}

