// The one home of the BPE tokenizer library (gpt-tokenizer: pure JS, tiktoken-compatible ranks).
// Used by the gateway's accounting, the simulator (so its counts match a real engine's) and the
// workload tools. Encodings load lazily: each rank table costs a few MB and ~100 ms to build.
import type { ChatMessage } from '../protocol/openai.js';
import { asciiRanks, countAsciiPiece, isAscii, type AsciiRanks } from './ascii-bpe.js';

export type EncodingName = 'o200k_base' | 'o200k_harmony' | 'cl100k_base';

export const ENCODINGS: readonly EncodingName[] = ['o200k_base', 'o200k_harmony', 'cl100k_base'];

export interface Tokenizer {
  readonly encoding: EncodingName;
  /** Token count of plain text; special-token strings are counted as ordinary text. */
  count(text: string): number;
  /**
   * Token count of one pre-token (a piece the encoding's split pattern produces whole), the same
   * as `count(piece)`; pure-ASCII pieces skip the split and use a faster merge.
   */
  countPretoken(piece: string): number;
  encode(text: string): number[];
  decode(tokens: readonly number[]): string;
}

interface EncodingModule {
  countTokens(text: string): number;
  encode(text: string, options?: { disallowedSpecial?: Set<string> }): number[];
  decode(tokens: Iterable<number>): string;
}

const loaded = new Map<EncodingName, Tokenizer>();
const loading = new Map<EncodingName, Promise<Tokenizer>>();

type RankTable = readonly (string | number[])[];

async function importRanks(name: EncodingName): Promise<RankTable> {
  // The encodings' own rank tables (the same module instances they loaded: no second copy).
  switch (name) {
    case 'o200k_base':
    case 'o200k_harmony':
      return (await import('gpt-tokenizer/bpeRanks/o200k_base')).default;
    case 'cl100k_base':
      return (await import('gpt-tokenizer/bpeRanks/cl100k_base')).default;
  }
}

async function importEncoding(name: EncodingName): Promise<EncodingModule> {
  switch (name) {
    case 'o200k_base':
      return import('gpt-tokenizer/encoding/o200k_base');
    case 'o200k_harmony':
      return import('gpt-tokenizer/encoding/o200k_harmony');
    case 'cl100k_base':
      return import('gpt-tokenizer/encoding/cl100k_base');
  }
}

// User text may contain strings like "<|endoftext|>"; a server tokenizes them as plain text, and so
// do we (an empty disallow set keeps the library from throwing on them).
const NO_DISALLOWED = new Set<string>();

function wrap(name: EncodingName, mod: EncodingModule, table: RankTable): Tokenizer {
  const count = (text: string): number => (text.length === 0 ? 0 : mod.encode(text, { disallowedSpecial: NO_DISALLOWED }).length);
  let ascii: AsciiRanks | undefined; // built on first use (~70k entries), by the workload tools only
  return {
    encoding: name,
    count,
    countPretoken: (piece) => {
      if (!isAscii(piece)) return count(piece);
      ascii ??= asciiRanks(table);
      return countAsciiPiece(ascii, piece);
    },
    encode: (text) => mod.encode(text, { disallowedSpecial: NO_DISALLOWED }),
    decode: (tokens) => mod.decode(tokens),
  };
}

export function loadTokenizer(name: EncodingName): Promise<Tokenizer> {
  const ready = loaded.get(name);
  if (ready !== undefined) return Promise.resolve(ready);
  let p = loading.get(name);
  if (p === undefined) {
    p = Promise.all([importEncoding(name), importRanks(name)]).then(([mod, table]) => {
      const t = wrap(name, mod, table);
      loaded.set(name, t);
      return t;
    });
    loading.set(name, p);
  }
  return p;
}

/** The tokenizer if already loaded (hot paths must not wait on a module import). */
export function tokenizerIfLoaded(name: EncodingName): Tokenizer | undefined {
  return loaded.get(name);
}

export function isEncodingName(s: string): s is EncodingName {
  return (ENCODINGS as readonly string[]).includes(s);
}

/** The encoding a model family uses, as published by OpenAI (tiktoken's model map) and gpt-oss. */
export function encodingForModel(model: string): EncodingName {
  const m = model.toLowerCase();
  if (m.includes('gpt-oss')) return 'o200k_harmony';
  if (/(^|[/:])(gpt-4-|gpt-4$|gpt-3\.5|text-embedding-3|text-embedding-ada|babbage-002|davinci-002)/.test(m)) return 'cl100k_base';
  return 'o200k_base';
}

/** Chat-template overhead in tokens, per message and once per reply (the assistant priming). */
export interface ChatTemplate {
  readonly perMessage: number;
  readonly perName: number;
  readonly perReply: number;
}

// OpenAI's published counting recipe for gpt-4o-class chat models: 3 tokens frame each message
// (<|im_start|>role ... <|im_end|>), 1 more for a `name`, 3 prime the reply. gpt-oss's harmony format
// frames messages as <|start|>role<|message|>…<|end|>: 3 special tokens plus the role word, and the
// reply is primed with <|start|>assistant.
export const CHAT_TEMPLATES: Readonly<Record<EncodingName, ChatTemplate>> = {
  o200k_base: { perMessage: 3, perName: 1, perReply: 3 },
  cl100k_base: { perMessage: 3, perName: 1, perReply: 3 },
  o200k_harmony: { perMessage: 3, perName: 1, perReply: 2 },
};

/** The text of a message that a model reads: string content, text parts, tool calls and results. */
export function messageText(msg: ChatMessage): string {
  let out = '';
  const c = msg.content;
  if (typeof c === 'string') out += c;
  else if (Array.isArray(c)) {
    for (const part of c) {
      if (part.type === 'text' && typeof (part as { text?: unknown }).text === 'string') out += (part as { text: string }).text;
    }
  }
  if (msg.tool_calls !== undefined) {
    for (const tc of msg.tool_calls) out += tc.function.name + tc.function.arguments;
  }
  return out;
}

export function countChatTokens(
  tokenizer: Tokenizer,
  messages: readonly ChatMessage[],
  template: ChatTemplate = CHAT_TEMPLATES[tokenizer.encoding],
): number {
  let n = template.perReply;
  for (const msg of messages) {
    n += template.perMessage + tokenizer.count(msg.role) + tokenizer.count(messageText(msg));
    if (typeof msg.name === 'string') n += template.perName + tokenizer.count(msg.name);
  }
  return n;
}
