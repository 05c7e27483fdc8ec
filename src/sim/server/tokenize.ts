// vLLM's /tokenize and /detokenize: the server's own token count for a prompt or chat, which is what
// a drift audit compares the gateway's count against.
import { chatPromptIds, textPromptIds } from '../prompt.js';
import { badRequest } from './errors.js';
import type { SimInstance } from './instance.js';
import { parseChatRequest } from './validate.js';

export function handleTokenize(inst: SimInstance, body: unknown): { count: number; max_model_len: number; tokens: number[]; token_strs: null } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('The request body must be a JSON object with "prompt" or "messages"');
  const o = body as Record<string, unknown>;
  let tokens: number[];
  if (o['messages'] !== undefined) {
    const p = parseChatRequest({ messages: o['messages'] });
    tokens = chatPromptIds(inst.prompts, p.messages);
  } else if (typeof o['prompt'] === 'string') {
    tokens = textPromptIds(inst.prompts, o['prompt']);
  } else {
    throw badRequest('Give "prompt" (a string) or "messages" (a chat) to tokenize', 'prompt');
  }
  return { count: tokens.length, max_model_len: inst.profile.maxModelLen, tokens, token_strs: null };
}

export function handleDetokenize(inst: SimInstance, body: unknown): { prompt: string } {
  const tokens = typeof body === 'object' && body !== null ? (body as { tokens?: unknown }).tokens : undefined;
  if (!Array.isArray(tokens) || !tokens.every((t) => Number.isInteger(t) && (t as number) >= 0)) {
    throw badRequest('"tokens" must be a list of token ids', 'tokens');
  }
  try {
    return { prompt: inst.tokenizer.decode(tokens as number[]) };
  } catch {
    throw badRequest('"tokens" holds ids outside the vocabulary', 'tokens');
  }
}
