// The Anthropic Messages front door: `POST /anthropic/v1/messages` (Envoy AI Gateway's path) and
// `POST /v1/messages` (the path Anthropic SDKs use with a base URL), plus `…/messages/count_tokens`.
// Such requests go through the same stages as OpenAI ones (body checks, `model` routing, limits,
// proxy); providers see the operation `messages` and pass the request through to Claude hosts or
// translate it for the rest. Clients on this door get errors in Anthropic's shape and the gateway's
// request id in Anthropic's `request-id` header too (the SDKs expose it as `_request_id`).
import { CounterBusy, InlineCounter } from '../accounting/counter.js';
import { promptJob } from '../accounting/prompt.js';
import type { RuleConfig } from '../config/types.js';
import { GatewayError } from '../core/errors.js';
import type { Operation } from '../core/outcome.js';
import { anthropicToOpenAI } from '../providers/messages/to-openai.js';
import { encodingForModel } from '../tokenizer/index.js';

export const MESSAGES_PATHS: ReadonlySet<string> = new Set(['/anthropic/v1/messages', '/v1/messages']);
const COUNT_TOKENS_PATHS: ReadonlySet<string> = new Set(['/anthropic/v1/messages/count_tokens', '/v1/messages/count_tokens']);

/** Says who counted a count_tokens answer: `backend` (forwarded to Anthropic) or `gateway`. */
export const COUNTED_BY_HEADER = 'x-tollgate-counted-by';

export function messagesOperation(path: string): 'messages' | 'count_tokens' | undefined {
  return MESSAGES_PATHS.has(path) ? 'messages' : COUNT_TOKENS_PATHS.has(path) ? 'count_tokens' : undefined;
}

/** The request path after the API version prefix, as providers see it. */
export function clientSubpath(operation: Operation, path: string): string {
  if (operation === 'messages') return '/messages';
  if (operation === 'count_tokens') return '/messages/count_tokens';
  if (operation === 'rerank') return '/rerank';
  return path.slice(3); // after "/v1"
}

type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'timeout_error'
  | 'api_error'
  | 'overloaded_error';

/** A catalog error as Anthropic writes errors: `{"type":"error","error":{"type","message"}}`. */
export function anthropicErrorBody(err: GatewayError): { type: 'error'; error: { type: AnthropicErrorType; message: string } } {
  return { type: 'error', error: { type: anthropicErrorType(err), message: err.message } };
}

function anthropicErrorType(err: GatewayError): AnthropicErrorType {
  if (err.status === 413) return 'request_too_large';
  if (err.status === 503 || err.status === 529) return 'overloaded_error';
  switch (err.type) {
    case 'invalid_request_error':
    case 'authentication_error':
    case 'permission_error':
    case 'not_found_error':
    case 'rate_limit_error':
    case 'timeout_error':
      return err.type;
    case 'upstream_error':
    case 'server_error':
      return 'api_error';
  }
}

/** Where Claude is served with a count-tokens endpoint: Anthropic's API, Vertex AI, Bedrock. */
const COUNTS_CLAUDE: ReadonlySet<string> = new Set(['Anthropic', 'GCPAnthropic', 'AWSAnthropic']);

/**
 * count_tokens goes to the backend only when every backend the rule can pick serves Claude (each
 * of those hosts has a count endpoint); otherwise the gateway counts, so the answer never depends on
 * which backend a retry or fallback would have reached.
 */
export function forwardsCountTokens(rule: RuleConfig): boolean {
  return rule.backendRefs.length > 0 && rule.backendRefs.every((r) => COUNTS_CLAUDE.has(r.backend.schema.name));
}

// Sliced on the main thread: count_tokens answers are awaited by the client, and the slices yield
// to I/O so a long conversation never stalls other requests.
const counter = new InlineCounter(16 * 1024 * 1024);

/**
 * The gateway's own count of a Messages request's input: system, messages and tool definitions,
 * with the encoding and chat-template recipe the gateway uses for accounting. Image blocks are not
 * counted.
 */
export async function countTokensLocally(body: Readonly<Record<string, unknown>>): Promise<number> {
  // count_tokens takes no max_tokens; the translation wants one and it does not affect the count.
  const chat = anthropicToOpenAI({ ...body, max_tokens: 1 });
  const encoding = encodingForModel(typeof body['model'] === 'string' ? body['model'] : '');
  const job = promptJob('chat', chat, encoding);
  const tools = body['tools'];
  const texts = Array.isArray(tools) && tools.length > 0 ? [...job.texts, JSON.stringify(tools)] : job.texts;
  try {
    return await counter.count(encoding, { constant: job.constant, texts });
  } catch (err) {
    if (err instanceof CounterBusy) throw new GatewayError('token_count_busy', 'The gateway is counting too many tokens right now; retry shortly.');
    throw err;
  }
}
