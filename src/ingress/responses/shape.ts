// The Response object as clients read it, built from the request's own parameters plus what the
// backend produced; and the hand-off of finished responses to the conversation store.
import type { Usage } from '../../core/usage.js';
import { encodeSse } from '../../protocol/sse.js';
import { isRecord, type Json } from '../../providers/shared/json.js';
import type { ClientRequest } from '../../providers/types.js';

/** `usage` as the Responses API writes it. */
export function responsesUsage(u: Usage | undefined): Json | null {
  if (u === undefined) return null;
  return {
    input_tokens: u.input,
    input_tokens_details: { cached_tokens: u.cachedInput },
    output_tokens: u.output,
    output_tokens_details: { reasoning_tokens: u.reasoning },
    total_tokens: u.total,
  };
}

/** A Response in the given state, echoing the request's parameters. */
export function responseShell(body: Readonly<Json>, id: string, model: string, createdAt: number, status: string): Json {
  const text = isRecord(body['text']) ? body['text'] : {};
  return {
    id,
    object: 'response',
    created_at: createdAt,
    status,
    error: null,
    incomplete_details: null,
    instructions: body['instructions'] ?? null,
    max_output_tokens: body['max_output_tokens'] ?? null,
    model,
    output: [],
    parallel_tool_calls: body['parallel_tool_calls'] ?? true,
    previous_response_id: body['previous_response_id'] ?? null,
    reasoning: isRecord(body['reasoning']) ? { effort: body['reasoning']['effort'] ?? null, summary: body['reasoning']['summary'] ?? null } : { effort: null, summary: null },
    store: body['store'] !== false,
    temperature: body['temperature'] ?? 1,
    text: { format: isRecord(text['format']) ? text['format'] : { type: 'text' } },
    tool_choice: body['tool_choice'] ?? 'auto',
    tools: Array.isArray(body['tools']) ? body['tools'] : [],
    top_p: body['top_p'] ?? 1,
    truncation: body['truncation'] ?? 'disabled',
    usage: null,
    user: body['user'] ?? null,
    metadata: isRecord(body['metadata']) ? body['metadata'] : {},
  };
}

/** The `error` event that ends a Responses stream which broke after it started. */
export function responsesErrorEvent(code: string, message: string, sequence: number): Buffer {
  return Buffer.from(encodeSse(JSON.stringify({ type: 'error', code, message, param: null, sequence_number: sequence }), 'error'));
}

// The finished Response of a request, as the translator that produced it saw it. The handler reads it
// when the request ends to keep the conversation state; a translator has no I/O of its own.
const finished = new WeakMap<ClientRequest, Json>();

export function recordFinished(req: ClientRequest, response: Json): void {
  finished.set(req, response);
}

export function finishedResponse(req: ClientRequest): Json | undefined {
  return finished.get(req);
}
