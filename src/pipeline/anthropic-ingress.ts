// The Anthropic Messages front door: `POST /anthropic/v1/messages` (Envoy AI Gateway's path) and
// `POST /v1/messages` (the path Anthropic SDKs use with a base URL). Such requests go through the
// same stages as OpenAI ones (body checks, `model` routing, limits, proxy); providers see the
// operation `messages` and pass the request through to Claude hosts or translate it for the rest.
import type { Operation } from '../core/outcome.js';

export const MESSAGES_PATHS: ReadonlySet<string> = new Set(['/anthropic/v1/messages', '/v1/messages']);

export function messagesOperation(path: string): 'messages' | undefined {
  return MESSAGES_PATHS.has(path) ? 'messages' : undefined;
}

/** The request path after the API version prefix, as providers see it. */
export function clientSubpath(operation: Operation, path: string): string {
  return operation === 'messages' ? '/messages' : path.slice(3); // after "/v1"
}
