// Anthropic usage and stop reasons in the gateway's terms. Anthropic's `input_tokens` excludes cache
// reads and writes, while the gateway's `input` (OpenAI's prompt_tokens) includes them: input =
// input_tokens + cache_read_input_tokens + cache_creation_input_tokens. Anthropic reports no separate
// reasoning count (thinking is part of output_tokens), so reasoning stays 0: exact, not estimated.
import { makeUsage, type Usage } from '../../core/usage.js';
import type { AnthropicStopReason } from '../../protocol/anthropic.js';
import type { FinishReason } from '../../protocol/openai.js';
import { count, isRecord } from '../shared/json.js';

/** Streams report usage in pieces (message_start, then cumulative message_delta): keep the latest of each. */
export class AnthropicUsageTracker {
  private input = 0;
  private cacheRead = 0;
  private cacheWrite = 0;
  private output = 0;
  private seen = false;

  add(u: unknown): void {
    if (!isRecord(u)) return;
    this.seen = true;
    if (u['input_tokens'] !== undefined && u['input_tokens'] !== null) this.input = count(u['input_tokens']);
    if (u['cache_read_input_tokens'] !== undefined && u['cache_read_input_tokens'] !== null) this.cacheRead = count(u['cache_read_input_tokens']);
    if (u['cache_creation_input_tokens'] !== undefined && u['cache_creation_input_tokens'] !== null) this.cacheWrite = count(u['cache_creation_input_tokens']);
    if (u['output_tokens'] !== undefined && u['output_tokens'] !== null) this.output = count(u['output_tokens']);
  }

  usage(): Usage | undefined {
    if (!this.seen) return undefined;
    const input = this.input + this.cacheRead + this.cacheWrite;
    return makeUsage({ input, cachedInput: this.cacheRead, cacheCreationInput: this.cacheWrite, output: this.output, total: input + this.output });
  }
}

export function anthropicUsage(u: unknown): Usage | undefined {
  const t = new AnthropicUsageTracker();
  t.add(u);
  return t.usage();
}

export function finishFromAnthropic(r: string | null | undefined): FinishReason {
  switch (r) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      // end_turn, stop_sequence, pause_turn
      return 'stop';
  }
}

export function anthropicFromFinish(r: string | null | undefined): AnthropicStopReason {
  switch (r) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return 'end_turn';
  }
}

/** Usage in Anthropic's terms (for the /v1/messages front door): input_tokens excludes the cache. */
export function anthropicUsageBody(u: Usage | undefined): { input_tokens: number; output_tokens: number; cache_read_input_tokens: number; cache_creation_input_tokens: number } {
  if (u === undefined) return { input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 };
  return {
    input_tokens: Math.max(0, u.input - u.cachedInput - u.cacheCreationInput),
    output_tokens: u.output,
    cache_read_input_tokens: u.cachedInput,
    cache_creation_input_tokens: u.cacheCreationInput,
  };
}
