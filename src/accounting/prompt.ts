// What the gateway counts for one request: the prompt as text pieces plus a constant number of
// template tokens, and the completion text the client received. Pieces are counted one by one (in a
// worker or in slices), so a huge prompt never becomes one long synchronous call.
//
// The chat recipe is the one `countChatTokens` implements (src/tokenizer): per message the template
// frame, the role, the text and an optional name; once per request the reply priming. The two must
// agree (test/observability/tokenizer.test.ts checks it).
import type { Operation } from '../core/outcome.js';
import type { ChatMessage } from '../protocol/openai.js';
import { embedToEmbeddings, generateToChat } from '../ingress/gemini/to-chat.js';
import { responsesToChat } from '../ingress/responses/to-chat.js';
import { CHAT_TEMPLATES, messageText, type EncodingName } from '../tokenizer/index.js';

export interface CountJob {
  /** Tokens known without counting: template frames, and token-id prompts (their length). */
  readonly constant: number;
  /** Text to count with the encoding; the count is `constant` + the sum of the pieces' counts. */
  readonly texts: readonly string[];
}

const EMPTY: CountJob = { constant: 0, texts: [] };

/** The prompt of a request body, for an operation the gateway accounts. Never throws on odd bodies. */
export function promptJob(operation: Operation, body: Readonly<Record<string, unknown>> | undefined, encoding: EncodingName): CountJob {
  if (body === undefined) return EMPTY;
  switch (operation) {
    case 'chat':
      return chatPrompt(body['messages'], encoding);
    case 'completions':
      return textOrTokens(body['prompt']);
    case 'embeddings':
      return textOrTokens(body['input']);
    case 'responses':
      return translated(() => responsesToChat(body, [])['messages'], encoding);
    case 'gemini_generate':
      return translated(() => generateToChat(body, '', false)['messages'], encoding);
    case 'gemini_embed':
      return translated(() => embedToEmbeddings(body, '', body['requests'] !== undefined)['input'], encoding, true);
    case 'messages':
    case 'moderations':
    case 'images':
    case 'speech':
    case 'transcriptions':
    case 'translations':
    case 'files':
    case 'batches':
    case 'rerank':
    case 'count_tokens':
    case 'responses_state':
    case 'gemini_count_tokens':
    case 'models':
    case 'other':
      return EMPTY;
  }
}

/** The prompt of another API's body, through its translation to OpenAI's form; EMPTY when it has none. */
function translated(f: () => unknown, encoding: EncodingName, plain = false): CountJob {
  let v: unknown;
  try {
    v = f();
  } catch {
    return EMPTY;
  }
  return plain ? textOrTokens(v) : chatPrompt(v, encoding);
}

/**
 * The completion as one piece (the text the client received across all choices), plus what a long
 * response generated past the text kept for counting, at ≈4 characters per token.
 */
export function completionJob(text: string | undefined, overflowChars = 0): CountJob {
  const constant = Math.ceil(overflowChars / 4);
  return text === undefined || text.length === 0 ? (constant === 0 ? EMPTY : { constant, texts: [] }) : { constant, texts: [text] };
}

function chatPrompt(messages: unknown, encoding: EncodingName): CountJob {
  if (!Array.isArray(messages)) return EMPTY;
  const t = CHAT_TEMPLATES[encoding];
  let constant = t.perReply;
  const texts: string[] = [];
  for (const raw of messages as unknown[]) {
    if (typeof raw !== 'object' || raw === null) continue;
    const msg = raw as ChatMessage;
    constant += t.perMessage;
    if (typeof msg.role === 'string') texts.push(msg.role);
    const text = safeMessageText(msg);
    if (text.length > 0) texts.push(text);
    if (typeof msg.name === 'string') {
      constant += t.perName;
      texts.push(msg.name);
    }
  }
  return { constant, texts };
}

function safeMessageText(msg: ChatMessage): string {
  try {
    return messageText(msg);
  } catch {
    // A malformed message (e.g. tool_calls without `function`): count what is plainly text.
    return typeof msg.content === 'string' ? msg.content : '';
  }
}

/** A string, a list of strings, a list of token ids, or a list of token-id lists. */
function textOrTokens(v: unknown): CountJob {
  if (typeof v === 'string') return { constant: 0, texts: [v] };
  if (!Array.isArray(v)) return EMPTY;
  let constant = 0;
  const texts: string[] = [];
  for (const item of v as unknown[]) {
    if (typeof item === 'string') texts.push(item);
    else if (typeof item === 'number') constant++;
    else if (Array.isArray(item)) constant += item.length;
  }
  return { constant, texts };
}

/** Characters in a job: what a cheap estimate (≈4 characters per token) is based on. */
export function jobChars(job: CountJob): number {
  let n = 0;
  for (const t of job.texts) n += t.length;
  return n;
}

/** A rough count for when exact counting could not finish (≈4 characters per token, OpenAI's rule of thumb). */
export function estimateTokens(job: CountJob): number {
  return job.constant + Math.ceil(jobChars(job) / 4);
}
