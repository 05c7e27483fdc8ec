// Prompt token ids the engine hashes into prefix-cache blocks. The count follows the same recipe the
// gateway's accounting uses (tokenizer/index.ts countChatTokens: template tokens per message and per
// reply, plus the role, name and text tokens), so backend-reported prompt_tokens agree with the
// gateway's count unless the server is deliberately configured with another encoding or template.
import type { ChatMessage } from '../protocol/openai.js';
import { CHAT_TEMPLATES, messageText, type ChatTemplate, type EncodingName, type Tokenizer } from '../tokenizer/index.js';

// Ids for the template's special tokens. Harmony's are its real <|start|>, <|end|>, <|message|>;
// the others use the encodings' reserved ranges. They only need to be stable and distinct from text.
const SPECIALS: Readonly<Record<EncodingName, readonly [number, number, number]>> = {
  o200k_harmony: [200006, 200008, 200007],
  o200k_base: [199998, 199999, 200018],
  cl100k_base: [100264, 100265, 100266],
};

export interface PromptCounter {
  readonly tokenizer: Tokenizer;
  readonly template: ChatTemplate;
}

export function promptCounter(tokenizer: Tokenizer, template?: ChatTemplate): PromptCounter {
  return { tokenizer, template: template ?? CHAT_TEMPLATES[tokenizer.encoding] };
}

function pushSpecials(out: number[], enc: EncodingName, n: number): void {
  const s = SPECIALS[enc];
  for (let i = 0; i < n; i++) out.push(s[i % 3] as number);
}

export function chatPromptIds(pc: PromptCounter, messages: readonly ChatMessage[], extra?: string): number[] {
  const out: number[] = [];
  for (const msg of messages) pushMessageIds(pc, msg, out);
  // Tool schemas are part of what a real chat template renders; counted only when asked (extra).
  if (extra !== undefined && extra.length > 0) for (const id of pc.tokenizer.encode(extra)) out.push(id);
  pushReplyIds(pc, out);
  return out;
}

/**
 * One message's ids as chatPromptIds renders it. A conversation's prompt is its messages' ids back
 * to back and then the reply's, so a replayed session can tokenize each message once for all turns.
 */
export function pushMessageIds(pc: PromptCounter, msg: ChatMessage, out: number[]): void {
  const tok = pc.tokenizer;
  const t = pc.template;
  pushSpecials(out, tok.encoding, t.perMessage);
  for (const id of tok.encode(msg.role)) out.push(id);
  if (typeof msg.name === 'string') {
    pushSpecials(out, tok.encoding, t.perName);
    for (const id of tok.encode(msg.name)) out.push(id);
  }
  const text = messageText(msg);
  if (text.length > 0) for (const id of tok.encode(text)) out.push(id);
}

/** The tokens that prime the reply, after the last message. */
export function pushReplyIds(pc: PromptCounter, out: number[]): void {
  pushSpecials(out, pc.tokenizer.encoding, pc.template.perReply);
}

export function textPromptIds(pc: PromptCounter, text: string): number[] {
  return text.length === 0 ? [] : pc.tokenizer.encode(text);
}
