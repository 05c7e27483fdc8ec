// What the OpenAI readers take from a response's JSON, streamed or not: the text a model generated
// (for the gateway's own count) and the usage the backend reported.
import { makeUsage, type Usage } from '../../core/usage.js';
import type { CompletionUsage } from '../../protocol/openai.js';

const MESSAGE_TEXT_FIELDS = ['content', 'reasoning_content', 'reasoning'] as const;

/** Text a model generated in one choice: content, reasoning, legacy completions text, tool calls. */
export function collectText(choice: unknown, field: 'delta' | 'message', out: { push(...t: string[]): unknown }): void {
  if (typeof choice !== 'object' || choice === null) return;
  const c = choice as Record<string, unknown>;
  if (typeof c['text'] === 'string') out.push(c['text']);
  const m = c[field];
  if (typeof m !== 'object' || m === null) return;
  const msg = m as Record<string, unknown>;
  for (const k of MESSAGE_TEXT_FIELDS) if (typeof msg[k] === 'string') out.push(msg[k]);
  if (Array.isArray(msg['tool_calls'])) {
    for (const tc of msg['tool_calls'] as unknown[]) {
      const fn = typeof tc === 'object' && tc !== null ? (tc as { function?: { name?: unknown; arguments?: unknown } }).function : undefined;
      if (typeof fn?.name === 'string') out.push(fn.name);
      if (typeof fn?.arguments === 'string') out.push(fn.arguments);
    }
  }
}

export function usageFrom(u: unknown): Usage | undefined {
  if (typeof u !== 'object' || u === null) return undefined;
  // Chat-style names, or the input/output names of the image (and Responses) APIs.
  const x = u as Partial<CompletionUsage> & { input_tokens?: number; output_tokens?: number };
  const input = num(x.prompt_tokens ?? x.input_tokens);
  const output = num(x.completion_tokens ?? x.output_tokens);
  return makeUsage({
    input,
    output,
    cachedInput: num(x.prompt_tokens_details?.cached_tokens),
    reasoning: num(x.completion_tokens_details?.reasoning_tokens),
    total: typeof x.total_tokens === 'number' ? num(x.total_tokens) : input + output,
  });
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0;
}
