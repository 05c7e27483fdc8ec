// Structured replies for the chat endpoint: a tool call's arguments or a response_format document,
// made once per choice from the JSON Schema, then streamed token by token in the served model's own
// encoding (so completion_tokens is what the text re-tokenizes to), cut only by max_tokens or the
// context. And the logprobs a client asked for, derived from each token so they are reproducible.
import type { Tokenizer } from '../../tokenizer/index.js';
import type { Rng } from '../rng.js';
import { schemaValue } from '../schema-value.js';
import { generateText, pieceText, wordSource, type Vocab } from '../text.js';
import type { ChatParams } from './validate.js';
import type { Mode } from './wire.js';

export interface StructuredDoc {
  /** Text emitted with each output token; a character split across tokens rides on the last. */
  readonly pieces: readonly string[];
  readonly ids: readonly number[];
}

/**
 * The document a structured mode answers with. json_object without a schema is an object holding
 * `words` tokens of text, so its length still follows the profile's output distribution.
 */
export function structuredDoc(p: ChatParams, mode: Mode, tok: Tokenizer, vocab: Vocab, rng: Rng, words: number): StructuredDoc {
  let doc: string;
  if (typeof mode === 'object') doc = JSON.stringify(schemaValue(p.toolSchemas.get(mode.tool), rng, wordSource(vocab)));
  else if (p.responseFormat === 'json_schema' && p.responseSchema !== undefined) doc = JSON.stringify(schemaValue(p.responseSchema, rng, wordSource(vocab)));
  else doc = JSON.stringify({ answer: generateText(vocab, rng, Math.max(1, words - 5)) });
  const ids = tok.encode(doc);
  const pieces: string[] = [];
  let start = 0;
  for (let i = 0; i < ids.length; i++) {
    const text = tok.decode(ids.slice(start, i + 1));
    // A multi-byte character split across tokens decodes to U+FFFD until its last byte arrives.
    if (text.endsWith('\uFFFD') && i + 1 < ids.length) {
      pieces.push('');
      continue;
    }
    pieces.push(text);
    start = i + 1;
  }
  return { pieces, ids };
}

export interface LogprobEntry {
  readonly token: string;
  readonly logprob: number;
  readonly bytes: number[];
  readonly top_logprobs?: LogprobEntry[];
}

/** One token's logprob entry (OpenAI's shape), with `top` alternatives, the token itself first. */
export function logprobEntry(vocab: Vocab, token: string, id: number, position: number, top: number): LogprobEntry {
  const h = Math.imul(id ^ Math.imul(position, 0x9e3779b1), 0x85ebca6b) >>> 0;
  const lp = -((h % 2000) / 1000);
  const alts: LogprobEntry[] = [];
  for (let k = 0; k < top; k++) {
    const alt = k === 0 ? token : pieceText(vocab, vocab.words[(h + k * 7919) % vocab.words.length]?.id ?? id);
    alts.push(entry(alt, k === 0 ? lp : lp - k - ((h >>> (k + 3)) % 100) / 100));
  }
  return { ...entry(token, lp), top_logprobs: alts };
}

function entry(token: string, lp: number): LogprobEntry {
  return { token, logprob: Math.round(lp * 1e4) / 1e4, bytes: [...Buffer.from(token, 'utf8')] };
}
