// What a native provider simulator answers, decided once per request and independent of the wire
// format: text (seeded by the prompt, real single-token words so counts are exact), tool calls when
// tools are offered and the turn calls for them (arguments built from each tool's JSON Schema,
// several in parallel when allowed), an optional thinking part, a finish reason, and token usage,
// including prompt-cache reads and writes for repeated prefixes.
import { loadTokenizer, type Tokenizer } from '../../tokenizer/index.js';
import { hashString, Rng } from '../rng.js';
import { schemaValue } from '../schema-value.js';
import { buildVocab, pieceText, TextGen, wordSource, type Vocab } from '../text.js';

export interface ToolDef {
  readonly name: string;
  readonly schema: unknown;
}

export type ToolMode = { readonly type: 'auto' } | { readonly type: 'none' } | { readonly type: 'any' } | { readonly type: 'tool'; readonly name: string };

export interface ReplyInput {
  /** Every prompt text (system, messages, tool definitions), for the token count and the seed. */
  readonly promptText: string;
  readonly tools: readonly ToolDef[];
  readonly toolMode: ToolMode;
  readonly parallelTools: boolean;
  /** The conversation's last turn is tool results: answer in text rather than call again. */
  readonly afterToolResult: boolean;
  readonly maxTokens: number | undefined;
  /** `x-sim-output-tokens`: exact text length. */
  readonly forcedTokens: number | undefined;
  readonly thinking: boolean;
  readonly json: boolean;
  /** The JSON Schema the answer must satisfy (Gemini's responseSchema), when json is set. */
  readonly jsonSchema?: unknown;
  /** Text of the cacheable prompt prefix (up to the last cache breakpoint), if the API has one. */
  readonly cachePrefix: string | undefined;
}

export interface SimToolCall {
  readonly id: string;
  readonly name: string;
  readonly args: Record<string, unknown>;
}

export interface Reply {
  /** Pieces (one token each) of the thinking text. */
  readonly thinking: readonly string[];
  /** Pieces of the answer text (one token each, except in JSON mode where they are larger). */
  readonly text: readonly string[];
  readonly toolCalls: readonly SimToolCall[];
  readonly finish: 'stop' | 'length' | 'tool';
  readonly inputTokens: number;
  readonly cacheRead: number;
  readonly cacheWrite: number;
  readonly outputTokens: number;
  readonly thinkingTokens: number;
}

export class ReplyEngine {
  private readonly cache = new Set<string>();
  private counter = 0;

  private constructor(
    private readonly tok: Tokenizer,
    private readonly vocab: Vocab,
    private readonly seed: number,
  ) {}

  static async create(seed = 0): Promise<ReplyEngine> {
    const tok = await loadTokenizer('o200k_base');
    return new ReplyEngine(tok, buildVocab(tok), seed);
  }

  count(text: string): number {
    return this.tok.count(text);
  }

  /** A process-unique id in a provider's style. */
  id(prefix: string): string {
    this.counter++;
    return `${prefix}${(this.seed >>> 0).toString(36)}${this.counter.toString(36).padStart(6, '0')}${(hashString(`${prefix}${this.counter}`) >>> 0).toString(36)}`;
  }

  plan(input: ReplyInput): Reply {
    const rng = new Rng(this.seed ^ hashString(input.promptText), 1);
    const inputTokens = this.tok.count(input.promptText);
    let cacheRead = 0;
    let cacheWrite = 0;
    if (input.cachePrefix !== undefined && input.cachePrefix !== '') {
      const n = Math.min(inputTokens, this.tok.count(input.cachePrefix));
      const key = `${hashString(input.cachePrefix)}:${input.cachePrefix.length}`;
      if (this.cache.has(key)) cacheRead = n;
      else {
        cacheWrite = n;
        if (this.cache.size > 10_000) this.cache.clear();
        this.cache.add(key);
      }
    }
    const thinking = input.thinking ? this.pieces(rng, 8 + rng.int(8)) : [];
    const callTools =
      input.tools.length > 0 &&
      input.toolMode.type !== 'none' &&
      (input.toolMode.type === 'any' || input.toolMode.type === 'tool' || !input.afterToolResult);
    if (callTools) {
      const chosen =
        input.toolMode.type === 'tool'
          ? input.tools.filter((t) => t.name === (input.toolMode as { name: string }).name).slice(0, 1)
          : input.tools.slice(0, input.parallelTools ? 2 : 1);
      const toolCalls = chosen.map((t) => ({ id: '', name: t.name, args: argsFor(t.schema, rng, this.vocab) }));
      const text = this.pieces(rng, 4);
      let out = thinking.length + text.length;
      for (const c of toolCalls) out += this.tok.count(c.name + JSON.stringify(c.args));
      return { thinking, text, toolCalls, finish: 'tool', inputTokens, cacheRead, cacheWrite, outputTokens: out, thinkingTokens: thinking.length };
    }
    const natural = input.forcedTokens ?? 8 + rng.int(24);
    const limit = input.maxTokens === undefined ? Infinity : Math.max(0, input.maxTokens - thinking.length);
    const n = Math.min(natural, limit);
    let text: string[];
    let cut = natural > limit;
    if (input.json) {
      // The whole document is the answer; max_tokens can only cut it (and says so with the finish).
      const doc =
        input.jsonSchema !== undefined
          ? JSON.stringify(schemaValue(input.jsonSchema, rng, wordSource(this.vocab)))
          : `{"answer": ${JSON.stringify(this.pieces(rng, Math.max(1, natural - 6)).join('').trim())}}`;
      const ids = this.tok.encode(doc);
      cut = ids.length > limit;
      text = [cut ? this.tok.decode(ids.slice(0, limit)) : doc];
    } else text = this.pieces(rng, n);
    const textTokens = input.json ? this.tok.count(text.join('')) : text.length;
    return {
      thinking,
      text,
      toolCalls: [],
      finish: cut ? 'length' : 'stop',
      inputTokens,
      cacheRead,
      cacheWrite,
      outputTokens: thinking.length + textTokens,
      thinkingTokens: thinking.length,
    };
  }

  private pieces(rng: Rng, n: number): string[] {
    const g = new TextGen(this.vocab, rng);
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(pieceText(this.vocab, g.next()));
    return out;
  }

  /** Deterministic unit-length embedding of a text. */
  embed(text: string, dims: number): number[] {
    const rng = new Rng(hashString(text), 7);
    const v: number[] = [];
    let norm = 0;
    for (let i = 0; i < dims; i++) {
      const x = rng.next() * 2 - 1;
      v.push(x);
      norm += x * x;
    }
    const s = Math.sqrt(norm) || 1;
    return v.map((x) => Math.round((x / s) * 1e6) / 1e6);
  }
}

/** Arguments that satisfy a tool's JSON Schema (a tool's input is always an object). */
export function argsFor(schema: unknown, rng: Rng, vocab: Vocab): Record<string, unknown> {
  const v = schemaValue(schema ?? { type: 'object' }, rng, wordSource(vocab));
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}
