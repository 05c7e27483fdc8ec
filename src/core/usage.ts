// Token usage as one value type across providers, accounting, limits and the ledger.
// Every count is a non-negative integer; absent numbers are 0, and `source` says who counted them.

export type TokenType = 'input' | 'cached_input' | 'cache_creation_input' | 'output' | 'reasoning';

export const TOKEN_TYPES: readonly TokenType[] = ['input', 'cached_input', 'cache_creation_input', 'output', 'reasoning'];

export interface Usage {
  /** Prompt tokens, including cached ones (OpenAI's `prompt_tokens`). */
  readonly input: number;
  /** Of `input`, how many were served from a prompt cache. */
  readonly cachedInput: number;
  /** Tokens written to a prompt cache (Anthropic's `cache_creation_input_tokens`). */
  readonly cacheCreationInput: number;
  /** Completion tokens, including reasoning tokens (OpenAI's `completion_tokens`). */
  readonly output: number;
  /** Of `output`, how many were reasoning tokens. */
  readonly reasoning: number;
  /** input + output as the backend reported it, or computed. */
  readonly total: number;
}

export const ZERO_USAGE: Usage = Object.freeze({
  input: 0,
  cachedInput: 0,
  cacheCreationInput: 0,
  output: 0,
  reasoning: 0,
  total: 0,
});

export function makeUsage(partial: Partial<Usage>): Usage {
  const input = partial.input ?? 0;
  const output = partial.output ?? 0;
  return {
    input,
    cachedInput: partial.cachedInput ?? 0,
    cacheCreationInput: partial.cacheCreationInput ?? 0,
    output,
    reasoning: partial.reasoning ?? 0,
    total: partial.total ?? input + output,
  };
}

export function usageByType(u: Usage, t: TokenType): number {
  switch (t) {
    case 'input':
      return u.input;
    case 'cached_input':
      return u.cachedInput;
    case 'cache_creation_input':
      return u.cacheCreationInput;
    case 'output':
      return u.output;
    case 'reasoning':
      return u.reasoning;
  }
}
