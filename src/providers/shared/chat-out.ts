// OpenAI chat completion responses written from another provider's answer: one JSON body, or an SSE
// stream whose chunks follow OpenAI's exact conventions (the first delta carries `role: assistant`,
// every tool call has a stable `index`, its first delta carries id/type/name and later ones only
// argument fragments, the finish reason comes in its own chunk, usage in a `choices: []` chunk when
// asked for, then `[DONE]`). These are the details other gateways get wrong.
import { CompletionText, type CompletionResult } from './completion-text.js';
import type { Usage } from '../../core/usage.js';
import type { CompletionUsage, FinishReason } from '../../protocol/openai.js';
import { STRUCTURED_TOOL } from './structured.js';

export function openAIUsage(u: Usage): CompletionUsage {
  return {
    prompt_tokens: u.input,
    completion_tokens: u.output,
    total_tokens: u.total,
    prompt_tokens_details: { cached_tokens: u.cachedInput },
    completion_tokens_details: { reasoning_tokens: u.reasoning },
  };
}

export interface ToolCallOut {
  readonly id: string;
  readonly name: string;
  readonly arguments: string;
}

export interface ChatCompletionParts {
  readonly id: string;
  readonly model: string;
  readonly created: number;
  readonly text: string;
  readonly reasoning: string;
  readonly toolCalls: readonly ToolCallOut[];
  readonly finish: FinishReason;
  readonly usage: Usage | undefined;
}

export function chatCompletionBody(p: ChatCompletionParts): string {
  const message: Record<string, unknown> = {
    role: 'assistant',
    content: p.text === '' && p.toolCalls.length > 0 ? null : p.text,
    refusal: null,
  };
  if (p.reasoning !== '') message['reasoning_content'] = p.reasoning;
  if (p.toolCalls.length > 0) {
    message['tool_calls'] = p.toolCalls.map((t) => ({ id: t.id, type: 'function', function: { name: t.name, arguments: t.arguments } }));
  }
  const body: Record<string, unknown> = {
    id: p.id,
    object: 'chat.completion',
    created: p.created,
    model: p.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: p.finish }],
  };
  if (p.usage !== undefined) body['usage'] = openAIUsage(p.usage);
  return JSON.stringify(body);
}

/** The text a completion carries, for the gateway's own token count. */
export function completionTextOf(p: Pick<ChatCompletionParts, 'text' | 'reasoning' | 'toolCalls'>): string {
  let s = p.reasoning + p.text;
  for (const t of p.toolCalls) s += t.name + t.arguments;
  return s;
}

/** Builds an OpenAI chunk stream incrementally; `take()` returns what to send for this upstream chunk. */
export class ChatStreamWriter {
  private out = '';
  private started = false;
  private finished = false;
  private done = false;
  private readonly toolIndex = new Map<string | number, number>();
  /** Blocks of the forced structured-output tool: their input is streamed as content. */
  private readonly structuredKeys = new Set<string | number>();
  private readonly text = new CompletionText();
  private prefix: string;

  constructor(
    private readonly id: string,
    private model: string,
    private readonly created: number,
    private readonly includeUsage: boolean,
    /** The request forced its JSON schema as a tool (shared/structured.ts): that tool's call is the answer's text. */
    private readonly structured = false,
  ) {
    this.prefix = this.makePrefix();
  }

  /** The model the upstream reports, when it arrives after the writer was made. */
  setModel(model: string): void {
    if (model === this.model || this.started) return;
    this.model = model;
    this.prefix = this.makePrefix();
  }

  private makePrefix(): string {
    return `data: {"id":${JSON.stringify(this.id)},"object":"chat.completion.chunk","created":${this.created},"model":${JSON.stringify(this.model)},"choices":[{"index":0,"delta":`;
  }

  private chunk(delta: string, finish: FinishReason | null = null): void {
    this.out += `${this.prefix}${delta},"logprobs":null,"finish_reason":${finish === null ? 'null' : `"${finish}"`}}]}\n\n`;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.chunk('{"role":"assistant","content":""}');
  }

  content(t: string): void {
    // With a forced structured-output tool the answer is that tool's input; text beside it is not.
    if (!this.structured) this.emitContent(t);
  }

  private emitContent(t: string): void {
    if (t === '') return;
    this.start();
    this.text.push(t);
    this.chunk(`{"content":${JSON.stringify(t)}}`);
  }

  reasoning(t: string): void {
    if (t === '') return;
    this.start();
    this.text.push(t);
    this.chunk(`{"reasoning_content":${JSON.stringify(t)}}`);
  }

  /** A new tool call; `key` is the provider's own block id or index. Returns its OpenAI index. */
  toolStart(key: string | number, id: string, name: string): number {
    this.start();
    if (this.structured && name === STRUCTURED_TOOL) {
      this.structuredKeys.add(key);
      return -1;
    }
    const index = this.toolIndex.size;
    this.toolIndex.set(key, index);
    this.text.push(name);
    this.chunk(`{"tool_calls":[{"index":${index},"id":${JSON.stringify(id)},"type":"function","function":{"name":${JSON.stringify(name)},"arguments":""}}]}`);
    return index;
  }

  toolArgs(key: string | number, fragment: string): void {
    if (this.structuredKeys.has(key)) return this.emitContent(fragment);
    const index = this.toolIndex.get(key);
    if (index === undefined || fragment === '') return;
    this.text.push(fragment);
    this.chunk(`{"tool_calls":[{"index":${index},"function":{"arguments":${JSON.stringify(fragment)}}}]}`);
  }

  get toolCalls(): number {
    return this.toolIndex.size;
  }

  finish(reason: FinishReason): void {
    if (this.finished) return;
    this.start();
    this.finished = true;
    this.chunk('{}', reason === 'tool_calls' && this.structuredKeys.size > 0 && this.toolIndex.size === 0 ? 'stop' : reason);
  }

  get hasFinished(): boolean {
    return this.finished;
  }

  /** Usage (when asked for) and `[DONE]`: the stream's end. */
  close(usage: Usage | undefined): void {
    if (this.done) return;
    this.done = true;
    if (this.includeUsage && usage !== undefined) {
      this.out += `data: {"id":${JSON.stringify(this.id)},"object":"chat.completion.chunk","created":${this.created},"model":${JSON.stringify(this.model)},"choices":[],"usage":${JSON.stringify(openAIUsage(usage))}}\n\n`;
    }
    this.out += 'data: [DONE]\n\n';
  }

  /** An error event in OpenAI's shape (SDKs raise it), ending the stream. */
  error(code: string, message: string, type = 'upstream_error'): void {
    if (this.done) return;
    this.done = true;
    this.out += `data: ${JSON.stringify({ error: { message, type, code, param: null } })}\n\n`;
  }

  get closed(): boolean {
    return this.done;
  }

  take(): Buffer | null {
    if (this.out === '') return null;
    const b = Buffer.from(this.out, 'utf8');
    this.out = '';
    return b;
  }

  completion(): CompletionResult {
    return this.text.result();
  }
}
