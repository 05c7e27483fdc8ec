// OpenAI's wire shapes for chat and text completions, as strings: one SSE chunk per token per
// choice (built by concatenation around a precomputed head, the hot path at thousands of streams),
// the finish and usage chunks, and the non-streamed JSON bodies.
import type { FinishReason } from '../../protocol/openai.js';
import type { Sequence } from '../engine/sequence.js';
import { pieceText, type Vocab } from '../text.js';

export interface Choice {
  readonly index: number;
  readonly promptIndex: number;
  readonly seq: Sequence;
  text: string;
  finish: FinishReason | null;
  started: boolean;
}

/** Plain text, a JSON object (response_format), or a call of the named tool. */
export type Mode = 'text' | 'json' | { readonly tool: string; readonly callId: string };

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

const jsonStr = JSON.stringify;

const jsonPieces = new WeakMap<Vocab, Map<number, string>>();

/** A vocabulary piece as a JSON string literal, encoded once per process. */
export function jsonPiece(vocab: Vocab, id: number): string {
  let m = jsonPieces.get(vocab);
  if (m === undefined) {
    m = new Map();
    jsonPieces.set(vocab, m);
  }
  let j = m.get(id);
  if (j === undefined) {
    j = jsonStr(pieceText(vocab, id));
    m.set(id, j);
  }
  return j;
}

export class Wire {
  private readonly head: string;

  constructor(
    private readonly kind: 'chat' | 'completion',
    readonly id: string,
    private readonly created: number,
    private readonly model: string,
    readonly mode: Mode,
    private readonly includeUsage: boolean,
    private readonly continuousUsage: boolean,
  ) {
    const m = jsonStr(model);
    this.head =
      kind === 'chat'
        ? `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${m},"system_fingerprint":null,"choices":[`
        : `data: {"id":"${id}","object":"text_completion","created":${created},"model":${m},"choices":[`;
  }

  /** The chunk(s) carrying one token of a choice; the first of a chat choice also opens it. */
  /** `logprobs` is the chunk's logprobs object as JSON, when the client asked for them. */
  token(c: Choice, piece: string, usage: () => Usage, pieceJson = jsonStr(piece), logprobs = 'null'): string {
    const chat = this.kind === 'chat';
    let body: string;
    if (!c.started) {
      c.started = true;
      if (!chat) body = `{"index":${c.index},"text":${pieceJson},"logprobs":null,"finish_reason":null}`;
      else if (typeof this.mode === 'object') {
        const call = `{"index":0,"id":"${this.mode.callId}-${c.index}","type":"function","function":{"name":${jsonStr(this.mode.tool)},"arguments":${pieceJson}}}`;
        body = `{"index":${c.index},"delta":{"role":"assistant","content":null,"tool_calls":[${call}]},"logprobs":null,"finish_reason":null}`;
      } else {
        // OpenAI's first chunk: the role with empty content; then the first token.
        const role = `{"index":${c.index},"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}`;
        const open = `${this.head}${role}]${this.usageTail(false, usage)}}\n\n`;
        return piece === '' ? open : open + this.token(c, piece, usage, pieceJson, logprobs);
      }
    } else if (!chat) body = `{"index":${c.index},"text":${pieceJson},"logprobs":null,"finish_reason":null}`;
    else if (typeof this.mode === 'object') body = `{"index":${c.index},"delta":{"tool_calls":[{"index":0,"function":{"arguments":${pieceJson}}}]},"logprobs":null,"finish_reason":null}`;
    else body = `{"index":${c.index},"delta":{"content":${pieceJson}},"logprobs":${logprobs},"finish_reason":null}`;
    return `${this.head}${body}]${this.usageTail(false, usage)}}\n\n`;
  }

  finish(c: Choice, usage: () => Usage): string {
    const choice =
      this.kind === 'chat'
        ? `{"index":${c.index},"delta":{},"logprobs":null,"finish_reason":"${c.finish ?? 'stop'}"}`
        : `{"index":${c.index},"text":"","logprobs":null,"finish_reason":"${c.finish ?? 'stop'}","stop_reason":null}`;
    return `${this.head}${choice}]${this.usageTail(false, usage)}}\n\n`;
  }

  /** The closing usage chunk (`choices: []`) when stream_options.include_usage is set, and [DONE]. */
  close(usage: () => Usage): string {
    return (this.includeUsage ? `${this.head}]${this.usageTail(true, usage)}}\n\n` : '') + 'data: [DONE]\n\n';
  }

  /** A chunk cut off mid-JSON (fault injection). */
  malformed(): string {
    return `${this.head}{"index":0,"delta":{"content":"\n\n`;
  }

  /** The `usage` field of a chunk: null until the final usage chunk, unless continuous stats. */
  private usageTail(final: boolean, usage: () => Usage): string {
    if (!this.includeUsage && !this.continuousUsage) return '';
    if (final || this.continuousUsage) return `,"usage":${jsonStr(usage())}`;
    return ',"usage":null';
  }

  body(choices: readonly Choice[], usage: Usage, logprobs?: (c: Choice) => unknown): string {
    if (this.kind === 'chat') {
      const mode = this.mode;
      const out = choices.map((c) => {
        const message =
          typeof mode === 'object'
            ? {
                role: 'assistant',
                content: null,
                refusal: null,
                tool_calls: [{ id: `${mode.callId}-${c.index}`, type: 'function', function: { name: mode.tool, arguments: c.text } }],
              }
            : { role: 'assistant', content: c.text, refusal: null, tool_calls: [] };
        return { index: c.index, message, logprobs: logprobs?.(c) ?? null, finish_reason: c.finish ?? 'stop', stop_reason: null };
      });
      return jsonStr({ id: this.id, object: 'chat.completion', created: this.created, model: this.model, choices: out, usage, system_fingerprint: null, prompt_logprobs: null });
    }
    const out = choices.map((c) => ({ index: c.index, text: c.text, logprobs: null, finish_reason: c.finish ?? 'stop', stop_reason: null, prompt_logprobs: null }));
    return jsonStr({ id: this.id, object: 'text_completion', created: this.created, model: this.model, choices: out, usage, system_fingerprint: null });
  }
}
